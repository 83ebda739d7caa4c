"""`r1-recipe eval`: generations -> pass@1, unbiased pass@k and cons@k per benchmark (DeepSeek-R1 §3.1).

Input: what `r1-recipe run eval_generate` writes (verl's `main_generation_server` parquet: `prompt`, `responses`
with k samples per prompt, `data_source`, `reward_model.ground_truth`, `extra_info`) or a jsonl with the same keys;
the reader is the one `rejection-sample` uses. Several files may be given (one per benchmark).

Every response is scored with the reward components (default: `accuracy` alone: math equivalence, GPQA letters,
code through the sandboxed test harness; `--reward-config` takes a training recipe's `reward.r1` block), each call
under a hard time bound. A response is read as the `r1` reward manager reads it in training
(r1_recipe.tools.generations: `<think>` first when the prompts opened it, by the template's rule, not a guess from the
response), and a truncated one (`finish_reasons` "length" or `truncated`) scores 0 unless the reward block says
`score_truncated: true`.
Answers are then clustered per problem by vote key (`pred`) and, for keys it leaves apart, by the math verifier's
equivalence (bounded per problem; past the bound the vote keys alone decide), and `r1_recipe.tools.passk`
computes the metrics per `data_source` (or `--benchmark`) and over all problems pooled (`all`). Code problems
(LiveCodeBench...) get pass@k only: their answers are programs, which a majority vote cannot compare.

Every metric gets two 95 % intervals (r1_recipe.tools.intervals): a bootstrap over problems, and the sampling
variance over each problem's k samples with the problems fixed. The generation settings found in the input (written
by r1_recipe.verl.generate into the parquet, or given with `--setting KEY=VALUE`) and the verifier's versions are
recorded (r1_recipe.tools.eval_settings).

Output in OUT: `eval.json` (metrics, intervals and per-problem values per benchmark, settings), `eval.md` (Markdown
tables and the settings) and `samples.jsonl` (one line per response: indices, data_source, score, acc, pred, reasons).
`r1-recipe eval --compare A/eval.json B/eval.json` prints the runs side by side and, for two runs, the paired
difference B - A on their common problems with its bootstrap interval.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from r1_recipe.core.schema import INFRA_FAILURE
from r1_recipe.tools import eval_settings, intervals, passk
from r1_recipe.tools.generations import (
    THINK_HELP,
    THINK_MODES,
    UNKNOWN_SOURCE,
    MalformedRow,
    atomic_write,
    count_prompts,
    n_responses,
    parse_row,
    read_generations,
    think_rule,
    warn_if_truncation_unknown,
)
from r1_recipe.tools.inputs import read_json
from r1_recipe.tools.rejection import load_reward_config

logger = logging.getLogger(__name__)

ALL = "all"
CLUSTER_TIMEOUT_S = 20.0


def _cluster(keys: list[str]) -> list[int]:
    """Runs in a pool worker (module-level): cluster one problem's answers with the math verifier's equivalence."""
    from r1_recipe.core.rewards.math import is_equivalent

    return passk.cluster_answers(keys, is_equivalent)


def _key_clusters(error: BaseException, item: tuple) -> list[int]:
    logger.warning("answer clustering failed for one problem (%r): canonical keys alone decide its cons@k", error)
    return passk.cluster_answers(item[0])


def _is_code(row: dict) -> bool:
    from r1_recipe.core.rewards.accuracy import is_code_ground_truth

    return is_code_ground_truth(row["ground_truth"]) or "code" in row["data_source"].lower()


def load_samples(inputs: Sequence[str | os.PathLike], prompt_key: str = "prompt", response_key: str = "responses",
                 think_in_prompt: str = "auto") -> list[dict]:
    """One dict per prompt row: `data_source`, `ground_truth`, `extra_info`, `responses`, `truncated` (per response).

    A row whose fields cannot be read keeps its responses with `error` set: they score 0 (never an exception)."""
    df = read_generations(inputs, prompt_key, response_key)
    rows = []
    for row in df.to_dict("records"):
        key = eval_settings.problem_key(row, prompt_key)
        try:
            g = parse_row(row, prompt_key, response_key, think_in_prompt)
            if not g.responses:
                raise MalformedRow("malformed_row: ValueError: no responses")
            rows.append({"data_source": g.data_source, "ground_truth": g.ground_truth, "extra_info": g.extra_info,
                         "responses": g.responses, "truncated": g.truncated, "error": "", "key": key})
        except MalformedRow as e:
            n = n_responses(row, response_key)
            source = row.get("data_source")
            rows.append({"data_source": str(source) if isinstance(source, str) and source else UNKNOWN_SOURCE,
                         "ground_truth": None, "extra_info": {}, "responses": [""] * n, "truncated": [False] * n,
                         "error": str(e), "key": key})
    return rows


NO_GROUND_TRUTH = "no_ground_truth"


def has_gold(ground_truth) -> bool:
    """Whether a row states an answer: not None, not blank, not an empty list (numpy arrays from parquet included)."""
    if ground_truth is None or (isinstance(ground_truth, float) and ground_truth != ground_truth):
        return False
    if isinstance(ground_truth, str):
        return bool(ground_truth.strip())
    if hasattr(ground_truth, "tolist"):
        ground_truth = ground_truth.tolist()
    if isinstance(ground_truth, list | tuple):
        return any(has_gold(g) for g in ground_truth)
    return True


def unscorable(rows: list[dict], inputs) -> dict[int, str]:
    """Rows that cannot be scored, by index, with the reason: malformed (as `rejection-sample` drops them) or without
    a ground truth. They are reported and left out of the metrics (a 0 would understate the model). ValueError when
    no row is left, naming the column that is empty."""
    out = {i: row["error"] or NO_GROUND_TRUTH for i, row in enumerate(rows)
           if row["error"] or not has_gold(row["ground_truth"])}
    if len(out) == len(rows):
        files = ", ".join(map(str, inputs))
        if any(r == NO_GROUND_TRUTH for r in out.values()):
            raise ValueError(f"no row of {files} has a ground truth: `reward_model.ground_truth` (or a top-level "
                             "`ground_truth`) is missing or empty everywhere, so every score would be 0")
        raise ValueError(f"every prompt row of {files} is malformed, e.g. row 0: {out[0]}")
    if out:
        logger.warning("%d of %d prompt rows not scored (not counted in the metrics): %s", len(out), len(rows),
                       "; ".join(f"row {i}: {r}" for i, r in list(out.items())[:5]))
    return out


def score_rows(rows: list[dict], composer, progress: bool = True) -> list[list[dict]]:
    """Composer results per row, per response; rows without a ground truth or malformed score 0 with a reason."""
    empty = {k: "" if k == "pred" or k.endswith("_reason") else 0.0 for k in composer.keys}
    samples = [(r, row["ground_truth"], row["extra_info"], t)
               for row in rows if row["ground_truth"] is not None and not row["error"]
               for r, t in zip(row["responses"], row["truncated"], strict=True)]
    scored = iter(composer.score_many(samples, progress="eval" if progress else False, total=len(samples)))
    out = []
    for row in rows:
        if row["ground_truth"] is None or row["error"]:
            reason = row["error"] or "no_ground_truth"
            out.append([{**empty, "reason": reason} for _ in row["responses"]])
        else:
            out.append([next(scored) for _ in row["responses"]])
    return out


def evaluate(inputs: Sequence[str | os.PathLike], reward: dict | None = None, benchmark: str | None = None,
             ks: Iterable[int] | None = None, cons_k: Iterable[int] | None = None, equivalence: bool = True,
             think_in_prompt: str | None = None, prompt_key: str = "prompt", response_key: str = "responses",
             composer=None, progress: bool = True, n_boot: int = intervals.N_BOOT,
             n_boot_sampling: int = intervals.N_BOOT_SAMPLING, seed: int = intervals.SEED,
             settings: dict | None = None, reward_recipe: str | None = None) -> tuple[dict, list[dict]]:
    """(report, per-response records). report = {"metrics": {benchmark: {pass@1, pass@k..., cons@k...}},
    "intervals": {benchmark: {metric: {ci95, ci95_sampling}}}, "problems": {benchmark: {problem key: metrics}},
    "generation": {input: settings}, "settings": {...}}. `settings`: generation settings given by the caller (flags),
    over those found in the inputs. `think_in_prompt` ("yes", "no", "auto"; None: from the inputs' recorded settings,
    else `reward_recipe`'s chat template: `generations.think_rule`)."""
    from r1_recipe.core.bounded import BoundedPool
    from r1_recipe.core.rewards.compose import Composer

    ks = sorted(set(ks)) if ks else None
    cons_k = sorted(set(cons_k)) if cons_k else None
    for name, values in (("--k", ks), ("--cons-k", cons_k)):
        if values and min(values) < 1:
            raise ValueError(f"{name} values must be >= 1, got {values}")
    count_prompts(inputs, prompt_key, response_key)  # a missing file or column is the first error
    think_in_prompt, think_source = think_rule(think_in_prompt, inputs, reward_recipe)
    warn_if_truncation_unknown(inputs)
    all_rows = load_samples(inputs, prompt_key, response_key, think_in_prompt)
    if not all_rows:
        raise ValueError(f"no prompt rows in {', '.join(map(str, inputs))}")
    skipped = unscorable(all_rows, inputs)
    kept = [i for i in range(len(all_rows)) if i not in skipped]
    rows = [all_rows[i] for i in kept]
    own = composer is None
    composer = composer or Composer(reward or {"components": {"accuracy": 1.0}})
    try:
        scores = score_rows(rows, composer, progress)
    finally:
        if own:
            composer.pool.close()
    keys = [[s.get("pred", "") for s in group] for group in scores]
    if equivalence:
        pool = BoundedPool(preload=("r1_recipe.core.rewards.math",))
        try:
            clusters = list(pool.map(_cluster, [(k,) for k in keys], timeout=CLUSTER_TIMEOUT_S, default=_key_clusters))
        finally:
            pool.close()
    else:
        clusters = [passk.cluster_answers(k) for k in keys]

    per_source: dict[str, list[dict]] = {}
    samples: dict[str, list[intervals.ProblemSamples]] = {}
    keys_of: dict[str, list[str]] = {}
    no_verdict: dict[str, int] = {}  # responses the reward gave no verdict on (infra_failure): counted as wrong
    records = []
    for i, row, group, cl in zip(kept, rows, scores, clusters, strict=True):
        source = benchmark or row["data_source"]
        # majority voting needs comparable final answers: code (its `pred` is the program) reports pass@k only
        votes = [] if _is_code(row) else cons_k
        per_source.setdefault(source, []).append(passk.problem_metrics(group, ks, votes, clusters=cl))
        samples.setdefault(source, []).append(intervals.ProblemSamples.of(group, cl, votes=votes != []))
        keys_of.setdefault(source, []).append(row["key"])
        for j, s in enumerate(group):
            reasons = ";".join(f"{k}:{v}" for k, v in s.items() if k.endswith("reason") and v)
            infra = bool(s.get(INFRA_FAILURE))
            no_verdict[source] = no_verdict.get(source, 0) + infra
            records.append({"prompt_index": i, "response_index": j, "data_source": source, "score": s.get("score"),
                            "acc": s.get("acc"),
                            "pred": s.get("pred"), "cluster": cl[j], "chars": len(row["responses"][j]),
                            "truncated": row["truncated"][j], "no_verdict": infra, "reasons": reasons})
    for i, reason in skipped.items():  # kept in samples.jsonl with their reason, outside every metric
        row = all_rows[i]
        records += [{"prompt_index": i, "response_index": j, "data_source": benchmark or row["data_source"],
                     "score": None, "acc": None, "pred": None, "cluster": None, "chars": len(r),
                     "truncated": row["truncated"][j],
                     "no_verdict": False, "reasons": reason} for j, r in enumerate(row["responses"])]
    records.sort(key=lambda r: (r["prompt_index"], r["response_index"]))
    metrics = {source: passk.average(problems) for source, problems in sorted(per_source.items())}
    if len(per_source) > 1:
        metrics[ALL] = passk.average([p for problems in per_source.values() for p in problems])
        per_source[ALL] = [p for source in sorted(per_source) for p in per_source[source]]
        samples[ALL] = [p for source in sorted(samples) for p in samples[source]]
        keys_of[ALL] = [f"{source}/{k}" for source in sorted(keys_of) for k in keys_of[source]]
    if any(no_verdict.values()):
        logger.warning("the reward gave no verdict on %d response(s) (timeouts, dead workers), counted as wrong: %s",
                       sum(no_verdict.values()), {k: v for k, v in no_verdict.items() if v})
    boot = {"n_boot": n_boot, "n_boot_sampling": n_boot_sampling, "seed": seed, "confidence": intervals.CONFIDENCE}
    report = {
        "inputs": [str(p) for p in inputs],
        "metrics": metrics,
        "no_verdict": no_verdict,
        "intervals": {source: intervals.intervals(samples[source], per_source[source], metric_columns({0: values}),
                                                  n_boot, n_boot_sampling, seed) for source, values in metrics.items()},
        "problems": {source: eval_settings.per_problem(keys_of[source], per_source[source]) for source in metrics},
        "generation": {str(p): {**eval_settings.read_generation_settings(p), **(settings or {})} for p in inputs},
        "skipped": {"malformed": sum(r != NO_GROUND_TRUTH for r in skipped.values()),
                    "no_ground_truth": sum(r == NO_GROUND_TRUTH for r in skipped.values()),
                    "rows": [{"prompt_index": i, "reason": r} for i, r in list(skipped.items())[:20]]},
        "settings": {"reward": {c.name: c.weight for c in composer.cfg.components},
                     "ks": ks, "cons_k": cons_k, "equivalence": equivalence, "think_in_prompt": think_in_prompt,
                     "think_in_prompt_source": think_source, "score_truncated": composer.cfg.score_truncated,
                     "timeout_s": composer.cfg.timeout_s,
                     "bootstrap": boot, "verifier": eval_settings.verifier_versions()},
    }
    return report, records


# ---------------------------------------------------------------- Markdown

def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def metric_columns(metrics: dict[str, dict]) -> list[str]:
    names = {m for values in metrics.values() for m in values if "@" in m and not m.startswith("problems@")}
    return sorted(names, key=lambda m: (m.split("@")[0] != "pass", int(m.split("@")[1])))


def markdown_table(report: dict) -> str:
    """One row per benchmark: problems, samples per problem, every metric in percent."""
    metrics = report["metrics"]
    cols = metric_columns(metrics)
    lines = ["| benchmark | problems | samples | " + " | ".join(cols) + " |",
             "|---|---:|---:|" + "---:|" * len(cols)]
    for source, values in metrics.items():
        lines.append(f"| {source} | {values['problems']} | {values['samples']} | "
                     + " | ".join(_pct(values.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n\nMetrics in percent. pass@k: unbiased estimator (Chen et al. 2021); cons@k: " \
        "majority vote over the first k samples, equivalent answers voting together.\n" + interval_table(report) \
        + settings_lines(report)


def _ci(ci) -> str:
    return "–" if ci is None else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def interval_table(report: dict) -> str:
    """The 95 % intervals of every metric: over problems, and over each problem's samples (problems fixed)."""
    found = report.get("intervals") or {}
    if not found:
        return ""
    lines = ["", "| benchmark | metric | value | 95 % CI, problems | 95 % CI, sampling |", "|---|---|---:|---:|---:|"]
    for source, per_metric in found.items():
        for metric, ci in per_metric.items():
            lines.append(f"| {source} | {metric} | {_pct(report['metrics'][source].get(metric))} | {_ci(ci['ci95'])} "
                         f"| {_ci(ci['ci95_sampling'])} |")
    boot = report.get("settings", {}).get("bootstrap", {})
    return "\n".join(lines) + (
        f"\n\nproblems: bootstrap over problems ({boot.get('n_boot')} resamples), the score on other problems like "
        f"these; sampling: each problem's samples resampled ({boot.get('n_boot_sampling')} times) with the problems "
        f"fixed, the score of a rerun of this benchmark. Percentile intervals, seed {boot.get('seed')}.\n")


def settings_lines(report: dict) -> str:
    """How the samples were produced (per input) and scored."""
    out = ["", "Generation settings:"]
    for path, found in (report.get("generation") or {}).items():
        text = ", ".join(f"{k}={v}" for k, v in eval_settings.flatten(found).items()) or "none recorded"
        out.append(f"- {path}: {text}")
    settings = report.get("settings") or {}
    verifier = ", ".join(f"{k} {v}" for k, v in (settings.get("verifier") or {}).items())
    out.append(f"\nScoring: reward {settings.get('reward')}, equivalence {settings.get('equivalence')}; {verifier}")
    return "\n".join(out) + "\n"


def compare_table(reports: dict[str, dict]) -> str:
    """Runs side by side: one row per (benchmark, metric), one column per run, percent."""
    names = list(reports)
    sources = list(dict.fromkeys(s for r in reports.values() for s in r["metrics"]))
    lines = ["| benchmark | metric | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for source in sources:
        per_run = {n: reports[n]["metrics"].get(source, {}) for n in names}
        for metric in metric_columns({n: v for n, v in per_run.items()}):
            lines.append(f"| {source} | {metric} | " + " | ".join(_pct(per_run[n].get(metric)) for n in names) + " |")
    table = "\n".join(lines) + "\n"
    if len(names) == 2:
        table += paired_table(reports[names[0]], reports[names[1]], names)
    return table


def paired_table(a: dict, b: dict, names: list[str], n_boot: int = intervals.N_BOOT,
                 seed: int = intervals.SEED) -> str:
    """B - A per (benchmark, metric) on the problems both runs scored (matched by prompt and gold), with a paired
    bootstrap 95 % interval over those problems."""
    lines = ["", f"Paired difference {names[1]} - {names[0]} on common problems (percent):", "",
             "| benchmark | metric | problems | difference | 95 % CI |", "|---|---|---:|---:|---:|"]
    for source, mine in (a.get("problems") or {}).items():
        theirs = (b.get("problems") or {}).get(source) or {}
        common = [k for k in mine if k in theirs]
        for metric in metric_columns({0: a["metrics"].get(source, {}), 1: b["metrics"].get(source, {})}):
            pairs = [(mine[k][metric], theirs[k][metric]) for k in common if metric in mine[k] and metric in theirs[k]]
            if not pairs:
                continue
            d = intervals.paired_difference([x for x, _ in pairs], [y for _, y in pairs], n_boot, seed)
            lines.append(f"| {source} | {metric} | {d['problems']} | {100 * d['diff']:+.1f} | {_ci(d['ci95'])} |")
    return "\n".join(lines) + "\n" if len(lines) > 5 else ""


def write(report: dict, records: list[dict], out: str | os.PathLike) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "eval.json", lambda p: p.write_text(json.dumps(report, indent=1)))
    atomic_write(out / "eval.md", lambda p: p.write_text(markdown_table(report)))
    atomic_write(out / "samples.jsonl",
                  lambda p: p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)))
    return out


# ---------------------------------------------------------------- CLI

def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="pass@1 / pass@k / cons@k of generations, per benchmark (R1 §3.1)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="generation parquet(s)/jsonl(s); with --compare: eval.json files")
    p.add_argument("--out", help="output directory (eval.json, eval.md, samples.jsonl); with --compare: a .md file")
    p.add_argument("--benchmark", help="report every row under this name instead of its data_source")
    p.add_argument("--reward-config", metavar="RECIPE", help="a recipe name (e.g. reasoning_rl) or YAML file with a "
                   "reward.r1 block (default: the accuracy component alone)")
    p.add_argument("--k", type=_ints, help="pass@k values, comma-separated (default 1, 2, 4, ... n)")
    p.add_argument("--cons-k", type=_ints, help="cons@k values, comma-separated (default: n, all samples)")
    p.add_argument("--no-equivalence", action="store_true", help="cluster answers by canonical key only")
    p.add_argument("--think-in-prompt", choices=THINK_MODES, help=THINK_HELP)
    p.add_argument("--prompt-key", default="prompt")
    p.add_argument("--response-key", default="responses")
    p.add_argument("--compare", action="store_true", help="INPUTS are eval.json files: print them side by side "
                   "(two runs: also their paired difference with a 95 %% interval)")
    p.add_argument("--bootstrap", type=int, default=intervals.N_BOOT,
                   help=f"resamples of the problem bootstrap (default {intervals.N_BOOT}; the sampling bootstrap uses "
                        f"{intervals.N_BOOT_SAMPLING})")
    p.add_argument("--seed", type=int, default=intervals.SEED, help="seed of the bootstraps (default 0)")
    p.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a generation setting to record (model, temperature, top_p, n, max_tokens, "
                        "tensor_model_parallel_size, dtype, chat_template, ...) when the input does not carry it; "
                        "repeatable")
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    try:
        if args.compare:
            reports = {}
            for path in args.inputs:
                name = Path(path).parent.name if Path(path).name == "eval.json" else Path(path).stem
                reports[name if name not in reports else str(path)] = read_json(path)
            table = compare_table(reports)
            if args.out:
                Path(args.out).write_text(table)
            print(table, end="")
            return 0
        if not args.out:
            raise ValueError("--out DIR is required")
        report, records = evaluate(args.inputs, load_reward_config(args.reward_config) if args.reward_config
                                   else None, args.benchmark, args.k, args.cons_k, not args.no_equivalence,
                                   args.think_in_prompt, args.prompt_key, args.response_key, n_boot=args.bootstrap,
                                   seed=args.seed, settings=eval_settings.parse_flags(args.setting),
                                   reward_recipe=args.reward_config)
    except (ValueError, FileNotFoundError, KeyError, json.JSONDecodeError) as e:
        print(f"r1-recipe eval: error: {e}")
        return 2
    out = write(report, records, args.out)
    print(markdown_table(report), end="")
    if report["skipped"]["rows"]:
        first = report["skipped"]["rows"][0]
        print(f"r1-recipe eval: warning: {report['skipped']['malformed']} malformed row(s) and "
              f"{report['skipped']['no_ground_truth']} row(s) without a ground truth are not counted (e.g. row "
              f"{first['prompt_index']}: {first['reason']}; all in eval.json 'skipped' and samples.jsonl)",
              file=sys.stderr)
    print(f"wrote {out / 'eval.json'}, {out / 'eval.md'}, {out / 'samples.jsonl'}")
    return 0
