"""GPU: verl's own `main_ppo` (vLLM rollout, FSDP actor) runs GRPO steps with r1_grpo, the r1 reward manager and the
R1-Zero template, on a tiny random model built locally. Skipped where CUDA is absent (CI)."""

import os
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.gpu


def build_tiny_model(path):
    from conftest import build_tiny_tokenizer
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = build_tiny_tokenizer(path)
    # head_dim 64: vLLM's attention backends reject very small head sizes
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      architectures=["Qwen2ForCausalLM"])
    Qwen2ForCausalLM(cfg).save_pretrained(path)


def write_data(path, n, seed):
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randrange(10), rng.randrange(10)
        rows.append({"prompt": [{"role": "user", "content": f"What is {a} + {b}?"}], "data_source": "toy_add",
                     "reward_model": {"style": "rule", "ground_truth": str(a + b)}, "extra_info": {"index": i}})
    pd.DataFrame(rows).to_parquet(path)


def test_main_ppo_runs_r1_grpo_with_the_r1_reward_manager(tmp_path):
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
        "actor_rollout_ref.actor.use_kl_loss=true", "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        "actor_rollout_ref.actor.kl_loss_coef=0.001", "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean",
        "actor_rollout_ref.rollout.name=vllm", "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.3",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
        "trainer.n_gpus_per_node=1", "trainer.nnodes=1", "trainer.total_training_steps=2", "trainer.logger=[console]",
        "trainer.save_freq=-1", "trainer.test_freq=2", "trainer.val_before_train=true",
        f"trainer.default_local_dir={tmp_path / 'ckpt'}",
    ]
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    proc = subprocess.run([sys.executable, "-m", "verl.trainer.main_ppo", *overrides], capture_output=True, text=True,
                          timeout=1500, env=env, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "val-core/toy_add/acc/mean@1" in log  # `acc` from the r1 manager drives verl's validation metric
    assert "critic/score/mean" in log  # training steps scored by the r1 manager
