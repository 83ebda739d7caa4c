"""The prepared GPU check (run it through scripts/gpu_check.sh; docs/recipes.md "GPU check").

On one GPU, no network, no vLLM, in about 6 minutes on an H200:
  (a) verl's main_ppo runs the `zero` recipe for a few steps on the tests' tiny random Qwen2 (tests/_cpu_fixtures.py):
      FSDP actor and reference on the GPU, generation on the same GPU through rollout `hf` in bf16, the reference reset
      every 2 policy updates, token-level TIS on; it prints step times, the KL loss per step, the rollout/trainer gap
      and every `r1/` metric, and checks the KL pattern (0, > 0, 0 again after the reset);
  (b) verl's sft_trainer runs `cold_start_sft` on a random model of Qwen2.5-1.5B's shape at the recipe's token budget
      (16 samples of ~16.6k tokens cut to 16,384, 32,768 tokens per micro-batch, batch 4, sdpa): step times and the
      peak allocated / reserved memory of every step, next to what the memory plan (r1_recipe.core.plan) says.
`--cpu` rehearses the same code on a CPU-only host (platform cpu, small sizes, no memory figures).
The summary is printed and, with `--out DIR`, written to DIR/gpu_check.json and DIR/*.log.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # _cpu_fixtures: the tests' tiny tokenizer, model and data (no pytest needed)

# Qwen2.5-1.5B's shape (its config.json), random weights: the measured run of gpu-h200-facts.md
QWEN_1_5B = {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
             "intermediate_size": 8960, "vocab_size": 151936, "tie_word_embeddings": True,
             "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6}
# --cpu: the same code path at a size two cores run in a minute
SMALL = {**QWEN_1_5B, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2,
         "intermediate_size": 256, "vocab_size": 4096}
KL = "actor/kl_loss"


def log(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def environment(cpu: bool) -> dict:
    import torch
    import transformers

    info = {"date": date.today().isoformat(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "transformers": transformers.__version__}
    for name in ("verl", "ray", "r1_recipe"):
        try:
            info[name] = __import__(name).__version__
        except Exception as e:  # the run below would fail on it: say which one is missing now
            raise SystemExit(f"gpu_check: cannot import {name} ({type(e).__name__}: {e}); install the bundle "
                             "(scripts/offline_bundle.sh, then gpu_check.sh --wheels DIR)") from e
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{props.name}, {props.total_memory / 1024**3:.1f} GiB"
    elif not cpu:
        raise SystemExit("gpu_check: no CUDA device visible (use --cpu to rehearse on a CPU-only host)")
    else:
        info["gpu"] = "none (CPU rehearsal)"
    doctor = subprocess.run([sys.executable, "-m", "r1_recipe.tools.cli", "doctor"], capture_output=True, text=True,
                            timeout=300, cwd=tempfile.gettempdir())   # the installed package, not this tree
    info["doctor"] = [line for line in doctor.stdout.splitlines()
                      if line.startswith(("MISSING", "FAIL", "CONFLICT"))] or "ok"
    return info


def subprocess_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", TOKENIZERS_PARALLELISM="false")
    return env


def with_defaults(defaults: list[str], ours: list[str]) -> list[str]:
    """Hydra overrides: `defaults` first (e.g. the CPU route), minus every key `ours` sets (a repeated `+key` fails)."""
    key = lambda o: o.split("=", 1)[0].lstrip("+~")  # noqa: E731
    mine = {key(o) for o in ours}
    return [d for d in defaults if key(d) not in mine] + ours


def run_logged(cmd: list[str], logfile: Path, timeout: int, env: dict, cwd: Path) -> str:
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
        text, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
        rc = "timeout"
    logfile.write_text(text)
    log(f"{logfile.name}: exit {rc} after {time.perf_counter() - start:.0f} s")
    if rc != 0:
        raise SystemExit(f"gpu_check: {' '.join(cmd[:4])} ... failed ({rc}); last lines of {logfile}:\n{text[-4000:]}")
    return text


# ----------------------------------------------------------------------------------------------- (a) main_ppo zero
def ppo(work: Path, cpu: bool, steps: int, timeout: int) -> dict:
    from _cpu_fixtures import build_tiny_model, write_rl_data

    model = build_tiny_model(work / "tiny")
    write_rl_data(work / "train.parquet", 64, seed=0)
    write_rl_data(work / "val.parquet", 8, seed=1)
    jsonl = work / "ppo.jsonl"
    batch, response = (4, 32) if cpu else (8, 64)
    head = [sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", "pkg://r1_recipe.recipes",
            "--config-name", "zero"]
    ours = [f"data.train_files={work / 'train.parquet'}", f"data.val_files={work / 'val.parquet'}",
           f"data.train_batch_size={batch}", "data.max_prompt_length=256", f"data.max_response_length={response}",
           f"actor_rollout_ref.model.path={model}", "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
           f"actor_rollout_ref.actor.ppo_mini_batch_size={batch}",
           "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=4096",
           "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=4096",
           "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=4096", "actor_rollout_ref.rollout.n=4",
           "actor_rollout_ref.rollout.name=hf", "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
           # a random model never earns accuracy or format: language consistency gives the groups some variance; a
           # large lr and an entropy bonus move the policy measurably in one update (the KL shows the reset)
           "+reward.r1.components.language=1.0", "actor_rollout_ref.actor.optim.lr=1e-3",
           "actor_rollout_ref.actor.entropy_coeff=0.01", "algorithm.r1.ref_reset_steps=2",
           "trainer.n_gpus_per_node=1", "trainer.nnodes=1", f"trainer.total_training_steps={steps}",
           "trainer.logger=[console,file]", "trainer.save_freq=-1", "trainer.test_freq=-1",
           "trainer.val_before_train=false", f"trainer.default_local_dir={work / 'ppo_ckpt'}",
           # torch.compile of the log-prob kernels costs ~30 s on the first step for a model that runs in ms
           "actor_rollout_ref.actor.use_torch_compile=false",
           "actor_rollout_ref.actor.fsdp_config.use_torch_compile=false",
           "actor_rollout_ref.ref.fsdp_config.use_torch_compile=false"]
    from r1_recipe.verl.cpu import overrides

    cmd = head + (with_defaults(overrides.PPO, ours) if cpu else ours)
    env = {**subprocess_env(), "VERL_FILE_LOGGER_PATH": str(jsonl)}
    text = run_logged(cmd, work / "ppo.log", timeout, env, work)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    device = "cpu in torch.float32" if cpu else "cuda:0 in torch.bfloat16"
    served = re.search(rf"rollout hf: replica 0 serves on {re.escape(device)}", text) is not None
    keys = ("timing_s/step", "timing_s/gen", "timing_s/old_log_prob", "timing_s/ref", "timing_s/update_actor", KL,
            "r1/rollout_gap/k3", "r1/rollout_gap/abs_max", "r1/rollout_gap/tis_clipped", "rollout_corr/rollout_is_mean",
            "training/rollout_probs_diff_max", "actor/perf/max_memory_allocated_gb",
            "actor/perf/max_memory_reserved_gb")
    out = {"steps": [{"step": r["step"], **{k: r["data"].get(k) for k in keys}} for r in rows],
           "r1_last_step": {k: v for k, v in rows[-1]["data"].items() if k.startswith("r1/")} if rows else {},
           "generation_on": device if served else "NOT FOUND in the log"}
    kl = [r["data"].get(KL) for r in rows]
    checks = {f"{steps} steps logged": len(rows) == steps,
              "rollout hf on " + device: served,
              "KL 0 at step 1, > 1e-4 at step 2, 0 again at step 3 (reset every 2 updates)":
                  len(kl) >= 3 and abs(kl[0]) < 1e-5 and kl[1] > 1e-4 and abs(kl[2]) < 1e-5,
              "r1/rollout_gap/k3 every step": all("r1/rollout_gap/k3" in r["data"] for r in rows),
              "TIS weights computed every step (rollout_corr/rollout_is_mean)":
                  all("rollout_corr/rollout_is_mean" in r["data"] for r in rows)}
    out["checks"] = checks
    return out


# ------------------------------------------------------------------------------------ (b) cold_start_sft, 1.5B shape
def write_long_sft_data(path: Path, tokenizer, n: int, tokens: int) -> Path:
    """`messages` parquet: `n` conversations whose assistant turn is about `tokens` tokens of R1-style reasoning."""
    import pandas as pd

    unit = "<think> 7 plus 8 is 15. Let me check: yes. However, wait, 15 minus 8 is 7. </think> "
    per_unit = len(tokenizer(unit)["input_ids"])
    text = unit * (tokens // per_unit + 1) + "<answer> \\boxed{15} </answer>"
    rows = [{"messages": [{"role": "user", "content": f"What is 7 + 8? ({i})"},
                          {"role": "assistant", "content": text}]} for i in range(n)]
    pd.DataFrame(rows).to_parquet(path)
    return path


def build_random_model(path: Path, shape: dict, cpu: bool) -> Path:
    """A random-init Qwen2 of `shape` with the tests' tokenizer, saved in bf16 (initialised on the GPU: seconds)."""
    import torch
    from _cpu_fixtures import build_tiny_tokenizer
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = build_tiny_tokenizer(path)
    cfg = Qwen2Config(**shape, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None,
                      architectures=["Qwen2ForCausalLM"])
    torch.manual_seed(0)
    with torch.device("cpu" if cpu else "cuda"):
        model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(path)
    del model
    return path


