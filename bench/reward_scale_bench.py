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
driver's per-sample cost split into its parts, measured one by one. Last, verl's `reward.num_workers` (default 8)
runs that many reward processes, each with its own pool (`r1` gives each its node's share of the cores): the same
cores split among k processes, the largest step split among them as verl splits it.

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
    """One trajectory as verl's reward loop hands it to `run_single` (bench/reward_load_bench.py builds it)."""
    from reward_load_bench import to_data as trajectory

    return trajectory(tok, {"response": row["response"], "data_source": "lighteval/MATH", "extra_info": {"index": i},
                            "reward_model": {"style": "rule", "ground_truth": row["gold"]}})


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


def warm(manager) -> None:
    """Every pool worker started and done with its imports: as many calls at once as there are workers, each holding
    its worker a moment (so each needs a worker of its own)."""
    pool = manager.composer.pool
    list(pool.map(time.sleep, [(0.3,)] * pool.workers, timeout=120))


def make_manager(tok, workers: int):
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    cfg = OmegaConf.create({"reward": {"reward_manager": {"name": "r1"}, "r1": {**REWARD, "workers": workers}},
                            "actor_rollout_ref": {"rollout": {"response_length": 1 << 20}}})
    return get_reward_manager_cls("r1")(config=cfg, tokenizer=tok, compute_score=None)


def reward_process(tok_dir: str, think_chars: int, workers: int, share: range, ready, go, out) -> None:
    """One of verl's reward processes (a RewardLoopWorker actor): its own manager and pool; scores its share."""
    import verl  # noqa: F401
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    rows = cases(think_chars)
    datas = [to_data(tok, rows[i % len(rows)], i) for i in share]
    manager = make_manager(tok, workers)
    try:
        manager.loop.run_until_complete(step(manager, datas[: 4 * workers]))
        warm(manager)
        ready.wait()
        go.wait()
        c0 = self_cpu()
        _, wall = manager.loop.run_until_complete(step(manager, datas))
        out.put((wall, self_cpu() - c0))
    finally:
        manager.composer.pool.close()


def processes_table(tok_dir: str, think_chars: int, cores: int, n: int) -> None:
    """verl's `reward.num_workers` = k: k reward processes of cores/k pool workers each, the step split among them
    (as verl's RewardLoopManager chunks it), all started at once; samples/s of the whole step."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    print(f"\nverl reward.num_workers = k reward processes, {cores} pool workers in all, a {n}-sample step:")
    print("| k | pool workers each | samples/s | driver CPU ms/sample (all processes) |")
    print("|---:|---:|---:|---:|")
    k = 1
    while k <= cores:
        ready, go, out = ctx.Barrier(k + 1), ctx.Barrier(k + 1), ctx.Queue()
        shares = [range(i * n // k, (i + 1) * n // k) for i in range(k)]
        procs = [ctx.Process(target=reward_process, args=(tok_dir, think_chars, cores // k, sh, ready, go, out))
                 for sh in shares]
        for proc in procs:
            proc.start()
        ready.wait()
        go.wait()
        results = [out.get(timeout=900) for _ in procs]
        for proc in procs:
            proc.join()
        wall = max(w for w, _ in results)
        print(f"| {k} | {cores // k} | {n / wall:.0f} | {1e3 * sum(c for _, c in results) / n:.3f} |", flush=True)
        k *= 2


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
    tok_dir = tempfile.mkdtemp(prefix="r1-bench-tok-")
    tok = build_tiny_tokenizer(tok_dir)
    rows = cases(args.think_chars)
    datas = [to_data(tok, rows[i % len(rows)], i) for i in range(max(steps))]
    chars = np.mean([len(r["response"]) for r in rows])
    print(f"reward_scale_bench: {cores} usable cores, load average {os.getloadavg()[0]:.2f}; math cases "
          f"({len(rows)}, mean {chars:.0f} chars), reward accuracy + format + language 0.1")
    print("| workers | samples | samples/s | efficiency vs linear | p50 latency s | driver CPU ms/sample | "
          "worker CPU ms/sample | feeds |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    base: dict[int, float] = {}
    for w in counts:
        manager = make_manager(tok, w)
        try:
            manager.loop.run_until_complete(step(manager, datas[: 4 * w]))
            warm(manager)
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
    if cores > 1:
        processes_table(tok_dir, args.think_chars, cores, max(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
