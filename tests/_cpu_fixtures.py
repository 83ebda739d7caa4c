"""Tiny tokenizer, model and data for the runs of verl's trainers (tests/test_cpu_*.py, scripts/gpu_check.py): built
locally, no downloads, no pytest (the GPU check imports this on hosts without it)."""

from __future__ import annotations

import random

import pandas as pd

TAGS = ["<think>", "</think>", "<answer>", "</answer>"]


def build_tiny_tokenizer(path, chat_template: str | None = None):
    """A byte-level BPE tokenizer (vocab ~600) trained on synthetic R1-style text and saved to `path`.

    The R1 tags are added as *non-special* tokens, as in real Qwen2.5 tokenizers: verl's managers decode with
    `skip_special_tokens=True`, which would drop special tags. EOS is `<|im_end|>`, pad `<|endoftext|>`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [
        f"What is {a} + {b}? <think> {a} plus {b} is {a + b}. Let me check: yes. </think> <answer> \\boxed{{{a + b}}} "
        f"</answer> A conversation between User and Assistant. The user asks a question."
        for a in range(30)
        for b in range(0, 30, 3)
    ]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.add_tokens(TAGS)  # non-special
    if chat_template is not None:
        fast.chat_template = chat_template
    fast.save_pretrained(str(path))
    return fast


def build_tiny_model(path, seed: int = 0):
    """A random Qwen2 (hidden 128, 2 layers, head_dim 64, ~360k parameters) and the tiny tokenizer, in `path`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = build_tiny_tokenizer(path)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      bos_token_id=None, architectures=["Qwen2ForCausalLM"])
    torch.manual_seed(seed)
    Qwen2ForCausalLM(cfg).save_pretrained(path)
    return path


def _sums(n: int, seed: int):
    rng = random.Random(seed)
    return [(rng.randrange(10), rng.randrange(10)) for _ in range(n)]


def write_sft_data(path, n: int, seed: int):
    """`messages` parquet (verl MultiTurnSFTDataset): a toy addition question and an R1-style answer."""
    rows = [{"messages": [{"role": "user", "content": f"What is {a} + {b}?"},
                          {"role": "assistant", "content": f"<think> {a} plus {b} is {a + b}. </think> "
                                                           f"<answer> \\boxed{{{a + b}}} </answer>"}]}
            for a, b in _sums(n, seed)]
    pd.DataFrame(rows).to_parquet(path)
    return path


def write_rl_data(path, n: int, seed: int):
    """verl RL parquet (`prompt`, `data_source`, `reward_model.ground_truth`) for the r1 reward manager."""
    rows = [{"prompt": [{"role": "user", "content": f"What is {a} + {b}?"}], "data_source": "toy_add",
             "reward_model": {"style": "rule", "ground_truth": str(a + b)}, "extra_info": {"index": i}}
            for i, (a, b) in enumerate(_sums(n, seed))]
    pd.DataFrame(rows).to_parquet(path)
    return path


# The sizes that fit the tiny model on 2 cores (the R1-Zero prompt is 222 tokens with the tiny tokenizer); a recipe's
# own values otherwise stay.
TINY_PPO = ("data.train_batch_size=4", "data.max_prompt_length=256", "data.max_response_length=32",
            "actor_rollout_ref.model.enable_gradient_checkpointing=false",
            "actor_rollout_ref.actor.ppo_mini_batch_size=4", "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=1024",
            "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=1024",
            "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=1024", "actor_rollout_ref.rollout.n=4",
            "trainer.logger=[console,file]", "trainer.save_freq=-1")


def run_main_ppo(tmp_path, recipe: str = "zero", overrides=(), steps: int = 2, train_rows: int = 64,
                 val_rows: int = 8, timeout: int = 600):
    """verl's own `main_ppo` (a subprocess, as a user launches it) on a shipped recipe for `steps` GRPO steps on CPU:
    tiny model and toy data in `tmp_path`, TINY_PPO sizes, then `overrides`, then the CPU overrides
    (r1_recipe.verl.cpu). Asserts a clean exit; returns `log` (stdout + stderr), `steps` (verl's file-tracker records,
    one per step), `log_path`, `tmp_path` and `seconds` (wall time of the subprocess)."""
    import json
    import os
    import subprocess
    import sys
    import time
    from types import SimpleNamespace

    from r1_recipe.verl.cpu import overrides as cpu

    model = build_tiny_model(tmp_path / "model")
    write_rl_data(tmp_path / "train.parquet", train_rows, seed=0)
    write_rl_data(tmp_path / "val.parquet", val_rows, seed=1)
    log_path = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", "pkg://r1_recipe.recipes",
           "--config-name", recipe, f"data.train_files={tmp_path / 'train.parquet'}",
           f"data.val_files={tmp_path / 'val.parquet'}", f"actor_rollout_ref.model.path={model}", *TINY_PPO,
           f"trainer.total_training_steps={steps}", f"trainer.default_local_dir={tmp_path / 'ckpt'}", *overrides,
           *cpu.PPO]
    env = {key: value for key, value in os.environ.items() if key != "VERL_PLATFORM"}
    env.update(RAY_AUTH_MODE="disabled", VERL_FILE_LOGGER_PATH=str(log_path))
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp_path)
    seconds = time.monotonic() - start
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    return SimpleNamespace(log=log, tmp_path=tmp_path, log_path=log_path, seconds=seconds,
                           steps=[json.loads(line) for line in log_path.read_text().splitlines()])
