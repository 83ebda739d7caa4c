"""GPU: in verl's own `main_ppo` (v1 trainer), the r1/ training-dynamics metrics reach verl's file tracker every
step, and `r1-recipe report` draws from that log. Skipped where CUDA is absent (CI)."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.gpu


def test_main_ppo_logs_r1_dynamics_to_the_file_tracker_and_report_draws_them(tmp_path):
    from test_gpu_main_ppo import build_tiny_model, write_data

    model = tmp_path / "model"
    build_tiny_model(model)
    write_data(tmp_path / "train.parquet", 64, 0)
    write_data(tmp_path / "val.parquet", 16, 1)
    overrides = [
        f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'val.parquet'}",
        "data.train_batch_size=8", "data.max_prompt_length=192", "data.max_response_length=64",
        f"actor_rollout_ref.model.path={model}",
        "actor_rollout_ref.model.custom_chat_template=${r1_template:r1_zero}",
        "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
        "algorithm.adv_estimator=r1_grpo",
        "reward.reward_manager.name=r1", "+reward.r1.components.accuracy=1.0", "+reward.r1.components.format=1.0",
        "reward.num_workers=1",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.rollout.name=vllm", "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.3",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
        "trainer.n_gpus_per_node=1", "trainer.nnodes=1", "trainer.total_training_steps=2",
        "trainer.logger=[console,file]", "trainer.save_freq=-1", "trainer.test_freq=2",
        "trainer.val_before_train=false", f"trainer.default_local_dir={tmp_path / 'ckpt'}",
    ]
    log_path = tmp_path / "run.jsonl"
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__), "VERL_FILE_LOGGER_PATH": str(log_path)}
    proc = subprocess.run([sys.executable, "-m", "verl.trainer.main_ppo", *overrides], capture_output=True, text=True,
                          timeout=1500, env=env, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    steps = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]
    for s in steps:
        data = s["data"]
        assert data["r1/response_length/max"] <= 64
        assert data["r1/response_length/mean"] == pytest.approx(data["response_length/mean"])
        for key in ("r1/truncation_rate", "r1/format_rate", "r1/reward/acc/mean", "r1/reflection/rate",
                    "r1/language_mixing_rate", "r1/groups/zero_variance"):
            assert 0.0 <= data[key] <= 1.0, key
    from r1_recipe.cli import main as cli

    assert cli(["report", str(log_path), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "length.png").exists() and (tmp_path / "report" / "reflection.png").exists()
