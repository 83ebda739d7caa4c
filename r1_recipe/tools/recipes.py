"""`r1-recipe ls | cp | run`: list, copy, validate and launch the recipes in `r1_recipe/recipes/` (the package
`r1_recipe.recipes`).

`run` composes and validates the recipe (`r1_recipe.verl.recipe_check`: verl's Hydra config, every error names the
key) before anything heavy starts, then launches the verl entry point the recipe is written for (main_ppo,
main_generation_server, or sft_trainer under torchrun).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from r1_recipe.tools.check_data import MAX_BAD_RATE as MAX_BAD_GOLDS
from r1_recipe.verl import touchpoints
from r1_recipe.verl.recipe_check import (
    GENERATION,
    PPO,
    SFT,
    RecipeError,
    cpu_overrides,
    dataset_rows,
    entry_point,
    validate,
)
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
            hint = f" (the shipped recipe {path.stem!r} is named without a path)" if path.stem in shipped else ""
            raise RecipeError(f"recipe file {name_or_path!r} does not exist{hint}")
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
        torchrun = [sys.executable, "-m", "torch.distributed.run"]  # this venv's torchrun, not whichever is on PATH
        if nnodes == 1:
            launcher = [*torchrun, "--standalone", "--nnodes=1", f"--nproc_per_node={per_node}"]
        else:  # run the same command on every node with these set
            launcher = [*torchrun, f"--nnodes={nnodes}", f"--nproc_per_node={per_node}", "--node_rank=${NODE_RANK}",
                        "--master_addr=${MASTER_ADDR}", "--master_port=${MASTER_PORT:-29500}"]
        return [*launcher, "-m", touchpoints.ENTRY_POINTS[SFT], *hydra_args]
    if kind == GENERATION:  # verl's server replicas, our chunked resumable client (r1_recipe.verl.generate)
        return [sys.executable, "-m", "r1_recipe.verl.generate", *hydra_args]
    return [sys.executable, "-m", touchpoints.ENTRY_POINTS[kind], *hydra_args]


# --------------------------------------------------------------------------------------------------- path values
_PATH_KEY = re.compile(r"(path|files|dir)$")
_VAR = re.compile(r"\$(\w+|\{(\w+)\})")
MODEL_KEYS = ("actor_rollout_ref.model.path", "model.path")


def expand_paths(overrides: list[str], rl: bool | None = None) -> tuple[list[str], list[str]]:
    """Overrides with `~` and `$VAR` expanded in path values (keys ending in path/files/dir; Hydra rejects a bare `~`
    and a single-quoted `$HOME` reaches verl literally), and a model path that is a verl checkpoint directory replaced
    by its latest HF export. Returns (overrides, notes); RecipeError names a key whose variable is unset."""
    from r1_recipe.verl.recipe_check import checkpoint_export

    out, notes = [], []
    for o in overrides:
        key, eq, value = o.partition("=")
        name = key.lstrip("+~")
        if not eq or not _PATH_KEY.search(name.rsplit(".", 1)[-1]) or value.startswith("${"):
            out.append(o)
            continue
        unset = sorted({m.group(2) or m.group(1) for m in _VAR.finditer(value)} - set(os.environ))
        if unset:
            raise RecipeError(f"{name}={value}: environment variable(s) {', '.join('$' + u for u in unset)} not set")
        home = lambda m: m.group(1) + str(Path.home())  # noqa: E731
        expanded = re.sub(r"(^|[\[,])~(?=/|$|[,\]])", home, os.path.expandvars(value))
        if name in MODEL_KEYS:
            export = checkpoint_export(expanded, rl=name.startswith("actor_rollout_ref") if rl is None else rl)
            if export is not None:
                notes.append(f"{name}: {expanded} is a verl checkpoint directory; using its latest HF export {export}")
                expanded = str(export)
        out.append(f"{key}={expanded}")
    return out, notes


# ------------------------------------------------------------------------------------------------------------ plan
def plan_lines(cfg, kind: str, gpu_gb: float) -> list[str]:
    """The short plan `--dry-run` prints: step arithmetic in verl and paper units, reference resets, memory per GPU
    (r1_recipe.core.plan) and the divisibility of every batch size."""
    import json

    from omegaconf import OmegaConf

    from r1_recipe.core import plan

    sel = lambda key, default=None: OmegaConf.select(cfg, key, default=default)  # noqa: E731
    lines = []
    n_gpus = int(cfg.trainer.n_gpus_per_node) * int(cfg.trainer.nnodes)
    model_key = "model.path" if kind == SFT else "actor_rollout_ref.model.path"
    cfg_json = Path(str(sel(model_key))).expanduser() / "config.json"
    try:
        shape = plan.ModelShape.from_config(json.loads(cfg_json.read_text())) if cfg_json.is_file() else None
    except (KeyError, TypeError, ValueError):  # not a dense decoder's config: no memory estimate
        shape = None
    gpu = int(gpu_gb * plan.GIB)
    if kind == PPO:
        d, actor, rollout = cfg.data, cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
        s = plan.Schedule(int(d.train_batch_size), int(rollout.n), int(actor.ppo_mini_batch_size),
                          int(actor.ppo_epochs), dataset_rows(d.train_files), int(cfg.trainer.total_epochs),
                          sel("trainer.total_training_steps"), sel("algorithm.r1.ref_reset_steps"))
        lines.append(f"rollout (verl step): {s.train_batch_size} prompts x n={s.n} = {s.outputs_per_rollout} outputs; "
                     f"{s.updates_per_rollout} policy updates (paper steps) of {s.outputs_per_update} outputs")
        if s.rollouts_per_epoch is not None:
            lines.append(f"epoch: {s.dataset_prompts} prompts = {s.rollouts_per_epoch} verl steps = "
                         f"{s.updates_per_epoch} paper steps")
        if s.total_rollouts is not None:
            lines.append(f"run: {s.total_rollouts} verl steps = {s.total_updates} paper steps")
        if s.ref_reset_updates is not None:
            resets = s.resets()
            every = (f"every {s.ref_reset_updates / s.updates_per_rollout:g} verl steps" if
                     s.ref_reset_updates % s.updates_per_rollout == 0 else "at the first verl step past each multiple")
            in_run = "" if resets is None else "; none in this run" if not resets else (
                f"; {len(resets)} in this run (verl steps {', '.join(map(str, resets[:6]))}"
                f"{', ...' if len(resets) > 6 else ''})")
            lines.append(f"reference reset: every {s.ref_reset_updates} paper steps = {every}{in_run}")
        val = sel("actor_rollout_ref.rollout.val_kwargs.n")
        lines.append(f"validation: n={val} per prompt, responses capped at data.max_response_length="
                     f"{d.max_response_length} (paper: 32768): not paper-comparable; use eval_generate")
        sp = int(actor.get("ulysses_sequence_parallel_size", 1) or 1)
        dp, tp = n_gpus // sp if n_gpus % sp == 0 else None, int(rollout.tensor_model_parallel_size)
        mini = s.outputs_per_update
        replicas = n_gpus // tp if n_gpus % tp == 0 else "?"
        vllm = rollout.name != "hf"  # rollout hf (--cpu, or no vLLM): its own memory terms below, no TP note
        lines.append(f"divisibility: {n_gpus} GPUs, actor dp {dp} (SP {sp}), {replicas}"
                     f" {'vLLM' if vllm else rollout.name} replicas (TP {tp}); outputs per update {mini} % dp = "
                     f"{mini % dp if dp else '?'}; prompts per rollout {s.train_batch_size} % mini-batch "
                     f"{s.ppo_mini_batch_size} = {s.train_batch_size % s.ppo_mini_batch_size} (0 = exact)")
        if shape is not None:
            ref_dtype = str(sel("actor_rollout_ref.ref.fsdp_config.model_dtype", "fp32"))
            ref_bytes = 2 if ref_dtype in ("bf16", "bfloat16") else 4
            fsdp = "actor_rollout_ref.actor.fsdp_config"
            kernels = plan.Kernels(flash_attn=_flash_attn(sel("actor_rollout_ref.model.override_config")),
                                   packed=bool(actor.use_dynamic_bsz),
                                   compiled=bool(sel(f"{fsdp}.use_torch_compile", True)))
            hf, seqs = str(rollout.name) == "hf", min(int(rollout.max_num_seqs), s.outputs_per_rollout)
            hf_batch = plan.hf_generate_bytes(shape, seqs,
                                              int(d.max_prompt_length), int(d.max_response_length),
                                              bool(rollout.get("calculate_log_probs", False))) if hf else None
            m = plan.rl_memory(shape, n_gpus, tp, gpu, float(rollout.gpu_memory_utilization),
                               int(actor.ppo_max_token_len_per_gpu),
                               int(sel("actor_rollout_ref.ref.log_prob_max_token_len_per_gpu") or
                                   actor.ppo_max_token_len_per_gpu),
                               ref_bytes, bool(sel(f"{fsdp}.param_offload", False)),
                               bool(sel(f"{fsdp}.optimizer_offload", False)), kernels=kernels,
                               entropy=bool(actor.entropy_coeff) or bool(actor.get("calculate_entropy", False)),
                               offload_policy=bool(sel(f"{fsdp}.offload_policy", False))
                               and str(actor.strategy) == "fsdp2", hf_generate=hf_batch)
            lines += _memory_lines(shape, m, gpu, int(actor.ppo_max_token_len_per_gpu), kernels, hf=hf)
            if hf:
                lines.append(f"rollout hf: one generate batch of {seqs} sequences (actor_rollout_ref.rollout."
                             f"max_num_seqs) holds {plan.gib(hf_batch)} (their bf16 keys/values and fp32 scores); "
                             "lower max_num_seqs if it does not fit")
            if vllm and tp > 1 and m.rollout_weights * tp <= 0.25 * float(rollout.gpu_memory_utilization) * gpu:
                lines.append(f"note: TP={tp} for a {shape.params() / 1e9:.1f}B model halves the vLLM replicas; "
                             "actor_rollout_ref.rollout.tensor_model_parallel_size=1 fits one GPU")
    elif kind == SFT and shape is not None:
        sp = int(sel("engine.ulysses_sequence_parallel_size", 1) or 1)
        kernels = plan.Kernels(flash_attn=_flash_attn(sel("model.override_config")),
                               packed=bool(cfg.data.use_dynamic_bsz),
                               compiled=bool(sel("engine.use_torch_compile", True)))
        offload_policy = bool(sel("engine.offload_policy", False)) and str(sel("engine.strategy", "fsdp")) == "fsdp2"
        tokens = int(cfg.data.max_token_len_per_gpu)
        m = plan.rl_memory(shape, n_gpus, 1, gpu, 0.0, tokens, 0, 2, rollout=False, kernels=kernels,
                           offload_policy=offload_policy)
        lines.append(f"SFT: {cfg.data.train_batch_size} samples per step on {n_gpus} GPUs (SP {sp})")
        lines += _memory_lines(shape, m, gpu, tokens, kernels, rollout=False)
        if (sel("engine.param_offload", False) or sel("engine.optimizer_offload", False)) and not offload_policy:
            lines.append("note: engine.param_offload / optimizer_offload do not lower this peak (verl loads both back "
                         "for every update); engine.strategy=fsdp2 engine.offload_policy=true keeps them on the host")
    return ["# plan:"] + [f"#   {line}" for line in lines + block_lines(cfg, kind)]


def block_lines(cfg, kind: str) -> list[str]:
    """r1-recipe's own config blocks with their effective values, defaults filled (core.config: the definition the
    run validates with)."""
    from omegaconf import OmegaConf

    from r1_recipe.core.advantage import ALGORITHM_R1
    from r1_recipe.core.rewards.compose import REWARD_R1
    from r1_recipe.verl.generate import R1_GENERATION

    blocks = {GENERATION: (R1_GENERATION,), PPO: (ALGORITHM_R1,)}.get(kind, ())
    if kind == PPO and OmegaConf.select(cfg, "reward.reward_manager.name") == "r1":
        blocks += (REWARD_R1,)
    node = lambda b: OmegaConf.to_container(OmegaConf.select(cfg, b.path) or OmegaConf.create({}))  # noqa: E731
    return [b.effective(node(b)) for b in blocks]


def _flash_attn(override_config) -> bool:
    """verl asks transformers for flash_attention_2 unless `override_config.attn_implementation` says otherwise."""
    return ((override_config or {}).get("attn_implementation") or "flash_attention_2") == "flash_attention_2"


def _memory_lines(shape, m, gpu: int, tokens: int, kernels, rollout: bool = True, hf: bool = False) -> list[str]:
    from r1_recipe.core.plan import FRAGMENTATION, gib

    terms = ", ".join(f"{name} {gib(b)}" for name, b in m.activation_terms)
    out = [f"memory per GPU (estimate, {shape.params() / 1e9:.2f}B params; docs/recipes.md \"Memory plan\"): "
           f"FSDP weights {gib(m.weights)}, grads {gib(m.grads)}, optimizer {gib(m.optimizer)}, gathered bf16 "
           f"embedding/LM head {gib(m.gathered)}, activations {gib(m.activations)}"
           + ((f", rollout hf: bf16 model {gib(m.rollout_weights)} + one generate batch {gib(m.kv_cache)}" if hf else
               f", vLLM weights {gib(m.rollout_weights)} + KV cache {gib(m.kv_cache)}")
              + f"; reference {gib(m.reference_host)} in host memory (CPU-offloaded)" if rollout else ""),
           f"activations of a {tokens}-token micro-batch ({'flash-attn' if kernels.flash_attn else 'no flash-attn'}"
           f"): {terms}"]
    if m.reserved <= gpu:
        verdict = "fits"
    elif m.peak <= gpu:
        verdict = ("TIGHT: the allocations fit, the measured fragmentation does not (try "
                   "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True or a smaller token budget)")
    else:
        verdict = "DOES NOT FIT"
    out.append(f"peak {gib(m.peak)} allocated, ~{gib(m.reserved)} reserved (x{FRAGMENTATION:.2f} measured "
               f"fragmentation) of {gib(gpu)}: {verdict}" + (
                   f" (rollout {gib(m.rollout_peak)}, log-probs {gib(m.logprob_peak)}, update {gib(m.train_peak)})"
                   if rollout else ""))
    return out


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
        args.overrides, notes = expand_paths(args.overrides)
        for note in notes:
            print(f"r1-recipe run: {note}", file=sys.stderr)
        cfg, path, shipped = compose(args.recipe, args.overrides)
        kind = entry_point(cfg)
        if args.cpu:
            args.overrides = cpu_overrides(kind, args.overrides, cfg)
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
    if kind == PPO and not args.skip_data_check:
        error = data_check(cfg, args.max_bad_golds)
        if error:
            print(f"r1-recipe run: {path.stem}: 1 error(s):\n  - {error}", file=sys.stderr)
            return 2
    cmd = build_command(kind, path, shipped, args.overrides, cfg)
    if args.dry_run:
        print(OmegaConf.to_yaml(cfg, resolve=True), end="")
        print("\n".join(plan_lines(cfg, kind, args.gpu_gb)))
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


def data_check(cfg, max_bad: float) -> str | None:
    """The reward audit of a sample of `data.train_files` (r1_recipe.tools.check_data), printed; the error when more
    than `max_bad` of the checked golds fail. Skipped (with a note) for files it cannot read here (remote, not parquet)
    and for reward managers other than `r1`."""
    from omegaconf import OmegaConf

    from r1_recipe.tools import check_data

    if OmegaConf.select(cfg, "reward.reward_manager.name") != "r1":
        return None
    files = cfg.data.train_files
    files = [str(files)] if isinstance(files, str) else [str(f) for f in files]
    try:
        rows, total = check_data.read_rows(files, check_data.START_UP_SAMPLE)
    except Exception as e:  # remote paths, files in a format verl reads but we do not: not checked here
        print(f"r1-recipe run: note: data.train_files not audited against the reward ({type(e).__name__}: {e})",
              file=sys.stderr)
        return None
    # one worker: a sample of 256 rows is about 500 verifier calls, and every worker costs its start-up
    report = check_data.check_rows(rows, OmegaConf.to_container(cfg.reward.r1, resolve=True), total, workers=1)
    for line in report.lines():
        print(f"r1-recipe run: {line}", file=sys.stderr)
    if report.bad_rate > max_bad:
        return (f"data.train_files: {report.bad} of {report.checked} sampled golds fail the reward audit "
                f"({100 * report.bad_rate:.1f} % > --max-bad-golds {max_bad}; reasons above, `r1-recipe check-data` "
                "for all rows): the reward would be 0 for them whatever the model writes. Fix the golds or the "
                "reward routing, or pass --max-bad-golds RATE or --skip-data-check")
    return None


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
               "actor_rollout_ref.rollout.tensor_model_parallel_size=1 "
               "data.train_files=$HOME/data/r1/gsm8k/train.parquet data.val_files=$HOME/data/r1/gsm8k/test.parquet "
               "--dry-run   (~ and $VARS in path values are expanded)")
    p.add_argument("recipe", help="recipe name (see `r1-recipe ls`) or path to a recipe .yaml")
    p.add_argument("overrides", nargs="*", help="Hydra overrides key=value (+key=value for keys verl does not define)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and the command; launch nothing")
    p.add_argument("--gpu-gb", type=float, default=80.0, help="GPU memory for the plan's estimate (default 80)")
    p.add_argument("--skip-gpu-check", action="store_true", help="do not compare trainer.n_gpus_per_node with the "
                   "GPUs visible here (e.g. when launching from a head node without GPUs)")
    p.add_argument("--cpu", action="store_true", help="run on this CPU-only host with verl's own trainers (platform "
                   "cpu, rollout hf; adds r1_recipe.verl.cpu.overrides before yours; sizes stay yours, "
                   "see docs/cpu.md)")
    p.add_argument("--max-bad-golds", type=float, default=MAX_BAD_GOLDS, metavar="RATE",
                   help="RL recipes: refuse to launch when more than this share of a sample of data.train_files "
                        f"fails the reward audit (r1-recipe check-data; default {MAX_BAD_GOLDS})")
    p.add_argument("--skip-data-check", action="store_true", help="do not audit data.train_files against the reward")
    p.set_defaults(func=_run)
    return p
