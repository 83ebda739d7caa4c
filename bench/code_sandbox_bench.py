"""Throughput of the sandboxed code reward vs an unsandboxed `subprocess.run` and verl's prime_code, same run.

Two batches of honest programs (each with several tests), each scored over a thread pool of one worker per core
(how verl calls sync scorers):
  stdin set  stdin/stdout programs, scored by
    ours      r1_recipe.core.rewards.code.code_reward (bubblewrap + rlimits, one sandbox per program)
    baseline  subprocess.run(python -I -S -c code, timeout) per test, same interpreter, same comparison, no isolation
    prime     verl.utils.reward_score.prime_code.compute_score (in-process "reliability_guard", no isolation)
  call set   function-call programs (plain functions and LeetCode `class Solution` methods) with tests in verl's /
             LiveCodeBench's string form (`"inputs": ["[2,3]\n5"], "outputs": ["10"]`), scored by ours and prime.
Prints programs/s for each and the ratios ours/baseline (target >= 0.7) and ours/prime (target >= 1.0).

    python bench/code_sandbox_bench.py [--programs 40] [--tests 5] [--call-tests 16] [--sets stdin,call]
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


# Function-call programs: (code, function name, arguments of test t of program p, expected value).
CALL_KINDS = [
    ("def f(a, b):\n    return sum(a) + b\n", "f", lambda n: [[n, n + 1, 2 * n], n % 7], lambda a, b: sum(a) + b),
    ("class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        seen = {}\n"
     "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
     "                return [seen[target - x], i]\n"
     "            seen[x] = i\n        return []\n", "twoSum", lambda n: [[n, 3, n + 5, 7], n + 7],
     lambda nums, t: [0, 3]),
    ("def rev_words(s):\n    return ' '.join(reversed(s.split()))\n", "rev_words",
     lambda n: [f"a{n} b{n % 5} c{n % 3}"], lambda s: " ".join(reversed(s.split()))),
    ("def mean(xs):\n    return sum(xs) / len(xs)\n", "mean", lambda n: [[n, n / 3, 1.5]],
     lambda xs: sum(xs) / len(xs)),
]


def make_call_batch(programs: int, tests: int) -> list[tuple[str, dict]]:
    batch = []
    for p in range(programs):
        code, name, args_of, want = CALL_KINDS[p % len(CALL_KINDS)]
        ins, outs = [], []
        for t in range(tests):
            args = args_of(10 + 13 * p + 7 * t)
            ins.append("\n".join(json.dumps(a) for a in args))
            outs.append(json.dumps(want(*args)))
        gt = {"fn_name": name, "inputs": ins, "outputs": outs}
        batch.append((f"Here is my solution.\n```python\n{code}```", gt))
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


def measure(scorers, batch, workers) -> dict[str, float]:
    for fn in scorers.values():
        timed(fn, batch[:4], workers)  # warm-up (imports, page cache) for every scorer alike
    rates = {}
    for name, fn in scorers.items():
        rate, total = timed(fn, batch, workers)
        rates[name] = rate
        print(f"{name:9s} {rate:7.2f} programs/s  score sum {total:.1f}/{len(batch)}", file=sys.stderr)
        if total != len(batch):
            raise SystemExit(f"{name} failed honest programs: {total}/{len(batch)}")
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--programs", type=int, default=40)
    ap.add_argument("--tests", type=int, default=5)
    ap.add_argument("--call-tests", type=int, default=16)
    ap.add_argument("--sets", default="stdin,call")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    level = isolation_level()
    sets = args.sets.split(",")
    if "stdin" in sets:
        rates = measure({"ours": ours, "baseline": baseline, "prime": prime},
                        make_batch(args.programs, args.tests), args.workers)
        print(f"code sandbox, stdin set ({level}, {args.programs} programs x {args.tests} tests, {args.workers} "
              f"workers): ours {rates['ours']:.1f}/s, subprocess.run {rates['baseline']:.1f}/s, prime_code "
              f"{rates['prime']:.1f}/s; ours/subprocess = {rates['ours'] / rates['baseline']:.2f}x (target >= 0.7), "
              f"ours/prime_code = {rates['ours'] / rates['prime']:.2f}x (target >= 1.0)")
    if "call" in sets:
        rates = measure({"ours": ours, "prime": prime}, make_call_batch(args.programs, args.call_tests), args.workers)
        print(f"code sandbox, call set ({level}, {args.programs} programs x {args.call_tests} tests, {args.workers} "
              f"workers): ours {rates['ours']:.1f}/s ({rates['ours'] * args.call_tests:.0f} tests/s), prime_code "
              f"{rates['prime']:.1f}/s; ours/prime_code = {rates['ours'] / rates['prime']:.2f}x (target >= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
