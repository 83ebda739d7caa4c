"""The `r1/` training-dynamics metrics in verl's step logs (the per-step half of `r1_recipe.core.signals`).

verl 0.9.1's v1 trainer keeps `reward_extra_info` of training rollouts in TransferQueue (`extra_fields`) but logs none
of it. `install()` (called by the plugin at `import verl`) wraps `PPOTrainer._compute_metrics`, the one method every
v1 trainer mode calls once per step, after the update and before the step's data is cleared and
`self.logger.log(metrics)`: the wrapper reads `uid`, `responses`, `rm_scores`, `extra_fields` of the step's batch and
adds `core.signals.step_metrics` to the dict verl then hands to every configured tracker (console, file,
tensorboard, wandb...). The wrapper is installed when the trainer module is first imported (a post-import hook: the
plugin must not import the trainer in every Ray worker) and never raises into training: a failure is logged once and
the step goes on without `r1/` metrics.

The infra-failure policy (a wrapper of `PPOTrainer._compute_advantage`) lives in `r1_recipe.verl.infra_policy`: unlike
these metrics, it fails closed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence

import numpy as np

from r1_recipe.core.signals import rollout_gap_metrics, step_metrics
from r1_recipe.verl import touchpoints

logger = logging.getLogger(__name__)

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
GAP_FIELDS = ["old_log_probs", "rollout_log_probs", "response_mask"]


def _tokens(x, keep: np.ndarray | None):
    """A (jagged nested or padded 2-D) per-token tensor as one flat tensor, and the token rows kept by `keep`."""
    import torch

    if getattr(x, "is_nested", False):
        values = x.values()
        rows = torch.repeat_interleave(torch.arange(len(x.offsets()) - 1), x.offsets().diff().cpu())
    else:
        values, rows = x.reshape(-1), torch.arange(x.shape[0]).repeat_interleave(x.shape[-1])
    kept = torch.ones_like(rows, dtype=torch.bool) if keep is None else torch.as_tensor(keep)[rows]
    return values.cpu(), kept


def gap_metrics(data, padding: Sequence[bool] | None = None, tis_threshold: float | None = None) -> dict:
    """`rollout_gap_metrics` of a TransferQueue batch (`GAP_FIELDS`), padding rows left out."""
    keep = np.asarray([not p for p in padding], dtype=bool) if padding is not None else None
    trainer, kept = _tokens(data["old_log_probs"], keep)
    rollout, _ = _tokens(data["rollout_log_probs"], keep)
    mask, _ = _tokens(data["response_mask"], keep)
    return rollout_gap_metrics(trainer, rollout, mask.bool() & kept, tis_threshold)


def tis_threshold(config) -> float | None:
    """The token-level TIS threshold of `algorithm.rollout_correction` (None when token TIS is off)."""
    correction = config.get("algorithm", {}).get("rollout_correction", None) or {}
    if correction.get("rollout_is", None) != "token":
        return None
    try:
        return float(correction.get("rollout_is_threshold", 2.0))
    except (TypeError, ValueError):  # "lower_upper": IcePop, not truncation
        return None


def collect(trainer, batch) -> dict:
    """The `r1/` metrics of a v1 trainer's step batch (a `KVBatchMeta`), read from TransferQueue; with
    `rollout.calculate_log_probs` (verl's default) also the rollout/trainer gap."""
    import transfer_queue as tq

    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=FIELDS)
    padding = [bool(tag.get("is_padding", False)) for tag in batch.tags]
    rollout = trainer.config.actor_rollout_ref.rollout
    metrics = batch_metrics(data, padding, rollout.get("response_length", None))
    if rollout.get("calculate_log_probs", False):
        try:
            gap = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=GAP_FIELDS)
            metrics.update(gap_metrics(gap, padding, tis_threshold(trainer.config)))
        except Exception:  # the other r1/ metrics still count
            if not getattr(collect, "gap_warned", False):
                collect.gap_warned = True
                logger.warning("r1-recipe: the r1/rollout_gap metrics are off for this run (first failure shown)",
                               exc_info=True)
    return metrics


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
    if touchpoints.require_attrs(module, (touchpoints.COMPUTE_METRICS,), "the r1/ training-dynamics metrics hook"):
        touchpoints.wrap_method(module, touchpoints.COMPUTE_METRICS, wrap_compute_metrics)


def install() -> None:
    """Wrap `PPOTrainer._compute_metrics` now if verl's v1 trainer is imported, else when it is."""
    from r1_recipe.verl.hooks import after_import

    after_import(touchpoints.TRAINER_MODULE, patch_trainer_module, "the training-dynamics hook")
