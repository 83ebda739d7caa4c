"""A replay buffer that polls for finished rollouts every 50 ms instead of every 2 s, for CPU runs of `main_ppo`.

verl 0.9.1's v1 trainer waits for a step's rollouts by polling its replay buffer (`verl/trainer/ppo/v1/
replay_buffer.py`, `poll_interval=2.0`, not exposed in the config); the generation phase (`timing_s/gen`) therefore
lasts a multiple of 2 s. On a GPU cluster a step takes minutes and 2 s is noise; on a CPU, where a step of a tiny model
takes a few seconds, it was the largest single cost of a step (docs/cpu.md). verl's own extension point,
`trainer.v1.sampler.custom_sampler.{path,name}`, selects this subclass; `trainer.v1.sampler.sampler_kwargs.
poll_interval` sets the interval. The sampling itself is verl's, unchanged.

verl hands a custom sampler fewer arguments than its own (no DAPO group filtering, no refill of failed groups), so
this class refuses to start when the config asks for either: the overrides pass both settings in `sampler_kwargs`
(`filter_groups`, `sync_refill_failed_groups`, interpolated from `algorithm.filter_groups.enable` and
`trainer.v1.sampler.sync_refill_failed_groups`).
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
        for key, where in (("filter_groups", "algorithm.filter_groups.enable"),
                           ("sync_refill_failed_groups", "trainer.v1.sampler.sync_refill_failed_groups")):
            if sampler_kwargs.get(key):
                raise ValueError(f"{where}=true needs verl's own replay buffer: unset trainer.v1.sampler."
                                 f"custom_sampler (r1-recipe's {NAME} does not implement it)")
        interval = float(sampler_kwargs.get("poll_interval", POLL_INTERVAL))
        if not interval > 0:
            raise ValueError(f"trainer.v1.sampler.sampler_kwargs.poll_interval must be > 0, got {interval}")
        super().__init__(trainer_mode=trainer_mode, sampler_kwargs=sampler_kwargs, poll_interval=interval, **kwargs)
