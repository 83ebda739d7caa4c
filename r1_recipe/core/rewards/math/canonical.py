"""Normalisation and the canonical key of a math answer (cheap string rewrites and exact rationals, no sympy)."""

from __future__ import annotations

import functools
import re
from fractions import Fraction

from r1_recipe.core.rewards.types import MAX_RESPONSE_CHARS

MAX_CHARS = MAX_RESPONSE_CHARS  # response length bound (characters)
MAX_ANSWER_CHARS = 1_000  # extracted answer bound; longer answers are refused as "too_long"

_DROP = [
    r"\displaystyle", r"\left", r"\right", r"\!", r"\,", r"\;", r"\:", r"\quad", r"\qquad", r"\ ", "~",
    r"\big", r"\Big", r"\bigg", r"\Bigg", r"\limits",
]  # fmt: skip
_UNIT_WORDS = (
    r"(?:units?|square\s+units|square|sq\.?\s*units|degrees?|cm|m|km|mm|meters?|centimeters?|inches|inch|in|feet|foot|ft|"
    r"yards?|miles?|mph|hours?|hrs?|minutes?|mins?|seconds?|secs?|s|days?|weeks?|months?|years?|dollars?|cents?|"
    r"pounds?|lbs?|kg|g|grams?|liters?|L|ml|mL|gallons?|students?|people|points?|ways?|times|sq|cm\^2|m\^2|"
    r"cm\^3|m\^3|square\s+(?:feet|meters|inches|centimeters|units)|cubic\s+(?:feet|meters|inches|centimeters|units))"
)
_TEXT_UNIT = re.compile(r"\\(?:text|textbf|mbox|mathrm|textnormal)\{\s*" + _UNIT_WORDS + r"\s*\}(?:\^\{?[23]\}?)?\s*$")
_BARE_UNIT = re.compile(r"(?<=[\d}a-zA-Z])\s+" + _UNIT_WORDS + r"(?:\^\{?[23]\}?)?\s*$")
_NUM_THEN_UNITS = re.compile(
    r"^(-?[\d.,]+(?:\s*\\times\s*10\^\{?-?\d+\}?)?)\s*"
    r"((?:\\(?:text|mathrm|mbox)\{[^{}]*\}|[/\s]|\^\{?\d\}?|\\cdot)*\\(?:text|mathrm|mbox)\{[^{}]*\}"
    r"(?:[/\s]|\^\{?\d\}?|\\cdot|\\(?:text|mathrm|mbox)\{[^{}]*\})*)$"
)
# `12ft`, `5cm`: a multi-letter unit glued to a number (single letters stay: `5m` may be 5 times m)
_GLUED_UNIT = re.compile(r"(?<=\d)(?:cm|km|mm|ft|inches|meters|feet|miles|hours|minutes|seconds|kg|mph)\s*$")
_WORD_ANSWERS = {
    "\\varnothing": "\\emptyset", "\\{\\}": "\\emptyset",
    "allrealnumbers": "(-\\infty,\\infty)", "\\mathbb{R}": "(-\\infty,\\infty)",
}  # fmt: skip
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|textnormal|operatorname)\{([^{}]*)\}")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_LHS = re.compile(r"^\s*[a-zA-Z](?:_\{?\w+\}?)?\s*=(?![=<>])\s*")  # "x = 3" -> "3" (a single variable on the left)
_MCQ = re.compile(r"^\(?\s*([A-J])\s*\)?(?:[.:]|\s|$)")
_THOUSANDS = re.compile(r"^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")  # `0,111` is no thousand


_VAR = r"[a-zA-Z]\w*(?:_\{?\w+\}?)?"
_ASSIGNMENT = re.compile(r"^\s*" + _VAR + r"\s*=(?![=<>])\s*([^=]+?)\s*$")
_TUPLE_LHS = re.compile(r"^\s*\(\s*" + _VAR + r"(?:\s*,\s*" + _VAR + r")+\s*\)\s*=(?![=<>])\s*")


