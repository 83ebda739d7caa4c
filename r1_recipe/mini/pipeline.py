"""Orchestration of the miniature R1 run: cold-start SFT (§2.3.1) -> GRPO with the rule rewards accuracy + format
(§2.2.1-2.2.2) -> evaluation by the paper's protocol (pass@1 over k samples, cons@k; §3) before and after RL -> report.

Host on CPU: the cold start is a plain PyTorch loop (next-token loss on the response only), GRPO runs in TRL's
GRPOTrainer with r1-recipe's `Composer` as the reward. verl 0.9.1 has no CPU rollout, see docs/miniature.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from r1_recipe.mini import data
from r1_recipe.mini import model as mini_model

logger = logging.getLogger(__name__)


@dataclass
class MiniConfig:
    out: str = "outputs/mini"
    seed: int = 0
    max_operand: int = 10        # problems a + b with 0 <= a, b < max_operand (the whole task: max_operand**2)
    sft_samples: int = 300       # cold-start set size
    sft_steps: int = 460
    sft_batch: int = 16
    sft_lr: float = 3e-3
    grpo_steps: int = 80
    grpo_prompts: int = 8        # prompts per GRPO step
    group_size: int = 8          # samples per prompt (G in §2.2.1)
    grpo_lr: float = 3e-5
    beta: float = 0.0            # KL coefficient
    train_temperature: float = 1.0  # rollout temperature during GRPO
    k: int = 8                   # samples per eval problem for pass@1 and cons@k
    temperature: float = 0.6     # the paper's evaluation temperature
    max_new_tokens: int = 48


def _reward_cfg():
    # The R1-Zero reward (§2.2.2): accuracy + format, each weight 1, under the Composer's hard bound.
    return {"components": {"accuracy": 1.0, "format": {"weight": 1.0, "answer_tag": True}}, "timeout_s": 10,
            "workers": 1}


def sft(model, tok, samples: list[tuple[str, str]], steps: int, batch: int, lr: float, seed: int) -> list[float]:
    """Cold-start SFT: cross-entropy on the response tokens (prompt tokens masked). Returns the loss per step."""
    import torch

    g = torch.Generator().manual_seed(seed)
    enc = []
    for p, c in samples:
        pi = tok(p, add_special_tokens=False).input_ids
        ci = tok(c, add_special_tokens=False).input_ids + [tok.eos_token_id]
        enc.append((pi + ci, [-100] * len(pi) + ci))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10) * max(0.0, 1 - s / steps))
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
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(), sched.step(), opt.zero_grad()
        losses.append(loss.item())
    return losses


def evaluate(model, tok, problems: list[tuple[int, int]], k: int, temperature: float, max_new_tokens: int,
             composer, seed: int) -> dict:
    """pass@1 (mean accuracy over k samples per problem) and cons@k (majority vote over the k extracted answers)."""
    import torch

    torch.manual_seed(seed)
    model.eval()
    tok.padding_side = "left"
    texts, lengths = [], []
    with torch.no_grad():
        for i in range(0, len(problems), 16):
            chunk = problems[i: i + 16]
            enc = tok([data.prompt(a, b) for a, b in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(**enc, do_sample=True, temperature=temperature, top_p=0.95, top_k=0,
                                 max_new_tokens=max_new_tokens, num_return_sequences=k,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            gen = out[:, enc.input_ids.shape[1]:]
            texts += tok.batch_decode(gen, skip_special_tokens=True)
            # generated tokens up to and including EOS (generate pads finished rows with pad_token_id)
            lengths += (gen != tok.pad_token_id).sum(dim=1).tolist()
    golds = [str(a + b) for a, b in problems for _ in range(k)]
    scores = list(composer.score_many((t, g, None) for t, g in zip(texts, golds)))
    fmt = [s["format"] for s in scores]
    return {**pass_cons(scores, k), "format": sum(fmt) / len(fmt), "mean_length": sum(lengths) / len(lengths),
            "example": texts[0]}


def pass_cons(scores: list[dict], k: int) -> dict:
    """pass@1 and cons@k (DeepSeek-R1 §3) from Composer results, `k` consecutive samples per problem.

    pass@1 = mean over problems of the fraction of correct samples; cons@k = fraction of problems whose majority answer
    (most common extracted `pred`, ties to the first seen; samples with no answer do not vote) is correct.
    """
    if not scores or len(scores) % k:
        raise ValueError(f"pass_cons: {len(scores)} scores is not a non-zero multiple of k={k}")
    pass1, cons = [], []
    for j in range(0, len(scores), k):
        grp = scores[j: j + k]
        pass1.append(sum(s["acc"] for s in grp) / k)
        votes = Counter(s["pred"] for s in grp if s["pred"] is not None)
        top = votes.most_common(1)[0][0] if votes else None
        cons.append(next(s["acc"] for s in grp if s["pred"] == top) if votes else 0.0)
    return {"pass@1": sum(pass1) / len(pass1), f"cons@{k}": sum(cons) / len(cons)}


class _Rewards:
    """TRL reward functions backed by one `Composer` call per batch: `accuracy` and `format` return the components'
    unweighted scores (TRL sums them with weight 1 each, as the R1-Zero reward does) and are logged separately."""

    def __init__(self, composer):
        self.composer = composer
        self._key, self._val = None, None

    def _score(self, completions, answer):
        key = (tuple(completions), tuple(answer))
        if key != self._key:
            self._key, self._val = key, list(self.composer.score_many(zip(completions, answer, [None] * len(answer))))
        return self._val

    def accuracy(self, prompts, completions, answer, **_):
        return [s["accuracy"] for s in self._score(completions, answer)]

    def format(self, prompts, completions, answer, **_):
        return [s["format"] for s in self._score(completions, answer)]


def grpo(model, tok, train: list, cfg: MiniConfig, composer, out: Path) -> list[dict]:
    """GRPO (§2.2.1) in TRL's GRPOTrainer with the r1-recipe rule rewards. Returns TRL's log history."""
    try:
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as e:  # trl is in the `test` extra that scripts/setup.sh installs
        raise SystemExit(f"r1-recipe mini needs trl: pip install 'torch==2.13.0' 'trl>=1.10' ({e})") from e

    tok.padding_side = "left"
    ds = Dataset.from_list([{"prompt": data.prompt(a, b), "answer": str(a + b)} for a, b in train])
    rewards = _Rewards(composer)
    acc_fn, fmt_fn = rewards.accuracy, rewards.format
    acc_fn.__func__.__name__, fmt_fn.__func__.__name__ = "accuracy", "format"
    args = GRPOConfig(output_dir=str(out / "grpo"), max_steps=cfg.grpo_steps, learning_rate=cfg.grpo_lr,
                      per_device_train_batch_size=cfg.grpo_prompts * cfg.group_size, num_generations=cfg.group_size,
                      max_completion_length=cfg.max_new_tokens, temperature=cfg.train_temperature, beta=cfg.beta, loss_type="grpo",
                      use_cpu=True, bf16=False, report_to=[], logging_steps=1, save_strategy="no", seed=cfg.seed,
                      lr_scheduler_type="constant", warmup_steps=0, disable_tqdm=True)
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=[acc_fn, fmt_fn], args=args,
                          train_dataset=ds)
    trainer.train()
    return [h for h in trainer.state.log_history if "reward" in h]


def report(out: Path, history: list[dict], before: dict, after: dict, cfg: MiniConfig, timings: dict) -> str:
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
            ("mean response length", "mean_length")]
    md = ["| metric (%d problems, k=%d) | before RL | after RL |" % (cfg.max_operand**2, k), "|---|---|---|"]
    md += [f"| {label} | {before[key]:.3f} | {after[key]:.3f} |" for label, key in rows]
    table = "\n".join(md)
    (out / "report.md").write_text(f"# R1 in miniature (seed {cfg.seed})\n\n{table}\n\n"
                                   f"timings (s): {json.dumps(timings)}\n\n![reward](reward.png) "
                                   "![accuracy](accuracy.png) ![length](response_length.png)\n")
    (out / "metrics.json").write_text(json.dumps({"config": asdict(cfg), "before": before, "after": after,
                                                  "timings": timings, "history": history}, indent=1))
    return table


def run(cfg: MiniConfig) -> dict:
    """The whole miniature pipeline; returns {"before", "after", "table", "out"}."""
    import torch

    from r1_recipe.rewards.compose import Composer

    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t = {}
    t0 = time.time()
    # The toy task is small, so SFT, RL and evaluation all draw from the same problems: the evaluation measures how
    # reliably the policy solves the task (the paper's pass@1 over k samples), not generalisation to unseen problems.
    train = held = data.problems(cfg.max_operand)
    samples = data.sft_samples(train, cfg.sft_samples, cfg.seed)
    tok = mini_model.build_tokenizer([p + c for p, c in samples])
    model = mini_model.build_model(len(tok), cfg.seed)
    composer = Composer(_reward_cfg())
    print(f"[mini] {len(train)} problems, {len(samples)} cold-start samples, "
          f"model {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params", flush=True)
    losses = sft(model, tok, samples, cfg.sft_steps, cfg.sft_batch, cfg.sft_lr, cfg.seed)
    t["sft"] = round(time.time() - t0, 1)
    print(f"[mini] cold-start SFT: {cfg.sft_steps} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f} ({t['sft']} s)",
          flush=True)
    t1 = time.time()
    before = evaluate(model, tok, held, cfg.k, cfg.temperature, cfg.max_new_tokens, composer, cfg.seed)
    t["eval_before"] = round(time.time() - t1, 1)
    print(f"[mini] before RL: pass@1 {before['pass@1']:.3f}  cons@{cfg.k} {before[f'cons@{cfg.k}']:.3f}", flush=True)
    t1 = time.time()
    history = grpo(model, tok, train, cfg, composer, out)
    t["grpo"] = round(time.time() - t1, 1)
    t1 = time.time()
    after = evaluate(model, tok, held, cfg.k, cfg.temperature, cfg.max_new_tokens, composer, cfg.seed + 1)
    t["eval_after"] = round(time.time() - t1, 1)
    t["total"] = round(time.time() - t0, 1)
    table = report(out, history, before, after, cfg, t)
    print(f"[mini] after RL:  pass@1 {after['pass@1']:.3f}  cons@{cfg.k} {after[f'cons@{cfg.k}']:.3f}\n{table}\n"
          f"[mini] report in {out}/ (report.md, metrics.json, reward.png, accuracy.png, response_length.png)",
          flush=True)
    return {"before": before, "after": after, "table": table, "out": str(out)}
