"""`r1-recipe mini`: the DeepSeek-R1 pipeline in miniature on a CPU (cold-start SFT -> GRPO -> pass@1/cons@k -> report)."""

from __future__ import annotations

import argparse
import dataclasses


def add_parser(subparsers) -> argparse.ArgumentParser:
    from r1_recipe.mini.pipeline import MiniConfig

    p = subparsers.add_parser("mini", help="run the R1 pipeline in miniature on a CPU (toy addition, tiny model)",
                              description=__doc__)
    for f in dataclasses.fields(MiniConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default,
                       help=f"(default: {f.default})")
    p.add_argument("--quick", action="store_true", help="the short configuration the test suite runs")
    p.set_defaults(func=_main)
    return p


def _main(args) -> int:
    from r1_recipe.mini.pipeline import MiniConfig, run

    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(MiniConfig)}
    if args.quick:
        kw.update(QUICK)
    res = run(MiniConfig(**kw))
    gain = res["after"]["pass@1"] - res["before"]["pass@1"]
    print(f"[mini] pass@1 before RL {res['before']['pass@1']:.3f} -> after RL {res['after']['pass@1']:.3f} "
          f"(gain {gain:+.3f})")
    return 0


# The short configuration (tests, CI): fewer SFT and GRPO steps.
QUICK = {"grpo_steps": 20, "k": 4, "sft_steps": 460}
