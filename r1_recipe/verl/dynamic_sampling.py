"""DAPO's dynamic sampling (`algorithm.filter_groups`) in verl 0.9.1: start-up checks, and the bound on refills that
verl's v1 trainer no longer enforces.

verl 0.9.1's v1 sync replay buffer drops every finished prompt group whose `filter_groups.metric` is identical across
its responses (no GRPO signal) and draws two new prompts per dropped group, from a dataloader that restarts when it
runs out, until `data.train_batch_size` groups have variance. It ignores `filter_groups.max_num_gen_batches`
(a warning: "ignored by the built-in V1 ReplayBuffer"), so a data set the model always solves or always fails, or
golds the reward cannot read (every `acc` 0: `r1-recipe check-data`), makes a step generate forever. DAPO's own
trainer (verl-recipe `dapo/`) stopped after `max_num_gen_batches` generation batches ("Generated too many. Please
check if your data are too difficult"). This module restores that bound: with `max_num_gen_batches = K > 0`, a step
may draw at most K x `data.train_batch_size` prompts (the first batch included), then it stops with an error naming
the keys. 0 keeps verl's unbounded behaviour. Only the sync trainer mode is bounded (the recipes' mode; the async
buffers refill for staleness too).

Start-up (`check_config`, from `r1-recipe run`): errors for set-ups that cannot filter (one response per group, the
legacy trainer, a metric the reward does not return or that never varies) or cannot refill (a colocated reward model,
no in-flight batch), warnings for an unbounded step and for a data set smaller than one step's draws; every message
names the keys.
"""

from __future__ import annotations

import logging

from r1_recipe.verl import touchpoints

logger = logging.getLogger("r1_recipe")

KEY = "algorithm.filter_groups"
# verl's synchronous replay buffer and our CPU subclass of it (r1_recipe.verl.cpu.sampler: the same sampling, a
# shorter poll): the buffers whose refills the bound counts
SYNC = ("ReplayBuffer", "QuickPollReplayBuffer")
# reward_extra_info keys of the `r1` manager that are strings, not numbers; and numbers that are 0 in a healthy run
_TEXT_KEYS = ("pred",)
_CONSTANT_KEYS = ("infra_failure",)


class DynamicSamplingExhausted(RuntimeError):
    """A step drew `max_num_gen_batches` batches of prompts and still lacks groups with reward variance."""


def settings(config) -> tuple[str, int] | None:
    """(metric, max_num_gen_batches) when dynamic sampling is on, else None."""
    node = touchpoints.config_value(config, KEY)
    if node is None or not node.get("enable", False):
        return None
    return str(node.get("metric", None) or ""), int(node.get("max_num_gen_batches", 0) or 0)


def r1_metric_keys(reward_cfg) -> set[str]:
    """The numeric keys of the `r1` manager's reward_extra_info for this `reward` config node."""
    from r1_recipe.core import schema
    from r1_recipe.core.rewards.compose import parse_config
    from r1_recipe.core.rewards.overlong import OverlongShaping

    composed = parse_config(reward_cfg.get("r1", None), prefix="reward.r1")
    keys = {schema.SCORE, "acc", schema.INFRA_FAILURE, schema.TRUNCATED, schema.REFLECTION_WORDS,
            schema.LANGUAGE_MIXED, *(c.name for c in composed.components)}
    overlong = OverlongShaping.from_config(reward_cfg.get("reward_kwargs", None))
    if overlong is not None and overlong.log:
        keys |= {"overlong_reward", "overlong"}
    return keys - set(_TEXT_KEYS)


