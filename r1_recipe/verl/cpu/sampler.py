"""A replay buffer that polls for finished rollouts every 50 ms instead of every 2 s, for CPU runs of `main_ppo`.

verl 0.9.1's v1 trainer waits for a step's rollouts by polling its replay buffer (`verl/trainer/ppo/v1/
replay_buffer.py`, `poll_interval=2.0`, not exposed in the config); the generation phase (`timing_s/gen`) therefore
lasts a multiple of 2 s. On a GPU cluster a step takes minutes and 2 s is noise; on a CPU, where a step of a tiny model
takes a few seconds, it was the largest single cost of a step (docs/cpu.md). verl's own extension point,
`trainer.v1.sampler.custom_sampler.{path,name}`, selects this subclass; `trainer.v1.sampler.sampler_kwargs.
poll_interval` sets the interval. The sampling itself is verl's, unchanged.

verl hands a custom sampler fewer arguments than its own sync buffer (no DAPO group filtering, no refill of failed
groups, no batch sizes). The CPU overrides pass those settings in `sampler_kwargs`, interpolated from the config
(`filter_groups` = `${algorithm.filter_groups}`, `sync_refill_failed_groups`, `train_batch_size`, `gen_batch_size`),
and this class derives the constructor arguments from them exactly as `PPOTrainer._build_replay_buffer` does, so DAPO
recipes (`zero_dapo`) sample as with verl's buffer. Asynchronous trainers use another class: refused, naming the key.
"""

from __future__ import annotations

from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from r1_recipe.verl.cpu.overrides import POLL_INTERVAL

NAME = "QuickPollReplayBuffer"


class QuickPollReplayBuffer(ReplayBuffer):
    """verl's synchronous `ReplayBuffer` with `poll_interval` from `sampler_kwargs` (default 50 ms)."""

    def __init__(self, *, trainer_mode: str, sampler_kwargs, **kwargs):
        if trainer_mode != "sync":
            raise ValueError(f"trainer.v1.trainer_mode={trainer_mode}: r1-recipe's {NAME} (trainer.v1.sampler."
                             "custom_sampler) serves the sync trainer only; unset custom_sampler")
        interval = float(sampler_kwargs.get("poll_interval", POLL_INTERVAL))
        if not interval > 0:
            raise ValueError(f"trainer.v1.sampler.sampler_kwargs.poll_interval must be > 0, got {interval}")
        # what verl's _build_replay_buffer / _resolve_filter_groups_metric give its own sync buffer
        groups = sampler_kwargs.get("filter_groups") or {}
        metric = groups.get("metric") if groups.get("enable") else None
        if groups.get("enable") and not metric:
            raise ValueError("algorithm.filter_groups.metric must be set when group filtering is enabled")
        refill = bool(sampler_kwargs.get("sync_refill_failed_groups", False))
        batch = sampler_kwargs.get("train_batch_size")
        super().__init__(
            trainer_mode=trainer_mode, sampler_kwargs=sampler_kwargs, poll_interval=interval,
            filter_groups_metric=metric, sync_refill_failed_groups=refill, train_batch_size=batch,
            gen_batch_size=1 if metric is not None or refill else (sampler_kwargs.get("gen_batch_size") or batch),
            max_inflight_gen_batches=int(groups.get("max_inflight_gen_batches", 1)) if metric is not None else 1,
            **kwargs)
