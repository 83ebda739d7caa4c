"""Benchmark: r1_grpo vs verl's grpo and grpo_vectorized on the same batch, in one run.

Batch: 16,384 responses of up to 1,024 tokens, groups of 16 (uuid strings as verl makes them). Prints the median time
of each estimator over repeats, the largest difference from verl's `grpo`, and the ratios.

    python bench/grpo_bench.py [--responses 16384] [--tokens 1024] [--group 16] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import numpy as np
import torch


def make_batch(n: int, T: int, group: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (n,), generator=g)
    mask = (torch.arange(T).expand(n, T) < lengths.unsqueeze(-1)).float()
    rewards = torch.zeros(n, T)
    rewards[torch.arange(n), lengths - 1] = torch.randint(0, 3, (n,), generator=g).float()  # accuracy + format
    uids = np.array([str(uuid.UUID(int=i // group + 1)) for i in range(n)], dtype=object)
    np.random.default_rng(seed).shuffle(uids)
    return rewards, mask, uids


def timed(fn, repeats: int) -> tuple[float, torch.Tensor]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--responses", type=int, default=16384)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--group", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    import verl  # noqa: F401  (loads the r1 plugin)
    from omegaconf import OmegaConf
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    torch.set_num_threads(max(1, torch.get_num_threads()))
    r, m, idx = make_batch(args.responses, args.tokens, args.group)
    cfg = OmegaConf.create({"adv_estimator": "r1_grpo", "norm_adv_by_std_in_grpo": True})
    runs = {
        "grpo": lambda: get_adv_estimator_fn("grpo")(r, m, idx)[0],
        "grpo_vectorized": lambda: get_adv_estimator_fn("grpo_vectorized")(r, m, idx)[0],
        "r1_grpo": lambda: get_adv_estimator_fn("r1_grpo")(token_level_rewards=r, response_mask=m, index=idx,
                                                            config=cfg)[0],
    }
    results = {name: timed(fn, args.repeats) for name, fn in runs.items()}
    ref = results["grpo"][1]
    print(f"batch: {args.responses} responses x {args.tokens} tokens, groups of {args.group}; "
          f"median of {args.repeats} runs on {torch.get_num_threads()} threads")
    for name, (t, out) in results.items():
        diff = (out - ref).abs().max().item()
        print(f"  {name:16s} {t * 1e3:9.2f} ms   max |A - A_grpo| = {diff:.2e}")
    t_r1, t_vec, t_loop = results["r1_grpo"][0], results["grpo_vectorized"][0], results["grpo"][0]
    max_diff = (results["r1_grpo"][1] - ref).abs().max().item()
    print(f"SUMMARY r1_grpo speed-up vs grpo_vectorized: {t_vec / t_r1:.2f}x, vs grpo: {t_loop / t_r1:.2f}x; "
          f"max |diff| vs grpo {max_diff:.1e} ({'identical to 1e-6' if max_diff <= 1e-6 else 'DIFFERENT'})")


if __name__ == "__main__":
    main()
