"""The public reward API: register your own components, and verl-compatible entry functions.

    from r1_recipe.rewards import get, register, available, RewardOutput, no_verdict

`compute_score` / `compute_accuracy` follow verl's `custom_reward_function` contract (they import nothing of verl),
for use with verl's own managers (`naive`, `main_eval`): `reward.custom_reward_function.path: pkg://r1_recipe.rewards`.
The components themselves live in `r1_recipe.core.rewards`.
"""

from __future__ import annotations

from r1_recipe.core.rewards import (
    ENTRY_POINT_GROUP,
    RewardOutput,
    RewardRegistryError,
    available,
    get,
    no_verdict,
    provider,
    register,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "RewardOutput",
    "RewardRegistryError",
    "available",
    "compute_accuracy",
    "compute_score",
    "get",
    "no_verdict",
    "provider",
    "register",
]

_composers: dict = {}


def _composer(components, timeout_s):
    from r1_recipe.core.rewards.compose import Composer

    key = repr((components, timeout_s))
    if key not in _composers:
        cfg = {"components": components} if components else {}
        _composers[key] = Composer({**cfg, **({"timeout_s": timeout_s} if timeout_s is not None else {})})
    return _composers[key]


def compute_score(data_source, solution_str, ground_truth, extra_info=None, components=None, timeout_s=None,
                  **kwargs) -> dict:
    """verl custom reward function: accuracy + format (or `reward_kwargs.components`), bounded in time: the call
    returns within `timeout_s` (`reward_kwargs.timeout_s`, default 10) of run time plus about a second, whatever
    the response (see docs/rewards.md, "One deadline rule").

    Returns `{"score", "acc", "pred", <component>..., <component>_reason..., "infra_failure"}`.
    """
    extra = dict(extra_info or {})
    extra.setdefault("data_source", data_source)
    return _composer(components, timeout_s).score(solution_str, ground_truth, extra)


def compute_accuracy(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    """A plain number, for `verl.trainer.main_eval` (which averages the return values)."""
    return float(compute_score(data_source, solution_str, ground_truth, extra_info, {"accuracy": 1.0},
                               kwargs.get("timeout_s"))["acc"])
