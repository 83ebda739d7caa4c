"""Math verifiers on other projects' test suites: ours against math-verify and verl's scorers, in one run.

Case file `bench/data/peer_math_cases.jsonl` (built by `bench/data/build_peer_cases.py` from the public tests of
Math-Verify, lm-evaluation-harness, verl, slime/miles, SkyRL, open-r1, TRL and OpenRLHF; each suite keeps its own
labels; `disputed` rows are the ones a careful grader would label differently, with the reason).

Scorers, each given the full response and the gold string, as their users call them:
- ours: the math reward with default options, as the `accuracy` component calls it;
- math_verify: `verify(parse(gold), parse(response))`, default configs and its own timeouts (a gold without `$`
  or `\\boxed` is wrapped in `$...$` so it parses as LaTeX);
- verl_math_verify, verl_math (verl's default `math_reward`), verl_math_dapo (`acc`), verl_prime_math.

Every verdict runs in a `BoundedPool` worker (modules preloaded, one warm-up pass per scorer); latency is measured
inside the worker around the scorer call alone. A verdict slower than `--bound` seconds is a hang; the pool kills a
call at 2x the bound, and a killed call is a wrong verdict.

Run: `python bench/math_peer_bench.py [--bound 5] [--workers 2] [--show-errors] [--show-fp]`.
Prints per suite and overall accuracy, FP, FN and hangs for every scorer, with and without the disputed cases, p50
latency, and one SUMMARY line with ratios against math-verify and the best peer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from _math_scorers import load, ours_reward, run_scorer  # noqa: E402  (bench/ is sys.path[0])

CASES = os.path.join(HERE, "data", "peer_math_cases.jsonl")
SCORERS = ("ours", "math_verify", "verl_math_verify", "verl_math", "verl_math_dapo", "verl_prime_math")


PRELOAD = (
    "math_verify", "sympy", "latex2sympy2_extended", "verl.utils.reward_score.math_verify",
    "verl.utils.reward_score.math_reward", "verl.utils.reward_score.math_dapo", "verl.utils.reward_score.prime_math",
)  # fmt: skip


def tally(cases, results, bound, keep=lambda c: True) -> dict:
    rows = [(c, r) for c, r in zip(cases, results, strict=True) if keep(c)]
    n = len(rows)
    ok = sum((r[0] >= 1.0) == c["label"] for c, r in rows)
    return dict(
        n=n,
        acc=ok / n if n else float("nan"),
        fp=sum(r[0] >= 1.0 and not c["label"] for c, r in rows),
        fn=sum(r[0] < 1.0 and c["label"] for c, r in rows),
        hangs=sum(r[1] > bound for _, r in rows),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=CASES)
    ap.add_argument("--bound", type=float, default=5.0, help="seconds; a slower verdict is a hang")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scorers", default=",".join(SCORERS))
    ap.add_argument("--show-errors", action="store_true", help="list every wrong verdict of ours")
    ap.add_argument("--show-fp", action="store_true", help="list every false positive of every scorer")
    args = ap.parse_args(argv)

    try:
        from r1_recipe.core.bounded import BoundedPool
    except ImportError:  # the layout before the core/verl/tools split
        from r1_recipe.bounded import BoundedPool

    cases = load(args.cases)
    suites = sorted({c["suite"] for c in cases})
    print(f"{len(cases)} cases ({sum(c['label'] for c in cases)} positive, {sum(c['disputed'] for c in cases)} "
          f"disputed) from {len(suites)} suites")
    preload = (ours_reward().__module__, *PRELOAD)
    pool = BoundedPool(workers=args.workers, memory_mb=None, preload=preload)
    results = {}
    try:
        for name in args.scorers.split(","):
            results[name] = run_scorer(pool, name, cases, args.bound)
    finally:
        pool.close()

    undisputed = lambda c: not c["disputed"]  # noqa: E731
    for title, keep in (("all cases", lambda c: True), ("without disputed cases", undisputed)):
        print(f"\n== {title}: accuracy (FP/FN/hangs)")
        print(f"{'suite':<13}{'n':>5}" + "".join(f"{s:>22}" for s in results))
        for suite in [*suites, "OVERALL"]:
            sel = lambda c, s=suite, k=keep: k(c) and (s == "OVERALL" or c["suite"] == s)  # noqa: E731
            cells = []
            for res in results.values():
                t = tally(cases, res, args.bound, sel)
                cells.append(f"{t['acc']:.3f} ({t['fp']}/{t['fn']}/{t['hangs']})")
            n = tally(cases, next(iter(results.values())), args.bound, sel)["n"]
            print(f"{suite:<13}{n:>5}" + "".join(f"{c:>22}" for c in cells))
    med = {name: statistics.median(r[1] for r in res) for name, res in results.items()}
    print("\np50 latency ms: " + ", ".join(f"{k} {1000 * v:.3f}" for k, v in med.items()))

    if args.show_errors and "ours" in results:
        print("\nwrong verdicts of ours:")
        for i, (c, r) in enumerate(zip(cases, results["ours"], strict=True)):
            if (r[0] >= 1.0) != c["label"]:
                mv = results.get("math_verify", [(None,)] * len(cases))[i][0]
                print(f"  [{c['suite']}] label={int(c['label'])} mv={mv} disputed={int(c['disputed'])} "
                      f"gold={c['gold']!r} response={c['response'][-160:]!r} {r[2]}")
    if args.show_fp:
        for name, res in results.items():
            fps = [c for c, r in zip(cases, res, strict=True) if r[0] >= 1.0 and not c["label"]]
            print(f"\nfalse positives of {name}: " + ("none" if not fps else ""))
            for c in fps:
                print(f"  [{c['suite']}] gold={c['gold']!r} response={c['response'][-120:]!r}")

    if "ours" in results and len(results) > 1:
        parts = []
        for title, keep in (("all", lambda c: True), ("undisputed", undisputed)):
            t = {k: tally(cases, v, args.bound, keep) for k, v in results.items()}
            peers = {k: v for k, v in t.items() if k != "ours"}
            best = max(peers, key=lambda k: peers[k]["acc"])
            mv = t.get("math_verify")
            parts.append(
                f"{title}: acc {t['ours']['acc']:.3f} vs math-verify {mv['acc'] if mv else float('nan'):.3f} "
                f"(ratio {t['ours']['acc'] / mv['acc'] if mv else float('nan'):.3f}), best peer {best} "
                f"{peers[best]['acc']:.3f} (ratio {t['ours']['acc'] / peers[best]['acc']:.3f}), FP {t['ours']['fp']} "
                f"vs fewest peer FP {min(p['fp'] for p in peers.values())}, hangs {t['ours']['hangs']}"
            )
        speed = f"; p50 {med['math_verify'] / med['ours']:.1f}x faster than math-verify" if "math_verify" in med else ""
        print("\nSUMMARY " + "; ".join(parts) + speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
