"""`r1-recipe ls | cp | run`: list, copy, validate and launch the recipes in `recipes/` (installed as
`r1_recipe.recipes`).

`run` composes and validates the recipe (`r1_recipe.verl.recipe_check`: verl's Hydra config, every error names the
key) before anything heavy starts, then launches the verl entry point the recipe is written for (main_ppo,
main_generation_server, or sft_trainer under torchrun).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from r1_recipe.verl import touchpoints
from r1_recipe.verl.recipe_check import SFT, RecipeError, cpu_overrides, entry_point, validate
from r1_recipe.verl.recipe_check import compose as compose_file

RECIPES_PKG = "r1_recipe.recipes"
# ---------------------------------------------------------------------------------------------------------- discovery
def recipes_dir() -> Path:
    return Path(str(resources.files(RECIPES_PKG)))


def available() -> dict[str, Path]:
    """Shipped recipes: name -> file."""
    return {p.stem: p for p in sorted(recipes_dir().glob("*.yaml"))}


def description(path: Path) -> str:
    """The recipe's one-line description: its first line, `# r1-recipe: NAME — DESCRIPTION`."""
    first = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    return first.split("—", 1)[1].strip() if "—" in first else first.lstrip("# ").strip()


def resolve_recipe(name_or_path: str) -> tuple[Path, bool]:
    """(file, shipped?) for a recipe name or a path to a YAML file."""
    shipped = available()
    if name_or_path in shipped:
        return shipped[name_or_path], True
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not path.is_file():
            raise RecipeError(f"recipe file {name_or_path!r} does not exist")
        return path.resolve(), False
    raise RecipeError(f"unknown recipe {name_or_path!r}; recipes: {', '.join(shipped)} (or a path to a .yaml file)")



def compose(name_or_path: str, overrides: list[str] | None = None):
    """A recipe (name or path) composed with verl's config plus `overrides`: (DictConfig, recipe file, shipped?)."""
    path, shipped = resolve_recipe(name_or_path)
    return compose_file(path, overrides), path, shipped


# ------------------------------------------------------------------------------------------------------------ command
def build_command(kind: str, path: Path, shipped: bool, overrides: list[str], cfg) -> list[str]:
    """The exact command that launches the verl entry point for this recipe."""
    config_path = f"pkg://{RECIPES_PKG}" if shipped else str(path.parent)
    hydra_args = ["--config-path", config_path, "--config-name", path.stem, *overrides]
    if kind == SFT:
        nnodes, per_node = int(cfg.trainer.nnodes), int(cfg.trainer.n_gpus_per_node)
        if nnodes == 1:
            launcher = ["torchrun", "--standalone", "--nnodes=1", f"--nproc_per_node={per_node}"]
        else:  # run the same command on every node with these set
            launcher = ["torchrun", f"--nnodes={nnodes}", f"--nproc_per_node={per_node}", "--node_rank=${NODE_RANK}",
                        "--master_addr=${MASTER_ADDR}", "--master_port=${MASTER_PORT:-29500}"]
        return [*launcher, "-m", touchpoints.ENTRY_POINTS[SFT], *hydra_args]
    return [sys.executable, "-m", touchpoints.ENTRY_POINTS[kind], *hydra_args]


# ---------------------------------------------------------------------------------------------------------- commands
def _ls(args) -> int:
    recipes = available()
    width = max(map(len, recipes), default=0)
    for name, path in recipes.items():
        print(f"{name:<{width}}  {description(path)}")
    print(f"\n`r1-recipe cp NAME DEST` to copy one; `r1-recipe run NAME key=value ...` to launch ({recipes_dir()})")
    return 0


def _cp(args) -> int:
    try:
        src, _ = resolve_recipe(args.name)
    except RecipeError as e:
        print(f"r1-recipe cp: error: {e}", file=sys.stderr)
        return 2
    dest = Path(args.dest).expanduser()
    if dest.is_dir():
        dest = dest / src.name
    elif dest.suffix not in (".yaml", ".yml"):
        dest = dest.with_suffix(".yaml")
    if dest.exists() and not args.force:
        print(f"r1-recipe cp: error: {dest} exists (use --force to overwrite)", file=sys.stderr)
        return 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    print(f"copied {src.stem} to {dest}\nedit it, then: r1-recipe run {dest} key=value ...")
    return 0


