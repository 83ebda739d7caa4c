"""What `r1-recipe eval` records besides the numbers: the generation settings of each input (from the file's metadata,
r1_recipe.core.provenance, or `--setting KEY=VALUE` flags), the verifier's versions, and a stable key per problem
so that `eval --compare` can pair the problems of two runs."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from r1_recipe.core import provenance

VERIFIER_PACKAGES = ("r1-recipe", "math-verify", "latex2sympy2_extended", "sympy")


def problem_key(row: Mapping, prompt_key: str = "prompt") -> str:
    """A problem's identity across runs: sha256 of its data_source, prompt and ground truth (16 hex digits)."""
    from r1_recipe.tools.generations import ground_truth_of

    def plain(value):
        if hasattr(value, "tolist"):
            return plain(value.tolist())
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    ident = [row.get("data_source"), plain(row.get(prompt_key)), plain(ground_truth_of(row))]
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def per_problem(keys: Sequence[str], metrics: Sequence[Mapping]) -> dict[str, dict]:
    """{problem key: its metrics}; a key seen twice (the same problem twice in the input) gets `#2`, `#3`, ..."""
    out: dict[str, dict] = {}
    for key, values in zip(keys, metrics, strict=True):
        name, i = key, 1
        while name in out:
            i += 1
            name = f"{key}#{i}"
        out[name] = {k: v for k, v in values.items() if "@" in k}
    return out


def read_generation_settings(path: str | os.PathLike) -> dict:
    """The settings recorded in a generations parquet (r1_recipe.verl.generate writes them), else those of the
    chunk manifest next to it, else {}."""
    found = provenance.read_parquet_settings(path)
    if found:
        return found
    manifest = Path(f"{path}.chunks") / "manifest.json"
    try:
        old = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return {}
    return {"model": {"path": old.get("model")}, "n": old.get("n"), "sampling": old.get("sampling"),
            "source": str(manifest)}


def verifier_versions() -> dict:
    return provenance.versions(*VERIFIER_PACKAGES)


def parse_flags(flags: Sequence[str]) -> dict:
    """`--setting KEY=VALUE` flags as a dict (values parsed as JSON when they are, else kept as text)."""
    out = {}
    for flag in flags:
        key, eq, value = flag.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--setting expects KEY=VALUE, got {flag!r}")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def flatten(settings: Mapping, prefix: str = "") -> dict:
    """Nested settings as dotted keys, for one line of eval.md."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
