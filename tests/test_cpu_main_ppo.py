"""verl's own `main_ppo` runs our `zero` recipe (r1_grpo, r1 reward manager, R1-Zero template) for 3 GRPO steps on CPU:
CPU platform + rollout `hf` (r1_recipe.verl.cpu), tiny Qwen2 built locally. One run (about 100-140 s on 2 cores, Ray
start-up dominates) serves every test here: the GRPO step itself, the `r1/` training-dynamics metrics reaching
verl's file tracker every step (from which `r1-recipe report` draws), and the periodic reference reset.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from r1_recipe.tools.cli import main as cli
from r1_recipe.verl.cpu import overrides

pytestmark = [pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU platform is only registered without GPUs"),
              pytest.mark.slow]  # launches verl's trainer (Ray and its actors): the fast lane `-m "not slow"` skips it

R1_KEYS = ("r1/response_length/mean", "r1/response_length/p90", "r1/response_length/max", "r1/truncation_rate",
           "r1/format_rate", "r1/reward/score/mean", "r1/reward/acc/mean", "r1/reward/format/mean",
           "r1/reward/language/mean", "r1/reflection/rate", "r1/reflection/mean", "r1/language_mixing_rate",
           "r1/groups/zero_variance", "r1/groups/all_correct", "r1/groups/all_wrong")


def metric(line: str, name: str) -> float:
    return float(re.search(rf"{re.escape(name)}:(?:np\.\w+\()?(-?[0-9.e+-]+)", line).group(1))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from _cpu_fixtures import build_tiny_model, write_rl_data

    tmp_path = tmp_path_factory.mktemp("main_ppo")
    model = build_tiny_model(tmp_path / "model")
    write_rl_data(tmp_path / "train.parquet", 64, seed=0)
    write_rl_data(tmp_path / "val.parquet", 8, seed=1)
    log_path = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", "pkg://r1_recipe.recipes",
           "--config-name", "zero",
           f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'val.parquet'}",
           # sizes only: the R1-Zero prompt is 222 tokens with the tiny tokenizer
           "data.train_batch_size=4", "data.max_prompt_length=256", "data.max_response_length=32",
           f"actor_rollout_ref.model.path={model}", "actor_rollout_ref.model.enable_gradient_checkpointing=false",
           "actor_rollout_ref.actor.ppo_mini_batch_size=4", "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=1024",
           "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=1024",
           "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=1024", "actor_rollout_ref.rollout.n=4",
           # a random model (almost) never earns accuracy or format: language consistency gives the groups some variance
           "+reward.r1.components.language=1.0", "trainer.logger=[console,file]",
           # a large lr so that one step moves the policy measurably away from the reference (the KL shows it); an
           # entropy bonus so that every step has a gradient even when all groups happen to get equal rewards
           "actor_rollout_ref.actor.optim.lr=1e-3", "actor_rollout_ref.actor.entropy_coeff=0.01",
           "algorithm.r1.ref_reset_steps=2",
           "trainer.total_training_steps=3", "trainer.val_before_train=false", "trainer.test_freq=2",
           "trainer.save_freq=-1", f"trainer.default_local_dir={tmp_path / 'ckpt'}", *overrides.PPO]
    env = {key: value for key, value in os.environ.items() if key != "VERL_PLATFORM"}
    env.update(RAY_AUTH_MODE="disabled", VERL_FILE_LOGGER_PATH=str(log_path))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    return SimpleNamespace(log=log, tmp_path=tmp_path, log_path=log_path,
                           steps=[json.loads(line) for line in log_path.read_text().splitlines()])


def test_main_ppo_runs_the_zero_recipe_with_the_hf_rollout_on_cpu(run):
    assert "LLMServerManager: ['hf_rollout_server_0']" in run.log
    steps = [line for line in run.log.splitlines() if re.search(r"\bstep:\d+ - ", line)]
    assert [metric(line, "training/global_step") for line in steps] == [1.0, 2.0, 3.0]
    for line in steps:
        # the HF rollout's log-probs agree with the FSDP actor's recomputation of the same tokens
        assert metric(line, "training/rollout_probs_diff_max") < 1e-2
        assert metric(line, "response_length/mean") > 0
        assert metric(line, "r1/reward/format/mean") == 0.0         # the r1 manager scored the rollouts
        assert "r1/reward/language/mean" in line
    # r1_grpo turned the language scores into non-zero advantages, and the actor got a gradient from them
    assert max(metric(line, "critic/advantages/max") for line in steps) > 0
    assert max(metric(line, "actor/grad_norm") for line in steps) > 0


def test_r1_dynamics_reach_verls_file_tracker_every_step(run):
    assert [s["step"] for s in run.steps] == [1, 2, 3]
    for step in run.steps:
        data = step["data"]
        assert [k for k in R1_KEYS if k not in data] == []
        # 16 responses of at most 32 tokens; the same lengths verl measures from the response mask
        assert data["r1/response_length/mean"] == pytest.approx(data["response_length/mean"])
        assert data["r1/response_length/max"] == data["response_length/max"] <= 32
        # the random model never writes the R1 format; a right answer (the gold as its last number) is a rare accident:
        # 4 groups of 4 binary accuracies, and a group with a right answer is not all wrong
        assert data["r1/format_rate"] == 0.0 and data["r1/groups/all_correct"] == 0.0
        acc, all_wrong = data["r1/reward/acc/mean"], data["r1/groups/all_wrong"]
        assert (acc * 16) == int(acc * 16) and (all_wrong * 4) == int(all_wrong * 4)
        assert acc <= 1.0 - all_wrong and (acc == 0.0) == (all_wrong == 1.0)
        assert data["r1/reward/score/mean"] == pytest.approx(data["critic/score/mean"])
        for key in ("r1/truncation_rate", "r1/reflection/rate", "r1/language_mixing_rate", "r1/groups/zero_variance"):
            assert 0.0 <= data[key] <= 1.0, key
    assert any(k.startswith("val-core/toy_add/acc/mean@") for k in run.steps[1]["data"])  # the accuracy curve's input


def test_report_draws_the_curves_from_that_log(run):
    out = run.tmp_path / "report"
    assert cli(["report", str(run.log_path), "--out", str(out)]) == 0
    for name in ("accuracy", "length", "reflection", "dynamics"):
        assert (out / f"{name}.png").stat().st_size > 0


def test_reference_is_reset_to_the_policy_every_ref_reset_steps(run):
    # one mini-batch per step: the KL is measured before the step's update, between the policy after the previous
    # steps and the reference. Step 1: reference = initial policy. Step 2: the policy moved in step 1. After step 2
    # the reference becomes the policy, so step 3 starts with identical weights on both sides.
    kl = [s["data"]["actor/kl_loss"] for s in run.steps]
    assert kl[0] == pytest.approx(0.0, abs=1e-6)
    assert kl[1] > 1e-4
    assert kl[2] == pytest.approx(0.0, abs=1e-6)
    assert "reference model reset to the current policy (every 2 policy updates, step 2)" in run.log  # 1 per step
