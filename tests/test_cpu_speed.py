"""The CPU speed overrides (`r1_recipe.verl.cpu.overrides.PPO_SPEED`, docs/cpu.md), among them
r1_recipe.verl.cpu.sampler: verl's replay buffer with a 50 ms poll, selected through verl's
`trainer.v1.sampler.custom_sampler`. Their effect is measured by bench/verl_cpu_step_bench.py."""

from __future__ import annotations

import pytest

from r1_recipe.verl.cpu import overrides


def _buffer(mode: str = "sync", **sampler_kwargs):
    from r1_recipe.verl.cpu.sampler import QuickPollReplayBuffer

    # the keyword arguments verl 0.9.1's PPOTrainer._build_replay_buffer passes a custom sampler
    return QuickPollReplayBuffer(trainer_mode=mode, trainer_config={}, max_off_policy_threshold=8,
                                 max_off_policy_strategy="drop", sampler_kwargs=sampler_kwargs, refill_fn=None)


def test_poll_interval_comes_from_sampler_kwargs_and_defaults_to_50_ms():
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

    assert _buffer(poll_interval=0.2, filter_groups=False, sync_refill_failed_groups=False).poll_interval == 0.2
    buf = _buffer()
    assert buf.poll_interval == overrides.POLL_INTERVAL == 0.05
    assert isinstance(buf, ReplayBuffer) and buf.filter_groups_metric is None and buf.sync_refill_failed_groups is False


@pytest.mark.parametrize(("mode", "kwargs", "message"), [
    ("sync", {"filter_groups": True}, "algorithm.filter_groups.enable=true needs verl's own replay buffer"),
    ("sync", {"sync_refill_failed_groups": True},
     "trainer.v1.sampler.sync_refill_failed_groups=true needs verl's own replay buffer"),
    ("sync", {"poll_interval": 0}, "trainer.v1.sampler.sampler_kwargs.poll_interval must be > 0, got 0.0"),
    ("separate_async", {}, "trainer.v1.trainer_mode=separate_async: r1-recipe's QuickPollReplayBuffer"),
])
def test_what_the_sampler_cannot_do_fails_at_start_up_naming_the_key(mode, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _buffer(mode, **kwargs)


def test_cpu_overrides_select_it_through_verls_custom_sampler_keys():
    from verl.utils.import_utils import load_extern_object

    from r1_recipe.tools.recipes import compose
    from r1_recipe.verl.cpu.sampler import QuickPollReplayBuffer

    cfg = compose("zero", list(overrides.PPO))[0]
    sampler = cfg.trainer.v1.sampler
    assert load_extern_object(sampler.custom_sampler.path, sampler.custom_sampler.name) is QuickPollReplayBuffer
    # the interpolations carry the two settings verl does not hand a custom sampler
    assert dict(sampler.sampler_kwargs) == {"poll_interval": 0.05, "filter_groups": False,
                                            "sync_refill_failed_groups": False}
    dapo = compose("zero", [*overrides.PPO, "algorithm.filter_groups.enable=true"])[0]
    assert dapo.trainer.v1.sampler.sampler_kwargs.filter_groups is True


def test_speed_overrides_compose_into_padded_fp32_workers_without_a_dashboard():
    from r1_recipe.tools.recipes import compose

    cfg = compose("zero", list(overrides.PPO))[0]
    assert cfg.actor_rollout_ref.model.use_remove_padding is False
    assert dict(cfg.actor_rollout_ref.actor.fsdp_config.mixed_precision) == {"param_dtype": "fp32"}
    assert dict(cfg.actor_rollout_ref.ref.fsdp_config.mixed_precision) == {"param_dtype": "fp32"}
    assert cfg.ray_kwargs.ray_init.include_dashboard is False
    assert overrides.PPO[-len(overrides.PPO_SPEED):] == overrides.PPO_SPEED


def test_a_recipe_that_filters_groups_keeps_verls_replay_buffer_under_cpu():
    from r1_recipe.tools.recipes import compose
    from r1_recipe.verl.recipe_check import PPO, cpu_overrides

    dapo, zero = compose("zero_dapo")[0], compose("zero")[0]
    assert overrides.needs_verls_replay_buffer(dapo) and not overrides.needs_verls_replay_buffer(zero)
    # DAPO's group filtering lives in verl's replay buffer: `--cpu` leaves the quick-poll sampler out for it
    assert cpu_overrides(PPO, ["data.train_batch_size=4"], dapo) == [
        o for o in overrides.PPO if "trainer.v1.sampler." not in o] + ["data.train_batch_size=4"]
    assert cpu_overrides(PPO, ["data.train_batch_size=4"], zero) == [*overrides.PPO, "data.train_batch_size=4"]
    assert cpu_overrides(PPO, [], compose("zero", ["trainer.v1.trainer_mode=separate_async"])[0]) == [
        o for o in overrides.PPO if "trainer.v1.sampler." not in o]
