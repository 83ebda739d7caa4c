"""Reading generations: verl's `main_generation_server` output (parquet) or jsonl with the same keys, one reader
for rejection sampling and evaluation so that both parse a row the same way.

A prompt row has a `prompt` (chat messages, or a string), a `responses` list, and optionally `data_source`,
`reward_model.ground_truth` (or a top-level `ground_truth`), `extra_info`, per-response `truncated` (bools) or
`finish_reasons` ("length" = truncated). `parse_row` turns one into a `Generations`; a row whose fields cannot be
read raises `MalformedRow` (its callers score it 0 with the reason, never stop).

Scored as in training (the `r1` reward manager): a response is the text the rewards read after
`core.rewards.tokens.scored_text` (trailing EOS strings removed, `<think>` first when the prompt opened the reasoning
block, by the one rule `core.templates.opens_think`), and is truncated when it stopped at the length limit (training:
no EOS within `response_length`; here: `finish_reasons` "length" or `truncated`). Whether the prompts opened `<think>`
is a property of the chat template, not of the response: `think_rule` takes it from `--think-in-prompt`, the
generation file's recorded settings (`eval_generate` records `think_in_prompt`) or the `--reward-config` recipe's
`custom_chat_template`, and says so when none of them tells.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from r1_recipe.core.rewards.tokens import scored_text
from r1_recipe.core.templates import last_user_message
from r1_recipe.tools.inputs import count_lines, parquet_file, read_jsonl

logger = logging.getLogger(__name__)

UNKNOWN_SOURCE = "unknown"  # data_source of a row that has none
THINK_MODES = ("yes", "no", "auto")  # --think-in-prompt: the prompts opened <think>, did not, guess per response
THINK_HELP = ("whether the prompts' chat template opened <think> (the response is then scored as <think> + response, "
              "as in training); default: recorded by eval_generate in the generation file, else the --reward-config "
              "recipe's custom_chat_template; auto: guess per response (a warning says when it is used)")
TRUNCATION_COLUMNS = ("truncated", "finish_reasons")
TEMPLATE_KEY = "actor_rollout_ref.model.custom_chat_template"


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
    """The text the rewards read (`scored_text`, as the `r1` manager makes it): mode "yes" (the prompts opened
    `<think>`), "no", or "auto" (a guess per response, when the template is unknown: a `</think>` without `<think>`
    means the prompt opened it; a response of such a prompt that never closes its reasoning is then read as a plain
    answer, as training does not)."""
    response = str(response)
    if mode in ("auto", None):
        return scored_text(response, "</think>" in response and "<think>" not in response)
    return scored_text(response, mode == "yes")


# ---------------------------------------------------------------- where the think rule comes from

def recorded_think(paths: Iterable[str | os.PathLike]) -> tuple[bool | None, str]:
    """(whether the prompts opened `<think>`, the files that say so) from the settings `eval_generate` records in its
    output (`think_in_prompt`: the served template rendered with a generation prompt); (None, "") when no file records
    it. ValueError when two files disagree."""
    from r1_recipe.tools.eval_settings import read_generation_settings

    found = {}
    for path in paths:
        value = read_generation_settings(path).get("think_in_prompt")
        if isinstance(value, bool):
            found[str(path)] = value
    if len(set(found.values())) > 1:
        raise ValueError("the generation files disagree on whether their prompts opened <think> (recorded "
                         f"think_in_prompt: {found}); score them separately, or pass --think-in-prompt yes|no")
    return (next(iter(found.values())), ", ".join(found)) if found else (None, "")


_TEMPLATE_REF = re.compile(r"\$\{\s*r1_template\s*:\s*([\w-]+)\s*\}")


def recipe_template(recipe: str) -> str | None:
    """The chat template source a recipe (name or YAML file) sets in `actor_rollout_ref.model.custom_chat_template`
    (`${r1_template:NAME}` read from the shipped templates); None when it sets none (the model's own template)."""
    from omegaconf import OmegaConf

    from r1_recipe.core.templates import load
    from r1_recipe.tools.recipes import compose, resolve_recipe

    path, _ = resolve_recipe(recipe)
    node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    value, absent = node, False
    for part in TEMPLATE_KEY.split("."):
        if not isinstance(value, dict) or part not in value:
            value, absent = None, True
            break
        value = value[part]
    if absent and isinstance(node, dict) and node.get("defaults"):  # inherited (zero_dapo: zero's), composed
        value = OmegaConf.select(compose(str(path))[0], TEMPLATE_KEY)
    if not isinstance(value, str) or not value.strip():
        return None
    ref = _TEMPLATE_REF.fullmatch(value.strip())
    return load(ref.group(1)) if ref else value


def think_rule(option: str | None, inputs: Iterable[str | os.PathLike], recipe: str | None = None) -> tuple[str, str]:
    """(mode for `parse_row`, where it comes from): `option` (--think-in-prompt) when given; else what the generation
    files record; else the `recipe`'s chat template rendered with a generation prompt (`core.templates`); else "auto"
    with a warning naming the option (the per-response guess, which training does not make)."""
    from r1_recipe.core.templates import template_opens_think

    if option is not None:
        if option not in THINK_MODES:
            raise ValueError(f"--think-in-prompt must be one of {', '.join(THINK_MODES)}, got {option!r}")
        return option, "--think-in-prompt"
    opened, files = recorded_think(inputs)
    if opened is not None:
        return ("yes" if opened else "no"), f"recorded in {files}"
    if recipe is not None:
        template = recipe_template(recipe)
        if template is not None:
            return ("yes" if template_opens_think(template) else "no"), f"{recipe}: {TEMPLATE_KEY}"
    logger.warning("whether the prompts opened <think> is unknown (no --think-in-prompt, no think_in_prompt recorded "
                   "in the generation files, no custom_chat_template in a --reward-config recipe): guessing per "
                   "response, which training does not do (a response that never closes </think> is read as a plain "
                   "answer); pass --think-in-prompt yes|no")
    return "auto", "guessed per response (unknown template)"


def warn_if_truncation_unknown(paths: Iterable[str | os.PathLike]) -> None:
    """A warning for each generation file with neither `truncated` nor `finish_reasons`: its responses cut at the
    length limit cannot be told apart and are scored as complete (training scores them 0)."""
    for path in map(Path, paths):
        if path.suffix == ".parquet":
            columns = parquet_file(path).schema_arrow.names
        else:
            columns = next((list(first) for _, first in read_jsonl(path)), [])
        if not set(TRUNCATION_COLUMNS) & set(columns):
            logger.warning("%s has no `truncated` or `finish_reasons` column: responses cut at the length limit are "
                           "scored as complete (training scores them 0 with reason `truncated`)", path)



class MalformedRow(ValueError):
    """A prompt row whose fields cannot be read; the message says which."""


@dataclass
class Generations:
    """One prompt row, parsed."""
    messages: list[dict]        # the prompt's chat messages
    prompt: str                 # the last user message (the language reward's target)
    responses: list[str]        # as the rewards read them (`open_think`: EOS strings removed, `<think>` per the rule)
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