def _assignments(s: str) -> str:
    """Golds written as assignments: `p=5,q=2;p=7,q=2` -> `(5,2),(7,2)`, `AB=4,CD=5` -> `4,5`, `(p,q)=(3,2)` ->
    `(3,2)`; `;` as a list separator without assignments -> `,` (`-12;-11`, `(0;-2;6)`)."""
    if "=" not in s:
        return s.replace(";", ",")
    s = _TUPLE_LHS.sub("", s) if s.count("=") == 1 else s
    groups = s.split(";")
    values = []
    for group in groups:
        parts = [_ASSIGNMENT.match(p) for p in _split_top(group)]
        if not all(parts) or (len(groups) == 1 and len(parts) < 2):
            return s
        values.append([m.group(1) for m in parts])
    if len(groups) == 1:  # one solution: its values (`AB=4,CD=5` -> `4,5`; two assignment lists compare by name)
        return ",".join(values[0])
    return ",".join("(" + ",".join(v) + ")" if len(v) > 1 else v[0] for v in values)


def assignment_map(s: str) -> dict[str, str] | None:
    """`a=1, b=2` -> {"a": "1", "b": "2"} (two or more single assignments, nothing else), else None."""
    s = s.strip().strip("$").strip()
    if ";" in s or s.count("=") < 2:
        return None
    parts = _split_top(s)
    out = {}
    for p in parts:
        m = _ASSIGNMENT.match(p)
        if not m:
            return None
        out[re.sub(r"[\s{}]", "", p.split("=", 1)[0])] = m.group(1)
    return out


@functools.lru_cache(maxsize=4096)  # a group's responses share the gold and often the answer
def normalize(s: str) -> str:
    """LaTeX-level normalisation of an answer string (cheap string rewrites, no parsing).

    Drops math delimiters, spacing and sizing commands, `\\text{}` unit suffixes, degree marks, a leading `x =`,
    trailing punctuation; `\\dfrac`/`\\tfrac` -> `\\frac`; `1{,}000` / `1,000` -> `1000`. Percent signs are kept
    (see `_split_percent`): `50\\%` equals both `50` and `0.5`.
    """
    s = s.strip()
    for a, b in (("\\[", ""), ("\\]", ""), ("\\(", ""), ("\\)", "")):
        s = s.replace(a, b)
    s = re.sub(r",\\!\s*", ",", s)  # `32,\\!349`: LaTeX's thousands separator
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
    s = _GLUED_UNIT.sub("", s).strip()
    m = _NUM_THEN_UNITS.match(s)  # `9.8 \text{ m}/\text{s}^2`, `300 \text{ K}`: a number followed by units only
    if m:
        s = m.group(1)
    s = _TEXT.sub(r"\1", s).replace("\\$", "").strip()  # remaining text wrappers keep their words; `\$18` = `18`
    m = re.fullmatch(r"\\(?:text|textbf|mathrm|mathbf|mbox)\{(.*)\}", s)
    if m and "{" not in m.group(1):
        s = m.group(1).strip()
    s = _assignments(s)
    s = _LHS.sub("", s) if s.count("=") == 1 else s
    s = s.rstrip(".").strip()
    s = _WORD_ANSWERS.get(re.sub(r"\s+", "", s), s)  # `\\varnothing` = `\\emptyset`, all real numbers = (-oo, oo)
    if _THOUSANDS.match(s):  # "32, 349" is two numbers, not 32349
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
# `4 4/9`, `-4 4/9`, `1 000 4/9`: a whole part (spaced thousands allowed), one space, a proper fraction
MIXED_SLASH = re.compile(r"^([+-])?(\d{1,3}(?: \d{3})+|\d+) (\d+)/(\d+)$")
_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
_REPEATING = re.compile(r"^(-)?(\d*)\.(\d*)\\overline\{?(\d+)\}?$")
_SLASH = re.compile(r"^([+-]?\d+)\s*/\s*([+-]?\d+)$")
_SCI = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:\s*(?:\\times|\\cdot|×|\*)\s*10\^\{?([+-]?\d{1,3})\}?|[eE]([+-]?\d{1,3}))$"
)


