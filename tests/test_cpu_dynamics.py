"""verl's own `main_ppo` on CPU (r1_recipe.cpu: platform `cpu`, rollout `hf`, tiny Qwen2) writes the `r1/`
training-dynamics metrics to verl's file tracker every step, and `r1-recipe report` draws from that log."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from r1_recipe.cli import main as cli
from r1_recipe.cpu import overrides

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU platform is only registered without GPUs")

R1_KEYS = ("r1/response_length/mean", "r1/response_length/p90", "r1/response_length/max", "r1/truncation_rate",
           "r1/format_rate", "r1/reward/score/mean", "r1/reward/acc/mean", "r1/reward/format/mean",
           "r1/reward/language/mean", "r1/reflection/rate", "r1/reflection/mean", "r1/language_mixing_rate",
           "r1/groups/zero_variance", "r1/groups/all_correct", "r1/groups/all_wrong")


def test_main_ppo_on_cpu_logs_r1_dynamics_every_step_and_report_draws_them(tmp_path):
    from _cpu_fixtures import build_tiny_model, write_rl_data

    model = build_tiny_model(tmp_path / "model")
    write_rl_data(tmp_path / "train.parquet", 64, seed=0)
    write_rl_data(tmp_path / "val.parquet", 8, seed=1)
    log_path = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", "pkg://r1_recipe.recipes",
           "--config-name", "zero",
           f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'val.parquet'}",
           "data.train_batch_size=4", "data.max_prompt_length=256", "data.max_response_length=32",
           f"actor_rollout_ref.model.path={model}", "actor_rollout_ref.model.enable_gradient_checkpointing=false",
           "actor_rollout_ref.actor.ppo_mini_batch_size=4", "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=1024",
           "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=1024",
           "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=1024", "actor_rollout_ref.rollout.n=4",
           "+reward.r1.components.language=1.0", "trainer.logger=[console,file]",
           "trainer.total_training_steps=2", "trainer.val_before_train=false", "trainer.test_freq=2",
           "trainer.save_freq=-1", f"trainer.default_local_dir={tmp_path / 'ckpt'}", *overrides.PPO]
    env = {key: value for key, value in os.environ.items() if key != "VERL_PLATFORM"}
    env.update(RAY_AUTH_MODE="disabled", VERL_FILE_LOGGER_PATH=str(log_path))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]

    steps = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]
    for step in steps:
        data = step["data"]
        assert [k for k in R1_KEYS if k not in data] == []
        # 16 responses of at most 32 tokens; the same lengths verl measures from the response mask
        assert data["r1/response_length/mean"] == pytest.approx(data["response_length/mean"])
        assert data["r1/response_length/max"] == data["response_length/max"] <= 32
        # the random model never writes the R1 format or a right answer: every group is all wrong
        assert (data["r1/format_rate"], data["r1/reward/acc/mean"], data["r1/groups/all_wrong"]) == (0.0, 0.0, 1.0)
        assert data["r1/reward/score/mean"] == pytest.approx(data["critic/score/mean"])
        for key in ("r1/truncation_rate", "r1/reflection/rate", "r1/language_mixing_rate", "r1/groups/zero_variance"):
            assert 0.0 <= data[key] <= 1.0, key
    assert any(k.startswith("val-core/toy_add/acc/mean@") for k in steps[1]["data"])  # the accuracy curve's input

    assert cli(["report", str(log_path), "--out", str(tmp_path / "report")]) == 0
    for name in ("accuracy", "length", "reflection", "dynamics"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 0
