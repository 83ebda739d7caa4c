"""Orchestration of the miniature R1 run: cold-start SFT (§2.3.1) -> GRPO with the rule rewards accuracy + format
(§2.2.1-2.2.2) -> evaluation by the paper's protocol (pass@1 over k samples, cons@k; §3) before and after RL ->
report.

Host on CPU: the cold start is a plain PyTorch loop (next-token loss on the response only); GRPO runs in verl's own
`main_ppo` on r1_recipe/recipes/zero.yaml itself with r1-recipe's plugin (`r1_grpo`, the `r1` reward manager, the
`r1/` metrics; r1_recipe.tools.mini.verl_host), or with `host="trl"` in TRL's GRPOTrainer with r1-recipe's `Composer`
as the reward and the algorithm values of zero.yaml mapped onto TRL (r1_recipe.tools.mini.recipe). docs/miniature.md.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from r1_recipe.tools.mini import data, recipe
from r1_recipe.tools.mini import model as mini_model
from r1_recipe.tools.mini.recipe import RLValues, SFTValues
from r1_recipe.tools.passk import pass_cons

logger = logging.getLogger(__name__)

HOSTS = ("verl", "trl")


@dataclass
class MiniConfig:
    """Sizes of the miniature run. The algorithm (GRPO loss, KL, clipping, sampling temperatures, reward weights, SFT
    schedule) comes from the recipe files `recipe` and `sft_recipe`, as in the GPU runs
    (r1_recipe.tools.mini.recipe)."""
    out: str = "outputs/mini"
    seed: int = 0
    recipe: str = "zero"         # RL recipe (name or path) whose GRPO values the run uses
    sft_recipe: str = "cold_start_sft"  # SFT recipe whose optimiser schedule the cold start uses
    max_operand: int = 10        # problems a + b with 0 <= a, b < max_operand (the whole task: max_operand**2)
    sft_samples: int = 300       # cold-start set size
    hasty: float = 0.5           # fraction of cold-start traces that answer with no working and no check
    slip: float = 0.75           # fraction of the hasty traces whose answer is off by one
    sft_steps: int = 1000
    sft_batch: int = 16
    sft_lr: float = 6e-3
    grpo_steps: int = 60
    grpo_prompts: int = 8        # prompts per GRPO step
    group_size: int = 8          # samples per prompt (G in §2.2.1; the recipe's 16 is a size)
    grpo_lr: float = 1e-4        # recipe: 3e-6 for a 7B model; a 0.1M-parameter model from scratch needs more
    k: int = 8                   # samples per eval problem for pass@1 and cons@k
    max_new_tokens: int = 48
    threads: int = 1             # torch CPU threads: one is fastest for a model this small, the more so on a busy host
    host: str = "verl"           # GRPO host: verl (main_ppo subprocess) or trl (in-process); docs/miniature.md

    def __post_init__(self):
        for name in ("max_operand", "sft_samples", "sft_steps", "sft_batch", "grpo_steps", "grpo_prompts", "k",
                     "max_new_tokens", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"mini: --{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ValueError(f"mini: --group-size must be >= 2 (GRPO compares samples of a group), got "
                             f"{self.group_size}")
        if self.host not in HOSTS:
            raise ValueError(f"mini: --host must be one of {', '.join(HOSTS)}, got {self.host!r}")
        for name in ("hasty", "slip"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"mini: --{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("sft_lr", "grpo_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"mini: --{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")


def sft(model, tok, samples: list[tuple[str, str]], steps: int, batch: int, lr: float, seed: int,
        schedule: SFTValues) -> list[float]:
    """Cold-start SFT: cross-entropy on the response tokens (prompt tokens masked), with the SFT recipe's schedule
    (linear warm-up, then cosine decay to `min_lr_ratio`), weight decay and gradient clipping. Returns the loss per
    step."""
    import math

    import torch

    g = torch.Generator().manual_seed(seed)
    enc = []
    for p, c in samples:
        pi = tok(p, add_special_tokens=False).input_ids
        ci = tok(c, add_special_tokens=False).input_ids + [tok.eos_token_id]
        enc.append((pi + ci, [-100] * len(pi) + ci))
    warm = max(1, math.ceil(schedule.warmup_ratio * steps))
    floor = schedule.min_lr_ratio if schedule.lr_scheduler_type == "cosine" else 1.0

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=schedule.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(enc), (batch,), generator=g).tolist()
        n = max(len(enc[i][0]) for i in idx)
        ids = torch.full((batch, n), tok.pad_token_id)
        labels = torch.full((batch, n), -100)
        att = torch.zeros((batch, n), dtype=torch.long)
        for r, i in enumerate(idx):
            x, y = enc[i]
            ids[r, : len(x)], labels[r, : len(y)], att[r, : len(x)] = torch.tensor(x), torch.tensor(y), 1
        loss = model(input_ids=ids, attention_mask=att, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), schedule.clip_grad)
        opt.step(), sched.step(), opt.zero_grad()
        losses.append(loss.item())
    return losses


def evaluate_policy(model, tok, problems: list[tuple[int, int]], k: int, temperature: float, top_p: float,
             max_new_tokens: int, composer, seed: int) -> dict:
    """pass@1 (mean accuracy over k samples per problem), pass@k and cons@k (majority vote over the k answers), by
    `r1_recipe.tools.passk`; plus the format rate, the check-step rate and accuracy with and without it."""
    import torch

    torch.manual_seed(seed)
    model.eval()
    tok.padding_side = "left"
    texts, lengths = [], []
    with torch.no_grad():
        for i in range(0, len(problems), 16):
            chunk = problems[i: i + 16]
            enc = tok([data.prompt(a, b) for a, b in chunk], return_tensors="pt", padding=True,
                      add_special_tokens=False)
            out = model.generate(**enc, do_sample=True, temperature=temperature, top_p=top_p, top_k=0,
                                 max_new_tokens=max_new_tokens, num_return_sequences=k,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            gen = out[:, enc.input_ids.shape[1]:]
            texts += tok.batch_decode(gen, skip_special_tokens=True)
            # generated tokens up to and including EOS (generate pads finished rows with pad_token_id)
            lengths += (gen != tok.pad_token_id).sum(dim=1).tolist()
    golds = [str(a + b) for a, b in problems for _ in range(k)]
    scores = list(composer.score_many((t, g, None) for t, g in zip(texts, golds, strict=True)))
    fmt = [s["format"] for s in scores]
    checked = [data.CHECK in t for t in texts]
    acc_with = [s["acc"] for s, c in zip(scores, checked, strict=True) if c]
    acc_without = [s["acc"] for s, c in zip(scores, checked, strict=True) if not c]
    nan = float("nan")
    return {**pass_cons(scores, k), "format": sum(fmt) / len(fmt), "mean_length": sum(lengths) / len(lengths),
            "check_rate": sum(checked) / len(texts),
            "acc_with_check": sum(acc_with) / len(acc_with) if acc_with else nan,
            "acc_without_check": sum(acc_without) / len(acc_without) if acc_without else nan,
            "example": texts[0]}


class _Rewards:
    """TRL reward functions backed by one `Composer` call per batch: one function per reward component (the recipe's
    `reward.r1.components`) returning its unweighted score; TRL adds them with the recipe's weights
    (`reward_weights`) and logs each one as `rewards/<name>/mean`."""

    def __init__(self, composer):
        self.composer = composer
        self._key, self._val = None, None

    def _score(self, completions, answer):
        key = (tuple(completions), tuple(answer))
        if key != self._key:
            samples = zip(completions, answer, [None] * len(answer), strict=True)
            self._key, self._val = key, list(self.composer.score_many(samples))
        return self._val

    def functions(self) -> tuple[list, list[float]]:
        fns, weights = [], []
        for c in self.composer.cfg.components:
            def fn(prompts, completions, answer, _name=c.name, **_):
                return [s[_name] for s in self._score(completions, answer)]
            fn.__name__ = c.name
            fns.append(fn)
            weights.append(c.weight)
        return fns, weights


def _progress(every: int):
    """A TrainerCallback printing one GRPO line every `every` steps (TRL's per-step dict dump is too loud)."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "reward" in logs and (state.global_step % every == 0 or state.global_step == 1):
                print(f"[mini] GRPO step {state.global_step}/{state.max_steps}: reward {logs['reward']:.3f}  "
                      f"accuracy {logs.get('rewards/accuracy/mean', float('nan')):.3f}  "
                      f"length {logs.get('completions/mean_length', float('nan')):.1f}", flush=True)

    return Progress()


def grpo(model_dir: Path, tok, train: list, cfg: MiniConfig, rl: RLValues, composer, out: Path) -> tuple:
    """GRPO (§2.2.1) in TRL's GRPOTrainer from the cold-start checkpoint in `model_dir` (also the KL reference), with
    the RL recipe's algorithm values (`rl`) and the r1-recipe rule rewards. Returns (trained model, TRL's log history,
    one entry per step)."""
    try:
        from datasets import Dataset
        from transformers import PrinterCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as e:  # trl is in the `mini` extra that scripts/setup.sh installs
        raise SystemExit(f"r1-recipe mini needs trl: pip install 'torch==2.13.0' -e '.[mini]' ({e})") from e

    tok.padding_side = "left"
    ds = Dataset.from_list([{"prompt": data.prompt(a, b), "answer": str(a + b)} for a, b in train])
    fns, weights = _Rewards(composer).functions()
    args = GRPOConfig(
        output_dir=str(out / "grpo"), seed=cfg.seed, use_cpu=True, bf16=False, report_to=[], logging_steps=1,
        save_strategy="no", disable_tqdm=True,
        # sizes: the miniature run's own
        max_steps=cfg.grpo_steps, learning_rate=cfg.grpo_lr, num_generations=cfg.group_size,
        per_device_train_batch_size=cfg.grpo_prompts * cfg.group_size, max_completion_length=cfg.max_new_tokens,
        # algorithm: the RL recipe's (r1_recipe.tools.mini.recipe)
        loss_type=rl.loss_type, scale_rewards=rl.scale_rewards, beta=rl.beta, epsilon=rl.epsilon,
        epsilon_high=rl.epsilon_high, num_iterations=rl.num_iterations, weight_decay=rl.weight_decay,
        lr_scheduler_type=rl.lr_scheduler_type, warmup_steps=0, temperature=rl.temperature, top_p=rl.top_p,
        reward_weights=weights)
    trainer = GRPOTrainer(model=str(model_dir), processing_class=tok, reward_funcs=fns, args=args, train_dataset=ds)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(_progress(max(1, cfg.grpo_steps // 6)))
    trainer.train()
    return trainer.model, [h for h in trainer.state.log_history if "reward" in h]


def dynamics_table(history: list[dict]) -> str:
    """The `r1/` training-dynamics metrics (r1-recipe's reward manager and trainer hook, logged by verl) at the first
    and the last GRPO step, as a markdown table; empty when the host logged none (TRL)."""
    keys = sorted(k for k in history[0] if k.startswith("r1/")) if history else []
    if not keys:
        return ""
    first, last = history[0], history[-1]
    md = [f"| training dynamics (verl, `r1/` metrics) | step {first['step']} | step {last['step']} |", "|---|---|---|"]
    md += [f"| {k} | {first[k]:.3f} | {last.get(k, float('nan')):.3f} |" for k in keys]
    return "\n".join(md) + "\n\n"


def write_report(out: Path, history: list[dict], before: dict, after: dict, cfg: MiniConfig, timings: dict) -> str:
    """Write curves (PNG), table (markdown + JSON) to `out`; return the markdown table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    curves = {"reward": ("reward", "total reward (accuracy + format)"),
              "accuracy": ("rewards/accuracy/mean", "training accuracy reward"),
              "response_length": ("completions/mean_length", "mean response length (tokens)")}
    for name, (key, title) in curves.items():
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(steps, [h.get(key, float("nan")) for h in history])
        ax.set_xlabel("GRPO step"), ax.set_title(title), ax.grid(alpha=0.3)
        fig.tight_layout(), fig.savefig(out / f"{name}.png", dpi=100), plt.close(fig)
    k = cfg.k
    rows = [("pass@1", "pass@1"), (f"cons@{k}", f"cons@{k}"), ("format rate", "format"),
            ("responses with a check step", "check_rate"), ("accuracy of responses with a check", "acc_with_check"),
            ("accuracy of responses without", "acc_without_check"), ("mean response length", "mean_length")]
    md = [f"| metric ({cfg.max_operand**2} problems, k={k}) | before RL | after RL |", "|---|---|---|"]
    md += [f"| {label} | {before[key]:.3f} | {after[key]:.3f} |" for label, key in rows]
    table = "\n".join(md)
    (out / "report.md").write_text(f"# R1 in miniature (seed {cfg.seed}, GRPO in {cfg.host})\n\n{table}\n\n"
                                   f"{dynamics_table(history)}timings (s): {json.dumps(timings)}\n\n"
                                   "![reward](reward.png) ![accuracy](accuracy.png) ![length](response_length.png)\n")
    (out / "metrics.json").write_text(json.dumps({"config": asdict(cfg), "before": before, "after": after,
                                                  "timings": timings, "history": history}, indent=1))
    return table


def run(cfg: MiniConfig) -> dict:
    """The whole miniature pipeline; returns {"before", "after", "table", "out"}."""
    import torch

    from r1_recipe.core.rewards.compose import Composer

    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t = {}
    t0 = time.time()
    # The toy task is small, so SFT, RL and evaluation all draw from the same problems: the evaluation measures how
    # reliably the policy solves the task (the paper's pass@1 over k samples), not generalisation to unseen problems.
    train = held = data.problems(cfg.max_operand)
    samples = data.sft_samples(train, cfg.sft_samples, cfg.seed, cfg.hasty, cfg.slip)
    tok = mini_model.build_tokenizer([p + c for p, c in samples])
    model = mini_model.build_model(len(tok), cfg.seed)
    # verl runs the recipe as written: only the evaluation's values are read from it; TRL needs every value mapped
    rl = recipe.rl_values(cfg.recipe) if cfg.host == "trl" else recipe.eval_values(cfg.recipe)
    sft_schedule = recipe.sft_values(cfg.sft_recipe)
    # the RL recipe's reward (accuracy + format, weight 1 each, each under a hard time bound); one worker process
    composer = Composer({**rl.reward, "workers": 1})
    print(f"[mini] {len(train)} problems, {len(samples)} cold-start samples, "
          f"model {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params", flush=True)
    losses = sft(model, tok, samples, cfg.sft_steps, cfg.sft_batch, cfg.sft_lr, cfg.seed, sft_schedule)
    t["sft"] = round(time.time() - t0, 1)
    print(f"[mini] cold-start SFT: {cfg.sft_steps} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f} ({t['sft']} s)",
          flush=True)
    t1 = time.time()
    before = evaluate_policy(model, tok, held, cfg.k, rl.eval_temperature, rl.eval_top_p, cfg.max_new_tokens, composer,
                      cfg.seed)
    t["eval_before"] = round(time.time() - t1, 1)
    print(f"[mini] before RL: pass@1 {before['pass@1']:.3f}  cons@{cfg.k} {before[f'cons@{cfg.k}']:.3f}  "
          f"check rate {before['check_rate']:.3f}", flush=True)
    t1 = time.time()
    cold_start = out / "cold_start"  # the SFT checkpoint, as the GPU pipeline hands it from SFT to RL
    model.save_pretrained(cold_start), tok.save_pretrained(cold_start)
    if cfg.host == "verl":
        from r1_recipe.tools.mini import verl_host

        model, history = verl_host.grpo(cold_start, train, cfg, out)
    else:
        model, history = grpo(cold_start, tok, train, cfg, rl, composer, out)
    t["grpo"] = round(time.time() - t1, 1)
    t1 = time.time()
    after = evaluate_policy(model, tok, held, cfg.k, rl.eval_temperature, rl.eval_top_p, cfg.max_new_tokens, composer,
                     cfg.seed + 1)
    t["eval_after"] = round(time.time() - t1, 1)
    t["total"] = round(time.time() - t0, 1)
    table = write_report(out, history, before, after, cfg, t)
    print(f"[mini] after RL:  pass@1 {after['pass@1']:.3f}  cons@{cfg.k} {after[f'cons@{cfg.k}']:.3f}  "
          f"check rate {after['check_rate']:.3f}\n{table}\n"
          f"[mini] report in {out}/ (report.md, metrics.json, reward.png, accuracy.png, response_length.png)",
          flush=True)
    return {"before": before, "after": after, "table": table, "out": str(out)}