def sft(work: Path, cpu: bool, steps: int, timeout: int) -> dict:
    from transformers import AutoTokenizer

    from r1_recipe.core import plan

    shape = SMALL if cpu else QWEN_1_5B
    max_length, budget = (512, 1024) if cpu else (16384, 32768)
    t0 = time.perf_counter()
    model = build_random_model(work / "qwen15b_shape", shape, cpu)
    data = write_long_sft_data(work / "long.parquet", AutoTokenizer.from_pretrained(model), 16,
                               max_length + max_length // 64)
    log(f"random model of {'a small' if cpu else 'Qwen2.5-1.5B'} shape + data in {time.perf_counter() - t0:.0f} s")
    head = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
            str(ROOT / "scripts" / "gpu_check_sft.py"), "--config-path", "pkg://r1_recipe.recipes",
            "--config-name", "cold_start_sft"]
    ours = [f"model.path={model}", f"data.train_files={data}",
           "data.train_batch_size=4", f"data.max_length={max_length}", f"data.max_token_len_per_gpu={budget}",
           "trainer.n_gpus_per_node=1", "+model.override_config.attn_implementation=sdpa",
           f"trainer.total_training_steps={steps}", "trainer.logger=[console]",
           "checkpoint.save_contents=[]",   # the last step is always saved: 18 GiB of 1.5B states is not the check
           f"trainer.default_local_dir={work / 'sft_ckpt'}"]
    from r1_recipe.verl.cpu import overrides

    cmd = head + (with_defaults(overrides.SFT, ours) if cpu else ours)
    text = run_logged(cmd, work / "sft.log", timeout, subprocess_env(), work)
    probe = [json.loads(m) for m in re.findall(r"GPU_CHECK_STEP (\{.*\})", text)]
    losses = [float(x) for x in re.findall(r"train/loss:([0-9.]+)", text)]
    mem = plan.rl_memory(plan.ModelShape.from_config({**shape, "model_type": "qwen2"}), 1, 1, 0, 0.0, budget, 0,
                         rollout=False, kernels=plan.Kernels(flash_attn=False))
    out = {"steps": probe, "loss": losses,
           "plan": {"peak_allocated_gib": round(mem.train_peak / plan.GIB, 2),
                    "step1_allocated_gib": round((mem.train_peak - mem.optimizer) / plan.GIB, 2),
                    "reserved_gib": round(mem.reserved / plan.GIB, 2),
                    "terms": {name: round(b / plan.GIB, 2) for name, b in mem.activation_terms}}}
    checks = {f"{steps} steps probed": len(probe) == steps, f"{steps} losses logged": len(losses) == steps}
    if not cpu and probe:
        peak = max(s["peak_allocated_gib"] for s in probe[1:] or probe)
        out["plan_vs_measured"] = round(mem.train_peak / plan.GIB / peak, 3)
        checks["plan within 10 % of the measured peak (steps 2+)"] = abs(out["plan_vs_measured"] - 1) <= 0.10
    out["checks"] = checks
    return out