def check_config(cfg, dataset_rows: int | None) -> tuple[list[str], list[str]]:
    """(errors, warnings) for `algorithm.filter_groups` in a composed PPO config; every message names the keys."""
    from omegaconf import OmegaConf

    on = settings(cfg)
    if on is None:
        return [], []
    metric, max_batches = on
    errors, warnings = [], []
    sel = lambda key, default=None: OmegaConf.select(cfg, key, default=default)  # noqa: E731
    n, batch = int(sel("actor_rollout_ref.rollout.n", 1)), int(sel("data.train_batch_size"))
    if n < 2:
        errors.append(f"{KEY}.enable=true with actor_rollout_ref.rollout.n={n}: a group of one response is never "
                      "filtered (dynamic sampling needs n >= 2)")
    if not sel("trainer.use_v1", True):
        errors.append(f"{KEY}.enable=true with trainer.use_v1=false: verl 0.9.1's legacy trainer ignores "
                      f"{KEY} (only the v1 replay buffer filters groups)")
    if sel("trainer.v1.sampler.custom_sampler.path") and sel("trainer.v1.sampler.custom_sampler.name") not in SYNC:
        warnings.append(f"{KEY}: trainer.v1.sampler.custom_sampler is set; verl leaves group filtering to it and "
                        "r1-recipe's bound on refills does not apply")
    if sel("reward.reward_model.enable", False) and not sel("reward.reward_model.enable_resource_pool", False):
        errors.append(f"{KEY}.enable=true with reward.reward_model.enable=true needs "
                      "reward.reward_model.enable_resource_pool=true: a colocated reward model scores only after "
                      "the replay buffer has sampled (verl asserts this after Ray start-up)")
    if not metric:
        errors.append(f"{KEY}.metric must be set when {KEY}.enable=true (reward, or a reward_extra_info key)")
    elif metric != "reward" and sel("reward.reward_manager.name") == "r1":
        try:
            known = r1_metric_keys(cfg.reward)
        except (ValueError, KeyError, TypeError):
            known = None  # reward.r1 itself is reported by the reward checks
        if known is not None and metric not in known:
            errors.append(f"{KEY}.metric={metric!r} is not a number the r1 reward manager returns; one of: reward, "
                          f"{', '.join(sorted(known))} (verl would stop at the first finished group)")
        elif metric in _CONSTANT_KEYS:
            errors.append(f"{KEY}.metric={metric!r} is 0 for every response of a healthy run: every group would be "
                          "filtered and no batch could be filled")
    inflight = sel(f"{KEY}.max_inflight_gen_batches", 1)
    if isinstance(inflight, bool) or not isinstance(inflight, int) or inflight < 1:
        errors.append(f"{KEY}.max_inflight_gen_batches must be a positive integer, got {inflight!r} (verl's replay "
                      "buffer refuses it after Ray start-up)")
    if max_batches < 0:
        errors.append(f"{KEY}.max_num_gen_batches must be >= 0 (0: no bound), got {max_batches}")
    elif max_batches == 0:
        warnings.append(f"{KEY}.max_num_gen_batches=0: no bound on refills; a data set the model always solves or "
                        f"always fails makes a step generate forever (DAPO's recipe: 10)")
    # verl's dataloader restarts when it runs out: a small data set repeats prompts rather than stalls
    if dataset_rows is not None and dataset_rows < max(max_batches, 1) * batch:
        warnings.append(f"{KEY}: a step draws up to {KEY}.max_num_gen_batches={max_batches} x data.train_batch_size="
                        f"{batch} = {max(max_batches, 1) * batch} prompts, more than the {dataset_rows} in "
                        "data.train_files: a step may draw a prompt twice (one it has already filtered, or one "
                        "already in its batch)")
    return errors, warnings


# ------------------------------------------------------------------------------------------------- the runtime bound
def bound_sample(buffer, max_prompts: int, batch: int, max_batches: int, metric: str):
    """Wrap `buffer.sample` so that one training step's refills stop past `max_prompts` prompts drawn in all."""
    sample = buffer.sample

    def guarded(global_steps, partition_id, batch_size):
        if partition_id == "val" or buffer.filter_groups_metric is None:
            return sample(global_steps, partition_id, batch_size)
        refill, drawn = buffer.refill_fn, batch_size  # the step's first batch came from the trainer

        def counted(num_prompts):
            nonlocal drawn
            if drawn + num_prompts > max_prompts:
                raise DynamicSamplingExhausted(
                    f"step {global_steps}: dynamic sampling drew {drawn} prompts ({KEY}.max_num_gen_batches="
                    f"{max_batches} x data.train_batch_size={batch} = {max_prompts} at most) and still has fewer "
                    f"than {batch_size} groups whose {KEY}.metric={metric!r} varies: the data is too hard or too "
                    "easy for the model, or the reward cannot read its golds (r1-recipe check-data); raise "
                    f"{KEY}.max_num_gen_batches, or set it to 0 for no bound")
            drawn += num_prompts
            return refill(num_prompts)

        buffer.refill_fn = counted
        try:
            return sample(global_steps, partition_id, batch_size)
        finally:
            buffer.refill_fn = refill

    buffer.sample = guarded
    return buffer


def wrap_build_replay_buffer(build):
    """`PPOTrainer._build_replay_buffer`, its sync buffer bounded (`bound_sample`) when max_num_gen_batches > 0."""

    def _build_replay_buffer(self, *args, **kwargs):
        buffer = build(self, *args, **kwargs)
        on = settings(self.config)
        sync = type(buffer).__name__ in SYNC  # the async buffers refill for staleness too
        if on is not None and on[1] > 0 and sync and getattr(buffer, "filter_groups_metric", None) is not None:
            batch = int(self.config.data.train_batch_size)
            bound_sample(buffer, on[1] * batch, batch, on[1], on[0])
        return buffer

    return _build_replay_buffer


def patch_trainer_module(module) -> None:
    if not touchpoints.require_attrs(module, (touchpoints.BUILD_REPLAY_BUFFER,),
                                     f"the bound on dynamic sampling ({KEY}.max_num_gen_batches)"):
        return
    if getattr(module.PPOTrainer, "__r1_dynamic_sampling__", False):
        return
    touchpoints.wrap_method(module, touchpoints.BUILD_REPLAY_BUFFER, wrap_build_replay_buffer)
    module.PPOTrainer.__r1_dynamic_sampling__ = True


def install() -> None:
    from r1_recipe.verl.hooks import after_import

    after_import(touchpoints.TRAINER_MODULE, patch_trainer_module, "the bound on dynamic sampling")
