"""`r1-recipe prepare DATASET --out DIR`: a public dataset -> verl parquet
(prompt, data_source, reward_model, extra_info)."""

from __future__ import annotations

import argparse
import sys


def _run(args) -> int:
    from r1_recipe.tools.data.prepare import PrepareError, prepare

    try:
        result = prepare(args.dataset, args.out, split=args.split, template=args.template, input_path=args.input,
                         val_size=args.val_size, limit=args.limit, question_key=args.question_key,
                         answer_key=args.answer_key, progress=not args.no_progress)
    except PrepareError as e:
        print(f"r1-recipe prepare: error: {e}", file=sys.stderr)
        return 2
    for name, path in result["files"].items():
        print(f"{name}: {result['rows'][name]} rows -> {path}")
    if result["skipped"]:
        print(f"skipped {len(result['skipped'])} malformed row(s), e.g. {result['skipped'][0]}", file=sys.stderr)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    from r1_recipe.tools.data.datasets import SPECS

    listing = "\n".join(f"  {s.name:<14} {s.hub_id:<40} {s.description}" for s in SPECS.values())
    p = subparsers.add_parser(
        "prepare", help="turn a dataset into verl parquet", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write verl RL parquet (prompt messages, data_source, reward_model.ground_truth, extra_info).\n\n"
                    f"datasets:\n{listing}")
    p.add_argument("dataset", choices=list(SPECS), metavar="DATASET", help="one of: " + ", ".join(SPECS))
    p.add_argument("--out", required=True, help="output directory (<split>.parquet, or train/val.parquet)")
    p.add_argument("--split", default=None, help="source split to read (default: the dataset's usual one)")
    p.add_argument("--template", choices=["r1_zero", "chat"], default="r1_zero",
                   help="r1_zero: bare question (for the R1-Zero template); chat: question + the R1 instruction")
    p.add_argument("--input", nargs="+", default=None, metavar="FILE",
                   help="local .jsonl/.json/.parquet file(s) instead of the hub (several are concatenated)")
    p.add_argument("--val-size", type=float, default=0,
                   help="hold out a deterministic validation set: a count (>=1) or a fraction")
    p.add_argument("--limit", type=int, default=None, help="use only the first N records")
    p.add_argument("--question-key", default=None, help="column holding the question, when it is named differently")
    p.add_argument("--answer-key", default=None, help="column holding the answer, when it is named differently")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
    return p
