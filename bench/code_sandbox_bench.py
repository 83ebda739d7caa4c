"""Throughput of the sandboxed code reward vs an unsandboxed `subprocess.run` and verl's prime_code, same run.

A batch of honest stdin/stdout programs (each with several tests) is scored by three scorers, each over a thread
pool of one worker per core (how verl calls sync scorers):
  ours      r1_recipe.core.rewards.code.code_reward (bubblewrap + rlimits, one sandbox per test)
  baseline  subprocess.run(python -I -S -c code, timeout) per test, same interpreter, same comparison, no isolation
  prime     verl.utils.reward_score.prime_code.compute_score (in-process "reliability_guard", no isolation)
Prints programs/s for each and the ratios ours/baseline (target >= 0.7) and ours/prime (target >= 1.0).

    python bench/code_sandbox_bench.py [--programs 40] [--tests 5]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

from r1_recipe.core.rewards.code import code_reward, isolation_level
from r1_recipe.core.rewards.code.compare import stdout_equal
from r1_recipe.core.rewards.code.sandbox import _python

KINDS = [
    ("n = int(input())\nprint(sum(range(n + 1)))\n", lambda n: str(n * (n + 1) // 2)),
    ("a = list(map(int, input().split()))\nprint(max(a) - min(a))\n", None),
    ("import sys\ns = sys.stdin.read().split()\nprint(' '.join(sorted(s)))\n", None),
    ("n = int(input())\nprint(f'{n / 7:.6f}')\n", lambda n: f"{n / 7:.6f}"),
]


def make_batch(programs: int, tests: int) -> list[tuple[str, dict]]:
    batch = []
    for p in range(programs):
        code, fn = KINDS[p % len(KINDS)]
        ins, outs = [], []
        for t in range(tests):
            n = 10 + 13 * p + 7 * t
            if p % 4 == 1:
                vals = [n, n * 3 % 17, n % 5]
                ins.append(" ".join(map(str, vals)) + "\n")
                outs.append(str(max(vals) - min(vals)))
            elif p % 4 == 2:
                words = [f"w{(n * k) % 97}" for k in range(5)]
                ins.append(" ".join(words) + "\n")
                outs.append(" ".join(sorted(words)))
            else:
                ins.append(f"{n}\n")
                outs.append(fn(n))
        batch.append((f"Here is my solution.\n```python\n{code}```", {"inputs": ins, "outputs": outs}))
    return batch


def ours(resp, gt):
    return code_reward(resp, gt).score


PY = _python()


def baseline(resp, gt):
    code = resp.split("```python\n")[-1].split("```")[0]
    passed = 0
    for stdin, want in zip(gt["inputs"], gt["outputs"], strict=True):
        try:
            r = subprocess.run([PY, "-I", "-S", "-c", code], input=stdin, capture_output=True, text=True, timeout=2)
        except subprocess.TimeoutExpired:
            continue
        passed += r.returncode == 0 and stdout_equal(r.stdout, want)
    return passed / len(gt["inputs"])


def prime(resp, gt):
    from verl.utils.reward_score import prime_code

    score, _ = prime_code.compute_score(resp, json.dumps(gt))
    return float(score)


def timed(fn, batch, workers):
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        scores = list(ex.map(lambda item: fn(*item), batch))
    return len(batch) / (time.perf_counter() - start), sum(scores)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--programs", type=int, default=40)
    ap.add_argument("--tests", type=int, default=5)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    level = isolation_level()
    batch = make_batch(args.programs, args.tests)
    timed(ours, batch[:4], args.workers)  # warm-up (imports, page cache) for every scorer alike
    timed(baseline, batch[:4], args.workers)
    timed(prime, batch[:4], args.workers)
    rates = {}
    for name, fn in (("ours", ours), ("baseline", baseline), ("prime", prime)):
        rate, total = timed(fn, batch, args.workers)
        rates[name] = rate
        print(f"{name:9s} {rate:7.2f} programs/s  score sum {total:.1f}/{len(batch)}", file=sys.stderr)
    print(f"code sandbox ({level}, {args.programs} programs x {args.tests} tests, {args.workers} workers): "
          f"ours {rates['ours']:.1f}/s, subprocess.run {rates['baseline']:.1f}/s, prime_code {rates['prime']:.1f}/s; "
          f"ours/subprocess = {rates['ours'] / rates['baseline']:.2f}x (target >= 0.7), "
          f"ours/prime_code = {rates['ours'] / rates['prime']:.2f}x (target >= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
