"""Periodic reference reset: every `algorithm.r1.ref_reset_steps` policy updates the KL reference becomes the current
policy.

Unit: the paper's step, one optimizer update (512 outputs in R1), not verl's step (one rollout: `ppo_epochs x
ceil(train_batch_size / ppo_mini_batch_size)` updates, 16 in `zero`). 400 in `zero` = a reset after every 25th verl
step. The reset runs after a verl step's update; when the value is not a multiple of the updates per verl step, it
falls on the first verl step that completes the multiple (r1_recipe.core.plan.reset_due).

DeepSeek-R1 (Nature, Methods; R1-Zero and stage-1 RL): "the reference model is replaced with the latest policy model
every 400 steps", so the KL term keeps the policy near where it recently was instead of pulling it back to the base
model for all 10,400 steps. verl 0.9.1 has no such option; this module adds it from the plugin:

- worker side: `ActorRolloutRefWorker.r1_reset_reference` (a worker-group method, every rank) copies the actor's
  weights into the reference model: both are FSDP engines of the same model on the same ranks, so each rank copies
  its own shards (`load_state_dict` of the actor's sharded state dict), with no gather;
- trainer side: right after the actor update of a verl step that completes a multiple of `ref_reset_steps` updates,
  `PPOTrainer._update_actor` (one method for every v1 trainer mode; their `on_step_end`s differ) calls it;
- resume: verl does not checkpoint the reference, so `_load_checkpoint` sets it to the resumed policy. That is exact
  for a checkpoint at a multiple of `ref_reset_steps`; otherwise the reference is the policy of the resumed step
  rather than of the last reset before it (logged).

Start-up errors (naming the key): a non-positive value; no reference model in the run (no KL anywhere); LoRA, whose
reference is the base model without the adapter (resetting it would mean merging the adapter); a reference on
workers of its own (trainer mode separate_async), where the copy would cross worker groups.
"""

from __future__ import annotations

import logging

from r1_recipe.core import plan
from r1_recipe.core.advantage import ALGORITHM_R1
from r1_recipe.core.plan import reset_due
from r1_recipe.verl import touchpoints

logger = logging.getLogger("r1_recipe")

KEY = "algorithm.r1.ref_reset_steps"
TRAINER_HOOKED = (touchpoints.UPDATE_ACTOR, touchpoints.LOAD_CHECKPOINT)


def reset_steps(config) -> int | None:
    """`algorithm.r1.ref_reset_steps` (None when unset or null); ValueError naming the key when it is not a positive
    integer (the block's one definition: core.advantage.ALGORITHM_R1)."""
    r1 = (config.get("algorithm", None) or {}).get("r1", None) or {}
    return ALGORITHM_R1["ref_reset_steps"].check(r1.get("ref_reset_steps", None), KEY)


def updates_per_step(config) -> int:
    """Policy (optimizer) updates in one verl step of this config: ppo_epochs x ceil(train_batch_size /
    ppo_mini_batch_size) (r1_recipe.core.plan)."""
    actor = config.actor_rollout_ref.actor
    return plan.updates_per_rollout(int(config.data.train_batch_size), int(actor.ppo_mini_batch_size),
                                    int(actor.get("ppo_epochs", 1) or 1))


def check_config(config, use_reference_policy: bool, ref_in_actor: bool, colocated: bool = True) -> int | None:
    steps = reset_steps(config)
    if steps is None:
        return None
    if not use_reference_policy:
        raise ValueError(f"{KEY}={steps} but this run has no reference model (actor_rollout_ref.actor.use_kl_loss and "
                         "algorithm.use_kl_in_reward are both false)")
    if ref_in_actor:
        raise ValueError(f"{KEY}={steps} is not supported with LoRA (actor_rollout_ref.model.lora_rank > 0): the "
                         "reference is the base model without the adapter")
    if not colocated:
        raise ValueError(f"{KEY}={steps} needs the reference model on the actor's workers (verl's hybrid engine, "
                         "trainer modes sync and colocate_async); here it has workers of its own")
    return steps


# ----------------------------------------------------------------------------------------------------- worker side
def reset_reference(self) -> bool:
    """Worker-group method (every rank): reference weights := actor weights, shard by shard."""
    import torch

    actor, ref = self.actor.engine.module, self.ref.engine.module
    with torch.no_grad():
        ref.load_state_dict(actor.state_dict())
    return True


def patch_worker_module(module) -> None:
    from verl.single_controller.base.decorator import Dispatch, register

    if not touchpoints.require_attrs(module, ("ActorRolloutRefWorker",), "the reference reset (worker side)"):
        return
    cls = module.ActorRolloutRefWorker
    if not hasattr(cls, "r1_reset_reference"):
        cls.r1_reset_reference = register(dispatch_mode=Dispatch.ONE_TO_ALL)(reset_reference)


# ---------------------------------------------------------------------------------------------------- trainer side
def _reset(trainer, why: str) -> None:
    trainer.ref_policy_wg.r1_reset_reference()
    logger.warning("r1-recipe: reference model reset to the current policy (%s, step %d)", why, trainer.global_steps)


def wrap_load_checkpoint(load_checkpoint):
    """`PPOTrainer._load_checkpoint`, then the start-up checks, and on a resumed run the reference := the policy."""

    def _load_checkpoint(self, *args, **kwargs):
        result = load_checkpoint(self, *args, **kwargs)
        colocated = getattr(self, "ref_policy_wg", None) is getattr(self, "actor_rollout_wg", None)
        self._r1_ref_reset_steps = check_config(self.config, self.use_reference_policy, self.ref_in_actor, colocated)
        every = self._r1_ref_reset_steps
        if every and self.global_steps > 0:
            _reset(self, "resumed run")
            ups = updates_per_step(self.config)
            last = max((s for s in range(1, self.global_steps + 1) if reset_due(s, ups, every)), default=0)
            if last != self.global_steps:
                logger.warning("r1-recipe: resumed at verl step %d; with %s=%d policy updates (%d per verl step) the "
                               "last reset was at verl step %d: the reference is the policy of step %d, not of step %d",
                               self.global_steps, KEY, every, ups, last, self.global_steps, last)
        return result

    return _load_checkpoint


def wrap_update_actor(update_actor):
    """`PPOTrainer._update_actor`, then the reset when this step completes a multiple of ref_reset_steps updates."""

    def _update_actor(self, *args, **kwargs):
        result = update_actor(self, *args, **kwargs)
        every = getattr(self, "_r1_ref_reset_steps", None)
        if every and reset_due(self.global_steps, updates_per_step(self.config), every):
            _reset(self, f"every {every} policy updates")
        return result

    return _update_actor


def patch_trainer_module(module) -> None:
    if not touchpoints.require_attrs(module, TRAINER_HOOKED, f"the reference reset ({KEY})"):
        return
    if getattr(module.PPOTrainer, "__r1_ref_reset__", False):
        return
    touchpoints.wrap_method(module, touchpoints.LOAD_CHECKPOINT, wrap_load_checkpoint)
    touchpoints.wrap_method(module, touchpoints.UPDATE_ACTOR, wrap_update_actor)
    module.PPOTrainer.__r1_ref_reset__ = True


def install() -> None:
    from r1_recipe.verl.hooks import after_import

    after_import(touchpoints.WORKER_MODULE, patch_worker_module, "the reference-reset worker method")
    after_import(touchpoints.TRAINER_MODULE, patch_trainer_module, "the reference-reset trainer hook")