def table_row(env: dict, result: dict) -> str:
    """One row for docs/recipes.md "GPU results"."""
    p, s = result.get("ppo", {}), result.get("sft", {})
    ppo_steps = " / ".join(f"{r['timing_s/step']:.1f}" for r in p.get("steps", []) if r.get("timing_s/step"))
    kl = " -> ".join(f"{r[KL]:.2g}" for r in p.get("steps", []) if r.get(KL) is not None)
    sft_steps = " / ".join(f"{r['time_s']:.1f}" for r in s.get("steps", []))
    mem = " / ".join(f"{r['peak_allocated_gib']}/{r['peak_reserved_gib']}" for r in s.get("steps", [])
                     if r.get("peak_allocated_gib") is not None)
    shape = "small shape (CPU)" if env["gpu"].startswith("none") else "Qwen2.5-1.5B shape"
    return (f"| {env['date']} | {env['gpu']} | torch {env['torch']}, transformers {env['transformers']}, verl "
            f"{env['verl']}, Ray {env['ray']} | zero, tiny, rollout hf: steps {ppo_steps} s; KL {kl} | "
            f"cold_start_sft {shape}: steps {sft_steps} s; peak GiB alloc/reserved {mem or 'n/a'} (plan "
            f"{s.get('plan', {}).get('peak_allocated_gib')}/{s.get('plan', {}).get('reserved_gib')}) |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="rehearse on a CPU-only host (platform cpu, small sizes)")
    ap.add_argument("--only", choices=["ppo", "sft"], help="run one part")
    ap.add_argument("--out", type=Path, help="write gpu_check.json and the logs here")
    ap.add_argument("--ppo-steps", type=int, default=4)
    ap.add_argument("--sft-steps", type=int, default=4)
    ap.add_argument("--timeout", type=int, default=240, help="seconds per part (default 240)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="r1_gpu_check_"))
    env = environment(args.cpu)
    log(json.dumps(env))
    result: dict = {"environment": env}
    for part, fn, steps in (("ppo", ppo, args.ppo_steps), ("sft", sft, args.sft_steps)):
        if args.only in (None, part):
            log(f"({'a' if part == 'ppo' else 'b'}) {part} ...")
            (work / part).mkdir()
            try:
                result[part] = fn(work / part, args.cpu, steps, args.timeout)
            except SystemExit as e:  # report it and go on: one GPU session should bring back both parts
                result[part] = {"error": str(e)[-4000:], "checks": {"the run finished": False}}
            finally:
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    for f in (work / part).glob("*.log"):
                        (args.out / f.name).write_text(f.read_text())
            log(json.dumps(result[part], indent=1))
    result["wall_s"] = round(time.perf_counter() - start, 1)
    result["table_row"] = table_row(env, result)
    failed = [f"{part}: {name}" for part in ("ppo", "sft")
              for name, ok in result.get(part, {}).get("checks", {}).items() if not ok]
    result["failed"] = failed
    if args.out:
        (args.out / "gpu_check.json").write_text(json.dumps(result, indent=1))
    print(result["table_row"])
    log(f"done in {result['wall_s']} s; " + ("all checks passed" if not failed else f"FAILED: {failed}"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
