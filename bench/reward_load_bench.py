"""One training step's reward load through the `r1` manager, as verl's reward loop drives it, vs verl's `naive` manager.

A 512-sample step of a mixed set: maths responses (bench/data/math_cases.jsonl: equivalent, non-equivalent, reward
hacks, hostile inputs), honest and hostile code (infinite loop, fork bomb, memory bomb, sleeper) scored in the
sandbox, and malformed rows (no ground truth, a broken test-case JSON, `reward_model` or `extra_info` that is a
string). Every sample is one `run_single` call, all of them under one `asyncio.gather` (verl's
`RewardLoopWorker.compute_score_batch`). Reward: accuracy + format + language, `timeout_s` 10.

Printed: samples/s, latency p50/p99/max from submission against the deadline, infra failures, samples that raised,
leaked processes and `/tmp/r1-code-*` directories after the pool is closed; then the same step through verl's
`naive` manager with verl's default scorer, in the same run (its code rows are left out: verl's default code scorer
runs model code without a sandbox) and the ratio of samples/s. With `--kill`, a second `r1` step runs after a pool
worker was SIGKILLed while idle (10 s before it), with another killed 1 s into it; it prints how many samples
changed score.

    python bench/reward_load_bench.py [--samples 512] [--timeout 10] [--kill]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tiny local tokenizer the tests use (no download)

HONEST = [("print(int(input()) * 2)", ["3", "10"], ["6", "20"]),
          ("a, b = map(int, input().split())\nprint(a + b)", ["1 2", "5 7"], ["3", "12"]),
          ("print(input()[::-1])", ["abc", "xy"], ["cba", "yx"])]
HOSTILE = ["while True:\n    pass", "import os\nwhile True:\n    os.fork()", "x = ' ' * (10 ** 10)",
           "import time\ntime.sleep(100)"]


def fenced(code: str) -> str:
    return f"<think> Let me write it. </think> <answer>\n```python\n{code}\n```\n</answer>"


def mixed_set(n: int) -> list[dict]:
    """Rows of (response, data_source, reward_model, extra_info, kind)."""
    cases = [json.loads(line) for line in open(ROOT / "bench/data/math_cases.jsonl")]
    rows = []
    for i in range(n):
        slot = i % 32
        if slot < 24:  # maths: 75 %
            c = cases[i % len(cases)]
            rows.append(dict(response=c["response"], data_source="lighteval/MATH", kind=f"math/{c['kind']}",
                             reward_model={"style": "rule", "ground_truth": c["gold"]}, extra_info={"index": i}))
        elif slot < 29:  # honest code: 15 %
            code, ins, outs = HONEST[i % len(HONEST)]
            tests = json.dumps({"inputs": ins, "outputs": outs})
            rows.append(dict(response=fenced(code), data_source="code", kind="code/honest",
                             reward_model={"style": "rule", "ground_truth": tests}, extra_info={"index": i}))
        elif slot == 29:  # hostile code: 3 %
            tests = json.dumps({"inputs": ["1"], "outputs": ["1"]})
            rows.append(dict(response=fenced(HOSTILE[(i // 32) % len(HOSTILE)]), data_source="code",
                             kind="code/hostile", reward_model={"style": "rule", "ground_truth": tests},
                             extra_info={"index": i}))
        else:  # malformed: 6 %
            which = (i // 32) % 4
            rm = ({"style": "rule", "ground_truth": None}, {"style": "rule", "ground_truth": '{"inputs": ["1"'},
                  "7", {"style": "rule", "ground_truth": "7"})[which]
            rows.append(dict(response="<think> hmm </think> <answer> 7 </answer>", data_source="lighteval/MATH",
                             kind="malformed", reward_model=rm, extra_info="index=3" if which == 3 else {"index": i}))
    return rows


def to_data(tok, row: dict):
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
        non_tensors={"data_source": obj(row["data_source"]), "reward_model": obj(row["reward_model"]),
                     "extra_info": obj(row["extra_info"]),
                     "raw_prompt": obj([{"role": "user", "content": "Solve it."}]), "uid": obj(f"u{id(row)}")})


async def step(manager, datas, limit: float | None = None):
    """Every sample's (output or exception, seconds from submission)."""
    t0 = time.monotonic()

    async def one(d):
        try:
            out = await manager.run_single(d)
        except Exception as e:  # verl's naive manager raises on some rows: counted
            out = e
        return out, time.monotonic() - t0

    coro = asyncio.gather(*(one(d) for d in datas))
    results = await (asyncio.wait_for(coro, limit) if limit else coro)
    return results, time.monotonic() - t0


def summary(name, results, wall, deadline=None) -> str:
    lat = np.array([t for _, t in results])
    raised = sum(isinstance(o, Exception) for o, _ in results)
    infra = sum(float(o["reward_extra_info"].get("infra_failure", 0.0)) for o, _ in results if isinstance(o, dict))
    line = (f"{name}: {len(results) / wall:.1f} samples/s, latency p50 {np.percentile(lat, 50):.2f} s / p99 "
            f"{np.percentile(lat, 99):.2f} s / max {lat.max():.2f} s")
    if deadline is not None:
        line += f" (deadline {deadline:g} s)"
    return line + f", infra failures {int(infra)}, raised {raised}"


