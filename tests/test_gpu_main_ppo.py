"""GPU: verl's own `main_ppo` (vLLM rollout, FSDP actor) runs our `zero` recipe (r1_grpo, r1 reward manager, R1-Zero
template, reference reset) for 3 GRPO steps on a tiny random model built locally: the same checks as
tests/test_cpu_main_ppo.py on the product path. Skipped where CUDA is absent (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from r1_recipe.tools.cli import main as cli

# One prepared run (scripts/gpu_check.sh): the main_ppo subprocess is bounded at 480 s, pytest's own timeout (600 s)
# sits above it so a hang reports the run's log instead of killing pytest first.
RUN_TIMEOUT_S = 480
pytestmark = [pytest.mark.gpu, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from _cpu_fixtures import build_tiny_model, write_rl_data  # head_dim 64: vLLM rejects very small head sizes

    tmp_path = tmp_path_factory.mktemp("gpu_main_ppo")
    model = build_tiny_model(tmp_path / "model")
    write_rl_data(tmp_path / "train.parquet", 64, seed=0)
    write_rl_data(tmp_path / "val.parquet", 16, seed=1)
    log_path = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", "pkg://r1_recipe.recipes",
           "--config-name", "zero",
           f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'val.parquet'}",
           "data.train_batch_size=8", "data.max_prompt_length=256", "data.max_response_length=64",
           f"actor_rollout_ref.model.path={model}", "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
           "actor_rollout_ref.actor.ppo_mini_batch_size=8", "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=4096",
           "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=4096",
           "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=4096", "actor_rollout_ref.rollout.n=4",
           "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
           "actor_rollout_ref.rollout.gpu_memory_utilization=0.3", "actor_rollout_ref.rollout.max_model_len=512",
           "actor_rollout_ref.rollout.max_num_batched_tokens=4096", "actor_rollout_ref.rollout.val_kwargs.n=2",
           "+reward.r1.components.language=1.0", "reward.num_workers=1",
           "actor_rollout_ref.actor.optim.lr=1e-3", "actor_rollout_ref.actor.entropy_coeff=0.01",
           "algorithm.r1.ref_reset_steps=2",
           "trainer.n_gpus_per_node=1", "trainer.nnodes=1", "trainer.total_training_steps=3",
           "trainer.logger=[console,file]", "trainer.save_freq=-1", "trainer.test_freq=2",
           "trainer.val_before_train=false", f"trainer.default_local_dir={tmp_path / 'ckpt'}"]
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__), "VERL_FILE_LOGGER_PATH": str(log_path)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    return SimpleNamespace(log=log, tmp_path=tmp_path, log_path=log_path,
                           steps=[json.loads(line) for line in log_path.read_text().splitlines()])


def test_main_ppo_runs_the_zero_recipe_with_vllm(run):
    assert [s["step"] for s in run.steps] == [1, 2, 3]
    data = run.steps[1]["data"]
    assert "val-core/toy_add/acc/mean@2" in data  # `acc` from the r1 manager drives verl's validation metric
    assert data["r1/reward/score/mean"] == pytest.approx(data["critic/score/mean"])
    assert max(s["data"]["actor/grad_norm"] for s in run.steps) > 0


def test_r1_dynamics_reach_the_file_tracker_and_report_draws_them(run):
    for s in run.steps:
        data = s["data"]
        assert data["r1/response_length/max"] <= 64
        assert data["r1/response_length/mean"] == pytest.approx(data["response_length/mean"])
        for key in ("r1/truncation_rate", "r1/format_rate", "r1/reward/acc/mean", "r1/reflection/rate",
                    "r1/language_mixing_rate", "r1/groups/zero_variance"):
            assert 0.0 <= data[key] <= 1.0, key
        # vLLM's bf16 sampler against the FSDP trainer: the gap the recipe's token TIS corrects, logged every step
        assert data["r1/rollout_gap/k3"] >= 0.0 and "rollout_corr/rollout_is_mean" in data
    assert cli(["report", str(run.log_path), "--out", str(run.tmp_path / "report")]) == 0
    assert (run.tmp_path / "report" / "length.png").exists() and (run.tmp_path / "report" / "reflection.png").exists()


def test_reference_reset_on_gpu(run):
    kl = [s["data"]["actor/kl_loss"] for s in run.steps]
    assert kl[0] == pytest.approx(0.0, abs=1e-6) and kl[1] > 1e-4 and kl[2] == pytest.approx(0.0, abs=1e-5)
