"""Training-dynamics signals of an R1 run (DeepSeek-R1 §2.2.4: response length grows, reflection appears).

- per response (`sample_signals`, computed by the reward manager next to the reward components):
  `response_truncated` (0/1), `reflection_words` (count of the paper's reflective words), `language_mixed` (0/1);
- per step (`step_metrics`, from per-response arrays): the `r1/` metrics named in `r1_recipe.core.schema`.

Framework-free; `r1_recipe.verl.dynamics` reads a verl step's batch and feeds `step_metrics`.

Metric names (all over the step's non-padding responses):
  r1/response_length/{mean,p90,max}   tokens
  r1/truncation_rate                  share cut at the length limit without EOS
  r1/format_rate                      share with format reward 1 (when a `format` component is configured)
  r1/reward/<key>/mean                each numeric reward key: score, acc, every component
  r1/reward/infra_failures            responses with no verdict for reasons not theirs (timeout, worker_died,
                                      pool_error, step_budget, reward model failed): given their group's mean reward,
                                      advantage 0
  r1/reward/infra_neutralised         how many of them the infra-failure policy rewrote (r1_recipe.verl.infra_policy)
  r1/reflection/rate, r1/reflection/mean   share with at least one reflective word; mean count per response
  r1/language_mixing_rate             share whose reasoning is under 95% in the prompt's language
  r1/groups/zero_variance             share of prompt groups (>= 2 responses) whose rewards are all equal: their
                                      GRPO advantage is 0, the compute spent on them teaches nothing
  r1/groups/all_correct, r1/groups/all_wrong   the same groups split by `acc` (too easy / too hard)
  r1/rollout_gap/{k3,abs_mean,abs_max,tis_clipped}   the rollout/trainer log-prob gap (`rollout_gap_metrics`)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import numpy as np

from r1_recipe.core import schema
from r1_recipe.core.rewards.language import language_mixed
from r1_recipe.core.rewards.types import MAX_RESPONSE_CHARS

logger = logging.getLogger(__name__)

# The reflective words whose frequency DeepSeek-R1 (Nature version, Fig. 9) tracks over RL training.
REFLECTION_WORDS = ("wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check")
_REFLECTION = re.compile(r"\b(?:" + "|".join(REFLECTION_WORDS) + r")\b", re.IGNORECASE)
_MAX_CHARS = MAX_RESPONSE_CHARS


def reflection_count(text: str) -> int:
    """Occurrences of `REFLECTION_WORDS` (whole words, any case) in `text`."""
    return len(_REFLECTION.findall(text[:_MAX_CHARS]))


def _no_signals(truncated: bool) -> dict[str, float]:
    """The signals of a response whose text could not be analysed: truncation is known, the rest counts as 0."""
    return {schema.TRUNCATED: float(bool(truncated)), schema.REFLECTION_WORDS: 0.0, schema.LANGUAGE_MIXED: 0.0}


def sample_signals(text: str, prompt: str = "", truncated: bool = False) -> dict[str, float]:
    """The per-response keys the `r1` reward manager adds to `reward_extra_info` (same keys for every sample)."""
    try:
        return {schema.TRUNCATED: float(bool(truncated)), schema.REFLECTION_WORDS: float(reflection_count(text)),
                schema.LANGUAGE_MIXED: float(language_mixed(text[:_MAX_CHARS], prompt))}
    except Exception:  # a monitoring signal must never cost a reward
        logger.debug("dynamics signals failed", exc_info=True)
        return _no_signals(truncated)


def fill_infra_failures(scores: Sequence[float], uids: Sequence, failed: Sequence[bool]) -> np.ndarray:
    """The infra-failure policy: each failed response gets the mean reward of its group's responses that have a
    verdict, so its GRPO (or RLOO) advantage is 0 and the others' are as without it; in a group with no verdict at
    all every member gets the group's mean, so all its advantages are 0.

    scores: sequence reward per response (bs,); uids: prompt-group id per response (bs,); failed: (bs,) bool.
    Returns the new scores (bs,).
    """
    scores = np.asarray(scores, dtype=np.float64).copy()
    failed = np.asarray(failed, dtype=bool)
    _, group = np.unique(np.asarray([str(u) for u in uids], dtype=object), return_inverse=True)
    ok = ~failed
    count_ok = np.bincount(group, weights=ok.astype(np.float64))
    mean_ok = np.bincount(group, weights=np.where(ok, scores, 0.0)) / np.maximum(count_ok, 1.0)
    mean_all = np.bincount(group, weights=scores) / np.bincount(group)
    fill = np.where(count_ok > 0, mean_ok, mean_all)
    scores[failed] = fill[group[failed]]
    return scores


def _numeric(value) -> float | None:
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating) and np.isfinite(value):
        return float(value)
    return None


def step_metrics(response_lengths: Sequence[int], uids: Sequence, scores: Sequence[float],
                 infos: Sequence[Mapping | None], max_response_length: int | None = None) -> dict[str, float]:
    """The `r1/` metrics of one step from per-response arrays (padding rows already removed).

    response_lengths: tokens per response (bs,); uids: prompt-group id per response (bs,); scores: the sequence
    reward per response (bs,); infos: each response's `reward_extra_info` (None when missing);
    max_response_length: used for truncation when the infos lack `response_truncated`.
    """
    lengths = np.asarray(response_lengths, dtype=np.float64)
    n = len(lengths)
    if n == 0:
        return {}
    infos = [info if isinstance(info, Mapping) else {} for info in infos]
    out = dict(zip(schema.RESPONSE_LENGTH,
                   (float(lengths.mean()), float(np.percentile(lengths, 90)), float(lengths.max())), strict=True))

    def column(key: str) -> np.ndarray | None:
        values = [_numeric(info.get(key)) for info in infos]
        present = [v for v in values if v is not None]
        return np.asarray(present, dtype=np.float64) if present else None

    truncated = column(schema.TRUNCATED)
    if truncated is None and max_response_length:
        truncated = (lengths >= max_response_length).astype(np.float64)
    if truncated is not None:
        out[schema.TRUNCATION_RATE] = float(truncated.mean())
    fmt = column("format")
    if fmt is not None:
        out[schema.FORMAT_RATE] = float((fmt >= 1.0).mean())
    for key in dict.fromkeys(k for info in infos for k in info if schema.is_reward_key(k)):
        values = column(key)
        if values is not None:
            out[schema.reward_mean(key)] = float(values.mean())
    infra = column(schema.INFRA_FAILURE)
    if infra is not None:
        out[schema.INFRA_FAILURES] = float(infra.sum())
    reflection = column(schema.REFLECTION_WORDS)
    if reflection is not None:
        out[schema.REFLECTION_RATE] = float((reflection > 0).mean())
        out[schema.REFLECTION_MEAN] = float(reflection.mean())
    mixed = column(schema.LANGUAGE_MIXED)
    if mixed is not None:
        out[schema.LANGUAGE_MIXING_RATE] = float(mixed.mean())

    groups: dict = {}
    for i, uid in enumerate(uids):
        groups.setdefault(str(uid), []).append(i)
    multi = [g for g in groups.values() if len(g) > 1]
    if multi:
        scores = np.asarray(scores, dtype=np.float64)
        flat = [g for g in multi if np.ptp(scores[g]) <= 1e-6]
        out[schema.GROUPS_ZERO_VARIANCE] = len(flat) / len(multi)
        acc = [_numeric(info.get(schema.ACC)) for info in infos]
        if all(a is not None for a in acc):
            acc = np.asarray(acc)
            out[schema.GROUPS_ALL_CORRECT] = sum(bool((acc[g] >= 1).all()) for g in multi) / len(multi)
            out[schema.GROUPS_ALL_WRONG] = sum(bool((acc[g] <= 0).all()) for g in multi) / len(multi)
    return out


def rollout_gap_metrics(trainer_log_probs, rollout_log_probs, mask, tis_threshold: float | None = None
                        ) -> dict[str, float]:
    """The gap between the sampler's and the trainer's log-probs of the same tokens, over the tokens in `mask`.

    trainer_log_probs: log pi_old recomputed by the trainer (verl's `old_log_probs`); rollout_log_probs: what the
    rollout returned while sampling (`rollout_log_probs`); any equal shapes, e.g. (bs, T) or flat (tokens,).
    delta = trainer - rollout; the rollout-correction weight of a token is exp(delta) (docs/grpo.md):
      r1/rollout_gap/k3           mean of exp(delta) - delta - 1: the k3 estimate of KL(rollout || trainer), >= 0
      r1/rollout_gap/abs_mean     mean |delta|
      r1/rollout_gap/abs_max      max |delta|
      r1/rollout_gap/tis_clipped  share of tokens whose weight exceeds `tis_threshold` (truncated by token TIS)
    Empty mask: {}.
    """
    import torch

    keep = torch.as_tensor(mask).bool()
    if not keep.any():
        return {}
    delta = (torch.as_tensor(trainer_log_probs).double() - torch.as_tensor(rollout_log_probs).double())[keep]
    out = {schema.ROLLOUT_GAP_K3: float((torch.expm1(delta) - delta).mean()),
           schema.ROLLOUT_GAP_ABS_MEAN: float(delta.abs().mean()),
           schema.ROLLOUT_GAP_ABS_MAX: float(delta.abs().max())}
    if tis_threshold is not None:
        out[schema.ROLLOUT_GAP_TIS_CLIPPED] = float((delta > np.log(float(tis_threshold))).double().mean())
    return out
