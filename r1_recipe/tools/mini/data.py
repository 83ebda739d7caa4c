"""Toy task for the miniature run: small-integer addition, answer in `\\boxed{}` inside the R1 format (§2.2.2).

A problem is `(a, b)` with `0 <= a, b < max_operand`. The question goes through the R1-Zero template (paper Table 1);
the cold-start samples are short "long-CoT style" traces (think, then answer), as in §2.3.1.

The cold-start set is deliberately imperfect, the way cold-start data collected from a weaker model is: most traces are
*careful* (work the sum out, then verify it: ``a + b = s . check : s - b = a``), a fraction are *hasty* (state an
answer with no working and no check) and a share of the hasty ones carry an off-by-one slip. Cold-start SFT imitates
both, so the SFT policy sometimes answers hastily and then is often wrong; the accuracy reward is what tells RL that
the careful, verified procedure pays, a behaviour shared by every problem (paper §2.2.4: RL makes the model
reflect and verify more).
"""

from __future__ import annotations

import random

from r1_recipe.core.templates import render

CHECK = " check :"  # the verification step of a careful trace; its rate in responses is a reported behaviour metric


def question(a: int, b: int) -> str:
    # The template appends "." after the user content, so the question is phrased as an imperative.
    return f"Compute {a} + {b}"


def prompt(a: int, b: int) -> str:
    """The R1-Zero prompt text for one problem (ends with "Assistant:")."""
    return render("r1_zero", [{"role": "user", "content": question(a, b)}])


def completion(a: int, b: int) -> str:
    """A careful cold-start response in the R1 format: the sum worked out and checked in <think>, then the answer."""
    s = a + b
    return (f" <think> {a} + {b} = {s} .{CHECK} {s} - {b} = {a} . </think>"
            f" <answer> \\boxed{{{s}}} </answer>")


def hasty_completion(answer: int) -> str:
    """A hasty cold-start response: an answer with no working and no check (still in the R1 format)."""
    return f" <think> guess {answer} . </think> <answer> \\boxed{{{answer}}} </answer>"


def problems(max_operand: int) -> list[tuple[int, int]]:
    """Every problem of the task, in a fixed order."""
    return [(a, b) for a in range(max_operand) for b in range(max_operand)]


def sft_samples(train: list, n: int, seed: int, hasty: float = 0.0, slip: float = 0.0) -> list[tuple[str, str]]:
    """`n` (prompt, completion) pairs cycling through the training problems (each appears `n // len(train)` or one
    more times, in a shuffled order). A fraction `hasty` of them are hasty traces, and a fraction `slip` of those
    answer `a + b +/- 1` instead of `a + b`."""
    for name, v in (("hasty", hasty), ("slip", slip)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"sft_samples: {name} must be in [0, 1], got {v!r}")
    rng = random.Random(seed + 1)
    order = [train[i % len(train)] for i in range(n)]
    rng.shuffle(order)
    out = []
    for a, b in order:
        if rng.random() < hasty:
            s = a + b
            if rng.random() < slip:
                s = s + 1 if s == 0 or rng.random() < 0.5 else s - 1
            out.append((prompt(a, b), hasty_completion(s)))
        else:
            out.append((prompt(a, b), completion(a, b)))
    return out
