"""Math accuracy reward (DeepSeek-R1 §2.2.2): the final answer, checked for mathematical equivalence with the gold.

First version: extraction from <answer>...</answer> or the last \\boxed{}, then math-verify. Runs inside the bounded
worker pool (see r1_recipe.bounded), so math-verify's own signal-based timeouts are switched off.
"""

from __future__ import annotations

import re

from r1_recipe.rewards.types import RewardOutput

MAX_CHARS = 20_000
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} with balanced braces, or None."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def extract_answer(text: str) -> str | None:
    answers = _ANSWER.findall(text)
    if answers:
        inner = answers[-1]
        return last_boxed(inner) or inner.strip()
    return last_boxed(text)


def math_reward(solution_str: str, ground_truth, extra_info: dict | None = None, **_: object) -> RewardOutput:
    if len(solution_str) > MAX_CHARS:
        return RewardOutput(0.0, "too_long")
    pred = extract_answer(solution_str)
    if pred is None:
        return RewardOutput(0.0, "no_answer")
    from math_verify import parse, verify

    gold = parse("$" + str(ground_truth) + "$", parsing_timeout=None)
    got = parse("$" + pred + "$", parsing_timeout=None)
    if not gold:
        return RewardOutput(0.0, "unparsable_gold", pred)
    ok = verify(gold, got, timeout_seconds=None) or pred.strip() == str(ground_truth).strip()
    return RewardOutput(1.0 if ok else 0.0, "" if ok else "wrong", pred)