def to_number(s: str) -> Fraction | None:
    """Exact value of a plain number: integer, decimal, `a/b`, `\\frac{a}{b}`, `\\frac12`, mixed `2\\frac{1}{2}`."""
    s = s.strip()
    m = MIXED_SLASH.match(s)
    if m:  # improper (`11 7/6`) or zero-denominator (`4 4/0`) forms are not numbers (Math-Verify's rule)
        sign, whole, num, den = m.groups()
        if int(num) >= int(den):
            return None
        value = int(whole.replace(" ", "")) + Fraction(int(num), int(den))
        return -value if sign == "-" else value
    s = s.replace(" ", "")
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


_PERCENT = re.compile(r"\s*(?:%|percent(?:age)?|pct)$")


def _split_percent(s: str) -> tuple[str, bool]:
    m = _PERCENT.search(s)
    if m and m.start() > 0:
        return s[: m.start()].strip(), True
    return s, False


def _structure(s: str):
    """Parse a normalised answer into ("num", Fraction, text) | ("set", [..]) | ("seq", open, [..], close)
    | ("str", key). Elements are parsed recursively. Plain comma lists are sets (MATH: "all solutions, separated by
    commas"; a repeated element counts once); `(a,b)` is a tuple or open interval (compared literally, so both readings
    agree); `[a,b)` is an interval; `\\{a,b\\}` is a set. A number keeps its text (its stated precision).
    """
    s = s.strip()
    value = to_number(s)
    if value is not None:
        return ("num", value, s)
    if s.startswith("\\{") and s.endswith("\\}"):
        return _set(_structure(p) for p in _split_top(s[2:-2]) if p)
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _balanced_inner(s[1:-1]):
        parts = _split_top(s[1:-1])
        if len(parts) > 1:
            return ("seq", s[0], [_structure(p) for p in parts], s[-1])
        if s[0] == "(" and s[-1] == ")":
            return _structure(s[1:-1])
    parts = _split_top(s)
    if len(parts) > 1 and all(parts):
        return _set(_structure(p) for p in parts)
    ineq = _inequality_to_interval(s)
    if ineq is not None:
        return _structure(ineq)
    mcq = _MCQ.match(s)
    if mcq and (len(s) <= 3 or s[:3] == "(" + mcq.group(1) + ")"):
        return ("str", mcq.group(1))
    if _WORDS_ONLY.fullmatch(s):  # a text answer (`Even`, `north east`): case is not part of it (single letters are)
        return ("str", re.sub(r"\s+", "", s.lower()))
    # braces around one character are cosmetic (`\sqrt{3}` = `\sqrt3`); other braces carry grouping and stay
    return ("str", _ONE_CHAR_BRACES.sub(r"\1", re.sub(r"\s+", "", s)))


_WORDS_ONLY = re.compile(r"[A-Za-z]{3,}(?:\s+[A-Za-z]{3,})*")


def _set(elements) -> tuple:
    unique = {_key(e): e for e in elements}  # `2, 2` is the set {2}
    return ("set", [unique[k] for k in sorted(unique)])


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
    `is_equivalent` and, through `equivalence.vote_key`, by majority votes (cons@k, and the `pred` verl's maj@N uses).
    """
    if pred is None:
        return ""
    return _canonical(str(pred)[:MAX_ANSWER_CHARS])  # what parse_answer reads


@functools.lru_cache(maxsize=4096)  # the responses of a group often give the same answer
def _canonical(pred: str) -> str:
    return parse_answer(pred)[3]


def parse_answer(pred: str) -> tuple[str, bool, tuple, str]:
    """(normalised text without its percent sign, whether it had one, its structure, its canonical key)."""
    s, percent = _split_percent(normalize(str(pred)[:MAX_ANSWER_CHARS]))
    node = _structure(s)
    return s, percent, node, _key(node) + ("%" if percent else "")


# ---------------------------------------------------------------------------------------------------------------
# Equivalence
