"""Reading the user's input files so that every error names the file and the line: jsonl records, JSON documents
and parquet files (generations, datasets to prepare, SFT sets to mix, training logs, eval reports)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)


class InputError(ValueError):
    """An input file that cannot be read; the message names the file and the line (or row)."""


def _decode(path, raw: bytes, first_line: int = 1) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = first_line + raw.count(b"\n", 0, e.start)
        column = e.start - raw.rfind(b"\n", 0, e.start)
        raise InputError(f"{path}, line {line}: not UTF-8 (byte {raw[e.start]:#04x} at column {column}); "
                         "re-encode the file as UTF-8") from None


def _invalid(path, line: int, column: int, error: json.JSONDecodeError) -> InputError:
    what = error.msg.removesuffix(" at")  # "Unterminated string starting at"
    return InputError(f"{path}, line {line}: invalid JSON ({what} at column {column})")


def read_jsonl(path: str | os.PathLike, lenient: bool = False) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a jsonl file. A line that is not UTF-8, not JSON or not a
    JSON object raises InputError naming the file and the line; with `lenient` it is skipped with a warning that
    names them (a log cut off mid-write)."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                text = _decode(path, raw, n).rstrip("\r\n")
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as e:
                    raise _invalid(path, n, e.pos + 1, e) from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}, line {n}: expected a JSON object, got {type(record).__name__}")
            except InputError as e:
                if not lenient:
                    raise
                logger.warning("skipped %s", e)
                continue
            yield n, record


def count_lines(path: str | os.PathLike) -> int:
    """Non-blank lines of a jsonl file, without parsing them (errors surface, with their line, when it is read)."""
    with open(path, "rb") as f:
        return sum(1 for raw in f if raw.strip())


def read_json(path: str | os.PathLike):
    """A whole JSON document; InputError names the file, the line and the column."""
    text = _decode(path, Path(path).read_bytes())
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise _invalid(path, e.lineno, e.colno, e) from None


def parquet_file(path: str | os.PathLike):
    """pyarrow's ParquetFile; InputError names the file when it is not a readable parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not Path(path).expanduser().is_file():
        raise InputError(f"{path}: file not found")
    try:
        return pq.ParquetFile(Path(path).expanduser())
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{path}: not a readable parquet file ({e})") from None


def read_parquet(path: str | os.PathLike):
    """`pandas.read_parquet`, with InputError naming the file when it is missing or not parquet."""
    import pandas as pd

    parquet_file(path)
    return pd.read_parquet(Path(path).expanduser())
