"""The math accuracy reward component and its batch API (DeepSeek-R1 §2.2.2, "accuracy rewards")."""

from __future__ import annotations

import functools
import re

from r1_recipe.core.rewards.math.canonical import MAX_ANSWER_CHARS, MAX_CHARS, _split_top, normalize
from r1_recipe.core.rewards.math.equivalence import is_equivalent, vote_key
from r1_recipe.core.rewards.math.extract import DEFAULT_FALLBACKS, boxed_contents, extract_answer, final_boxes
from r1_recipe.core.rewards.types import RewardOutput, no_verdict


def _mcq_letter(pred: str, gold: str, extra_info: dict | None) -> str | None:
    """Map option text to its letter when the gold is a letter and `extra_info` carries the options."""
    info = extra_info if isinstance(extra_info, dict) else {}
    options = info.get("options")
    options = info.get("choices") if options is None else options
    if hasattr(options, "tolist"):  # parquet lists arrive as numpy arrays
        options = options.tolist()
    if not options or not re.fullmatch(r"\(?[A-J]\)?", gold.strip()):
        return None
    if isinstance(options, list | tuple):
        options = {chr(ord("A") + i): o for i, o in enumerate(options)}
    if not isinstance(options, dict):  # a malformed sample is a wrong answer, never a crash
        return None
    for letter, text in options.items():
        if is_equivalent(pred, str(text)):
            return str(letter).strip("() ")
    return None


def math_reward(
    solution_str: str,
    ground_truth,
    extra_info: dict | None = None,
    fallbacks: tuple[str, ...] | list[str] = DEFAULT_FALLBACKS,
    think_policy: str = "ignore",
    multiple: str = "reject",
    **_: object,
) -> RewardOutput:
    """1.0 when the response's final answer is equivalent to `ground_truth` (to any of them when it is a list of
    accepted answers: a python list or, from parquet, a numpy array), else 0.0 with a reason.

    Options: `fallbacks` (subset of FALLBACKS, tried in order when there is no `<answer>` or `\\boxed{}`),
    `think_policy` ("ignore": an answer only inside the reasoning does not count; "allow": it does),
    `multiple` ("reject": several different final answers score 0; "last": the last one counts).
    `pred` is the extracted answer; `info["key"]` its canonical key (for majority votes).
    Reasons: no_answer, multiple_answers, unclosed_answer, unclosed_boxed, unclosed_think, answer_in_think,
    too_long, unparsable_gold, wrong.
    """
    if not isinstance(solution_str, str):
        return RewardOutput(0.0, "bad_response")
    if len(solution_str) > MAX_CHARS:
        return RewardOutput(0.0, "too_long")
    golds = gold_texts(ground_truth)
    if not golds:
        return RewardOutput(0.0, "unparsable_gold")
    pred, where = extract_answer(solution_str, fallbacks=fallbacks, think_policy=think_policy, multiple=multiple)
    for gold in golds if where == "multiple_answers" else ():
        pred, where = _multi_part(solution_str, gold)
        if pred is not None:
            break
    if pred is None:
        return RewardOutput(0.0, where)
    if len(pred) > MAX_ANSWER_CHARS:
        return RewardOutput(0.0, "too_long", pred[:200])
    info = {"key": vote_key(pred), "where": where}
    ok = any(_matches(pred, gold, extra_info) for gold in golds)
    return RewardOutput(1.0 if ok else 0.0, "" if ok else "wrong", pred, info)


def _matches(pred: str, gold: str, extra_info: dict | None) -> bool:
    if is_equivalent(pred, gold):
        return True
    letter = _mcq_letter(pred, gold, extra_info)
    return letter is not None and letter == gold.strip().strip("()")


