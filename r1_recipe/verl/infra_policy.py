"""The infra-failure policy: a response with no reward verdict is not a wrong answer (see docs/rewards.md).

A response whose reward carries `infra_failure: 1` (`RewardOutput.infra`: the verifier ran past its deadline, its
worker died, the step budget ended, the reward model timed out or failed) gets its group's mean reward before the
advantage is computed (`core.signals.fill_infra_failures`), so its GRPO advantage is 0 and the others' are as without
it. verl 0.9.1 has no per-sample mask a reward manager could set, so the policy wraps `PPOTrainer._compute_advantage`
(a post-import hook installed by the plugin) and rewrites the step's `rm_scores` in TransferQueue.

It fails closed: a run that scores with r1-recipe's rewards (`reward.reward_manager.name: r1`, or
`reward.custom_reward_function.path: pkg://r1_recipe...`) on a verl without the hooked method stops at start-up
(`touchpoints.require_for_config`, from `r1-recipe run` and the `r1` manager's constructor), and a step whose policy
cannot be applied raises instead of training on those responses as wrong answers. `r1/reward/infra_neutralised` is
the number of responses it rewrote in the step (`r1/reward/infra_failures`, from the reward keys, should equal it).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

import numpy as np

from r1_recipe.core import schema
from r1_recipe.core.signals import _numeric, fill_infra_failures
from r1_recipe.verl import touchpoints
from r1_recipe.verl.dynamics import _as_list

logger = logging.getLogger(__name__)


def apply(batch) -> int:
    """Rewrite the `rm_scores` of the step's infra-failed responses (reward_extra_info `infra_failure: 1`) with
    their group's mean reward, in TransferQueue, before the advantage is computed; returns how many were rewritten."""
    import torch
    import transfer_queue as tq
    from verl.utils import tensordict_utils as tu

    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                           select_fields=["uid", "rm_scores", "extra_fields"])
    padding = [bool(tag.get("is_padding", False)) for tag in batch.tags]
    extra = _as_list(data["extra_fields"])
    failed = [not pad and isinstance(e, Mapping) and isinstance(e.get("reward_extra_info"), Mapping)
              and bool(_numeric(e["reward_extra_info"].get(schema.INFRA_FAILURE)))
              for e, pad in zip(extra, padding, strict=True)]
    if not any(failed):
        return 0
    rows = list(data["rm_scores"].unbind())
    uids = [f"pad{i}" if pad else u for i, (u, pad) in enumerate(zip(_as_list(data["uid"]), padding, strict=True))]
    scores = fill_infra_failures([float(r.sum()) for r in rows], uids, failed)
    for i in np.flatnonzero(failed):
        if len(rows[i]):
            rows[i] = torch.zeros_like(rows[i])
            rows[i][-1] = float(scores[i])  # verl puts the sequence reward on the last response token
    tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id,
                    fields=tu.get_tensordict({"rm_scores": torch.nested.as_nested_tensor(rows, layout=torch.jagged)}))
    return int(sum(failed))


def wrap_compute_advantage(original):
    """`PPOTrainer._compute_advantage` after the policy (`apply`), with `r1/reward/infra_neutralised` in the step's
    metrics. A policy that cannot be applied raises (the step stops) rather than train on no-verdicts as 0s."""
    if getattr(original, "__r1_infra__", False):
        return original

    @functools.wraps(original)
    def _compute_advantage(self, batch, metrics, *args, **kwargs):
        try:
            neutralised = apply(batch)
        except Exception as e:
            raise RuntimeError("r1-recipe: the infra-failure policy could not be applied to this step's rewards "
                               "(responses with no reward verdict would train as wrong answers); stopping") from e
        metrics[schema.INFRA_NEUTRALISED] = float(neutralised)
        if neutralised:
            logger.warning("r1-recipe: %d response(s) of this step had no reward verdict (infra failure); they get "
                           "their group's mean reward (advantage 0)", neutralised)
        return original(self, batch, metrics, *args, **kwargs)

    _compute_advantage.__r1_infra__ = True
    return _compute_advantage


def patch_trainer_module(module) -> None:
    if touchpoints.require_attrs(module, (touchpoints.COMPUTE_ADVANTAGE,),
                                 "the infra-failure policy (group mean before the advantage)"):
        touchpoints.wrap_method(module, touchpoints.COMPUTE_ADVANTAGE, wrap_compute_advantage)


def install() -> None:
    """Wrap `PPOTrainer._compute_advantage` now if verl's v1 trainer is imported, else when it is."""
    from r1_recipe.verl.hooks import after_import

    after_import(touchpoints.TRAINER_MODULE, patch_trainer_module, "the infra-failure policy")
