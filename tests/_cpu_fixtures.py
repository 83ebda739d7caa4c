"""Tiny model and data for the CPU runs of verl's trainers (tests/test_cpu_*.py): built locally, no downloads."""

from __future__ import annotations

import random

import pandas as pd


def build_tiny_model(path, seed: int = 0):
    """A random Qwen2 (hidden 128, 2 layers, head_dim 64, ~360k parameters) and the conftest tokenizer, in `path`."""
    import torch
    from conftest import build_tiny_tokenizer
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
