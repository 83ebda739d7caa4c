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
                                 max_off_policy_strategy="drop", sampler_kwargs=sampler_kwargs,
                                 refill_fn=lambda n: n)


def _args(buf) -> tuple:
    return (buf.poll_interval, buf.filter_groups_metric, buf.sync_refill_failed_groups, buf.train_batch_size,
            buf.gen_batch_size, buf.max_inflight_gen_batches)


def test_poll_interval_comes_from_sampler_kwargs_and_defaults_to_50_ms():
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

    assert isinstance(_buffer(), ReplayBuffer)
    assert _args(_buffer()) == (overrides.POLL_INTERVAL, None, False, None, None, 1) == (0.05, None, False, None,
                                                                                          None, 1)
    assert _buffer(poll_interval=0.2).poll_interval == 0.2


def test_it_gets_the_arguments_verl_gives_its_own_sync_buffer():
    off = {"enable": False, "metric": "reward", "max_inflight_gen_batches": 1}
    # plain GRPO: one dataloader fetch of train_batch_size (or gen_batch_size) prompts
    assert _args(_buffer(filter_groups=off, sync_refill_failed_groups=False, train_batch_size=8,
                         gen_batch_size=None)) == (0.05, None, False, 8, 8, 1)
    assert _args(_buffer(filter_groups=off, train_batch_size=8, gen_batch_size=16))[4] == 16
    # DAPO (zero_dapo): group filtering on its metric, prompts fetched one at a time, the in-flight bound
    dapo = {"enable": True, "metric": "acc", "max_inflight_gen_batches": 3}
    assert _args(_buffer(filter_groups=dapo, train_batch_size=8, gen_batch_size=None)) == (0.05, "acc", False, 8, 1, 3)
    assert _args(_buffer(filter_groups=off, sync_refill_failed_groups=True, train_batch_size=8)) == (
        0.05, None, True, 8, 1, 1)


@pytest.mark.parametrize(("mode", "kwargs", "message"), [
    ("sync", {"filter_groups": {"enable": True, "metric": None}},
     "algorithm.filter_groups.metric must be set when group filtering is enabled"),
    ("sync", {"poll_interval": 0}, "trainer.v1.sampler.sampler_kwargs.poll_interval must be > 0, got 0.0"),
    ("separate_async", {}, "trainer.v1.trainer_mode=separate_async: r1-recipe's QuickPollReplayBuffer"),
])
def test_what_the_sampler_cannot_do_fails_at_start_up_naming_the_key(mode, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _buffer(mode, **kwargs)


def test_cpu_overrides_select_it_through_verls_custom_sampler_keys():
    from omegaconf import OmegaConf
    from verl.utils.import_utils import load_extern_object

    from r1_recipe.tools.recipes import compose
    from r1_recipe.verl.cpu.sampler import QuickPollReplayBuffer

    cfg = compose("zero", [*overrides.PPO, "data.train_batch_size=8"])[0]
    sampler = cfg.trainer.v1.sampler
    assert load_extern_object(sampler.custom_sampler.path, sampler.custom_sampler.name) is QuickPollReplayBuffer
    # the interpolations carry what verl does not hand a custom sampler
    kwargs = OmegaConf.to_container(sampler.sampler_kwargs, resolve=True)
    assert {k: v for k, v in kwargs.items() if k != "filter_groups"} == {
        "poll_interval": 0.05, "sync_refill_failed_groups": False, "train_batch_size": 8, "gen_batch_size": None}
    assert (kwargs["filter_groups"]["enable"], kwargs["filter_groups"]["metric"]) == (False, "reward")
    dapo = compose("zero_dapo", list(overrides.PPO))[0].trainer.v1.sampler.sampler_kwargs
    assert (dapo.filter_groups.enable, dapo.filter_groups.metric) == (True, "acc")


def test_speed_overrides_compose_into_padded_fp32_workers_without_a_dashboard():
    from r1_recipe.tools.recipes import compose

    cfg = compose("zero", list(overrides.PPO))[0]
    assert cfg.actor_rollout_ref.model.use_remove_padding is False
    assert dict(cfg.actor_rollout_ref.actor.fsdp_config.mixed_precision) == {"param_dtype": "fp32"}
    assert dict(cfg.actor_rollout_ref.ref.fsdp_config.mixed_precision) == {"param_dtype": "fp32"}
    assert cfg.ray_kwargs.ray_init.include_dashboard is False
    assert overrides.PPO[-len(overrides.PPO_SPEED):] == overrides.PPO_SPEED


def test_an_asynchronous_trainer_keeps_verls_replay_buffer_under_cpu():
    from r1_recipe.tools.recipes import compose
    from r1_recipe.verl.recipe_check import PPO, cpu_overrides

    zero, dapo = compose("zero")[0], compose("zero_dapo")[0]
    asynchronous = compose("zero", ["trainer.v1.trainer_mode=separate_async"])[0]
    assert [overrides.needs_verls_replay_buffer(c) for c in (zero, dapo, asynchronous)] == [False, False, True]
    assert cpu_overrides(PPO, ["data.train_batch_size=4"], dapo) == [*overrides.PPO, "data.train_batch_size=4"]
    assert cpu_overrides(PPO, [], asynchronous) == [o for o in overrides.PPO if "trainer.v1.sampler." not in o]
