"""Accuracy reward that routes by task: code (test cases in the ground truth) or math (everything else)."""

from __future__ import annotations

import functools
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


# per sample, reading a signature would cost ~0.1 ms (as much as verifying a short answer): read once per function
_option_names = functools.lru_cache(maxsize=64)(registry.option_names)


def accuracy_reward(solution_str: str, ground_truth, extra_info: dict | None = None, *, code: dict | None = None,
                    math: dict | None = None, **flat) -> RewardOutput:
    """R1's accuracy reward: `code` for test-case ground truths, `math` otherwise.

    Flat options go to the branch that takes them (`fallbacks` to math, `total_timeout_s` to code; the schema check
    at start-up rejects a key neither takes); the nested `code: {...}` / `math: {...}` dicts go only to that branch.
    """
    name = "code" if is_code_ground_truth(ground_truth) else "math"
    fn = registry.get(name)
    names = _option_names(fn)
    options = {k: v for k, v in flat.items() if names is None or k in names}
    options.update((code if name == "code" else math) or {})
    return as_output(fn(solution_str, ground_truth, extra_info, **options))


def _validate_options(options: dict) -> None:
    """Each branch's own value checks on the options it will receive (names are checked by the schema)."""
    for branch in accuracy_reward.branches:
        fn = registry.get(branch)
        names = registry.option_names(fn)
        opts = {k: v for k, v in options.items() if k not in accuracy_reward.branches and (names is None or k in names)}
        opts.update(options.get(branch) or {})
        validate = getattr(fn, "validate_options", None)
        if validate is not None and (opts or branch == "math"):
            validate(opts)


accuracy_reward.branches = ("math", "code")
accuracy_reward.preload = ("r1_recipe.core.rewards.math", "r1_recipe.core.rewards.code",
                           "r1_recipe.core.rewards.code:_warm_up")
accuracy_reward.validate_options = _validate_options
