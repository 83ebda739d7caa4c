"""`r1-recipe check-data`: audit the training data against the reward before a GPU is spent on it.

A reward that is silently 0 for a whole data source is a recurring failure of R1 reproductions (verl PR #5635: every
MATH score 0 inside Ray workers), noticed after GPU-days. One cause nothing else checks: golds the configured
verifier cannot read, or a data_source routed to the wrong component. So every row (or a sample) is put through the
configured accuracy component (`reward.r1.acc_component`: `accuracy`, `math`, `code` or your own) with its options:

- the gold must be readable: a maths gold that the verifier reads as empty (`unparsable_gold`), a row with no gold, a
  code gold (`{"inputs", "outputs"[, "fn_name"]}`) whose tests do not parse;
- the gold written as a perfect response (`<think>...</think> <answer> \\boxed{GOLD} </answer>`, the gold as the
  verifier reads it) must score 1 (`perfect_scores_0`: the verifier cannot match its own gold, e.g. unbalanced
  braces, prose the parser rejects);
- a clearly wrong answer (`\\boxed{98765431}`) must score 0 (`wrong_scores_1`: the verifier accepts anything for this
  gold).

Code rows are checked for their tests only (a correct program is not at hand; running one is the sandbox's job).
Rows with `reward_model.style: model` are scored by a reward model, not a gold: counted, not checked.

The report gives per `data_source` the counts and up to `examples` failing rows (index, gold, reason), and the share
of checked rows that fail. `r1-recipe check-data` exits 1 above `--max-bad-rate`; `r1-recipe run` runs the same
check on a sample of `data.train_files` at start-up and refuses to launch above the rate (flags `--max-bad-golds`,
`--skip-data-check`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_BAD_RATE = 0.05       # share of checked rows whose gold fails, above which start-up stops
START_UP_SAMPLE = 256     # rows `r1-recipe run` checks
WRONG = "98765431"
WRONG_ALT = "12345679"
EXAMPLES = 3


@dataclass
class SourceReport:
    rows: int = 0
    checked: int = 0
    model_rows: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)

    @property
    def bad(self) -> int:
        return sum(self.reasons.values())


@dataclass
class DataReport:
    sources: dict[str, SourceReport]
    component: str
    rows_total: int

    @property
    def checked(self) -> int:
        return sum(s.checked for s in self.sources.values())

    @property
    def bad(self) -> int:
        return sum(s.bad for s in self.sources.values())

    @property
    def bad_rate(self) -> float:
        return self.bad / self.checked if self.checked else 0.0

    def lines(self) -> list[str]:
        sampled = f" (a sample of {self.rows_total})" if self.rows_total > sum(
            s.rows for s in self.sources.values()) else ""
        out = [f"reward audit of the golds with `{self.component}`: {self.checked} rows checked{sampled}, "
               f"{self.bad} fail ({100 * self.bad_rate:.1f} %)",
               f"  {'data_source':<24} {'rows':>6} {'checked':>8} {'fail':>6} {'fail %':>7}  reasons"]
        for name, s in sorted(self.sources.items()):
            rate = 100 * s.bad / s.checked if s.checked else 0.0
            reasons = ", ".join(f"{r} {n}" for r, n in s.reasons.most_common()) or "-"
            model = f" (+{s.model_rows} reward-model rows)" if s.model_rows else ""
            out.append(f"  {name:<24} {s.rows:>6} {s.checked:>8} {s.bad:>6} {rate:>6.1f}%  {reasons}{model}")
            out += [f"    row {e['row']}: {e['reason']}: gold {e['gold']}" for e in s.examples]
        return out

    def to_dict(self) -> dict:
        return {"component": self.component, "rows_total": self.rows_total, "checked": self.checked, "bad": self.bad,
                "bad_rate": self.bad_rate,
                "sources": {n: {"rows": s.rows, "checked": s.checked, "model_rows": s.model_rows, "bad": s.bad,
                                "reasons": dict(s.reasons), "examples": s.examples}
                            for n, s in sorted(self.sources.items())}}


# ------------------------------------------------------------------------------------------------------ reading
COLUMNS = ("data_source", "reward_model", "extra_info")


def read_rows(files: Sequence[str | os.PathLike], sample: int | None = None, seed: int = 0) -> tuple[list[dict], int]:
    """(rows with data_source, reward_model, extra_info and their global index `row`, total rows). With `sample`, a
    uniform random sample of that many rows (fixed seed) over all files."""
    import numpy as np
    import pyarrow.parquet as pq

    tables = []
    for f in files:
        path = Path(str(f)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"data file not found: {path}")
        schema = pq.read_schema(path)
        tables.append(pq.read_table(path, columns=[c for c in COLUMNS if c in schema.names]).to_pylist())
    rows = [dict(r, row=i) for i, r in enumerate(r for t in tables for r in t)]
    total = len(rows)
    if sample is not None and total > sample:
        keep = np.sort(np.random.default_rng(seed).choice(total, size=sample, replace=False))
        rows = [rows[i] for i in keep]
    return rows, total


# ------------------------------------------------------------------------------------------------------ checking
def _gold(row: Mapping):
    rm = row.get("reward_model")
    return rm.get("ground_truth") if isinstance(rm, Mapping) else None


def _short(gold) -> str:
    text = json.dumps(gold, ensure_ascii=False, default=str) if not isinstance(gold, str) else repr(gold)
    return text if len(text) <= 80 else text[:77] + "..."


def _code_problem(gold) -> str:
    """"" when a code gold's tests parse, else the reason."""
    from r1_recipe.core.rewards.code import call_test, parse_tests

    try:
        inputs, outputs, fn_name = parse_tests(gold)
        if fn_name is not None:
            for args, expected in zip(inputs, outputs, strict=True):
                call_test(args, expected)
    except (ValueError, TypeError) as e:
        return f"code_tests_unparsable: {e}"[:120]
    return ""


