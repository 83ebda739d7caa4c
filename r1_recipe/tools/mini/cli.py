"""`r1-recipe mini`: the DeepSeek-R1 pipeline in miniature on a CPU (cold-start SFT -> GRPO -> pass@1/cons@k ->
report)."""

from __future__ import annotations

import argparse
import dataclasses


def add_parser(subparsers) -> argparse.ArgumentParser:
    from r1_recipe.tools.mini.pipeline import MiniConfig

    p = subparsers.add_parser("mini", help="run the R1 pipeline in miniature on a CPU (toy addition, tiny model)",
                              description=__doc__)
    for f in dataclasses.fields(MiniConfig):
        # default None: a flag given explicitly wins over --quick's value
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=None,
                       help=f"(default: {f.default})")
    p.add_argument("--quick", action="store_true",
                   help="the short configuration the test suite runs (flags given explicitly still apply)")
    p.set_defaults(func=_main)
    return p


def _main(args) -> int:
    from r1_recipe.tools.mini.pipeline import MiniConfig, run
    from r1_recipe.tools.mini.recipe import MiniRecipeError
    from r1_recipe.tools.mini.verl_host import VerlHostError

    base = {f.name: f.default for f in dataclasses.fields(MiniConfig)}
    if args.quick:
        base.update(QUICK)
    kw = {name: default if getattr(args, name) is None else getattr(args, name) for name, default in base.items()}
    try:
        cfg = MiniConfig(**kw)
    except ValueError as e:
        raise SystemExit(f"r1-recipe {e}") from None
    try:
        res = run(cfg)
    except (MiniRecipeError, VerlHostError) as e:
        raise SystemExit(f"r1-recipe mini: {e}") from None
    gain = res["after"]["pass@1"] - res["before"]["pass@1"]
    print(f"[mini] pass@1 before RL {res['before']['pass@1']:.3f} -> after RL {res['after']['pass@1']:.3f} "
          f"(gain {gain:+.3f})")
    return 0


# The short configuration (tests, CI): the same cold start, 24 GRPO steps at twice the learning rate, k=4.
QUICK = {"grpo_steps": 24, "grpo_lr": 2e-4, "k": 4}
