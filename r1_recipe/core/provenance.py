"""How a generations file was produced, carried inside it: the generation settings are a JSON document in the parquet
file's key-value metadata (`r1_recipe.generation`), written by r1_recipe.verl.generate and read by `r1-recipe eval`.

Evaluation numbers move with settings nobody records (one open-r1 report moved AIME by 6.7 points with the serving
tensor-parallel size alone), so the file says which model (path and hashes of its config and weight index: cheap,
and they change whenever the weights are re-exported), sampling parameters, k, lengths, tensor-parallel size, dtype,
chat template (hash and where it came from), prompt format and the software versions.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Iterable
from pathlib import Path

METADATA_KEY = b"r1_recipe.generation"
_WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_fingerprint(path: str | os.PathLike) -> dict:
    """`path`, plus for a local model directory: sha256 of config.json and of its weight index (a sharded model's
    `*.index.json`; for a single file, its name and size, hashing gigabytes of weights being too slow)."""
    out: dict = {"path": str(path)}
    local = Path(str(path)).expanduser()
    if not local.is_dir():
        return out  # a hub id: resolved by the server, not here
    if (local / "config.json").is_file():
        out["config_sha256"] = sha256_file(local / "config.json")
    index = next((local / n for n in _WEIGHT_INDEXES if (local / n).is_file()), None)
    if index is not None:
        out["weights_index_sha256"] = sha256_file(index)
    else:
        files = sorted((p.name, p.stat().st_size) for p in local.iterdir() if p.suffix in _WEIGHT_SUFFIXES)
        if files:
            out["weights_files_sha256"] = hashlib.sha256(json.dumps(files).encode()).hexdigest()
    return out


def chat_template_fingerprint(model_path: str | os.PathLike, custom: str | None = None) -> dict:
    """The chat template the server applies: `custom` when given, else the model's own (chat_template.jinja or
    tokenizer_config.json's `chat_template`); its sha256 and where it came from."""
    template, source = (custom, "custom") if custom else model_chat_template(model_path)
    if not template:
        return {"source": source}
    return {"source": source, "sha256": hashlib.sha256(template.encode()).hexdigest()}


def model_chat_template(model_path: str | os.PathLike) -> tuple[str | None, str]:
    """(the Jinja source of a local model's own chat template, where it was read); (None, why) when there is none.
    Named templates (a list in tokenizer_config.json) give the `default` one."""
    local = Path(str(model_path)).expanduser()
    if (local / "chat_template.jinja").is_file():
        return (local / "chat_template.jinja").read_text(encoding="utf-8"), "model chat_template.jinja"
    try:
        template = json.loads((local / "tokenizer_config.json").read_text()).get("chat_template")
    except (OSError, ValueError):
        template = None
    if isinstance(template, list):  # named templates
        template = next((t.get("template") for t in template if isinstance(t, dict) and t.get("name") == "default"),
                        None)
    if not template:
        return None, "unknown (not a local model directory, or no chat template)"
    return template, "model tokenizer_config.json"


def prompt_format(user_messages: Iterable[str]) -> str:
    """How the prompts were written (`r1-recipe prepare --template`): "chat" when every last user message ends with
    the DeepSeek-R1 README's maths instruction, "bare question" when none does, else "mixed"."""
    from r1_recipe.core.templates import MATH_INSTRUCTION

    flags = {str(m).rstrip().endswith(MATH_INSTRUCTION) for m in user_messages}
    if flags == {True}:
        return "chat (maths instruction appended)"
    return "bare question" if flags == {False} else "mixed"


def versions(*packages: str) -> dict:
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def write_parquet(df, path: str | os.PathLike, settings: dict | None) -> None:
    """`df` to parquet at `path`, with `settings` in the file's metadata (pandas' own metadata kept)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    if settings:
        meta = dict(table.schema.metadata or {})
        meta[METADATA_KEY] = json.dumps(settings, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(meta)
    pq.write_table(table, str(path))


def read_parquet_settings(path: str | os.PathLike) -> dict:
    """The settings a parquet file carries ({} for none, or for a file that is not parquet)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(str(path)).metadata or {}
    except Exception:  # not parquet (jsonl), unreadable: no settings
        return {}
    raw = meta.get(METADATA_KEY)
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}
