"""Language-consistency reward (DeepSeek-R1 §2.3.2) and the language-mixing detector that the rejection-sampling
filters reuse (§2.3.3: "we have filtered out chain-of-thought with mixed languages").

The reward is "the proportion of target language words in the CoT". Words are counted script-aware:

- CJK (Han, kana, Hangul) is counted **per character**: these scripts do not separate words with spaces;
- every other script (Latin, Cyrillic, Greek, Arabic, ...) is counted **per word** (a run of letters of one script);
- maths and code are not language and are removed first: fenced and inline code, `$...$`, `$$...$$`, `\\(...\\)`,
  `\\[...\\]`, LaTeX commands, digits and symbols; single Latin letters (variables such as the `x` in "设 x = 3") and
  common function names (sin, log, gcd, ...) are not counted either.

A language is identified by its script, so languages that share one (English and French) are not told apart: the
target `en` means "Latin script". The target is the prompt's language by default (the dominant script of the last user
message, which the `r1` reward manager puts in `extra_info["prompt"]`, with the shipped maths instruction removed) or a
configured code (`target: zh`).
"""

from __future__ import annotations

import functools
import re
from collections import Counter

from r1_recipe.core.rewards.types import MAX_RESPONSE_CHARS, RewardOutput
from r1_recipe.core.templates import MATH_INSTRUCTION

MAX_CHARS = MAX_RESPONSE_CHARS

# script -> character class (one char per unit for CJK scripts, runs of letters for the rest)
_CJK = {
    "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
    "kana": "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff",
    "hangul": "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f",
}
_WORD_SCRIPTS = {
    "latin": "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff",
    "cyrillic": "\u0400-\u04ff\u0500-\u052f",
    "greek": "\u0370-\u03ff\u1f00-\u1fff",
    "arabic": "\u0600-\u06ff\u0750-\u077f",
    "hebrew": "\u0590-\u05ff",
    "devanagari": "\u0900-\u097f",
    "thai": "\u0e00-\u0e7f",
}
_SCRIPT_RE = {**{s: re.compile(f"[{c}]") for s, c in _CJK.items()},
              **{s: re.compile(f"[{c}]+") for s, c in _WORD_SCRIPTS.items()}}

# language code -> the scripts that count as that language
LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    "zh": frozenset({"han"}),
    "ja": frozenset({"han", "kana"}),
    "ko": frozenset({"hangul", "han"}),
    "ru": frozenset({"cyrillic"}),
    "uk": frozenset({"cyrillic"}),
    "el": frozenset({"greek"}),
    "ar": frozenset({"arabic"}),
    "he": frozenset({"hebrew"}),
    "hi": frozenset({"devanagari"}),
    "th": frozenset({"thai"}),
    **{code: frozenset({"latin"}) for code in ("en", "fr", "de", "es", "it", "pt", "nl", "vi", "id", "tr", "pl")},
}
# dominant script of a prompt -> the language code it stands for
_SCRIPT_LANGUAGE = {"han": "zh", "kana": "ja", "hangul": "ko", "latin": "en", "cyrillic": "ru", "greek": "el",
                    "arabic": "ar", "hebrew": "he", "devanagari": "hi", "thai": "th"}

# Maths and code spans, removed before counting (order matters: fences before inline code, $$ before $).
_SPANS = re.compile(
    r"```.*?(?:```|\Z)"            # fenced code (an unclosed fence runs to the end)
    r"|`[^`\n]*`"                  # inline code
    r"|\$\$.*?\$\$"                # display maths
    r"|\\\[.*?\\\]"
    r"|\\\(.*?\\\)"
    r"|\$[^$\n]*\$"                # inline maths
    r"|\\begin\{(\w+\*?)\}.*?\\end\{\1\}",
    re.S,
)
_LATEX_CMD = re.compile(r"\\[A-Za-z]+")
_TAG = re.compile(r"</?(?:think|answer)>")
# Function and unit names used as maths inside prose of any language.
_MATH_WORDS = frozenset({"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "lim", "max", "min", "gcd",
                         "lcm", "mod", "det", "arcsin", "arccos", "arctan", "sqrt", "frac", "cm", "mm", "km", "kg"})
