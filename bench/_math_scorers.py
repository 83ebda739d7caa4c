"""The math scorers both math benches run (`math_verify_bench.py` on math_cases.jsonl, `math_peer_bench.py` on the
peers' suites), each given the full response and the gold string as its users call it, and the timing plumbing.

`timed` runs inside a `BoundedPool` worker, so it and `score` are module level (pickled by reference).
"""

from __future__ import annotations

import json
import time


def ours_reward():
    try:
        from r1_recipe.core.rewards.math import math_reward
    except ImportError:  # the layout before the core/verl/tools split (for before/after figures)
        from r1_recipe.rewards.math import math_reward
    return math_reward


def gold_for_math_verify(gold: str) -> str:
    """A gold without `$`, `\\boxed`, `\\(` or `\\[` is wrapped in `$...$` so that math-verify parses it as LaTeX."""
    return gold if ("$" in gold or "\\boxed" in gold or "\\(" in gold or "\\[" in gold) else "$" + gold + "$"


def score(name: str, response: str, gold: str) -> float:
    if name == "ours":
        return ours_reward()(response, gold).score
    if name == "math_verify":
        from math_verify import parse, verify

        return float(verify(parse(gold_for_math_verify(gold)), parse(response)))
    if name == "verl_math_verify":
        from verl.utils.reward_score.math_verify import compute_score

        return float(compute_score(response, gold))
    if name == "verl_math":
        from verl.utils.reward_score.math_reward import compute_score

        return float(compute_score(response, gold))
    if name == "verl_math_dapo":
        from verl.utils.reward_score.math_dapo import compute_score

        return float(compute_score(response, gold)["acc"])
    if name == "verl_prime_math":
        import multiprocessing

        from verl.utils.reward_score.prime_math import compute_score

        # prime_math bounds sympy with a child process (verl's `timeout_limit`) and assumes the Linux default `fork`;
        # our workers start with `spawn`, under which its decorated function cannot be pickled.
        if multiprocessing.get_start_method(allow_none=True) != "fork":
            multiprocessing.set_start_method("fork", force=True)
        return float(compute_score(response, gold)[0])
    raise ValueError(name)


def timed(name: str, response: str, gold: str) -> tuple[float, float, str]:
    """(verdict, seconds, error) for one call, measured inside the worker."""
    start = time.perf_counter()
    try:
        verdict, error = score(name, response, gold), ""
    except Exception as e:  # a scorer that raises gives a wrong verdict, as a reward would
        verdict, error = 0.0, f"{type(e).__name__}: {e}"[:120]
    return verdict, time.perf_counter() - start, error


def load(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_scorer(pool, name: str, cases: list[dict], bound: float) -> list[tuple[float, float, str]]:
    """Every case through one scorer in `pool`; a call killed at 2x `bound` is a wrong verdict of 2x `bound` s."""
    def killed(reason, item):
        return 0.0, 2 * bound, reason

    items = [(name, c["response"], c["gold"]) for c in cases]
    list(pool.map(timed, items[:20], timeout=2 * bound, default=killed))  # warm-up: parser caches, lazy imports
    return list(pool.map(timed, items, timeout=2 * bound, default=killed, progress=name))
