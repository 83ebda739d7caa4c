"""Benchmark: a CPU step of verl's `main_ppo` with r1-recipe's speed overrides (`PPO_SPEED`) against verl's defaults
for the same settings (packed sequences, bf16, the Ray dashboard, the replay buffer's 2 s poll), in one run.

Workload: the miniature's GRPO stage (`r1-recipe mini`: 0.10M-parameter Qwen2 after a short cold start, 8 prompts x
G=8, 48-token responses, the zero recipe with the r1 reward manager), `--steps` steps per variant, the variants
alternated `--rounds` times so that load from other jobs falls on both. Prints the median of steps 2-N per phase
(verl's `timing_s/*`), the time from launch to the first step's metrics, and the ratios defaults / ours.

    python bench/verl_cpu_step_bench.py [--steps 8] [--rounds 1] [--sft-steps 300] [--out /tmp/verl_cpu_step_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

PHASES = ("gen", "old_log_prob", "ref", "update_actor", "step")


def cold_start(out: Path, sft_steps: int):
    """The miniature's data, tokenizer and model after `sft_steps` cold-start steps, saved in `out`."""
    from r1_recipe.tools.mini import data, pipeline, recipe
    from r1_recipe.tools.mini import model as mini_model

    cfg = pipeline.MiniConfig(sft_steps=sft_steps, grpo_steps=1)
    train = data.problems(cfg.max_operand)
    samples = data.sft_samples(train, cfg.sft_samples, cfg.seed, cfg.hasty, cfg.slip)
    tok = mini_model.build_tokenizer([p + c for p, c in samples])
    model = mini_model.build_model(len(tok), cfg.seed)
    pipeline.sft(model, tok, samples, cfg.sft_steps, cfg.sft_batch, cfg.sft_lr, cfg.seed,
                 recipe.sft_values(cfg.sft_recipe))
    model.save_pretrained(out), tok.save_pretrained(out)
    return train


def run(variant: str, model_dir: Path, train: list, steps: int, work: Path) -> dict:
    """One main_ppo run; returns the per-step timings and the seconds from launch to the first step's metrics."""
    from r1_recipe.tools.mini import verl_host
    from r1_recipe.tools.mini.pipeline import MiniConfig
    from r1_recipe.verl.cpu.overrides import PPO_SPEED

    cfg = MiniConfig(grpo_steps=steps)
    work.mkdir(parents=True, exist_ok=True)
    train_file = verl_host.write_parquet(train, work / "train.parquet")
    args = verl_host.overrides(cfg, model_dir, train_file, work / "ckpt", verl_host.check_prompts(
        cfg.recipe, model_dir, train), len(train))
    args = [a for a in args if not a.startswith("trainer.save_freq")] + ["trainer.save_freq=-1"]
    if variant == "defaults":
        args = [a for a in args if a not in PPO_SPEED]
    metrics = work / "metrics.jsonl"
    metrics.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    env.update(RAY_AUTH_MODE="disabled", VERL_FILE_LOGGER_PATH=str(metrics), PYTHONUNBUFFERED="1")
    t0, first = time.time(), None
    with open(work / "verl.log", "w") as log:
        proc = subprocess.Popen(verl_host.command(cfg.recipe, args), stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=work, start_new_session=True)
        try:
            while proc.poll() is None:
                time.sleep(0.2)
                if first is None and metrics.exists() and metrics.stat().st_size:
                    first = time.time() - t0
        finally:
            verl_host._kill_group(proc)
    if proc.returncode != 0:
        raise SystemExit(f"{variant}: main_ppo exited with {proc.returncode}; see {work / 'verl.log'}")
    rows = [json.loads(line)["data"] for line in metrics.read_text().splitlines()]
    return {"first": first, "wall": time.time() - t0,
            "steps": [{p: row.get(f"timing_s/{p}", 0.0) for p in PHASES} for row in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sft-steps", type=int, default=300)
    ap.add_argument("--out", default="/tmp/verl_cpu_step_bench")
    a = ap.parse_args()
    out = Path(a.out)
    train = cold_start(out / "cold_start", a.sft_steps)
    results = {"ours": [], "defaults": []}
    for r in range(a.rounds):
        for variant in ("ours", "defaults"):
            results[variant].append(run(variant, out / "cold_start", train, a.steps, out / f"{variant}{r}"))
    med = {}
    for variant, runs in results.items():
        later = [s for res in runs for s in res["steps"][1:]]
        med[variant] = {p: statistics.median(s[p] for s in later) for p in PHASES}
        med[variant]["first"] = statistics.median(res["first"] for res in runs)
        print(f"{variant:8s} " + "  ".join(f"{p} {med[variant][p]:.2f} s" for p in (*PHASES, "first")), flush=True)
    ratio = {p: med["defaults"][p] / med["ours"][p] for p in (*PHASES, "first")}
    print(f"verl_cpu_step_bench: median step (steps 2-{a.steps}, {a.rounds} round(s)) ours {med['ours']['step']:.2f} s,"
          f" verl defaults {med['defaults']['step']:.2f} s, ratio {ratio['step']:.1f}x (gen {ratio['gen']:.1f}x, "
          f"old log-prob {ratio['old_log_prob']:.1f}x, ref {ratio['ref']:.1f}x, update {ratio['update_actor']:.1f}x); "
          f"launch to first step {ratio['first']:.2f}x")


if __name__ == "__main__":
    main()
