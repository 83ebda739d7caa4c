"""The miniature run's GRPO stage on verl's own trainer (`r1-recipe mini`, the default host).

`main_ppo` runs `r1_recipe/recipes/zero.yaml` unchanged but for the CPU overrides (`r1_recipe.verl.cpu.overrides.PPO`:
where things run) and sizes (steps, prompts per step, G, learning rate, lengths: the same values the TRL host uses),
on parquet written from the miniature's problems. The policy comes back through verl's own checkpoint (`hf_model` in
`actor.checkpoint.save_contents`, saved at the last step); the per-step curves come from verl's file logger (the `r1/`
metrics of r1-recipe's reward manager), mapped onto the keys of the TRL host's history so that both hosts write the
same report.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from r1_recipe.tools.mini import data

DATA_SOURCE = "mini_add"
# verl file-logger key -> key of the TRL host's per-step history (what `pipeline.write_report` draws)
HISTORY_KEYS = {"r1/reward/score/mean": "reward", "r1/reward/acc/mean": "rewards/accuracy/mean",
                "r1/reward/format/mean": "rewards/format/mean", "r1/response_length/mean": "completions/mean_length"}


class VerlHostError(RuntimeError):
    """verl's run failed or did not produce what the miniature needs; the message carries the tail of its log."""


def write_parquet(problems: list[tuple[int, int]], path: Path) -> Path:
    """verl's RL schema: the question as a user message (the recipe's R1-Zero chat template renders the prompt),
    `data_source`, `reward_model.ground_truth` for the r1 reward manager, `extra_info`."""
    import pandas as pd

    rows = [{"prompt": [{"role": "user", "content": data.question(a, b)}], "data_source": DATA_SOURCE,
             "reward_model": {"style": "rule", "ground_truth": str(a + b)},
             "extra_info": {"index": i, "a": a, "b": b}} for i, (a, b) in enumerate(problems)]
    pd.DataFrame(rows).to_parquet(path)
    return path


def check_prompts(recipe: str, model_dir: Path, problems: list[tuple[int, int]]) -> int:
    """Render the parquet prompts the way verl does (the saved tokenizer + the recipe's `custom_chat_template`) and
    check each is the prompt the miniature trains and evaluates on. Returns the longest, in tokens."""
    from transformers import AutoTokenizer

    from r1_recipe.tools.mini.recipe import _compose

    template = _compose(recipe).actor_rollout_ref.model.custom_chat_template
    tok = AutoTokenizer.from_pretrained(model_dir)
    longest = 0
    for a, b in problems:
        messages = [{"role": "user", "content": data.question(a, b)}]
        rendered = tok.apply_chat_template(messages, chat_template=template, add_generation_prompt=True,
                                           tokenize=False)
        if rendered != data.prompt(a, b):
            raise VerlHostError(f"{recipe}: actor_rollout_ref.model.custom_chat_template renders {rendered!r}, but "
                                f"the miniature evaluates {data.prompt(a, b)!r}")
        longest = max(longest, len(tok(rendered, add_special_tokens=False).input_ids))
    return longest


def overrides(cfg, model_dir: Path, train_file: Path, ckpt: Path, max_prompt_len: int, n_problems: int) -> list[str]:
    """Sizes only (plus where the data, model and checkpoint are, as absolute paths: main_ppo runs in `--out`/verl,
    and `--out` is relative by default); the algorithm stays the recipe's."""
    from r1_recipe.tools.mini.recipe import _compose
    from r1_recipe.verl.recipe_check import PPO, cpu_overrides

    model_dir, train_file, ckpt = (Path(p).resolve() for p in (model_dir, train_file, ckpt))

    tokens = 2 * cfg.grpo_prompts * cfg.group_size * (max_prompt_len + cfg.max_new_tokens)
    return cpu_overrides(PPO, [  # the CPU placement overrides first (`r1-recipe run --cpu`), then these
        f"data.train_files={train_file}", f"data.val_files={train_file}",
        f"data.train_batch_size={cfg.grpo_prompts}", f"data.max_prompt_length={max_prompt_len}",
        f"data.max_response_length={cfg.max_new_tokens}", f"data.seed={cfg.seed}",
        f"actor_rollout_ref.model.path={model_dir}", "actor_rollout_ref.model.enable_gradient_checkpointing=false",
        f"actor_rollout_ref.rollout.n={cfg.group_size}",
        # one optimiser step per rollout batch, as in the TRL host (G x prompts completions per update)
        f"actor_rollout_ref.actor.ppo_mini_batch_size={cfg.grpo_prompts}",
        f"actor_rollout_ref.actor.optim.lr={cfg.grpo_lr}",
        f"actor_rollout_ref.actor.ppo_max_token_len_per_gpu={tokens}",
        f"actor_rollout_ref.ref.log_prob_max_token_len_per_gpu={tokens}",
        f"actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu={tokens}",
        "algorithm.r1.ref_reset_steps=null",                       # no reset within a run this short
        f"trainer.total_training_steps={cfg.grpo_steps}",
        f"trainer.total_epochs={math.ceil(cfg.grpo_steps * cfg.grpo_prompts / n_problems) + 1}",
        # the policy after the last step comes back as an HF model
        f"trainer.save_freq={cfg.grpo_steps}", "actor_rollout_ref.actor.checkpoint.save_contents=[model,hf_model]",
        f"trainer.default_local_dir={ckpt}", "trainer.val_before_train=false", "trainer.test_freq=-1",
        "trainer.logger=[console,file]", f"trainer.experiment_name=mini_seed{cfg.seed}",
    ], _compose(cfg.recipe))