# Golds written as several parts: boxes or math spans joined by short filler (`\\boxed{1} papers and \\boxed{2} bins`,
# `\\(\\boxed{1}\\) and \\(\\boxed{-2}\\)`, `$21,16$ or $11$`); a box in a long text is a worked solution's last result.
_BOXED_PART = re.compile(r"\\{1,2}(?:boxed|fbox)\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_MATH_PART = re.compile(r"\$([^$]+)\$|\\\((.+?)\\\)")
# at most two words between boxes (`papers and`, `\\quad \\text{and} \\quad`, `++++++`; not `no no no no no`)
_BOX_FILLER = re.compile(r"[^$\\{}\da-zA-Z]*(?:[a-zA-Z]+[^$\\{}\da-zA-Z]*){0,2}")
_SPACING = re.compile(r"\\(?:quad|qquad|text\{\s*(?:and|or)\s*\}|[,;!: ])")
_SPAN_FILLER = re.compile(r"(?i),|;|or|and|\\text\{\s*(?:or|and)\s*\}|")  # between math spans: connectors only
_WORDS = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")


def _parts(gold: str) -> int:
    """How many parts a gold answer has: `3, 5, 7` or `(2,2),(6,2)` -> 3 / 2; `5`, `(1,2)` -> 1."""
    s = normalize(gold).replace(";", ",")
    m = re.fullmatch(r"\\?\{(.*)\\?\}", s)
    return len([p for p in _split_top(m.group(1) if m else s) if p])


def _multi_part(response: str, gold: str) -> tuple[str | None, str]:
    """Several different boxes after the reasoning are one answer only when the gold has exactly that many parts
    (`\\boxed{3}, \\boxed{5}, \\boxed{7}` for `3, 5, 7`); for a single-valued gold they are hedging."""
    boxes = final_boxes(response)
    if len(boxes) > 1 and _parts(gold) == len(boxes) and all(_parts(b) == 1 for b in boxes):
        return ", ".join(boxes), "boxed_parts"
    return None, "multiple_answers"


def gold_texts(ground_truth) -> list[str]:
    """The accepted answers, each as the text the response is compared with ([] when there is none). verl datasets
    carry the gold as a string, a number, a list of accepted answers (a numpy array when read from parquet), or a
    dict {"ground_truth": ...}."""
    if isinstance(ground_truth, str):  # the common case: remembered, unless too long to keep
        fn = _gold_texts_of if len(ground_truth) <= _CACHED_GOLD_CHARS else _gold_texts_of.__wrapped__
        return list(fn(ground_truth))
    if isinstance(ground_truth, dict):
        ground_truth = ground_truth.get("ground_truth", ground_truth.get("answer"))
    if hasattr(ground_truth, "tolist"):  # numpy arrays and scalars from parquet
        ground_truth = ground_truth.tolist()
    items = ground_truth if isinstance(ground_truth, list | tuple) else [ground_truth]
    return [text for text in map(_gold_text, items) if text]


_CACHED_GOLD_CHARS = 20_000  # golds up to this long are remembered (a worked solution as the gold is this long)


@functools.lru_cache(maxsize=1024)  # the responses of a group share the gold
def _gold_texts_of(ground_truth: str) -> tuple[str, ...]:
    text = _gold_text(ground_truth)
    return (text,) if text else ()


def _gold_text(ground_truth) -> str:
    """One accepted answer as text: a GSM8K solution's `#### N`, a boxed or multi-part gold's parts, a worked
    solution's final answer; "" for none."""
    if hasattr(ground_truth, "tolist"):
        ground_truth = ground_truth.tolist()
    if ground_truth is None or isinstance(ground_truth, list | tuple | dict):
        return ""
    text = str(ground_truth).strip()
    if "####" in text:  # a GSM8K answer field: the worked solution, then `#### 72`
        return text.rsplit("####", 1)[1].strip()
    parts = _gold_parts(text)
    if parts:
        return ", ".join(parts)
    boxes, _ = boxed_contents(text)
    if boxes:
        return boxes[-1].strip()
    if len(_WORDS.findall(re.sub(r"\$[^$]*\$", " ", text))) >= 8:  # a worked solution as the gold: its final answer
        answer, _ = extract_answer(text, fallbacks=("answer_colon", "answer_is"), multiple="last")
        return answer or text
    return text


def _gold_parts(text: str) -> list[str]:
    """The parts of a gold written as several boxes or math spans with only short filler between them, else []."""
    for pattern, filler in ((_BOXED_PART, _BOX_FILLER), (_MATH_PART, _SPAN_FILLER)):
        spans = list(pattern.finditer(text))
        if len(spans) < 2:
            continue
        inner = [text[a.end() : b.start()] for a, b in zip(spans, spans[1:], strict=False)]
        outer = [text[: spans[0].start()], text[spans[-1].end() :]]
        clean = [
            _SPACING.sub(" ", g).strip().strip("$").replace("\\(", "").replace("\\)", "").strip().rstrip(".")
            for g in inner + outer
        ]
        if all(filler.fullmatch(g.strip()) for g in clean[: len(inner)]) and all(
            _BOX_FILLER.fullmatch(g) for g in clean
        ):
            return [next(g for g in m.groups() if g is not None).strip() for m in spans]
    return []


def _verify_pair(scorer, response: str, gold: str, options: dict) -> RewardOutput:
    return scorer(response, gold, None, **options)


def _failed(error: BaseException, item: tuple) -> RewardOutput:
    """A pair the pool gave no verdict on (`BoundExceeded`: timeout, dead worker) or whose scorer raised."""
    from r1_recipe.core.bounded import BoundExceeded

    if isinstance(error, BoundExceeded):
        return no_verdict(error.reason)
    return RewardOutput(0.0, f"error: {type(error).__name__}: {error}"[:300])


def verify_batch(
    pairs: list[tuple[str, str]],
    timeout_s: float = 5.0,
    workers: int | None = None,
    progress: bool | str = True,
    scorer=None,
    **options,
) -> list[RewardOutput]:
    """Score many (response, gold) pairs in parallel over the cores, each verdict under a hard `timeout_s` bound.

    For rejection sampling and evaluation. A verdict past the bound is no verdict: score 0, reason "timeout",
    `infra` set (its worker is killed and replaced); results keep the input order. `options` go to `math_reward`
    (fallbacks, think_policy). `scorer`: another module-level component with the same signature (default `math_reward`).
    """
    from r1_recipe.core.bounded import BoundedPool

    scorer = scorer or math_reward
    pool = BoundedPool(workers=workers, preload=tuple(dict.fromkeys((__name__, scorer.__module__))))
    try:
        items = [(scorer, r, g, options) for r, g in pairs]
        bar = ("math verify" if progress is True else progress) if len(items) >= 64 else False
        return list(pool.map(_verify_pair, items, timeout=timeout_s, default=_failed, progress=bar))
    finally:
        pool.close()


def _validate_options(options: dict) -> None:
    """Start-up check of `math_reward`'s option values (called by the Composer, after the names and types its
    signature declares): `extract_answer` refuses bad ones."""
    extract_answer("", **options)


math_reward.validate_options = _validate_options