_GREEK_SYMBOL_MAX = 1  # a lone Greek letter (θ, π) in non-Greek prose is a symbol
_LATIN_WORDS = re.compile(f"[{_WORD_SCRIPTS['latin']}]{{2,}}")  # the maximal runs `[..]+` finds, but 2+ long
_GREEK_WORDS = re.compile(f"[{_WORD_SCRIPTS['greek']}]{{{_GREEK_SYMBOL_MAX + 1},}}")
# a character of a script other than Latin and Greek: text without one, and without a Greek word (a lone Greek letter
# is a symbol), can only hold Latin words
_NON_LATIN = re.compile("[" + "".join(_CJK.values())
                        + "".join(c for s, c in _WORD_SCRIPTS.items() if s not in ("latin", "greek")) + "]")
# ASCII text as runs of lower-case letters: bytes.translate + split find the words of `_LATIN_WORDS` in C, several
# times faster than the regex on the reasoning of a long response
_ASCII_LETTERS = bytes(b | 0x20 if chr(b).isascii() and chr(b).isalpha() else 0x20 for b in range(256))
_NOT_ASCII_WORDS = frozenset({*(w.encode() for w in _MATH_WORDS), *(bytes([b]) for b in range(97, 123))})


def _ascii_words(text: str) -> int:
    """`count_units(text, strip=False)["latin"]` of an ASCII text: runs of two letters or more, less maths names."""
    runs = text.encode("ascii").translate(_ASCII_LETTERS).split()
    return len(runs) - sum(map(_NOT_ASCII_WORDS.__contains__, runs))


def strip_math_and_code(text: str) -> str:
    """`text` with code blocks, inline code, LaTeX maths spans and LaTeX commands replaced by spaces."""
    return _LATEX_CMD.sub(" ", _SPANS.sub(" ", text))


def count_units(text: str, strip: bool = True) -> Counter:
    """Count language units per script: CJK characters one each, other scripts one per word.

    Math/code spans are removed first (unless `strip=False`); single Latin letters, maths function names and lone
    Greek letters are symbols, not words. Returns e.g. `Counter({"han": 12, "latin": 3})`.
    """
    if strip:
        text = strip_math_and_code(text)
    counts: Counter = Counter()
    if text.isascii():  # the common case: only Latin words
        n = _ascii_words(text)
        if n:
            counts["latin"] = n
        return counts
    # one C-level findall per script (a Python loop over matches is several times slower on long reasoning); one
    # pass first finds the characters of the scripts other than Latin and Greek: a script none of them belongs to has
    # no units, and no pass of its own (most texts hold one or two scripts)
    others = "".join(set(_NON_LATIN.findall(text)))
    for script in (*_CJK, *_WORD_SCRIPTS):
        if script == "latin":  # words of two letters or more (one letter is a variable), less maths function names
            found = _LATIN_WORDS.findall(text)
            n = len(found) - sum(map(_MATH_WORDS.__contains__, map(str.lower, found)))
        elif script == "greek":
            n = len(_GREEK_WORDS.findall(text))
        elif others and _SCRIPT_RE[script].search(others):
            n = len(_SCRIPT_RE[script].findall(text))
        else:
            n = 0
        if n:
            counts[script] = n
    return counts


def resolve_target(target: str) -> frozenset[str]:
    """The scripts of a language code (`en`, `zh`, ...) or of a script name (`latin`, `han`, ...)."""
    key = target.strip().lower().replace("_", "-").split("-")[0]  # zh-CN -> zh
    if key in LANGUAGE_SCRIPTS:
        return LANGUAGE_SCRIPTS[key]
    if key in _SCRIPT_LANGUAGE:
        return frozenset({key})
    raise ValueError(f"unknown target language {target!r}; known codes: {', '.join(sorted(LANGUAGE_SCRIPTS))} "
                     f"(or a script: {', '.join(sorted(_SCRIPT_LANGUAGE))})")


