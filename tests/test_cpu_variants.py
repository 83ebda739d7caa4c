"""Each GRPO variant (zero_dapo, zero_drgrpo, zero_gspo) runs two steps of verl's own `main_ppo` on CPU (rollout
`hf`, tiny Qwen2 built locally; tests/_cpu_fixtures.run_main_ppo), and shows the behaviour that makes it that variant
in verl's step metrics. One run per variant, about 90-130 s each on 2 cores (Ray start-up dominates)."""

from __future__ import annotations

import pytest
import torch

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU platform is only registered without GPUs")]

# A random model never earns accuracy or format: the language component (1 for a scored response with words) and, for
# DAPO, the overlong penalty give the groups their variance. A large lr and an entropy bonus move the policy in
# every update.
COMMON = ("+reward.r1.components.language=1.0", "actor_rollout_ref.actor.optim.lr=1e-3",
          "actor_rollout_ref.actor.entropy_coeff=0.01", "trainer.val_before_train=false", "trainer.test_freq=0")
VARIANTS = {
    # DAPO filters on the summed reward here (every `acc` of a random model is 0, so `acc` would filter every group)
    # and shapes the last 16 of 32 tokens; n=4 leaves many groups without variance to filter
    "zero_dapo": ("algorithm.filter_groups.metric=reward", "algorithm.filter_groups.max_num_gen_batches=30",
                  "reward.reward_kwargs.overlong_buffer_cfg.len=16"),
    # n=8: a group with reward variance in every step (each response ends within 32 tokens with p ~ 0.2)
    "zero_drgrpo": ("actor_rollout_ref.rollout.n=8",),
    # two mini-batches per step: the second one sees a policy the first update moved
    "zero_gspo": ("actor_rollout_ref.rollout.n=8", "actor_rollout_ref.actor.ppo_mini_batch_size=2"),
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def run(request, tmp_path_factory):
    from _cpu_fixtures import run_main_ppo

    name = request.param
    result = run_main_ppo(tmp_path_factory.mktemp(name), name, [*COMMON, *VARIANTS[name]], steps=2)
    print(f"{name}: main_ppo, 2 steps, {result.seconds:.0f} s")
    result.name = name
    return result


def test_two_steps_are_logged(run):
    assert [s["step"] for s in run.steps] == [1, 2]
    assert f"experiment_name: {run.name}" in run.log or f"'experiment_name': '{run.name}'" in run.log


def test_the_variant_behaves_as_its_paper_says(run):
    data = [s["data"] for s in run.steps]
    if run.name == "zero_dapo":
        for d in data:
            assert "actor/kl_loss" not in d and "timing_s/ref" not in d  # no KL term, no reference model
            # dynamic sampling: every group the update sees has reward variance
            assert d["r1/groups/zero_variance"] == 0.0
            # the overlong penalty is part of the score: score = acc + format + language + overlong_reward
            parts = sum(d[f"r1/reward/{k}/mean"] for k in ("accuracy", "format", "language", "overlong_reward"))
            assert d["r1/reward/score/mean"] == pytest.approx(parts)
            # a truncated response (32 tokens = L_max) gets -(32 - 16) / 16 = -1 and no component reward
            if d["r1/truncation_rate"] > 0:
                assert d["critic/score/min"] == pytest.approx(-1.0)
        # groups without variance were dropped and replaced
        assert sum(d.get("training/filter_groups/evicted_samples", 0) for d in data) > 0
    elif run.name == "zero_drgrpo":
        # no std normalisation: A = r - mean(r) with r in [0, 1] and 8 per group is at most 1 - 1/8
        # (standard GRPO gives one right answer among 8 an advantage of 2.47)
        assert 0 < max(d["critic/advantages/max"] for d in data) <= 0.875 + 1e-6
        assert all(d["critic/advantages/min"] >= -0.875 - 1e-6 for d in data)
        assert all(d["actor/kl_loss"] >= 0 for d in data)  # zero's KL term stays
    else:
        # the sequence ratio of the second mini-batch left GSPO's 3e-4/4e-4 band: whole responses were clipped
        assert max(d["actor/pg_clipfrac"] for d in data) > 0
        assert all(d["actor/pg_clipfrac_lower"] == 0.0 for d in data)  # verl's gspo loss reports no lower clip
        assert "loss_mode: gspo" in run.log or "'loss_mode': 'gspo'" in run.log
