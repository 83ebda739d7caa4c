"""`r1-recipe report RUN [RUN ...]`: training curves from verl's logs as PNGs (DeepSeek-R1 Fig. 2 and 3).

RUN is a log of verl's `file` tracker (`trainer.logger: [console, file]` writes
`$VERL_FILE_LOGGER_ROOT/<project>/<experiment>.jsonl`, one `{"step": s, "data": {metric: value}}` per line; a flat
`{"step": s, metric: value}` line works too) or a directory holding such `.jsonl` files. Several runs are drawn on the
same axes, labelled by file name.

Writes into OUT: `accuracy.png` (validation `val-core/<benchmark>/acc/mean@N` and the training batch's
`r1/reward/acc/mean` vs step), `length.png` (`r1/response_length/{mean,p90,max}` vs step, verl's
`response_length/mean` when the r1 metrics are absent), `reflection.png` (`r1/reflection/rate`), `dynamics.png`
(truncation, format, language-mixing and zero-variance-group rates), and `curves.json` (the series drawn).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

from r1_recipe.tools.inputs import InputError, read_jsonl

VAL_ACC = re.compile(r"^val-core/(?P<source>.+)/acc/mean@(?P<n>\d+)$")
FIGURES = {
    "accuracy": ("accuracy", ["r1/reward/acc/mean"]),
    "length": ("response length (tokens)", ["r1/response_length/mean", "r1/response_length/p90",
                                            "r1/response_length/max"]),
    "reflection": ("share of responses with a reflective word", ["r1/reflection/rate"]),
    "dynamics": ("rate", ["r1/truncation_rate", "r1/format_rate", "r1/language_mixing_rate",
                          "r1/groups/zero_variance"]),
}
LENGTH_FALLBACK = "response_length/mean"  # verl's own metric, present in every run


def log_files(run: str | os.PathLike) -> list[Path]:
    path = Path(run)
    if path.is_dir():
        files = sorted(path.rglob("*.jsonl"))
        if not files:
            raise FileNotFoundError(f"{path}: no .jsonl log files inside")
        return files
    if not path.exists():
        raise FileNotFoundError(f"log file not found: {path}")
    return [path]


def read_log(path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """metric -> [(step, value)] sorted by step; non-numeric values are skipped, and unreadable lines with a warning
    naming the line (a run killed mid-write leaves a partial last line). A step that is not an integer raises
    ValueError naming the file and the line."""
    series: dict[str, dict[int, float]] = {}
    for n, record in read_jsonl(path, lenient=True):
        if "step" not in record:
            continue
        data = record.get("data") if isinstance(record.get("data"), dict) else record
        step = record["step"]
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if isinstance(step, bool) or not isinstance(step, int):
            raise InputError(f"{path}, line {n}: step {step!r} is not an integer")
        for name, value in data.items():
            if name == "step" or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                series.setdefault(name, {})[step] = float(value)
    return {name: sorted(points.items()) for name, points in series.items()}


def curves(series: dict[str, list[tuple[int, float]]]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """figure -> {metric: points} for one run (only the metrics the log has)."""
    out = {}
    for figure, (_, names) in FIGURES.items():
        chosen = {n: series[n] for n in names if n in series}
        if figure == "accuracy":
            chosen.update({n: series[n] for n in sorted(series) if VAL_ACC.match(n)})
        if figure == "length" and not chosen and LENGTH_FALLBACK in series:
            chosen[LENGTH_FALLBACK] = series[LENGTH_FALLBACK]
        out[figure] = chosen
    return out


def draw(runs: dict[str, dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for figure, (ylabel, _) in FIGURES.items():
        lines = [(run, name, pts) for run, figs in runs.items() for name, pts in figs[figure].items() if pts]
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        for run, name, pts in lines:
            label = name if len(runs) == 1 else f"{run}: {name}"
            ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o" if len(pts) < 30 else None,
                    markersize=3, label=label)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{figure}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def report(runs: list[str | os.PathLike], out: str | os.PathLike) -> tuple[dict, list[Path]]:
    """Read every log, draw the figures into `out`; returns (curves per run, PNG paths)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = {}
    for run in runs:
        for path in log_files(run):
            name = path.stem if path.stem not in data else str(path)
            data[name] = curves(read_log(path))
    if not any(pts for figs in data.values() for metrics in figs.values() for pts in metrics.values()):
        raise ValueError(f"no training or validation metrics found in {', '.join(map(str, runs))}")
    (out / "curves.json").write_text(json.dumps(data, indent=1))
    return data, draw(data, out)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help="draw accuracy / length / reflection curves from verl's file logs",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="verl file-logger .jsonl file(s) or directories holding them")
    p.add_argument("--out", default="report", help="output directory (default ./report)")
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    try:
        _, written = report(args.runs, args.out)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"r1-recipe report: error: {e}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