@functools.lru_cache(maxsize=256)  # the prompt of every response of a group
def prompt_language(prompt: str) -> str | None:
    """`detect_language` of a prompt, remembered (the responses of a prompt, and the epochs, share it)."""
    return detect_language(prompt)


def detect_language(text: str) -> str | None:
    """Language code of the dominant script of `text` (maths/code removed), or None when it has no words.

    Any kana makes Han text Japanese. The shipped maths instruction (an English sentence appended to every prompt) is
    removed before counting, so a short Chinese question with it still reads as Chinese.
    """
    counts = count_units(text.replace(MATH_INSTRUCTION, " "))
    if not counts:
        return None
    if counts.get("kana") and counts.get("kana", 0) + counts.get("han", 0) >= max(counts.values()):
        return "ja"
    script = max(sorted(counts), key=counts.__getitem__)
    return _SCRIPT_LANGUAGE[script]


def language_share(text: str, target: str) -> tuple[float, int]:
    """(share of `text`'s language units in `target`, total units). A text with no words has share 1.0."""
    scripts = resolve_target(target)
    counts = count_units(text)
    total = sum(counts.values())
    if total == 0:
        return 1.0, 0
    return sum(counts[s] for s in scripts) / total, total


def chain_of_thought(solution_str: str) -> str:
    """The reasoning of a response: the text inside `<think>...</think>` (to the end if never closed); when the
    response has no `<think>` (the prompt opened it) the text before `</think>`; else the whole response."""
    start = solution_str.find("<think>")
    if start >= 0:
        end = solution_str.find("</think>", start + 7)
        return solution_str[start + 7 : end if end >= 0 else len(solution_str)]
    head, sep, _ = solution_str.partition("</think>")
    return head if sep else _TAG.sub(" ", solution_str)


MIN_CONSISTENT_SHARE = 0.95  # reasoning under this share in the prompt's language counts as mixed (rejection + metrics)


def language_mixed(solution_str: str, prompt: str = "", target: str | None = None,
                   min_share: float = MIN_CONSISTENT_SHARE) -> bool:
    """Whether the reasoning (`chain_of_thought`) has under `min_share` of its words in `target` (default: the
    prompt's language, or for a prompt with no words the reasoning's own dominant language). The one definition used
    by the rejection-sampling filter `mixed_language` and the training metric `r1/language_mixing_rate`."""
    cot = chain_of_thought(solution_str)
    target = target or prompt_language(prompt) or detect_language(cot)
    if target is None:
        return False
    if "latin" in resolve_target(target) and (cot.isascii() or not (_NON_LATIN.search(cot)
                                                                     or _GREEK_WORDS.search(cot))):
        return 1.0 < min_share  # Latin words only (or none): a share of 1, without counting them
    share, _ = language_share(cot, target)
    return share < min_share


def language_reward(
    solution_str: str,
    ground_truth=None,
    extra_info: dict | None = None,
    target: str | None = None,
) -> RewardOutput:
    """Share of the chain of thought's words that are in the target language, in [0, 1] (DeepSeek-R1 §2.3.2).

    target: a language code (`en`, `zh`, `ja`, ...) or script; default: the language of `extra_info["prompt"]`.
    A response with no words in its reasoning (only maths) scores 1.0; with no way to know the target, 0.0 with
    reason `no_target`. `info` holds the unit counts per script.
    """
    if len(solution_str) > MAX_CHARS:
        return RewardOutput(0.0, "too_long")
    if target is None:
        prompt = (extra_info or {}).get("prompt") or ""
        target = prompt_language(str(prompt))
        if target is None:
            return RewardOutput(0.0, "no_target")
    try:
        scripts = resolve_target(target)
    except ValueError as e:
        return RewardOutput(0.0, f"bad_target: {e}"[:200])
    counts = count_units(chain_of_thought(solution_str))
    total = sum(counts.values())
    if total == 0:
        return RewardOutput(1.0, "no_words", target, {"units": 0})
    share = sum(counts[s] for s in scripts) / total
    return RewardOutput(share, "", target, {"units": total, **{f"units_{k}": v for k, v in counts.items()}})
