"""Math accuracy reward (DeepSeek-R1 §2.2.2, "accuracy rewards"): the final answer, checked against the gold.

Three stages, each usable on its own:

- `extract_answer(text)`: the final answer of a response: the `<answer>...</answer>` block when present, else the last
  `\\boxed{}` / `\\fbox{}` after the reasoning, else configurable fallbacks (`Answer:`, GSM8K `####`, last number).
- `canonical_answer(s)`: a cheap normalised key (no sympy): `0.5`, `\\frac{1}{2}`, `1/2` -> `1/2`; sets sorted,
  intervals and tuples kept in order. Used by the fast path, by cons@k majority votes and as verl's `pred` (maj@k).
- `is_equivalent(pred, gold)`: keys, then exact rational arithmetic, then structure (sets, tuples, intervals,
  inequalities, percent), and only then sympy through math-verify (signal timeouts off: the caller bounds the time).

Reward-hacking rules (each gives score 0 with a reason):
- several different final answers (two `<answer>` blocks, several different boxes after the reasoning) ->
  `multiple_answers`; a box that merely contains the gold as a substring is compared as a whole, never searched;
- `<answer>` or `\\boxed{` not closed (a truncated response) -> `unclosed_answer` / `unclosed_boxed`;
- an answer that appears only inside `<think>...</think>` -> `answer_in_think` under the default policy
  `think_policy="ignore"`; `think_policy="allow"` accepts it (useful for models that never close the reasoning);
- an answer longer than `MAX_ANSWER_CHARS` or a response longer than `MAX_CHARS` -> `too_long`.

Time bounds: `math_reward` runs inside a worker of `r1_recipe.core.bounded.BoundedPool` (the `r1` reward manager calls
every component with a hard timeout), and `verify_batch` maps pairs over the same kind of pool; `is_equivalent`
itself has no bound. Hostile inputs (power towers, huge factorials) are refused before sympy sees them.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction

# Imported at module level (~0.3 s, sympy included) so that reward workers, which import this module when they start,
# never pay it inside a verdict's time bound.
from latex2sympy2_extended import NormalizationConfig
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from r1_recipe.core.rewards.format import strip_eos
from r1_recipe.core.rewards.types import RewardOutput

logger = logging.getLogger(__name__)
# math-verify warns on every call made with its signal timeouts off; here the bounded pool is the time bound.
logging.getLogger("math_verify").setLevel(logging.ERROR)

MAX_CHARS = 200_000  # response length bound (characters)
MAX_ANSWER_CHARS = 1_000  # extracted answer bound; longer answers are refused as "too_long"
FALLBACKS = ("answer_colon", "gsm8k_hashes", "last_number")
DEFAULT_FALLBACKS = ("answer_colon", "gsm8k_hashes")  # explicit final-answer markers only; last_number is opt-in
THINK_POLICIES = ("ignore", "allow")
MULTIPLE_POLICIES = ("reject", "last")

# ---------------------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------------------

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_BARE_TOKEN = re.compile(r"[^\s$.,;]+")
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.S)
_ANSWER_COLON = re.compile(r"(?i)(?:final\s+answer|answer)(?:\s+is)?[ \t]*[:：][ \t]*([^\n]+)")
_HASHES = re.compile(r"####\s*([^\n]+)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_ANSWER_IS = re.compile(r"(?i)^\s*(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*")


def boxed_contents(text: str) -> tuple[list[str], bool]:
    """All `\\boxed{...}` / `\\fbox{...}` contents (balanced braces) in order, and whether the last one is unclosed.

    `\\boxed 5` (no braces, as some models write) yields "5".
    """
    found: list[str] = []
    unclosed = False
    boxes = list(_BOX.finditer(text))
    if not boxes:
        return found, unclosed
    # one pass pairs every brace, so many unclosed boxes cost O(len) and not O(len * boxes)
    closing: dict[int, int] = {}
    stack: list[int] = []
    for m in re.finditer(r"[{}]", text):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            closing[stack.pop()] = m.start()
    for m in boxes:
        i = m.end()
        if i < len(text) and text[i] != "{":
            tok = _BARE_TOKEN.match(text, i)
            if tok:
                found.append(tok.group())
            unclosed = False
        elif i in closing:
            found.append(text[i + 1 : closing[i]])
            unclosed = False
        else:
            unclosed = True
    return found, unclosed


def _clean_line(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = _ANSWER_IS.sub("", s)
    return s.rstrip(".。").strip().strip("$").strip()


def _distinct(answers: list[str]) -> int:
    """Number of different answers, counted up to 2 (all that the rules need)."""
    keys: set[str] = set()
    for a in reversed(answers):
        keys.add(canonical_answer(a))
        if len(keys) > 1:
            break
    return len(keys)


def _from_region(text: str, fallbacks: tuple[str, ...], multiple: str = "reject") -> tuple[str | None, str]:
    """Extract from one region (the text after the reasoning, or the reasoning itself)."""
    strict = multiple == "reject"
    if "<answer>" in text:
        blocks = _ANSWER_BLOCK.findall(text)
        if text.rfind("<answer>") > text.rfind("</answer>"):
            return None, "unclosed_answer"
        contents = []
        for block in blocks:
            boxes, unclosed = boxed_contents(block)
            if unclosed:
                return None, "unclosed_boxed"
            if strict and boxes and _distinct(boxes) > 1:
                return None, "multiple_answers"
            contents.append(boxes[-1] if boxes else _clean_line(block))
        contents = [c for c in contents if c.strip()]
        if not contents:
            return None, "no_answer"
        if strict and _distinct(contents) > 1:
            return None, "multiple_answers"
        return contents[-1].strip(), "answer_tag"
    boxes, unclosed = boxed_contents(text)
    if unclosed:
        return None, "unclosed_boxed"
    if boxes:
        if strict and _distinct(boxes) > 1:
            return None, "multiple_answers"
        return boxes[-1].strip(), "boxed"
    for name in fallbacks:
        if name == "answer_colon":
            hits = _ANSWER_COLON.findall(text)
        elif name == "gsm8k_hashes":
            hits = _HASHES.findall(text)
        elif name == "last_number":
            hits = _NUMBER.findall(text)
        else:
            continue  # names are checked in extract_answer
        if hits:
            answer = _clean_line(hits[-1])
            if answer:
                return answer, name
    return None, "no_answer"


def extract_answer(
    text: str,
    fallbacks: tuple[str, ...] | list[str] = DEFAULT_FALLBACKS,
    think_policy: str = "ignore",
    multiple: str = "reject",
) -> tuple[str | None, str]:
    """The final answer of a response, and where it came from (or why there is none).

    Returns `(answer, where)` with `where` in {"answer_tag", "boxed", *fallbacks} (prefixed "think:" when taken from
    the reasoning under `think_policy="allow"`), or `(None, reason)` with reason in {"no_answer", "multiple_answers",
    "unclosed_answer", "unclosed_boxed", "unclosed_think", "answer_in_think"}.
    `multiple`: "reject" (several different final answers -> "multiple_answers", the anti-hacking default for
    training) or "last" (take the last one, as math-verify and verl do; for evaluating models that box intermediate
    results).
    """
    if think_policy not in THINK_POLICIES:
        raise ValueError(f"math reward: think_policy must be one of {THINK_POLICIES}, got {think_policy!r}")
    if multiple not in MULTIPLE_POLICIES:
        raise ValueError(f"math reward: multiple must be one of {MULTIPLE_POLICIES}, got {multiple!r}")
    fallbacks = tuple(fallbacks)
    unknown = [f for f in fallbacks if f not in FALLBACKS]
    if unknown:
        raise ValueError(f"math reward: unknown fallback {unknown[0]!r}; choose from {FALLBACKS}")
    text = strip_eos(text)
    close = text.rfind("</think>")
    if close >= 0:
        think, final = text[:close], text[close + len("</think>") :]
    elif "<think>" in text:
        think, final = text, ""  # the reasoning never ended: the response was cut off
    else:
        think, final = "", text
    answer, where = _from_region(final, fallbacks, multiple)
    if answer is not None or where != "no_answer" or not think:
        return answer, where
    inner, inner_where = _from_region(think, fallbacks, multiple)
    if inner is None:
        return None, "unclosed_think" if close < 0 else "no_answer"
    if think_policy == "allow":
        return inner, "think:" + inner_where
    return None, "unclosed_think" if close < 0 else "answer_in_think"


# ---------------------------------------------------------------------------------------------------------------
# Normalisation and the canonical key (no sympy)
# ---------------------------------------------------------------------------------------------------------------

_DROP = [
    r"\displaystyle", r"\left", r"\right", r"\!", r"\,", r"\;", r"\:", r"\quad", r"\qquad", r"\ ", "~",
    r"\big", r"\Big", r"\bigg", r"\Bigg", r"\limits",
]  # fmt: skip
_UNIT_WORDS = (
    r"(?:units?|square\s+units|sq\.?\s*units|degrees?|cm|m|km|mm|meters?|centimeters?|inches|inch|in|feet|foot|ft|"
    r"yards?|miles?|mph|hours?|hrs?|minutes?|mins?|seconds?|secs?|s|days?|weeks?|months?|years?|dollars?|cents?|"
    r"pounds?|lbs?|kg|g|grams?|liters?|L|ml|mL|gallons?|students?|people|points?|ways?|times|sq|cm\^2|m\^2|"
    r"cm\^3|m\^3|square\s+(?:feet|meters|inches|centimeters|units)|cubic\s+(?:feet|meters|inches|centimeters|units))"
)
_TEXT_UNIT = re.compile(r"\\(?:text|mbox|mathrm|textnormal)\{\s*" + _UNIT_WORDS + r"\s*\}(?:\^\{?[23]\}?)?\s*$")
_BARE_UNIT = re.compile(r"(?<=[\d}])\s+" + _UNIT_WORDS + r"(?:\^\{?[23]\}?)?\s*$")
_NUM_THEN_UNITS = re.compile(
    r"^(-?[\d.,]+(?:\s*\\times\s*10\^\{?-?\d+\}?)?)\s*"
    r"((?:\\(?:text|mathrm|mbox)\{[^{}]*\}|[/\s]|\^\{?\d\}?|\\cdot)*\\(?:text|mathrm|mbox)\{[^{}]*\}"
    r"(?:[/\s]|\^\{?\d\}?|\\cdot|\\(?:text|mathrm|mbox)\{[^{}]*\})*)$"
)
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|textnormal|operatorname)\{([^{}]*)\}")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_LHS = re.compile(r"^\s*[a-zA-Z](?:_\{?\w+\}?)?\s*=(?![=<>])\s*")  # "x = 3" -> "3" (a single variable on the left)
_MCQ = re.compile(r"^\(?\s*([A-J])\s*\)?(?:[.:]|\s|$)")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def normalize(s: str) -> str:
    """LaTeX-level normalisation of an answer string (cheap string rewrites, no parsing).

    Drops math delimiters, spacing and sizing commands, `\\text{}` unit suffixes, degree marks, a leading `x =`,
    trailing punctuation; `\\dfrac`/`\\tfrac` -> `\\frac`; `1{,}000` / `1,000` -> `1000`. Percent signs are kept
    (see `_split_percent`): `50\\%` equals both `50` and `0.5`.
    """
    s = s.strip()
    for a, b in (("\\[", ""), ("\\]", ""), ("\\(", ""), ("\\)", "")):
        s = s.replace(a, b)
    s = s.strip().strip("$").strip().replace("\\\\", "\x00")  # protect row breaks `\\` from `\ ` removal
    for tok in _DROP:
        s = s.replace(tok, "")
    s = s.replace("\x00", "\\\\")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("{,}", "").replace("\\%", "%")
    s = (
        s.replace("\\le ", "\\leq ")
        .replace("\\ge ", "\\geq ")
        .replace("\\leqslant", "\\leq")
        .replace("\\geqslant", "\\geq")
    )
    s = re.sub(r"\\le(?![a-zA-Z])", r"\\leq", s)
    s = re.sub(r"\\ge(?![a-zA-Z])", r"\\geq", s)
    s = s.replace("≤", "\\leq").replace("≥", "\\geq").replace("−", "-").replace("\\neq", "\\ne")
    s = _DEGREE.sub("", s)
    s = _TEXT_UNIT.sub("", s).strip()
    s = _BARE_UNIT.sub("", s).strip()
    m = _NUM_THEN_UNITS.match(s)  # `9.8 \text{ m}/\text{s}^2`, `300 \text{ K}`: a number followed by units only
    if m:
        s = m.group(1)
    s = _TEXT.sub(r"\1", s).replace("\\$", "").strip()  # remaining text wrappers keep their words; `\$18` = `18`
    m = re.fullmatch(r"\\(?:text|textbf|mathrm|mathbf|mbox)\{(.*)\}", s)
    if m and "{" not in m.group(1):
        s = m.group(1).strip()
    s = _LHS.sub("", s) if s.count("=") == 1 else s
    s = s.rstrip(".").strip()
    if _THOUSANDS.match(s.replace(" ", "")):
        s = s.replace(",", "")
    return s.strip()


def _split_top(s: str, sep: str = ",") -> list[str]:
    """Split on `sep` at bracket depth 0 (so `(1,2),(3,4)` gives two tuples)."""
    parts, depth, cur = [], 0, []
    i = 0
    while i < len(s):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts]


_FRAC = re.compile(r"^(-)?\\frac\s*(?:\{\s*(-?\d+)\s*\}|(\d))\s*(?:\{\s*(-?\d+)\s*\}|(\d))$")
_MIXED = re.compile(r"^(-)?(\d+)\s*\\frac\s*\{(\d+)\}\s*\{(\d+)\}$")
_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
_REPEATING = re.compile(r"^(-)?(\d*)\.(\d*)\\overline\{?(\d+)\}?$")
_SLASH = re.compile(r"^([+-]?\d+)\s*/\s*([+-]?\d+)$")
_SCI = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:\s*(?:\\times|\\cdot|×|\*)\s*10\^\{?([+-]?\d{1,3})\}?|[eE]([+-]?\d{1,3}))$"
)


def to_number(s: str) -> Fraction | None:
    """Exact value of a plain number: integer, decimal, `a/b`, `\\frac{a}{b}`, `\\frac12`, mixed `2\\frac{1}{2}`."""
    s = s.strip().replace(" ", "")
    if s.startswith("{") and s.endswith("}") and s.count("{") == 1:
        s = s[1:-1]
    if len(s) > 60:  # a 60-digit literal is not a real answer; keeps int() parsing cheap
        return None
    try:
        if _DECIMAL.match(s):
            return Fraction(s)
        m = _REPEATING.match(s)
        if m:  # 0.1\overline{6} = 1/6: the exact value of a repeating decimal
            sign, whole, fixed, rep = m.groups()
            value = Fraction(int(whole or 0)) + Fraction(int(fixed or 0), 10 ** len(fixed or ""))
            value += Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed or ""))
            return -value if sign else value
        m = _SCI.match(s)
        if m:
            return Fraction(m.group(1)) * Fraction(10) ** int(m.group(2) or m.group(3))
        m = _SLASH.match(s)
        if m and int(m.group(2)) != 0:
            return Fraction(int(m.group(1)), int(m.group(2)))
        m = _FRAC.match(s)
        if m:
            num, den = int(m.group(2) or m.group(3)), int(m.group(4) or m.group(5))
            if den == 0:
                return None
            value = Fraction(num, den)
            return -value if m.group(1) else value
        m = _MIXED.match(s)
        if m and int(m.group(4)) != 0:
            value = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
            return -value if m.group(1) else value
    except (ValueError, ZeroDivisionError):
        return None
    return None


def _num_key(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def _split_percent(s: str) -> tuple[str, bool]:
    if s.endswith("%"):
        return s[:-1].strip(), True
    return s, False


def _structure(s: str):
    """Parse a normalised answer into ("num", Fraction) | ("set", [..]) | ("tuple"/"interval", open, [..], close)
    | ("str", key). Elements are parsed recursively. Plain comma lists are sets (MATH: "all solutions, separated by
    commas"); `(a,b)` is a tuple or open interval (compared literally, so both readings agree); `[a,b)` is an interval.
    """
    s = s.strip()
    value = to_number(s)
    if value is not None:
        return ("num", value)
    if s.startswith("\\{") and s.endswith("\\}"):
        return ("set", sorted((_structure(p) for p in _split_top(s[2:-2]) if p), key=repr))
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _balanced_inner(s[1:-1]):
        parts = _split_top(s[1:-1])
        if len(parts) > 1:
            return ("seq", s[0], [_structure(p) for p in parts], s[-1])
        if s[0] == "(" and s[-1] == ")":
            return _structure(s[1:-1])
    parts = _split_top(s)
    if len(parts) > 1 and all(parts):
        return ("set", sorted((_structure(p) for p in parts), key=repr))
    ineq = _inequality_to_interval(s)
    if ineq is not None:
        return _structure(ineq)
    mcq = _MCQ.match(s)
    if mcq and (len(s) <= 3 or s[:3] == "(" + mcq.group(1) + ")"):
        return ("str", mcq.group(1))
    # braces around one character are cosmetic (`\sqrt{3}` = `\sqrt3`); other braces carry grouping and stay
    return ("str", _ONE_CHAR_BRACES.sub(r"\1", re.sub(r"\s+", "", s)))


_ONE_CHAR_BRACES = re.compile(r"\{([A-Za-z0-9])\}")


def _balanced_inner(s: str) -> bool:
    depth = 0
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


_INEQ_ONE = re.compile(r"^([a-zA-Z])\s*(<|>|\\leq|\\geq)\s*([^<>=]+)$")
_INEQ_TWO = re.compile(r"^([^<>=]+?)\s*(<|\\leq)\s*([a-zA-Z])\s*(<|\\leq)\s*([^<>=]+)$")


def _inequality_to_interval(s: str) -> str | None:
    """`x \\leq 3` -> `(-\\infty,3]`, `1 < x \\leq 2` -> `(1,2]` (one variable, the R1/MATH interval conventions)."""
    m = _INEQ_TWO.match(s)
    if m:
        lo, op1, _, op2, hi = m.groups()
        return ("(" if op1 == "<" else "[") + lo.strip() + "," + hi.strip() + (")" if op2 == "<" else "]")
    m = _INEQ_ONE.match(s)
    if m:
        _, op, bound = m.groups()
        bound = bound.strip()
        return {
            "<": f"(-\\infty,{bound})", "\\leq": f"(-\\infty,{bound}]",
            ">": f"({bound},\\infty)", "\\geq": f"[{bound},\\infty)",
        }[op]  # fmt: skip
    return None


def _key(node) -> str:
    kind = node[0]
    if kind == "num":
        return _num_key(node[1])
    if kind == "str":
        return node[1].replace("-\\infty", "-oo").replace("\\infty", "oo").replace("\\inf", "oo")
    if kind == "set":
        return "{" + ",".join(sorted(_key(n) for n in node[1])) + "}"
    return node[1] + ",".join(_key(n) for n in node[2]) + node[3]


def canonical_answer(pred: str) -> str:
    """A normalised key such that equivalent answers usually share it: `0.5`, `\\frac{1}{2}`, `1/2` -> `1/2`.

    Deterministic and cheap (string rewrites and exact rationals, no sympy); used by the fast path of
    `is_equivalent`, by equivalence-aware majority votes (cons@k) and as the `pred` verl groups maj@k by.
    """
    if pred is None:
        return ""
    s = normalize(str(pred)[:MAX_ANSWER_CHARS])
    s, percent = _split_percent(s)
    key = _key(_structure(s))
    return key + "%" if percent else key


# ---------------------------------------------------------------------------------------------------------------
# Equivalence
# ---------------------------------------------------------------------------------------------------------------

# math-verify's defaults with its unit stripping off: it drops any trailing letter (`5m` -> 5), which would accept `5`
# for a gold `5m`; our `normalize` strips only spaced or \text{} units.
_PARSE_CONFIG = [
    LatexExtractionConfig(
        normalization_config=NormalizationConfig(
            basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False
        )
    ),
    ExprExtractionConfig(),
]
_HOSTILE = re.compile(
    r"\^\s*\{?[^{}^]*\^"  # power towers: 10^{10^{10}}
    r"|\^\s*\{?\s*\d{6,}"  # huge literal exponents
    r"|\d{4,}\s*!|!\s*[)}\]]\s*!|!!"  # big or nested factorials: 1000000!, (100!)!
    r"|\d{7,}|\\underbrace|\\overbrace"
)


def _hostile(s: str) -> bool:
    """Inputs that make sympy hang or explode (power towers, big factorials, huge literals): no symbolic work."""
    return len(s) > 300 or s.count("^") > 6 or s.count("{") > 60 or bool(_HOSTILE.search(s))


def _decimal_places(s: str) -> int | None:
    m = re.fullmatch(r"-?\d*\.(\d+)", s.strip())
    return len(m.group(1)) if m else None


def _numbers_match(p: Fraction, g: Fraction, g_text: str) -> bool:
    if p == g:
        return True
    # A decimal gold of 2+ places (Minerva, physics) is matched by any answer that rounds to it at that precision.
    places = _decimal_places(g_text)
    if places is not None and places >= 2:  # 7.54 for a one-place 7.5 is wrong: GSM8K-style golds are exact
        return abs(p - g) <= Fraction(1, 2 * 10**places)
    return False


def _nodes_equal(p, g, g_text: str = "") -> bool | None:
    """Structural comparison; None when undecided (a "str" leaf that needs symbolic work)."""
    if p[0] == "num" and g[0] == "num":
        return _numbers_match(p[1], g[1], g_text)
    if p[0] == "set" and g[0] == "set":
        if len(p[1]) != len(g[1]):
            return False
        remaining = list(g[1])
        for a in p[1]:
            for i, b in enumerate(remaining):
                if _nodes_equal(a, b) or (_nodes_equal(a, b) is None and _symbolic_equal(_key(a), _key(b))):
                    del remaining[i]
                    break
            else:
                return False
        return True
    if p[0] == "seq" and g[0] == "seq":
        if p[1] != g[1] or p[3] != g[3] or len(p[2]) != len(g[2]):
            return False
        for a, b in zip(p[2], g[2], strict=False):
            same = _nodes_equal(a, b)
            if same is None:
                same = _symbolic_equal(_leaf_text(a), _leaf_text(b))
            if not same:
                return False
        return True
    if p[0] == "str" or g[0] == "str":
        return None
    return False  # different shapes (a set vs a number, a tuple vs a set)


def _leaf_text(node) -> str:
    return _key(node).replace("-oo", "-\\infty").replace("oo", "\\infty")


def _symbolic_equal(pred: str, gold: str) -> bool:
    """sympy equivalence through math-verify (LaTeX parsing, sets, intervals, matrices, relations, complex numbers)."""
    if _hostile(pred) or _hostile(gold):
        return False
    try:
        g = parse("$" + gold + "$", _PARSE_CONFIG, parsing_timeout=None)
        p = parse("$" + pred + "$", _PARSE_CONFIG, parsing_timeout=None)
        if not g or not p:
            return False
        return bool(verify(g, p, timeout_seconds=None))
    except Exception:  # a parser bug on odd input is a wrong answer, never a crash
        logger.debug("symbolic comparison failed for %r vs %r", pred, gold, exc_info=True)
        return False


def is_equivalent(pred: str, gold: str) -> bool:
    """Whether `pred` is mathematically equivalent to `gold`. No time bound inside: callers bound it."""
    if pred is None or gold is None:
        return False
    pred, gold = str(pred), str(gold)
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return False
    p_text, p_pct = _split_percent(normalize(pred))
    g_text, g_pct = _split_percent(normalize(gold))
    if not p_text or not g_text:
        return False
    candidates = [(p_text, g_text)]
    p, g = _structure(p_text), _structure(g_text)
    if p_pct != g_pct and p[0] == "num" and g[0] == "num":
        # 50% = 0.5 = 50: a percent equals its number and its fraction of 100
        scale = Fraction(1, 100) if p_pct else Fraction(100)
        return _numbers_match(p[1], g[1], g_text) or _numbers_match(p[1] * scale, g[1], g_text)
    if _key(p) == _key(g):
        return True
    same = _nodes_equal(p, g, g_text)
    if same is not None:
        return same
    # MCQ: a bare letter gold is matched only by the same letter (option text needs the options: see math_reward)
    if g[0] == "str" and re.fullmatch(r"[A-J]", g[1]):
        return p[0] == "str" and p[1] == g[1]
    return any(_symbolic_equal(a, b) for a, b in candidates)


# ---------------------------------------------------------------------------------------------------------------
# The reward component and the batch API
# ---------------------------------------------------------------------------------------------------------------


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
    """1.0 when the response's final answer is equivalent to `ground_truth`, else 0.0 with a reason.

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
    gold = _gold_text(ground_truth)
    if not gold:
        return RewardOutput(0.0, "unparsable_gold")
    pred, where = extract_answer(solution_str, fallbacks=fallbacks, think_policy=think_policy, multiple=multiple)
    if pred is None:
        return RewardOutput(0.0, where)
    if len(pred) > MAX_ANSWER_CHARS:
        return RewardOutput(0.0, "too_long", pred[:200])
    info = {"key": canonical_answer(pred), "where": where}
    ok = is_equivalent(pred, gold)
    if not ok:
        letter = _mcq_letter(pred, gold, extra_info)
        ok = letter is not None and letter == gold.strip().strip("()")
    return RewardOutput(1.0 if ok else 0.0, "" if ok else "wrong", pred, info)


def _gold_text(ground_truth) -> str:
    """verl datasets carry the gold as a string, a number, or a one-element list / dict {"ground_truth": ...}."""
    if isinstance(ground_truth, dict):
        ground_truth = ground_truth.get("ground_truth", ground_truth.get("answer"))
    if hasattr(ground_truth, "tolist"):  # numpy arrays and scalars from parquet
        ground_truth = ground_truth.tolist()
    if isinstance(ground_truth, list | tuple) and len(ground_truth) == 1:
        ground_truth = ground_truth[0]
    if ground_truth is None or isinstance(ground_truth, list | tuple | dict):
        return ""
    text = str(ground_truth).strip()
    boxes, _ = boxed_contents(text)
    return boxes[-1].strip() if boxes else text


def _verify_pair(scorer, response: str, gold: str, options: dict) -> RewardOutput:
    return scorer(response, gold, None, **options)


def _timed_out(reason: str, item: tuple) -> RewardOutput:
    return RewardOutput(0.0, "timeout" if reason == "timeout" else reason)


def verify_batch(
    pairs: list[tuple[str, str]],
    timeout_s: float = 5.0,
    workers: int | None = None,
    progress: bool | str = True,
    scorer=None,
    **options,
) -> list[RewardOutput]:
    """Score many (response, gold) pairs in parallel over the cores, each verdict under a hard `timeout_s` bound.

    For rejection sampling and evaluation. A verdict past the bound is score 0 with reason "timeout" (its worker is
    killed and replaced); results keep the input order. `options` go to `math_reward` (fallbacks, think_policy).
    `scorer`: another module-level component with the same signature (default `math_reward`).
    """
    from r1_recipe.core.bounded import BoundedPool

    scorer = scorer or math_reward
    pool = BoundedPool(workers=workers, preload=tuple(dict.fromkeys((__name__, scorer.__module__))))
    try:
        items = [(scorer, r, g, options) for r, g in pairs]
        bar = ("math verify" if progress is True else progress) if len(items) >= 64 else False
        return list(pool.map(_verify_pair, items, timeout=timeout_s, default=_timed_out, progress=bar))
    finally:
        pool.close()


def _validate_options(options: dict) -> None:
    """Start-up check of `math_reward` options (called by the Composer): unknown names and bad values raise."""
    unknown = sorted(set(options) - {"fallbacks", "think_policy", "multiple"})
    if unknown:
        raise ValueError(f"unknown math option(s) {unknown}; allowed: fallbacks, think_policy, multiple")
    extract_answer("", **options)


math_reward.validate_options = _validate_options