def history(metrics_file: Path) -> list[dict]:
    """verl's file-logger lines -> one entry per step with the TRL host's keys (plus the raw `r1/` metrics)."""
    out = []
    for line in metrics_file.read_text().split("\n")[:-1]:   # complete lines only: verl may be writing the last
        rec = json.loads(line)
        d = rec["data"]
        if "r1/reward/score/mean" not in d:      # a validation-only line
            continue
        entry = {"step": rec["step"], **{k: d[k] for k in sorted(d) if k.startswith("r1/")}}
        entry.update({mine: d[theirs] for theirs, mine in HISTORY_KEYS.items()})
        out.append(entry)
    return out


def _tail(log: Path, n: int = 4000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else "(no log)"


def grpo(model_dir: Path, train: list, cfg, out: Path) -> tuple:
    """GRPO in verl's `main_ppo` from the cold-start checkpoint `model_dir`. Returns (trained model, history)."""
    from transformers import AutoModelForCausalLM

    work = (out / "verl").resolve()  # main_ppo runs there: every path it is given is absolute
    work.mkdir(parents=True, exist_ok=True)
    train_file = write_parquet(train, work / "train.parquet")
    prompt_len = check_prompts(cfg.recipe, model_dir, train)
    metrics_file, log = work / "metrics.jsonl", work / "verl.log"
    metrics_file.unlink(missing_ok=True)
    ckpt = work / "ckpt"
    shutil.rmtree(ckpt, ignore_errors=True)      # verl would resume from an earlier run's checkpoint in the same --out
    args = overrides(cfg, model_dir, train_file, ckpt, prompt_len, len(train))
    cmd = command(cfg.recipe, args)
    (work / "command.txt").write_text(" ".join(cmd) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    env.update(RAY_AUTH_MODE="disabled", VERL_FILE_LOGGER_PATH=str(metrics_file), PYTHONUNBUFFERED="1")
    print(f"[mini] GRPO in verl main_ppo ({cfg.grpo_steps} steps; log {log})", flush=True)
    t0 = time.time()
    with open(log, "w") as f:
        # its own session, so that a failure or Ctrl-C takes verl's whole process tree (Ray included) with it
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True)
        try:
            rc = _wait(proc, metrics_file, cfg.grpo_steps)
        finally:
            _kill_group(proc)
    if rc != 0:
        raise VerlHostError(f"verl main_ppo exited with {rc} after {time.time() - t0:.0f} s; command in "
                            f"{work / 'command.txt'}; tail of {log}:\n{_tail(log)}")
    hf = ckpt / f"global_step_{cfg.grpo_steps}" / "actor" / "huggingface"
    if not (hf / "config.json").exists() or not any(hf.glob("*.safetensors")):
        raise VerlHostError(f"verl finished but saved no HF model in {hf}; tail of {log}:\n{_tail(log)}")
    steps = history(metrics_file) if metrics_file.exists() else []
    if len(steps) != cfg.grpo_steps:
        raise VerlHostError(f"verl logged {len(steps)} GRPO steps to {metrics_file}, expected {cfg.grpo_steps}; "
                            f"tail of {log}:\n{_tail(log)}")
    return AutoModelForCausalLM.from_pretrained(hf), steps


def command(recipe: str, args: list[str]) -> list[str]:
    """The `main_ppo` command line for the recipe, as `r1-recipe run` builds it."""
    from r1_recipe.tools.recipes import build_command, resolve_recipe

    path, shipped = resolve_recipe(recipe)
    return build_command("main_ppo", path, shipped, args, None)


def _wait(proc, metrics_file: Path, total: int) -> int:
    """Wait for verl, printing a progress line from its file logger now and then."""
    every, seen = max(1, total // 6), 0
    while proc.poll() is None:
        time.sleep(0.5)
        if metrics_file.exists():
            steps = history(metrics_file)
            for s in steps[seen:]:
                if s["step"] % every == 0 or s["step"] == 1:
                    print(f"[mini] GRPO step {s['step']}/{total}: reward {s['reward']:.3f}  accuracy "
                          f"{s['rewards/accuracy/mean']:.3f}  length {s['completions/mean_length']:.1f}", flush=True)
            seen = len(steps)
    return proc.returncode


def _kill_group(proc) -> None:
    """End what is left of verl's process tree (Ray's raylet, GCS and workers started by its driver)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

