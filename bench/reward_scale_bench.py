"""How reward throughput grows with workers: math-only steps through the `r1` manager, as verl's reward loop drives it.

Every pool worker is started and warm (imports and preloads done) before any timed step. Then steps of 512 and
8,192 samples (math cases from bench/data/math_cases.jsonl, cycled, each response padded with `--think-chars` of
reasoning) run through `run_single`, all of a step under one `asyncio.gather` (verl's
`RewardLoopWorker.compute_score_batch`), at 1, 2, 4, ... pool workers up to the usable cores (or `--workers`).
Reward: accuracy + format + language 0.1, `timeout_s` 10.

Printed per row: samples/s, efficiency against linear (samples/s at W workers / (W x samples/s at 1 worker)), p50
latency, and CPU per sample in the reward process (the driver: decode, submission, pickling, result handling; all its
threads) and in the pool workers. A driver of D ms per sample cannot go past 1000 / D samples/s, however many workers
it has: the `feeds` column is how many workers of this per-sample cost one reward process can keep busy. Then the
driver's per-sample cost split into its parts, measured one by one. verl's `reward.num_workers` (default 8) runs that
many reward processes, each with its own pool: their drivers add up.

    python bench/reward_scale_bench.py [--steps 512,8192] [--workers 1,2] [--think-chars 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tiny local tokenizer the tests use (no download)
REWARD = {"components": {"accuracy": 1.0, "format": 1.0, "language": 0.1}, "timeout_s": 10}


def cases(think_chars: int) -> list[dict]:
    rows = [json.loads(line) for line in open(ROOT / "bench/data/math_cases.jsonl")]
    filler = ("We check the partial result once more and carry the value forward. " * (think_chars // 68 + 1))
    filler = filler[:think_chars]
    out = []
    for r in rows:
        text = r["response"]
        if think_chars and "<think>" in text:
            text = text.replace("<think>", "<think>" + filler, 1)
        out.append({"response": text, "gold": r["gold"]})
    return out


def to_data(tok, row: dict, i: int):
    from verl import DataProto

    prompt = tok.encode("Solve it.")
    response = tok.encode(row["response"]) + [tok.eos_token_id]
    ids = torch.tensor([prompt + response])

    def obj(value):
        a = np.empty(1, dtype=object)
        a[0] = value
        return a

    return DataProto.from_dict(
        tensors={"prompts": torch.tensor([prompt]), "responses": torch.tensor([response]), "input_ids": ids,
                 "attention_mask": torch.ones_like(ids), "position_ids": torch.arange(ids.shape[1]).unsqueeze(0)},
        non_tensors={"data_source": obj("lighteval/MATH"), "reward_model": obj({"style": "rule", "ground_truth":
                                                                               row["gold"]}),
                     "extra_info": obj({"index": i}), "raw_prompt": obj([{"role": "user", "content": "Solve it."}]),
                     "uid": obj(f"u{i // 8}")})


def cpu_of(pids) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def workers_of(pool) -> list[int]:
    inner = pool._pool
    return list(inner._pool_manager.worker_manager.workers) if inner is not None else []


async def step(manager, datas):
    t0 = time.monotonic()

    async def one(d):
        out = await manager.run_single(d)
        return out, time.monotonic() - t0

    results = await asyncio.gather(*(one(d) for d in datas))
    return results, time.monotonic() - t0


def warm(manager, datas, workers: int) -> None:
    """Start every worker and let each finish its imports: a burst of samples until each live worker has run some."""
    pool = manager.composer.pool
    manager.loop.run_until_complete(step(manager, datas[: 4 * workers]))
    end = time.monotonic() + 120
    while time.monotonic() < end:
        pids = workers_of(pool)
        before = {p: cpu_of([p]) for p in pids}
        manager.loop.run_until_complete(step(manager, datas[: 16 * workers]))
        if len(pids) == workers and all(cpu_of([p]) > before[p] for p in pids):
            return
    raise RuntimeError("the pool did not start all its workers within 120 s")


def driver_parts(manager, datas, n: int = 2000) -> dict[str, float]:
    """Microseconds per sample of each part of the reward process's own work, measured one by one (CPU time)."""
    from r1_recipe.core.rewards.compose import score_sample

    comp = manager.composer
    n = min(n, len(datas))
    parts = {}

    def timed(name, fn, count=n):
        c0 = self_cpu()
        fn()
        parts[name] = (self_cpu() - c0) / count

    timed("verl's slice data[i:i+1] (RewardLoopWorker.compute_score_batch)", lambda: [d[0:1] for d in datas[:n]])
    timed("token ids of the response + prompt tail check (response_of)",
          lambda: [manager.response_of(d) for d in datas[:n]])
    items = [d[-1:][0] for d in datas[:n]]
    timed("(decoding in the reward process instead, as before: tokenizer.decode)",
          lambda: [manager.tokenizer.decode(it.batch["responses"].tolist(), skip_special_tokens=False) for it in items])
    response, _ = manager.response_of(datas[0])
    sample = (response, "1", {"index": 1, "data_source": "x", "prompt": "Solve it."}, False)
    task = (score_sample, comp.fns, comp.options, comp._plan(False, False), sample, True, None)
    timed("task pickling (dumps + loads)", lambda: [pickle.loads(pickle.dumps(task)) for _ in range(n)])
    text_task = (*task[:4], (response.prefix + "x" * (len(response.ids) // 4 * 3), *sample[1:]), *task[5:])
    timed("(the same task with the decoded text instead of token ids)",
          lambda: [pickle.loads(pickle.dumps(text_task)) for _ in range(n)])
    result = manager.loop.run_until_complete(comp.pool.arun(*task, timeout=30))
    timed("result pickling (dumps + loads)", lambda: [pickle.loads(pickle.dumps(result)) for _ in range(n)])
    timed("assemble the reward dict", lambda: [comp._finish(comp._plan(False, False), result, None, None, False, True)
                                               for _ in range(n)])
    pool = comp.pool

    async def noop_burst(k):
        await asyncio.gather(*(pool.arun(os.getpid, timeout=30) for _ in range(k)))

    manager.loop.run_until_complete(noop_burst(64))
    timed("pool round trip of a no-op task (queue, pebble's threads, pipes, wake-up)",
          lambda: manager.loop.run_until_complete(noop_burst(n)))
    return {k: v * 1e6 for k, v in parts.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", default="512,8192")
    ap.add_argument("--workers", default=None, help="comma-separated worker counts (default 1, 2, 4, ... cores)")
    ap.add_argument("--think-chars", type=int, default=2000, help="reasoning characters added to every response")
    args = ap.parse_args(argv)

    import verl  # noqa: F401  (registers `r1`)
    from conftest import build_tiny_tokenizer
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    cores = len(os.sched_getaffinity(0))
    if args.workers:
        counts = [int(w) for w in args.workers.split(",")]
    else:
        counts, w = [], 1
        while w <= cores:
            counts.append(w)
            w *= 2
        if counts[-1] != cores:
            counts.append(cores)
    steps = [int(s) for s in args.steps.split(",")]
    tok = build_tiny_tokenizer(tempfile.mkdtemp(prefix="r1-bench-tok-"))
    rows = cases(args.think_chars)
    datas = [to_data(tok, rows[i % len(rows)], i) for i in range(max(steps))]
    chars = np.mean([len(r["response"]) for r in rows])
    print(f"reward_scale_bench: {cores} usable cores, load average {os.getloadavg()[0]:.2f}; math cases "
          f"({len(rows)}, mean {chars:.0f} chars), reward accuracy + format + language 0.1")
    print("| workers | samples | samples/s | efficiency vs linear | p50 latency s | driver CPU ms/sample | "
          "worker CPU ms/sample | feeds |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    base: dict[int, float] = {}
    manager = None
    for w in counts:
        cfg = OmegaConf.create({"reward": {"reward_manager": {"name": "r1"}, "r1": {**REWARD, "workers": w}},
                                "actor_rollout_ref": {"rollout": {"response_length": 1 << 20}}})
        manager = get_reward_manager_cls("r1")(config=cfg, tokenizer=tok, compute_score=None)
        try:
            warm(manager, datas, w)
            for n in steps:
                pids = workers_of(manager.composer.pool)
                c0, cw0 = self_cpu(), cpu_of(pids)
                results, wall = manager.loop.run_until_complete(step(manager, datas[:n]))
                driver, work = (self_cpu() - c0) / n, (cpu_of(pids) - cw0) / n
                rate = n / wall
                base.setdefault(n, rate / w)
                p50 = float(np.percentile([t for _, t in results], 50))
                infra = sum(o["reward_extra_info"]["infra_failure"] for o, _ in results)
                print(f"| {w} | {n} | {rate:.0f} | {rate / (w * base[n]):.2f} | {p50:.2f} | {1e3 * driver:.3f} | "
                      f"{1e3 * work:.3f} | {work / driver:.1f} |" + (f" infra failures {infra:.0f}" if infra else ""),
                      flush=True)
            if w == counts[-1]:
                parts = driver_parts(manager, datas)
        finally:
            manager.composer.pool.close()
    print("\ndriver-side cost per sample (one reward process), microseconds:")
    for name, us in parts.items():
        print(f"  {us:8.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
