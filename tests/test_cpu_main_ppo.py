"""verl's own `main_ppo` runs our `zero` recipe (r1_grpo, r1 reward manager, R1-Zero template) for 2 GRPO steps on CPU:
CPU platform + rollout `hf` (r1_recipe.cpu), tiny Qwen2 built locally. About 90 s on 2 cores (Ray start-up dominates).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from r1_recipe.cpu import overrides

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU platform is only registered without GPUs")


def metric(line: str, name: str) -> float:
    return float(re.search(rf"{re.escape(name)}:(?:np\.\w+\()?(-?[0-9.e+-]+)", line).group(1))


def test_main_ppo_runs_the_zero_recipe_with_the_hf_rollout_on_cpu(tmp_path):
    from _cpu_fixtures import build_tiny_model, write_rl_data

    model = build_tiny_model(tmp_path / "model")
    write_rl_data(tmp_path / "train.parquet", 64, seed=0)
    write_rl_data(tmp_path / "val.parquet", 8, seed=1)
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", "pkg://r1_recipe.recipes",
           "--config-name", "zero",
           f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'val.parquet'}",
           # sizes only: the R1-Zero prompt is 222 tokens with the tiny tokenizer
           "data.train_batch_size=4", "data.max_prompt_length=256", "data.max_response_length=32",
           f"actor_rollout_ref.model.path={model}", "actor_rollout_ref.model.enable_gradient_checkpointing=false",
           "actor_rollout_ref.actor.ppo_mini_batch_size=4", "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=1024",
           "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=1024",
           "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=1024", "actor_rollout_ref.rollout.n=4",
           # a random model never earns accuracy or format: language consistency gives the groups some variance
           "+reward.r1.components.language=1.0",
           "trainer.total_training_steps=2", "trainer.val_before_train=false", "trainer.test_freq=-1",
           "trainer.save_freq=-1", f"trainer.default_local_dir={tmp_path / 'ckpt'}", *overrides.PPO]
    env = {key: value for key, value in os.environ.items() if key != "VERL_PLATFORM"}
    env["RAY_AUTH_MODE"] = "disabled"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=480, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]

    assert "LLMServerManager: ['hf_rollout_server_0']" in log
    steps = [line for line in log.splitlines() if re.search(r"\bstep:\d+ - ", line)]
    assert [metric(line, "training/global_step") for line in steps] == [1.0, 2.0]
    for line in steps:
        # the HF rollout's log-probs agree with the FSDP actor's recomputation of the same tokens
        assert metric(line, "training/rollout_probs_diff_max") < 1e-2
        assert metric(line, "response_length/mean") > 0
        assert metric(line, "r1/reward/format/mean") == 0.0         # the r1 manager scored the rollouts
        assert "r1/reward/language/mean" in line
    # r1_grpo turned the language scores into non-zero advantages, and the actor got a gradient from them
    assert max(metric(line, "critic/advantages/max") for line in steps) > 0
    assert max(metric(line, "actor/grad_norm") for line in steps) > 0
