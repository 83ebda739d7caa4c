"""Accuracy reward that routes by task: code (test cases in the ground truth) or math (everything else)."""

from __future__ import annotations

import json

from r1_recipe.core.rewards import registry
from r1_recipe.core.rewards.types import RewardOutput, as_output


def is_code_ground_truth(ground_truth) -> bool:
    """verl's code datasets carry `{"inputs": [...], "outputs": [...]}` (as a dict or a JSON string)."""
    if isinstance(ground_truth, str):
        s = ground_truth.lstrip()
        if not s.startswith("{"):
            return False
        try:
            ground_truth = json.loads(s)
        except ValueError:
            return False
    return isinstance(ground_truth, dict) and "inputs" in ground_truth and "outputs" in ground_truth


def accuracy_reward(solution_str: str, ground_truth, extra_info: dict | None = None, *, code: dict | None = None,
                    math: dict | None = None, **options) -> RewardOutput:
    """R1's accuracy reward: `code` for test-case ground truths, `math` otherwise.

    Flat options go to the chosen one; the nested `code: {...}` / `math: {...}` dicts go only to that reward.
    """
    name = "code" if is_code_ground_truth(ground_truth) else "math"
    options = {**options, **((code if name == "code" else math) or {})}
    return as_output(registry.get(name)(solution_str, ground_truth, extra_info, **options))


def _validate_options(options: dict) -> None:
    """Check the math options at start-up; the others belong to the code reward."""
    from r1_recipe.core.rewards.code import code_reward
    from r1_recipe.core.rewards.math import extract_answer

    math_opts = {**options, **(options.get("math") or {})}
    extract_answer("", **{k: v for k, v in math_opts.items() if k in ("fallbacks", "think_policy", "multiple")})
    if "code" in options:
        code_reward.validate_options(options["code"] or {})


accuracy_reward.preload = ("r1_recipe.core.rewards.math", "r1_recipe.core.rewards.code")
accuracy_reward.validate_options = _validate_options
