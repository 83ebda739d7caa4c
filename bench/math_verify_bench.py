"""Math answer verification: verdict quality and speed of our math reward against math-verify and verl's scorers.

Case file `bench/data/math_cases.jsonl` (one JSON object a line: response, gold, label 1/0, kind, source, style):
answer conventions of MATH, GSM8K, AIME, AMC, OlympiadBench and Minerva, each gold with equivalent forms (label 1) and
near misses (label 0), wrapped as R1-distill (`</think>` then `\\boxed{}`), R1-Zero (`<answer>`), plain boxed and GSM8K
`####` responses; plus reward hacks (several boxed candidates, unclosed tags, gold as a substring, answer only inside
the reasoning) and hostile inputs (power towers, huge factorials, deep nesting).

Scorers, each given the full response and the gold string, as their users call them:
- ours: `r1_recipe.core.rewards.math.math_reward(response, gold)` (default options);
- math-verify: `verify(parse(gold), parse(response))` with its default settings (a bare gold wrapped in `$...$`);
- verl `math_dapo.compute_score(response, gold)["acc"]`; verl `prime_math.compute_score(response, gold)[0]`.

Every verdict runs in a `BoundedPool` worker (all modules preloaded, one warm-up pass per scorer); latency is measured
inside the worker around the scorer call alone. A verdict slower than `--bound` (default 5 s) is a hang; the pool kills
a call at 2x the bound so the bench itself never hangs, and a killed call counts as a wrong verdict.

Run: `python bench/math_verify_bench.py [--bound 5] [--workers 2] [--show-errors] [--show-fp]`.
Prints a per-scorer table (accuracy, FP, FN, hangs, throughput, median and p99 latency) and one summary line with
ratios against math-verify (median latency) and the best peer (accuracy, false positives).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from _math_scorers import load, run_scorer  # noqa: E402  (bench/ is sys.path[0])

CASES = os.path.join(HERE, "data", "math_cases.jsonl")
SCORERS = ("ours", "math_verify", "verl_math_dapo", "verl_prime_math")
PRELOAD = (
    "r1_recipe.core.rewards.math", "math_verify", "sympy", "latex2sympy2_extended",
    "verl.utils.reward_score.math_dapo", "verl.utils.reward_score.prime_math",
)  # fmt: skip


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=CASES)
    ap.add_argument("--bound", type=float, default=5.0, help="seconds; a slower verdict is a hang")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scorers", default=",".join(SCORERS))
    ap.add_argument("--show-errors", action="store_true", help="list every wrong verdict of ours")
    ap.add_argument("--show-fp", action="store_true", help="list every false positive of every scorer")
    args = ap.parse_args(argv)

    from r1_recipe.core.bounded import BoundedPool

    cases = load(args.cases)
    labels = [c["label"] for c in cases]
    print(
        f"{len(cases)} cases: {sum(labels)} positive, {len(labels) - sum(labels)} negative "
        f"({sum(c['kind'] == 'hack' for c in cases)} reward hacks, "
        f"{sum(c['kind'] == 'hostile' for c in cases)} hostile)"
    )
    pool = BoundedPool(workers=args.workers, memory_mb=None, preload=PRELOAD)
    rows = {}
    try:
        for name in args.scorers.split(","):
            results = run_scorer(pool, name, cases, args.bound)
            verdicts = [r[0] >= 1.0 for r in results]
            secs = [r[1] for r in results]
            rows[name] = dict(
                acc=sum(v == bool(lab) for v, lab in zip(verdicts, labels, strict=False)) / len(cases),
                fp=sum(v and not lab for v, lab in zip(verdicts, labels, strict=False)),
                fn=sum(lab and not v for v, lab in zip(verdicts, labels, strict=False)),
                hangs=sum(s > args.bound for s in secs),
                errors=sum(bool(r[2]) for r in results),
                thr=len(secs) / sum(secs),
                med=statistics.median(secs),
                p99=p99(secs),
                results=results,
            )
    finally:
        pool.close()

    print(
        f"\n{'scorer':<16}{'accuracy':>9}{'FP':>5}{'FN':>5}{'hangs':>6}{'verdicts/s':>12}{'median ms':>11}"
        f"{'p99 ms':>10}{'errors':>8}"
    )
    for name, r in rows.items():
        print(
            f"{name:<16}{r['acc']:>9.3f}{r['fp']:>5}{r['fn']:>5}{r['hangs']:>6}{r['thr']:>12.1f}"
            f"{1000 * r['med']:>11.3f}{1000 * r['p99']:>10.1f}{r['errors']:>8}"
        )
    if args.show_errors and "ours" in rows:
        print("\nwrong verdicts of ours:")
        for c, (v, _s, err) in zip(cases, rows["ours"]["results"], strict=False):
            if (v >= 1.0) != bool(c["label"]):
                print(
                    f"  #{c['id']} {c['kind']}/{c['source']} label={c['label']} gold={c['gold']!r} "
                    f"pred={c['pred']!r} {err}"
                )
    if args.show_fp:
        for name, r in rows.items():
            fps = [c for c, res in zip(cases, r["results"], strict=False) if res[0] >= 1.0 and not c["label"]]
            print(f"\nfalse positives of {name}: " + ("none" if not fps else ""))
            for c in fps:
                print(f"  #{c['id']} {c['kind']}/{c['style']} gold={c['gold']!r} pred={c['pred']!r}")
    if "ours" in rows and len(rows) > 1:
        ours = rows["ours"]
        peers = {k: v for k, v in rows.items() if k != "ours"}
        best = max(peers, key=lambda k: peers[k]["acc"])
        mv = rows.get("math_verify")
        speed = f"median {mv['med'] / ours['med']:.1f}x faster than math-verify, " if mv else ""
        thr = f"throughput {ours['thr'] / mv['thr']:.1f}x math-verify, " if mv else ""
        print(
            f"\nSUMMARY ours acc {ours['acc']:.3f} vs best peer {best} {peers[best]['acc']:.3f} "
            f"(ratio {ours['acc'] / max(peers[best]['acc'], 1e-9):.3f}); FP {ours['fp']} vs fewest peer FP "
            f"{min(p['fp'] for p in peers.values())}; hangs {ours['hangs']}; {speed}{thr}"
            f"p99 {1000 * ours['p99']:.1f} ms vs math-verify {1000 * mv['p99'] if mv else float('nan'):.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
