"""Toy task for the miniature run: small-integer addition, answer in `\\boxed{}` inside the R1 format (§2.2.2).

A problem is `(a, b)` with `0 <= a, b < max_operand`. The question goes through the R1-Zero template (paper Table 1),
the cold-start samples are short "long-CoT style" traces (think, then answer), as in §2.3.1.
"""

from __future__ import annotations

import random

from r1_recipe.templates import render


def question(a: int, b: int) -> str:
    # The template appends "." after the user content, so the question is phrased as an imperative.
    return f"Compute {a} + {b}"


def prompt(a: int, b: int) -> str:
    """The R1-Zero prompt text for one problem (ends with "Assistant:")."""
    return render("r1_zero", [{"role": "user", "content": question(a, b)}])


def completion(a: int, b: int) -> str:
    """A cold-start response in the R1 format: reasoning in <think>, the boxed answer in <answer>."""
    s = a + b
    return (f" <think> {a} + {b} = {s} . check : {s} - {b} = {a} . </think>"
            f" <answer> \\boxed{{{s}}} </answer>")


def problems(max_operand: int) -> list[tuple[int, int]]:
    """Every problem of the task, in a fixed order."""
    return [(a, b) for a in range(max_operand) for b in range(max_operand)]




def sft_samples(train: list, n: int, seed: int) -> list[tuple[str, str]]:
    """`n` (prompt, completion) pairs drawn with replacement from the training problems."""
    rng = random.Random(seed + 1)
    picks = [train[rng.randrange(len(train))] for _ in range(n)]
    return [(prompt(a, b), completion(a, b)) for a, b in picks]
