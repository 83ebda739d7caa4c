"""The names every layer shares: the keys of one scored sample and the `r1/` step-metric names.

The reward manager writes the sample keys into verl's `reward_extra_info`; the dynamics hook, rejection sampling,
evaluation and the report read them back. Keeping them here means a rename cannot silently split writer and reader.
"""

from __future__ import annotations

# ---------------------------------------------------------------- one scored sample (Composer.keys, same for every row)
SCORE = "score"            # the weighted sum of the components (the reward GRPO sees)
ACC = "acc"                # the accuracy component's score (verl: mean@N)
PRED = "pred"              # the accuracy component's canonical answer key (verl: maj@N; ours: cons@k)
REASON_SUFFIX = "_reason"  # `<component>_reason`: "" when normal, else why the component gave what it gave

# per-response training-dynamics signals, next to the components (r1_recipe.core.signals)
TRUNCATED = "response_truncated"
REFLECTION_WORDS = "reflection_words"
LANGUAGE_MIXED = "language_mixed"
SIGNAL_KEYS = (TRUNCATED, REFLECTION_WORDS, LANGUAGE_MIXED)
# 1 when a component had no verdict for a reason not the response's (RewardOutput.infra: timeout, worker_died,
# pool_error, step_budget, a reward model that failed)
INFRA_FAILURE = "infra_failure"


def reason_key(component: str) -> str:
    return component + REASON_SUFFIX


def is_reward_key(key: str) -> bool:
    """A numeric reward key (score, acc, a component) as opposed to a signal, `pred` or a reason."""
    return key not in SIGNAL_KEYS and key not in (PRED, INFRA_FAILURE) and not key.endswith(REASON_SUFFIX)


# ---------------------------------------------------------------- step metrics, logged by verl's trackers
PREFIX = "r1/"
RESPONSE_LENGTH = tuple(f"{PREFIX}response_length/{s}" for s in ("mean", "p90", "max"))
TRUNCATION_RATE = f"{PREFIX}truncation_rate"
FORMAT_RATE = f"{PREFIX}format_rate"
REFLECTION_RATE = f"{PREFIX}reflection/rate"
REFLECTION_MEAN = f"{PREFIX}reflection/mean"
LANGUAGE_MIXING_RATE = f"{PREFIX}language_mixing_rate"
GROUPS_ZERO_VARIANCE = f"{PREFIX}groups/zero_variance"
GROUPS_ALL_CORRECT = f"{PREFIX}groups/all_correct"
GROUPS_ALL_WRONG = f"{PREFIX}groups/all_wrong"
INFRA_FAILURES = f"{PREFIX}reward/infra_failures"  # responses of the step with infra_failure 1
INFRA_NEUTRALISED = f"{PREFIX}reward/infra_neutralised"  # ... given their group's mean by the infra-failure policy
# rollout/trainer gap: delta = log pi_trainer(old_log_probs) - log pi_rollout(rollout_log_probs), per response token
ROLLOUT_GAP_K3 = f"{PREFIX}rollout_gap/k3"                    # mean exp(delta) - delta - 1 (KL(rollout || trainer))
ROLLOUT_GAP_ABS_MEAN = f"{PREFIX}rollout_gap/abs_mean"        # mean |delta|
ROLLOUT_GAP_ABS_MAX = f"{PREFIX}rollout_gap/abs_max"          # max |delta|
ROLLOUT_GAP_TIS_CLIPPED = f"{PREFIX}rollout_gap/tis_clipped"  # share of tokens whose weight exp(delta) TIS truncates


def reward_mean(key: str) -> str:
    """`r1/reward/<key>/mean`, e.g. `r1/reward/acc/mean`."""
    return f"{PREFIX}reward/{key}/mean"
