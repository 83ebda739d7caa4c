"""Training dynamics of an R1 run, logged every step (DeepSeek-R1 §2.2.4: response length grows, reflection appears).

Two halves:

- per response, in the `r1` reward manager (which sees every trajectory's text): `sample_signals` adds
  `response_truncated` (0/1), `reflection_words` (count of the paper's reflective words) and `language_mixed` (0/1)
  to `reward_extra_info`, next to the reward components;
- per step, in the driver: verl 0.9.1's v1 trainer keeps `reward_extra_info` of training rollouts in TransferQueue
  (`extra_fields`) but logs none of it. `install()` (called by the plugin at `import verl`) wraps
  `PPOTrainer._compute_metrics`, the one method every v1 trainer mode calls once per step, after the update and before
  the step's data is cleared and `self.logger.log(metrics)`: the wrapper reads `uid`, `responses`, `rm_scores`,
  `extra_fields` of the step's batch and adds `step_metrics` under `r1/` to the dict verl then hands to every
  configured tracker (console, file, tensorboard, wandb...). The wrapper is installed when the trainer module is first
  imported (a post-import hook: the plugin must not import the trainer in every Ray worker) and never raises into
  training: a failure is logged once and the step goes on without `r1/` metrics.

Metric names (all over the step's non-padding responses):
  r1/response_length/{mean,p90,max}   tokens
  r1/truncation_rate                  share cut at the length limit without EOS
  r1/format_rate                      share with format reward 1 (when a `format` component is configured)
  r1/reward/<key>/mean                each numeric reward key: score, acc, every component
  r1/reflection/rate, r1/reflection/mean   share with at least one reflective word; mean count per response
  r1/language_mixing_rate             share whose reasoning is under 95% in the prompt's language
  r1/groups/zero_variance             share of prompt groups (>= 2 responses) whose rewards are all equal: their
                                      GRPO advantage is 0, the compute spent on them teaches nothing
  r1/groups/all_correct, r1/groups/all_wrong   the same groups split by `acc` (too easy / too hard)
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

# The reflective words whose frequency DeepSeek-R1 (Nature version, Fig. 9) tracks over RL training.
REFLECTION_WORDS = ("wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check")
_REFLECTION = re.compile(r"\b(?:" + "|".join(REFLECTION_WORDS) + r")\b", re.IGNORECASE)
MIN_LANGUAGE_SHARE = 0.95  # as the rejection-sampling filter
SIGNAL_KEYS = ("response_truncated", "reflection_words", "language_mixed")
PREFIX = "r1/"
TRAINER_MODULE = "verl.trainer.ppo.v1.trainer_base"
_MAX_CHARS = 400_000
SIGNALS_TIMEOUT_S = 10.0


def reflection_count(text: str) -> int:
    """Occurrences of `REFLECTION_WORDS` (whole words, any case) in `text`."""
    return len(_REFLECTION.findall(text[:_MAX_CHARS]))


def language_mixed(text: str, prompt: str = "", min_share: float = MIN_LANGUAGE_SHARE) -> bool:
    """Whether the reasoning (`<think>` block) has under `min_share` of its words in the prompt's language (or, for a
    prompt with no words, its own dominant language)."""
    from r1_recipe.rewards.language import chain_of_thought, detect_language, language_share

    cot = chain_of_thought(text[:_MAX_CHARS])
    target = detect_language(prompt) or detect_language(cot)
    if target is None:
        return False
    share, _ = language_share(cot, target)
    return share < min_share


def _no_signals(truncated: bool) -> dict[str, float]:
    """The signals of a response whose text could not be analysed: truncation is known, the rest counts as 0."""
    return {"response_truncated": float(bool(truncated)), "reflection_words": 0.0, "language_mixed": 0.0}


def sample_signals(text: str, prompt: str = "", truncated: bool = False) -> dict[str, float]:
    """The per-response keys the `r1` reward manager adds to `reward_extra_info` (same keys for every sample)."""
    try:
        return {"response_truncated": float(bool(truncated)), "reflection_words": float(reflection_count(text)),
                "language_mixed": float(language_mixed(text, prompt))}
    except Exception:  # a monitoring signal must never cost a reward
        logger.debug("dynamics signals failed", exc_info=True)
        return _no_signals(truncated)


async def signals_async(pool, text: str, prompt: str = "", truncated: bool = False,
                        timeout: float = SIGNALS_TIMEOUT_S) -> dict[str, float]:
    """`sample_signals` in a worker of `pool` (a `BoundedPool`): tens of ms of regex work on a long response stays off
    the reward loop's event loop; past `timeout` or on any failure the signals are 0 (the reward is unaffected)."""
    try:
        return await pool.arun(sample_signals, text, prompt, truncated, timeout=timeout)
    except Exception:
        logger.debug("dynamics signals skipped", exc_info=True)
        return _no_signals(truncated)


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
    out = {
        "response_length/mean": float(lengths.mean()),
        "response_length/p90": float(np.percentile(lengths, 90)),
        "response_length/max": float(lengths.max()),
    }

    def column(key: str) -> np.ndarray | None:
        values = [_numeric(info.get(key)) for info in infos]
        present = [v for v in values if v is not None]
        return np.asarray(present, dtype=np.float64) if present else None

    truncated = column("response_truncated")
    if truncated is None and max_response_length:
        truncated = (lengths >= max_response_length).astype(np.float64)
    if truncated is not None:
        out["truncation_rate"] = float(truncated.mean())
    fmt = column("format")
    if fmt is not None:
        out["format_rate"] = float((fmt >= 1.0).mean())
    reward_keys = dict.fromkeys(k for info in infos for k in info if k not in SIGNAL_KEYS and k != "pred"
                                and not k.endswith("_reason"))
    for key in reward_keys:
        values = column(key)
        if values is not None:
            out[f"reward/{key}/mean"] = float(values.mean())
    reflection = column("reflection_words")
    if reflection is not None:
        out["reflection/rate"] = float((reflection > 0).mean())
        out["reflection/mean"] = float(reflection.mean())
    mixed = column("language_mixed")
    if mixed is not None:
        out["language_mixing_rate"] = float(mixed.mean())

    groups: dict = {}
    for i, uid in enumerate(uids):
        groups.setdefault(str(uid), []).append(i)
    multi = [g for g in groups.values() if len(g) > 1]
    if multi:
        scores = np.asarray(scores, dtype=np.float64)
        flat = [g for g in multi if np.ptp(scores[g]) <= 1e-6]
        out["groups/zero_variance"] = len(flat) / len(multi)
        acc = [_numeric(info.get("acc")) for info in infos]
        if all(a is not None for a in acc):
            acc = np.asarray(acc)
            out["groups/all_correct"] = sum(bool((acc[g] >= 1).all()) for g in multi) / len(multi)
            out["groups/all_wrong"] = sum(bool((acc[g] <= 0).all()) for g in multi) / len(multi)
    return {PREFIX + k: v for k, v in out.items()}


