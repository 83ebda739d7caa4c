"""Rejection-sampling filters and per-prompt selection (DeepSeek-R1 §2.3.3).

The paper keeps only correct responses and "filtered out chain-of-thought with mixed languages, long paragraphs, and
code blocks"; we add the checks every practitioner adds (well-formed think/answer structure, not truncated, no
degenerate repetition, length limits), then deduplicate near-identical responses and keep at most K per prompt.

Each filter is a function `(Candidate, FilterConfig) -> reason | ""`; `first_failure` applies them in `FILTER_ORDER`
and returns the first reason, so every dropped response is counted under exactly one filter in the report.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import operator
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from r1_recipe.core.rewards.format import check_format, strip_eos
from r1_recipe.core.rewards.language import MIN_CONSISTENT_SHARE, count_units, language_mixed

_FENCE = re.compile(r"^\s*```", re.M)
_PARAGRAPH = re.compile(r"\n\s*\n")
_NORM = re.compile(r"\W+", re.U)
_UNIT_TOKENS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W_]+", re.U)
# ASCII text, the common case, tokenised by bytes.translate + split in C (the regexes' tokens, several times faster):
# letters lower-cased, the token's other characters kept, everything else a separator
_ASCII_UNITS = bytes(b | 0x20 if chr(b).isalpha() else b if chr(b).isalnum() else 0x20 for b in range(128)) + b" " * 128
_ASCII_WORDS = bytes(b | 0x20 if chr(b).isalpha() else b if chr(b).isalnum() or b == 0x5F else 0x20
                     for b in range(128)) + b" " * 128

SELECTION_RULES = ("random", "shortest", "first")
JUDGE_TRUE = frozenset({"1", "true", "yes", "correct", "right", "pass", "passed", "y"})


@dataclass(frozen=True)
class FilterConfig:
    """Thresholds of the filters; every value is documented in docs/rejection-sampling.md.

    min_acc: a response is correct when the rule reward's `acc` is at least this.
    language: target language code of the reasoning, or None for the prompt's language.
    min_language_share: least share of the reasoning's words in the target language (mixed-language filter).
    max_paragraph_units: longest paragraph allowed, in language units (words; CJK characters).
    answer_tag: require `<answer>...</answer>` after `</think>` (the R1-Zero form); default the chat form.
    min_chars / max_chars: length limits of the response.
    repeat_ngram / max_repeat_ratio: degenerate repetition is a share of repeated n-grams of units above this.
    dedup_threshold: two responses to one prompt are near-identical when the Jaccard similarity of their word
        5-gram shingles is at least this.
    k: at most this many responses kept per prompt; selection: `random` (seeded by the prompt), `shortest`, `first`.
    """

    min_acc: float = 1.0
    language: str | None = None
    min_language_share: float = MIN_CONSISTENT_SHARE
    max_paragraph_units: int = 600
    answer_tag: bool = False
    min_chars: int = 1
    max_chars: int = 100_000
    repeat_ngram: int = 10
    max_repeat_ratio: float = 0.3
    dedup_threshold: float = 0.9
    k: int = 4
    selection: str = "random"
    seed: int = 0

    def __post_init__(self):
        if self.selection not in SELECTION_RULES:
            raise ValueError(f"selection must be one of {SELECTION_RULES}, got {self.selection!r}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")


@dataclass
class Candidate:
    """One generated response with what the filters need.

    response: the text as generated (with `<think>` prepended when the prompt opened it).
    prompt: the last user message (for the prompt's language).
    acc: the rule reward's verdict (None when no rule applies); judge: the judge column's verdict, if any.
    is_code: the task is a coding task (code blocks are allowed).
    truncated: the generator stopped at its length limit (from a `truncated`/`finish_reason` column when present).
    """

    response: str
    prompt: str = ""
    acc: float | None = None
    judge: bool | None = None
    is_code: bool = False
    truncated: bool = False


def check_truncated(c: Candidate, cfg: FilterConfig) -> str:
    if c.truncated:
        return "truncated"
    # A block opened and never closed means the generator stopped early (no finish reason in verl's output).
    text = c.response
    if ("<think>" in text and "</think>" not in text) or ("<answer>" in text and "</answer>" not in text):
        return "truncated"
    return ""


def check_length(c: Candidate, cfg: FilterConfig) -> str:
    n = len(c.response)
    if n < cfg.min_chars:
        return "too_short"
    if n > cfg.max_chars:
        return "too_long"
    return ""


def check_structure(c: Candidate, cfg: FilterConfig) -> str:
    reason = check_format(c.response, answer_tag=cfg.answer_tag)
    return f"format:{reason}" if reason else ""


def _units(text: str) -> list:
    """The units of `text`, lower case: words and CJK characters (bytes for ASCII text, else str)."""
    return text.encode().translate(_ASCII_UNITS).split() if text.isascii() else _UNIT_TOKENS.findall(text.lower())


def repeat_ratio(text: str, n: int) -> float:
    """Share of the unit n-grams of `text` that repeat an earlier one (0: none, near 1: one loop); units are words
    and CJK characters. Texts shorter than 2n units give 0."""
    units = _units(text)
    total = len(units) - n + 1
    if total < n + 1:
        return 0.0
    distinct = len(set(zip(*(units[i:] for i in range(n)), strict=False)))  # n-grams built by zip, in C
    return 1.0 - distinct / total


def repetitive(text: str, n: int, max_ratio: float) -> bool:
    """`repeat_ratio(text, n) > max_ratio`, reading only the n-grams the verdict needs: it stops as soon as enough
    distinct n-grams were seen for a ratio within the limit, or too few are left for one. The least such count is
    found with `repeat_ratio`'s own float expression, so the verdict is the same."""
    units = _units(text)
    total = len(units) - n + 1
    if total < n + 1:
        return 0.0 > max_ratio
    lo, hi = 0, total + 1  # the least count of distinct n-grams that is not too repetitive (total + 1: none is)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if 1.0 - mid / total > max_ratio else (lo, mid)  # non-increasing in `mid`
    if _fresh_ngrams(units, n) >= lo:  # enough distinct n-grams without building them (most texts)
        return False
    grams = zip(*(units[i:] for i in range(n)), strict=False)
    seen: set = set()
    read = 0
    while True:
        want = lo - len(seen)  # distinct n-grams still missing; each of the next `want` may be one
        if want <= 0:
            return False
        if want > total - read:
            return True
        seen.update(itertools.islice(grams, want))
        read += want


def _fresh_ngrams(units: list, n: int) -> int:
    """A lower bound of the number of distinct n-grams of `units`, found in C without building them: an n-gram that
    holds the first occurrence of a unit occurs nowhere earlier (an earlier copy would hold that unit earlier), so
    each start whose n units include a first occurrence begins a distinct n-gram. Counted as every start less those
    in gaps between first occurrences longer than n, and those after the last one."""
    total = len(units) - n + 1
    firsts = sorted(dict(zip(reversed(units), range(len(units) - 1, -1, -1), strict=True)).values())  # first indices
    gaps = sorted(map(operator.sub, firsts[1:], firsts))
    long = bisect.bisect_right(gaps, n)
    return total - (sum(gaps[long:]) - n * (len(gaps) - long)) - max(0, total - 1 - firsts[-1])


def check_repetition(c: Candidate, cfg: FilterConfig) -> str:
    return "repetition" if repetitive(c.response, cfg.repeat_ngram, cfg.max_repeat_ratio) else ""


def check_language(c: Candidate, cfg: FilterConfig) -> str:
    mixed = language_mixed(c.response, c.prompt, cfg.language, cfg.min_language_share)
    return "mixed_language" if mixed else ""


def check_paragraphs(c: Candidate, cfg: FilterConfig) -> str:
    limit = cfg.max_paragraph_units
    for paragraph in _PARAGRAPH.split(strip_eos(c.response)):
        # a unit takes at least one character, and in ASCII text (only words of two letters or more, apart) three
        # less one: shorter paragraphs cannot be too long, and need no counting
        if len(paragraph) > limit and (not paragraph.isascii() or (len(paragraph) + 1) // 3 > limit) and \
                sum(count_units(paragraph, strip=False).values()) > limit:
            return "long_paragraph"
    return ""


def check_code_blocks(c: Candidate, cfg: FilterConfig) -> str:
    return "code_block" if not c.is_code and "```" in c.response and _FENCE.search(c.response) else ""


def check_correct(c: Candidate, cfg: FilterConfig) -> str:
    if c.acc is not None:
        return "" if c.acc >= cfg.min_acc else "incorrect"
    if c.judge is not None:
        return "" if c.judge else "judge_rejected"
    return "no_verifier"


# (name in the report, check); the order is the order of the report's drop counts; `incorrect` comes last.
FILTER_ORDER = (
    ("truncated", check_truncated),
    ("length", check_length),
    ("structure", check_structure),
    ("repetition", check_repetition),
    ("mixed_language", check_language),
    ("long_paragraph", check_paragraphs),
    ("code_block", check_code_blocks),
    ("incorrect", check_correct),
)
FILTER_NAMES = tuple(name for name, _ in FILTER_ORDER) + ("near_duplicate", "over_k")


def first_failure(c: Candidate, cfg: FilterConfig) -> tuple[str, str]:
    """(filter name, detailed reason) of the first filter `c` fails, or ("", "") when it passes them all."""
    failure = content_failure(c, cfg)
    if failure[0]:
        return failure
    reason = check_correct(c, cfg)
    return ("incorrect", reason) if reason else ("", "")


def content_failure(c: Candidate, cfg: FilterConfig) -> tuple[str, str]:
    """`first_failure` of every filter but the last, `incorrect` (the one that needs the reward's verdict): a function
    of the text alone, which rejection sampling runs in the reward workers, next to the scoring."""
    for name, check in FILTER_ORDER[:-1]:
        reason = check(c, cfg)
        if reason:
            return name, reason
    return "", ""


def judge_verdict(value) -> bool | None:
    """A judge column's value as a verdict: bools, 0/1, or words like "correct"/"yes"; None when missing."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | int | float):
        return bool(value)
    text = str(value).strip().lower()
    return None if not text else text in JUDGE_TRUE


def shingles(text: str, n: int = 5) -> frozenset[tuple[bytes, ...]]:
    """The word n-grams of `text` (lower case, punctuation ignored; words as UTF-8 bytes), built by zip in C."""
    if text.isascii():
        words = text.encode().translate(_ASCII_WORDS).split()
    else:
        words = [w.encode("utf-8", "surrogatepass") for w in _NORM.sub(" ", text.lower()).split()]
    if len(words) < n:
        return frozenset({tuple(words)})
    return frozenset(zip(*(words[i:] for i in range(n)), strict=False))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def _similar(a: frozenset, b: frozenset, threshold: float) -> bool:
    """`jaccard(a, b) >= threshold`, without intersecting sets whose sizes alone rule it out (the Jaccard index is
    at most the smaller size over the larger, and float division keeps that order)."""
    small, large = sorted((len(a), len(b)))
    if large and small / large < threshold:
        return False
    return jaccard(a, b) >= threshold


def selection_order(responses: Sequence[str], rule: str, key: str = "", seed: int = 0) -> list[int]:
    """Indices of `responses` in the order the selection rule prefers them.

    random: a shuffle seeded by (seed, key), key being the prompt, so a rerun or a resumed run picks the same ones;
    shortest: by length, then position (shorter reasoning when several are correct); first: generation order.
    """
    idx = list(range(len(responses)))
    if rule == "shortest":
        return sorted(idx, key=lambda i: (len(responses[i]), i))
    if rule == "random":
        digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
        random.Random(int.from_bytes(digest[:8], "little")).shuffle(idx)
    return idx


def select(responses: Sequence[str], passed: Sequence[bool], cfg: FilterConfig, key: str = "") -> list[str]:
    """Per-prompt selection after filtering: walk the responses in the rule's order, keep one unless it is a near
    duplicate of one already kept, stop at K. Returns one label per response: "kept", "near_duplicate", "over_k",
    or "" for responses that failed a filter earlier."""
    labels = ["" for _ in responses]
    kept: list[int] = []
    sh: dict[int, frozenset] = {}  # shingles, computed when there is something to compare them with

    def of(i: int) -> frozenset:
        if i not in sh:
            sh[i] = shingles(responses[i])
        return sh[i]

    for i in selection_order(responses, cfg.selection, key, cfg.seed):
        if not passed[i]:
            continue
        if any(_similar(of(i), of(j), cfg.dedup_threshold) for j in kept):
            labels[i] = "near_duplicate"
        elif len(kept) >= cfg.k:
            labels[i] = "over_k"
        else:
            kept.append(i)
            labels[i] = "kept"
    return labels


def select_batch(batch: Sequence[tuple[Sequence[str], Sequence[bool], str]], cfg: FilterConfig) -> list[list[str]]:
    """`select` for each `(responses, passed, key)` of a batch (one call of a reward worker for many prompts)."""
    return [select(responses, passed, cfg, key=key) for responses, passed, key in batch]