def check_rows(rows: Sequence[dict], reward: Mapping | None = None, total: int | None = None,
               examples: int = EXAMPLES, composer=None, workers: int | None = None) -> DataReport:
    """Audit `rows` (from `read_rows`) with the accuracy component of the `reward.r1` block `reward`, scored in a
    bounded pool of `workers` processes (default: the block's `workers`)."""
    from r1_recipe.core.rewards.accuracy import is_code_ground_truth
    from r1_recipe.core.rewards.compose import Composer, parse_config
    from r1_recipe.core.rewards.math.reward import _gold_text

    cfg = parse_config(reward or {"components": {"accuracy": 1.0}})
    name = cfg.acc_component
    if name is None:
        raise ValueError("reward.r1 has no accuracy component (accuracy, math, code or reward.r1.acc_component): "
                         "there is no gold to check")
    acc = next(c for c in cfg.components if c.name == name)
    sources: dict[str, SourceReport] = {}
    todo, fails = [], []  # (row, kind, gold text) to score; rows failing before scoring
    for row in rows:
        source = str(row.get("data_source") or "unknown")
        rep = sources.setdefault(source, SourceReport())
        rep.rows += 1
        rm = row.get("reward_model")
        if isinstance(rm, Mapping) and rm.get("style") == "model":
            rep.model_rows += 1
            continue
        rep.checked += 1
        gold = _gold(row)
        if gold is None or (isinstance(gold, str) and not gold.strip()):
            fails.append((source, row, "no_gold"))
        elif is_code_ground_truth(gold) and name in ("accuracy", "code"):
            reason = _code_problem(gold)
            if reason:
                fails.append((source, row, reason))
        elif name == "code":
            fails.append((source, row, "not_code_tests"))
        else:
            text = _gold_text(gold)
            if not text:
                fails.append((source, row, "unparsable_gold"))
            else:
                todo.append((source, row, text))
    own = composer is None
    composer = composer or Composer({"components": {name: {"weight": 1.0, **acc.options}},
                                     "timeout_s": cfg.timeout_s, "workers": workers or cfg.workers})
    try:
        samples = []
        for _, row, text in todo:
            extra = dict(row.get("extra_info") or {}) if isinstance(row.get("extra_info"), Mapping) else {}
            extra.setdefault("data_source", row.get("data_source"))
            wrong = WRONG_ALT if text.strip() == WRONG else WRONG
            samples.append((f"<think>\nThe answer follows.\n</think>\n<answer> \\boxed{{{text}}} </answer>",
                            _gold(row), extra))
            samples.append((f"<think>\nThe answer follows.\n</think>\n<answer> \\boxed{{{wrong}}} </answer>",
                            _gold(row), extra))
        scores = list(composer.score_many(samples))
    finally:
        if own:
            composer.pool.close()
    for i, (source, row, _) in enumerate(todo):
        perfect, wrong = scores[2 * i], scores[2 * i + 1]
        reason = ""
        if perfect["acc"] < 1.0:
            why = perfect.get(f"{name}_reason") or ""
            reason = f"perfect_scores_0 ({why})" if why else "perfect_scores_0"
        elif wrong["acc"] > 0.0:
            reason = "wrong_scores_1"
        if reason:
            fails.append((source, row, reason))
    for source, row, reason in sorted(fails, key=lambda f: f[1]["row"]):
        rep = sources[source]
        key = reason.split(" ")[0].split(":")[0]
        rep.reasons[key] += 1
        if len(rep.examples) < examples:
            rep.examples.append({"row": row["row"], "gold": _short(_gold(row)), "reason": reason})
    return DataReport(sources, name, total if total is not None else len(rows))


def check_files(files: Sequence[str | os.PathLike], reward: Mapping | None = None, sample: int | None = None,
                seed: int = 0, examples: int = EXAMPLES) -> DataReport:
    rows, total = read_rows(files, sample, seed)
    return check_rows(rows, reward, total, examples)


# ------------------------------------------------------------------------------------------------------ CLI
def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("check-data", help="audit training data golds against the reward (before training)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="verl RL parquet file(s) (r1-recipe prepare's output)")
    p.add_argument("--reward-config", help="a recipe name or YAML with a reward.r1 block (default: accuracy alone)")
    p.add_argument("--sample", type=int, help="check a random sample of this many rows (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-bad-rate", type=float, default=MAX_BAD_RATE,
                   help=f"exit 1 when more than this share of checked rows fail (default {MAX_BAD_RATE})")
    p.add_argument("--examples", type=int, default=EXAMPLES, help="failing rows shown per data_source")
    p.add_argument("--json", help="also write the report as JSON to this file")
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    from r1_recipe.tools.rejection import load_reward_config

    try:
        report = check_files(args.inputs, load_reward_config(args.reward_config), args.sample, args.seed,
                             args.examples)
    except (ValueError, FileNotFoundError, KeyError, OSError) as e:  # RecipeError is a ValueError
        print(f"r1-recipe check-data: error: {e}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1))
    if report.bad_rate > args.max_bad_rate:
        print(f"r1-recipe check-data: {100 * report.bad_rate:.1f} % of the golds fail, above --max-bad-rate "
              f"{args.max_bad_rate}", file=sys.stderr)
        return 1
    return 0