# ---------------------------------------------------------------- the trainer hook

def _as_list(x) -> list:
    return x.tolist() if hasattr(x, "tolist") else list(x)


def _row_lengths(x) -> np.ndarray:
    if getattr(x, "is_nested", False):
        return x.offsets().diff().cpu().numpy()
    return np.asarray([len(r) for r in x])


def _row_sums(x) -> np.ndarray:
    if getattr(x, "is_nested", False):
        return np.asarray([float(r.sum()) for r in x.unbind()])
    return x.sum(-1).cpu().numpy()


def batch_metrics(data, padding: Sequence[bool] | None = None, max_response_length: int | None = None) -> dict:
    """`step_metrics` of a TransferQueue batch (`uid`, `responses`, `rm_scores`, `extra_fields`, as
    `tq.kv_batch_get` returns them: jagged nested tensors and non-tensor lists)."""
    keep = np.asarray([not p for p in padding], dtype=bool) if padding is not None else None
    lengths = _row_lengths(data["responses"])
    scores = _row_sums(data["rm_scores"])
    uids = _as_list(data["uid"])
    extra = _as_list(data["extra_fields"])
    infos = [e.get("reward_extra_info") if isinstance(e, Mapping) else None for e in extra]
    if keep is not None and keep.any():
        lengths, scores = lengths[keep], scores[keep]
        uids = [u for u, k in zip(uids, keep, strict=True) if k]
        infos = [i for i, k in zip(infos, keep, strict=True) if k]
    return step_metrics(lengths, uids, scores, infos, max_response_length)


FIELDS = ["uid", "responses", "rm_scores", "extra_fields"]


def collect(trainer, batch) -> dict:
    """The `r1/` metrics of a v1 trainer's step batch (a `KVBatchMeta`), read from TransferQueue."""
    import transfer_queue as tq

    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=FIELDS)
    padding = [bool(tag.get("is_padding", False)) for tag in batch.tags]
    rollout = trainer.config.actor_rollout_ref.rollout
    return batch_metrics(data, padding, rollout.get("response_length", None))


def wrap_compute_metrics(original):
    """`PPOTrainer._compute_metrics` plus the `r1/` metrics; any failure is logged once and skipped."""
    if getattr(original, "__r1_dynamics__", False):
        return original

    @functools.wraps(original)
    def _compute_metrics(self, batch, metrics, *args, **kwargs):
        result = original(self, batch, metrics, *args, **kwargs)
        try:
            metrics.update(collect(self, batch))
        except Exception:
            if not getattr(_compute_metrics, "warned", False):
                _compute_metrics.warned = True
                logger.warning("r1-recipe: training-dynamics metrics are off for this run (first failure shown)",
                               exc_info=True)
        return result

    _compute_metrics.__r1_dynamics__ = True
    return _compute_metrics


def patch_trainer_module(module) -> None:
    trainer_cls = module.PPOTrainer
    trainer_cls._compute_metrics = wrap_compute_metrics(trainer_cls._compute_metrics)


def install() -> None:
    """Wrap `PPOTrainer._compute_metrics` now if verl's v1 trainer is imported, else when it is."""
    from r1_recipe.hooks import after_import

    after_import(TRAINER_MODULE, patch_trainer_module, "the training-dynamics hook")
