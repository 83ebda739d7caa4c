"""`r1-recipe` command. Each subcommand lives in its own module, imported only when that subcommand runs, and exposes
`add_parser(subparsers) -> argparse.ArgumentParser` whose parser sets `func(args) -> int`."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> "module:add_parser"
SUBCOMMANDS = {
    "ls": "r1_recipe.tools.recipes:add_ls_parser",
    "cp": "r1_recipe.tools.recipes:add_cp_parser",
    "run": "r1_recipe.tools.recipes:add_run_parser",
    "prepare": "r1_recipe.tools.data.cli:add_parser",
    "rejection-sample": "r1_recipe.tools.rejection:add_parser",
    "eval": "r1_recipe.tools.evaluate:add_parser",
    "check-data": "r1_recipe.tools.check_data:add_parser",
    "report": "r1_recipe.tools.report:add_parser",
    "mini": "r1_recipe.tools.mini.cli:add_parser",
    "doctor": "r1_recipe.verl.doctor:add_parser",
}


def _load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="r1-recipe", description="The DeepSeek-R1 recipe on verl.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, target in SUBCOMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"(run `r1-recipe {name} -h`)")
            continue
        try:
            _load(target)(sub)
        except ImportError as e:  # listing the help must not fail on one broken subcommand
            if only is not None:
                raise
            sub.add_parser(name, help=f"(unavailable: {e})")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Import only the module of the subcommand being run: `r1-recipe doctor` must not pay for the others.
    only = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    if only is None and argv and not argv[0].startswith("-"):
        print(f"r1-recipe: unknown command {argv[0]!r}; commands: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if not argv else 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