def _run(args) -> int:
    from omegaconf import OmegaConf

    try:
        cfg, path, shipped = compose(args.recipe, args.overrides)
        kind = entry_point(cfg)
        if args.cpu:
            args.overrides = cpu_overrides(kind, args.overrides)
            cfg, path, shipped = compose(args.recipe, args.overrides)
    except RecipeError as e:
        print(f"r1-recipe run: error: {e}", file=sys.stderr)
        return 2
    report = validate(cfg, kind, check_gpus=not (args.skip_gpu_check or args.cpu))
    if args.dry_run:  # a dry run on a laptop has no GPUs: say so, do not fail on it
        gpu = [e for e in report.errors if "visible GPU" in e]
        report.errors = [e for e in report.errors if e not in gpu]
        report.warnings += gpu
    for w in report.warnings:
        print(f"r1-recipe run: warning: {w}", file=sys.stderr)
    if report.errors:
        print(f"r1-recipe run: {path.stem}: {len(report.errors)} error(s):", file=sys.stderr)
        for e in report.errors:
            print(f"  - {e}", file=sys.stderr)
        return 2
    cmd = build_command(kind, path, shipped, args.overrides, cfg)
    if args.dry_run:
        print(OmegaConf.to_yaml(cfg, resolve=True), end="")
        print("# command:")
        print(" ".join(c if c.startswith("--") and "${" in c else shlex.quote(c) for c in cmd))
        return 0
    print("r1-recipe run:", shlex.join(cmd), file=sys.stderr, flush=True)
    env = dict(os.environ)
    if kind == SFT and int(cfg.trainer.nnodes) > 1:
        cmd = [os.path.expandvars(c.replace("${MASTER_PORT:-29500}", env.get("MASTER_PORT", "29500"))) for c in cmd]
        unset = [v for v in ("NODE_RANK", "MASTER_ADDR") if v not in env]
        if unset:
            print(f"r1-recipe run: error: trainer.nnodes>1 needs {', '.join(unset)} set on every node", file=sys.stderr)
            return 2
    return subprocess.call(cmd, env=env)


def add_ls_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ls", help="list the recipes", description="List the shipped recipes.")
    p.set_defaults(func=_ls)
    return p


def add_cp_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("cp", help="copy a recipe to edit", description="Copy a recipe to edit it.")
    p.add_argument("name", help="recipe name (see `r1-recipe ls`)")
    p.add_argument("dest", help="destination file or directory")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=_cp)
    return p


def add_run_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "run", help="validate and launch a recipe",
        description="Compose a recipe with verl's config and the overrides, validate it, launch the verl entry point.",
        epilog="example: r1-recipe run zero actor_rollout_ref.model.path=Qwen/Qwen2.5-1.5B "
               "data.train_files=~/data/r1/gsm8k/train.parquet data.val_files=~/data/r1/gsm8k/test.parquet --dry-run")
    p.add_argument("recipe", help="recipe name (see `r1-recipe ls`) or path to a recipe .yaml")
    p.add_argument("overrides", nargs="*", help="Hydra overrides key=value (+key=value for keys verl does not define)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and the command; launch nothing")
    p.add_argument("--skip-gpu-check", action="store_true", help="do not compare trainer.n_gpus_per_node with the "
                   "GPUs visible here (e.g. when launching from a head node without GPUs)")
    p.add_argument("--cpu", action="store_true", help="run on this CPU-only host with verl's own trainers (platform "
                   "cpu, rollout hf; adds r1_recipe.verl.cpu.overrides before yours; sizes stay yours, "
                   "see docs/cpu.md)")
    p.set_defaults(func=_run)
    return p
