"""Turn a public dataset into verl's RL parquet schema (verl `RLHFDataset`):

    prompt        [{"role": "user", "content": ...}]   chat messages (verl applies the template in the agent loop)
    data_source   str                                  routes the reward and the validation metrics
    ability       math | stem | code
    reward_model  {"style": "rule", "ground_truth": str}   code: verl's test_cases JSON string
    extra_info    {"index", "split", "dataset", "question", ...}   passed to the reward (GPQA: "options")

`template="r1_zero"` writes the bare question (the R1-Zero template, set as the model's `custom_chat_template`, wraps
it; [v1] Table 1); `template="chat"` appends the DeepSeek-R1 README's instruction ("Please reason step by step, and put
your final answer within \\boxed{}." for maths).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from r1_recipe.tools.data.datasets import SPECS, MissingColumn, Spec

logger = logging.getLogger(__name__)
PROMPT_FORMATS = ("r1_zero", "chat")
LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet")


class PrepareError(ValueError):
    """Bad input: names the dataset, the file and the column or row."""


def read_local(path: str | Path) -> list[dict]:
    """Records of a local .jsonl / .json (list of objects, or {"data": [...]}) / .parquet file; PrepareError names
    the file and the line of what cannot be read."""
    from r1_recipe.tools.inputs import InputError, read_json, read_jsonl, read_parquet

    path = Path(path).expanduser()
    if not path.is_file():
        raise PrepareError(f"input file {str(path)!r} does not exist")
    try:
        if path.suffix == ".parquet":
            return read_parquet(path).to_dict("records")
        if path.suffix == ".jsonl":
            return [record for _, record in read_jsonl(path)]
        if path.suffix == ".json":
            data = read_json(path)
            data = data.get("data", data) if isinstance(data, dict) else data
            if not isinstance(data, list):
                raise PrepareError(f"{path}: expected a JSON list of records (or {{\"data\": [...]}})")
            return data
    except InputError as e:
        raise PrepareError(str(e)) from None
    raise PrepareError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(LOCAL_SUFFIXES)}")


def read_hub(spec: Spec, split: str) -> Iterable[Mapping]:
    """Records from the Hugging Face hub (needs network and the `datasets` package)."""
    try:
        import datasets
    except ImportError as e:
        raise PrepareError("reading from the hub needs the `datasets` package; or pass --input FILE") from e
    try:
        return datasets.load_dataset(spec.hub_id, spec.hub_config, split=split)
    except Exception as e:  # offline, gated, renamed: say which and how to work around it
        raise PrepareError(f"cannot load {spec.hub_id!r} (config {spec.hub_config}, split {split!r}) from the hub: "
                           f"{type(e).__name__}: {e}. Download it and pass --input FILE (.jsonl/.json/.parquet)") from e


def user_content(question: str, instruction: str, template: str) -> str:
    if template == "r1_zero" or not instruction:
        return question.strip()
    return f"{question.strip()}\n{instruction}"


def to_rows(records: Iterable[Mapping], spec: Spec, template: str, split: str, source: str = "",
            progress: bool = True) -> tuple[list[dict], list[str]]:
    """verl rows for `records`, and the reasons for skipped records. A missing column is an error (every record would
    fail); a single malformed record (no boxed answer, bad test cases) is skipped with its reason."""
    from tqdm.auto import tqdm

    if template not in PROMPT_FORMATS:
        raise PrepareError(f"unknown template {template!r}; choose from {', '.join(PROMPT_FORMATS)}")
    records = list(records)
    rows, skipped = [], []
    for i, rec in enumerate(tqdm(records, desc=f"prepare {spec.name}", unit="row",
                                 disable=not progress or len(records) < 1000)):
        try:
            ex = spec.to_example(rec)
        except MissingColumn as e:
            raise PrepareError(f"dataset {spec.name!r}{f' ({source})' if source else ''}: row {i}: {e}; "
                               "rename the column or use --question-key/--answer-key") from None
        except (ValueError, KeyError, TypeError) as e:
            skipped.append(f"row {i}: {type(e).__name__}: {e}"[:300])
            continue
        rows.append({
            "prompt": [{"role": "user", "content": user_content(ex.question, ex.instruction, template)}],
            "data_source": spec.data_source,
            "ability": ex.ability,
            "reward_model": {"style": "rule", "ground_truth": ex.ground_truth},
            "extra_info": {"index": i, "split": split, "dataset": spec.name, "question": ex.question,
                           **{k: ("" if v is None else v) for k, v in ex.extra.items()}},
        })
    return rows, skipped


def split_rows(rows: list[dict], val_size: float) -> tuple[list[dict], list[dict]]:
    """Deterministic train/val split: rows ordered by a hash of the question, the first `val_size` (count if >= 1,
    else fraction) go to val. The same question lands in the same split whatever the input order or machine."""
    if val_size <= 0:
        return rows, []
    n_val = int(val_size) if val_size >= 1 else round(len(rows) * val_size)
    if n_val >= len(rows):
        raise PrepareError(f"--val-size {val_size} leaves no training rows out of {len(rows)}")
    def key(r):
        return hashlib.sha256(r["extra_info"]["question"].encode()).hexdigest()

    val_ids = {id(r) for r in sorted(rows, key=key)[:n_val]}
    train = [r for r in rows if id(r) not in val_ids]
    val = [r for r in rows if id(r) in val_ids]
    for part, name in ((train, "train"), (val, "val")):
        for r in part:
            r["extra_info"]["split"] = name
    return train, val


def write_parquet(rows: list[dict], path: Path) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    tmp.replace(path)  # never leave a half-written parquet where a trainer would read it


def prepare(dataset: str, out: str | Path, split: str | None = None, template: str = "r1_zero",
            input_path: str | list[str] | None = None, val_size: float = 0, limit: int | None = None,
            question_key: str | None = None, answer_key: str | None = None, progress: bool = True) -> dict:
    """Prepare `dataset` into `out/<split>.parquet` (or `out/train.parquet` + `out/val.parquet` with `val_size`).
    `input_path`: one local file or several (concatenated in order, e.g. LiveCodeBench's test*.jsonl); None: the hub.
    Returns {"files": {name: path}, "rows": {name: n}, "skipped": [reasons]}."""
    if dataset not in SPECS:
        raise PrepareError(f"unknown dataset {dataset!r}; available: {', '.join(SPECS)}")
    spec = SPECS[dataset]
    split = split or spec.split
    if input_path:
        paths = [input_path] if isinstance(input_path, str | Path) else list(input_path)
        records = [rec for p in paths for rec in read_local(p)]
        source = ", ".join(map(str, paths))
    else:
        records, source = read_hub(spec, split), spec.hub_id
    if question_key or answer_key:
        records = [_renamed(r, spec, question_key, answer_key) for r in records]
    if limit:
        records = list(records)[:limit]
    records = list(records)
    if not records:
        raise PrepareError(f"dataset {dataset!r} ({source}): the input has no records")
    rows, skipped = to_rows(records, spec, template, split, source, progress)
    if not rows:
        raise PrepareError(f"dataset {dataset!r} ({source}): no usable rows; first problems: {skipped[:3]}")
    for reason in skipped[:10]:
        logger.warning("prepare %s: skipped %s", dataset, reason)
    out = Path(out).expanduser()
    parts = dict(zip(("train", "val"), split_rows(rows, val_size), strict=True)) if val_size else {split: rows}
    files = {}
    for name, part in parts.items():
        files[name] = out / f"{name}.parquet"
        write_parquet(part, files[name])
    return {"files": files, "rows": {k: len(v) for k, v in parts.items()}, "skipped": skipped}


_DEFAULT_KEYS = {"question": ("question", "problem", "Question", "question_content"), "answer": ("answer", "solution")}


def _renamed(rec: Mapping, spec: Spec, question_key: str | None, answer_key: str | None) -> dict:
    """Map user column names onto the spec's (`--question-key prompt` for a local file that calls it `prompt`)."""
    rec = dict(rec)
    probe = {"question": question_key, "answer": answer_key}
    for role, user_key in probe.items():
        if not user_key:
            continue
        if user_key not in rec:
            raise PrepareError(f"dataset {spec.name!r}: --{role}-key column {user_key!r} missing "
                               f"(columns present: {', '.join(sorted(map(str, rec)))})")
        for target in _DEFAULT_KEYS[role]:
            rec.setdefault(target, rec[user_key])
    return rec
