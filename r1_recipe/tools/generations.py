"""Reading generations: verl's `main_generation_server` output (parquet) or jsonl with the same keys, one reader
for rejection sampling and evaluation so that both parse a row the same way.

A prompt row has a `prompt` (chat messages, or a string), a `responses` list, and optionally `data_source`,
`reward_model.ground_truth` (or a top-level `ground_truth`), `extra_info`, per-response `truncated` (bools) or
`finish_reasons` ("length" = truncated). `parse_row` turns one into a `Generations`; a row whose fields cannot be
read raises `MalformedRow` (its callers score it 0 with the reason, never stop).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from r1_recipe.core.templates import last_user_message
from r1_recipe.tools.inputs import count_lines, parquet_file, read_jsonl

UNKNOWN_SOURCE = "unknown"  # data_source of a row that has none


def check_columns(path: Path, columns, prompt_key: str, response_key: str) -> None:
    for key in (prompt_key, response_key):
        if key not in columns:
            hint = " (verl's main_generation_server writes `responses`)" if key == response_key else ""
            raise ValueError(f"{path}: missing column {key!r}{hint}; columns: {', '.join(map(str, columns))}")


def _open(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"generations file not found: {path}")
    if path.suffix not in (".parquet", ".jsonl"):
        raise ValueError(f"{path}: expected a .parquet or .jsonl file")


def count_prompts(paths: Iterable[str | os.PathLike], prompt_key: str = "prompt",
                  response_key: str = "responses") -> list[int]:
    """Prompt rows per file, read from parquet metadata or by counting jsonl lines; checks the columns (of a jsonl's
    first record). A line that cannot be read is reported, with its number, when the rows are read."""
    counts = []
    for path in map(Path, paths):
        _open(path)
        if path.suffix == ".parquet":
            meta = parquet_file(path)
            check_columns(path, meta.schema_arrow.names, prompt_key, response_key)
            counts.append(meta.metadata.num_rows)
        else:
            for _, first in read_jsonl(path):
                check_columns(path, first, prompt_key, response_key)
                break
            counts.append(count_lines(path))
    return counts


def _jsonl_chunks(path: Path, batch: int):
    records = []
    for _, record in read_jsonl(path):
        records.append(record)
        if len(records) == batch:
            yield pd.DataFrame.from_records(records)
            records = []
    if records:
        yield pd.DataFrame.from_records(records)


def iter_generations(paths: Iterable[str | os.PathLike], batch: int, prompt_key: str = "prompt",
                     response_key: str = "responses"):
    """Stream `(first global row index, DataFrame of <= batch prompt rows)`, file after file; memory stays at one
    batch however large the input. Batches never span two files, so shard boundaries are stable across runs.
    A jsonl line that is not UTF-8 or not a JSON object raises InputError naming the file and the line."""
    start = 0
    for path in map(Path, paths):
        _open(path)
        if path.suffix == ".parquet":
            chunks = (b.to_pandas() for b in parquet_file(path).iter_batches(batch_size=batch))
        else:
            chunks = _jsonl_chunks(path, batch)
        for df in chunks:
            check_columns(path, df.columns, prompt_key, response_key)
            yield start, df.reset_index(drop=True)
            start += len(df)


def read_generations(paths: Iterable[str | os.PathLike], prompt_key: str = "prompt",
                     response_key: str = "responses") -> pd.DataFrame:
    """All prompt rows of verl generation parquet(s) / jsonl(s) in one frame (small inputs, tests, inspection)."""
    paths = list(paths)
    count_prompts(paths, prompt_key, response_key)
    frames = [df for _, df in iter_generations(paths, 1 << 16, prompt_key, response_key)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[prompt_key, response_key])


def as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value)


def messages_of(prompt) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in as_list(prompt)]


def ground_truth_of(row: Mapping):
    rm = row.get("reward_model")
    if isinstance(rm, Mapping) and rm.get("ground_truth") is not None:
        return rm["ground_truth"]
    gt = row.get("ground_truth")
    if gt is None or (isinstance(gt, float) and gt != gt):
        return None
    return gt


def per_response(value, n: int) -> list:
    values = as_list(value) if not isinstance(value, bool | int | float) else [value]
    if len(values) == n:
        return values
    return values * n if len(values) == 1 else [None] * n


def open_think(response: str, mode: str) -> str:
    """`response` with `<think>` prepended when the prompt opened it: mode "yes", "no" or "auto" (a `</think>` without
    `<think>` means the prompt opened it)."""
    response = str(response)
    if "<think>" in response or mode == "no":
        return response
    if mode == "yes" or "</think>" in response:
        return "<think>\n" + response.lstrip("\n")
    return response



class MalformedRow(ValueError):
    """A prompt row whose fields cannot be read; the message says which."""


@dataclass
class Generations:
    """One prompt row, parsed."""
    messages: list[dict]        # the prompt's chat messages
    prompt: str                 # the last user message (the language reward's target)
    responses: list[str]        # with `<think>` opened per `think_in_prompt`
    truncated: list[bool]       # per response: stopped at the length limit
    ground_truth: object        # None when the row has none
    data_source: str            # UNKNOWN_SOURCE when the row has none
    extra_info: dict            # the row's extra_info plus `data_source` and `prompt` (as the reward manager passes)
    row: Mapping                # the raw row (other columns: judge verdicts, ...)


def parse_row(row: Mapping, prompt_key: str = "prompt", response_key: str = "responses",
              think_in_prompt: str = "auto") -> Generations:
    """Parse one prompt row; MalformedRow with the reason when a field cannot be read."""
    for key in (response_key, prompt_key):
        value = row.get(key)
        if value is None or (isinstance(value, float) and value != value):  # absent from this row (NaN in a frame)
            raise MalformedRow(f"malformed_row: no {key!r}")
    try:
        responses = [open_think(r, think_in_prompt) for r in as_list(row[response_key])]
        n = len(responses)
        messages = messages_of(row[prompt_key])
        prompt = last_user_message(messages)
        source = row.get("data_source")
        source = UNKNOWN_SOURCE if source is None or source != source else str(source)
        info = row.get("extra_info")
        extra = dict(info) if isinstance(info, Mapping) else {}
        extra.setdefault("data_source", source)
        extra.setdefault("prompt", prompt)
        truncated = [bool(t) or f == "length" for t, f in zip(per_response(row.get("truncated"), n),
                                                              per_response(row.get("finish_reasons"), n), strict=True)]
        return Generations(messages, prompt, responses, truncated, ground_truth_of(row), source, extra, row)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise MalformedRow(f"malformed_row: {type(e).__name__}: {e}"[:200]) from None


def n_responses(row: Mapping, response_key: str = "responses") -> int:
    """How many responses a (possibly malformed) row holds, at least 1: the records a dropped row still gets."""
    try:
        return max(1, len(as_list(row.get(response_key))))
    except TypeError:
        return 1


def atomic_write(path: Path, write) -> None:
    """`write(tmp)` then rename onto `path`: a killed run never leaves a half-written file under the final name."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)