def descendants() -> list[str]:
    me, found, todo, children = os.getpid(), [], [os.getpid()], {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[0] != "Z":
                children.setdefault(int(stat[1]), []).append(int(entry))
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return [str(p) for p in found if p != me]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--kill", action="store_true", help="also run a step with pool workers killed from outside")
    args = ap.parse_args(argv)

    import verl  # noqa: F401  (registers `r1`)
    from conftest import build_tiny_tokenizer
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    tok = build_tiny_tokenizer(tempfile.mkdtemp(prefix="r1-bench-tok-"))
    rows = mixed_set(args.samples)
    datas = [to_data(tok, r) for r in rows]
    cfg = OmegaConf.create({"reward": {"reward_manager": {"name": "r1"}, "r1": {
        "components": {"accuracy": {"weight": 1.0, "code": {"timeout_s": 1.0, "total_timeout_s": 3.0}},
                       "format": 1.0, "language": 0.1}, "timeout_s": args.timeout}},
        "actor_rollout_ref": {"rollout": {"response_length": 1 << 20}}})
    ours = get_reward_manager_cls("r1")(config=cfg, tokenizer=tok, compute_score=None)
    dirs_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "r1-code-*")))
    loop = ours.loop
    loop.run_until_complete(step(ours, datas[:8]))  # start-up (workers, imports, sandbox probe) is not the step's
    results, wall = loop.run_until_complete(step(ours, datas))
    print(f"mixed set: {len(rows)} samples ({sum(r['kind'].startswith('math') for r in rows)} maths, "
          f"{sum(r['kind'] == 'code/honest' for r in rows)} honest code, "
          f"{sum(r['kind'] == 'code/hostile' for r in rows)}"
          f" hostile code, {sum(r['kind'] == 'malformed' for r in rows)} malformed); {ours.composer.pool.workers} "
          f"reward workers on {len(os.sched_getaffinity(0))} usable cores")
    line_ours = summary("r1", results, wall, args.timeout)
    print(line_ours)
    late = [t for _, t in results if t > args.timeout + 1.0]
    print(f"r1: samples past deadline + 1 s: {len(late)}")

    if args.kill:
        before = [o["reward_score"] for o, _ in results]
        workers = [c.pid for c in multiprocessing.active_children() if c.name == "pebble_pool_worker"]
        os.kill(workers[0], signal.SIGKILL)  # idle, between steps
        time.sleep(10.0)  # the rollout of the next step (minutes in training): the pool rebuilds meanwhile

        async def killed_step():
            task = asyncio.ensure_future(step(ours, datas))
            await asyncio.sleep(1.0)
            busy = [c.pid for c in multiprocessing.active_children() if c.name == "pebble_pool_worker"]
            if busy:
                os.kill(busy[0], signal.SIGKILL)
            return await task

        results_k, wall_k = loop.run_until_complete(killed_step())
        changed = sum(1 for (o, _), b in zip(results_k, before, strict=True)
                      if o["reward_score"] != b and not o["reward_extra_info"]["infra_failure"])
        print(summary("r1 after an idle and a busy worker kill", results_k, wall_k, args.timeout)
              + f", rebuilt pools {ours.composer.pool.rebuilds}, verdicts changed {changed}")

    ours.composer.pool.close()
    time.sleep(1.0)
    # multiprocessing's resource tracker is not a worker: one per process, it exits with us
    leaked = [p for p in descendants() if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]
    dirs = set(glob.glob(os.path.join(tempfile.gettempdir(), "r1-code-*"))) - dirs_before
    print(f"r1: leaked processes {len(leaked)}, leaked /tmp/r1-code-* dirs {len(dirs)}")

    peer_rows = [d for d, r in zip(datas, rows, strict=True) if not r["kind"].startswith("code")]
    naive = get_reward_manager_cls("naive")(config=OmegaConf.create({"reward": {}}), tokenizer=tok, compute_score=None)
    peer_ours = peer_rows
    try:
        results_n, wall_n = naive.loop.run_until_complete(step(naive, peer_rows, limit=300))
        print(summary(f"naive (verl default scorer, {len(peer_rows)} non-code rows)", results_n, wall_n))
        ours2 = get_reward_manager_cls("r1")(config=cfg, tokenizer=tok, compute_score=None)
        ours2.loop.run_until_complete(step(ours2, peer_ours[:8]))
        results_o, wall_o = ours2.loop.run_until_complete(step(ours2, peer_ours))
        ours2.composer.pool.close()
        print(summary(f"r1 on the same {len(peer_ours)} rows", results_o, wall_o, args.timeout))
        print(f"SUMMARY {line_ours}; r1/naive samples/s on the non-code rows "
              f"{(len(peer_ours) / wall_o) / (len(peer_rows) / wall_n):.2f}")
    except asyncio.TimeoutError:
        print("naive: the step did not finish within 300 s (verl's scorers have no time bound)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
