"""Whether two answers are mathematically equivalent: keys, exact rationals, structure, then sympy via math-verify."""

from __future__ import annotations

import functools
import logging
import re
from fractions import Fraction

# Imported at module level (~0.3 s, sympy included) so that reward workers, which import this module when they start,
# never pay it inside a verdict's time bound.
from latex2sympy2_extended import NormalizationConfig
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from r1_recipe.core.rewards.math.canonical import (
    MAX_ANSWER_CHARS,
    MIXED_SLASH,
    _key,
    _num_key,
    _split_percent,
    _structure,
    assignment_map,
    normalize,
    parse_answer,
    to_number,
)

logger = logging.getLogger(__name__)


def _not_timeout_disabled(record: logging.LogRecord) -> bool:
    """math-verify warns once per process that its signal timeouts are off (`parsing_timeout=None`,
    `timeout_seconds=None`): here the bounded pool is the time bound, so that one warning is noise. Every other
    math-verify message still reaches the user's handlers."""
    return not str(record.msg).startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_not_timeout_disabled)

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
    r"\^\s*\{[^{}]*\^|\^\s*\d+\s*\^"  # power towers: 10^{10^{10}}, 2^3^4 (x^2+y^2 is not one)
    r"|\^\s*\{?\s*\d{6,}"  # huge literal exponents
    r"|\d{4,}\s*!|!\s*[)}\]]\s*!|!!"  # big or nested factorials: 1000000!, (100!)!
    r"|\d{60,}|\\underbrace|\\overbrace"
)


def _hostile(s: str) -> bool:
    """Inputs that make sympy hang or explode (power towers, big factorials, huge literals): no symbolic work."""
    return len(s) > 300 or s.count("^") > 30 or s.count("{") > 60 or bool(_HOSTILE.search(s))


def _decimal_places(s: str) -> int | None:
    m = re.fullmatch(r"-?\d*\.(\d+)", s.strip())
    return len(m.group(1)) if m else None


def _numbers_match(p: Fraction, g: Fraction, g_text: str, p_text: str = "") -> bool:
    if p == g:
        return True
    p_places = _decimal_places(p_text) if p_text else None
    if p_places is not None and p_places >= 6:  # a float printout (0.0833333333333333 for 1/12): agrees to its digits
        return abs(p - g) <= max(abs(g), 1) * Fraction(1, 10 ** (p_places - 1))
    if p_places is not None and p_places >= 4 and _decimal_places(g_text) is None:
        # an exact gold written to 4-5 places (2.6667 or 2.6666 for 8/3): within one unit of the last place, and
        # close relative to the gold (0.0001 is no approximation of 0.0001234); 2-3 places (0.33 for 1/3) are refused
        return abs(p - g) < Fraction(1, 10**p_places) and abs(p - g) <= abs(g) / 1000
    # A decimal gold of 2+ places (Minerva, physics) is matched by any answer that rounds to it at that precision.
    places = _decimal_places(g_text)
    if places is not None and places >= 2:  # 7.54 for a one-place 7.5 is wrong: GSM8K-style golds are exact
        # ...and is close relative to the gold's size: 0.0011 does not round to a gold 0.001
        return abs(p - g) <= Fraction(1, 2 * 10**places) and abs(p - g) <= abs(g) / 100
    return False


def _nodes_equal(p, g) -> bool | None:
    """Structural comparison; None when undecided (a "str" leaf that needs symbolic work)."""
    if p[0] == "num" and g[0] == "num":
        return _numbers_match(p[1], g[1], g[2], p[2])
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


def _close_in_value(g, p) -> bool:
    """math-verify rounds numbers to 6 decimals, so 2^-98 "equals" 2^-99; numbers must agree relative to their size."""
    try:
        a, b = complex(g), complex(p)
    except (TypeError, ValueError, AttributeError):
        return True  # not a plain number (a set, an equation, a symbol): math-verify's verdict stands
    return a == b or abs(a - b) <= 1e-6 * max(abs(a), abs(b))


_RELATION = re.compile(r"^(?:\\geq|\\leq|\\ge|\\le|\\ne|\\neq|[<>=]|\\approx)")
_HEDGE = re.compile(r"(?i)(?:^|[\s}$])(?:or|either)(?:$|[\s{$])")


def _symbolic_equal(pred: str, gold: str) -> bool:
    """sympy equivalence through math-verify (LaTeX parsing, sets, intervals, matrices, relations, complex numbers)."""
    if _hostile(pred) or _hostile(gold):
        return False
    try:
        g = parse("$" + gold + "$", _PARSE_CONFIG, parsing_timeout=None)
        p = parse("$" + pred + "$", _PARSE_CONFIG, parsing_timeout=None)
        if not g or not p:
            return False
        if not verify(g, p, timeout_seconds=None):
            return False
        return _close_in_value(g[0], p[0])
    except Exception:  # a parser bug on odd input is a wrong answer, never a crash
        logger.debug("symbolic comparison failed for %r vs %r", pred, gold, exc_info=True)
        return False


_EXPLICIT = re.compile(r"^\s*([a-zA-Z])\s*=(?![=<>])\s*([^=]+)$", re.S)


def _explicit_equals_implicit(explicit: str, implicit: str) -> bool:
    """`y=-\\frac12x+\\frac34` for `2x+4y-3=0`: an equation solved for one variable equals the implicit equation
    when that variable occurs linearly in it (one solution) and substituting the solution makes it hold identically."""
    m = _EXPLICIT.match(explicit.strip().strip("$"))
    implicit = implicit.strip().strip("$")
    if not m or implicit.count("=") != 1 or _EXPLICIT.match(implicit) or _hostile(explicit) or _hostile(implicit):
        return False
    var, rhs = m.groups()
    try:
        import sympy

        eq = parse("$" + implicit + "$", _PARSE_CONFIG, parsing_timeout=None)
        value = parse("$" + rhs + "$", _PARSE_CONFIG, parsing_timeout=None)
        if not eq or not value or not isinstance(eq[0], sympy.Eq) or not isinstance(value[0], sympy.Expr):
            return False
        expr = eq[0].lhs - eq[0].rhs
        sym = next((x for x in expr.free_symbols if x.name == var), None)
        if sym is None or not value[0].free_symbols <= expr.free_symbols - {sym}:
            return False
        if sympy.Poly(expr, sym).degree() != 1:
            return False
        return sympy.simplify(expr.subs(sym, value[0])) == 0
    except Exception:  # a parser bug on odd input is a wrong answer, never a crash
        return False


_COMMA_NUMBER = re.compile(r"^(-?\d+),(\d+)$")
_POINT_DECIMAL = re.compile(r"^-?\d*\.\d+$")


def _decimal_comma(s: str, other: str) -> str:
    """`1000,99` is 1000.99 when the other side is a decimal written with a point and the comma cannot be a
    thousands separator (not `d{1,3},ddd`; `0,111` and `1000,99` can't be): one comma, digits on both sides."""
    m = _COMMA_NUMBER.match(s)
    if not m or not _POINT_DECIMAL.match(other):
        return s
    whole, frac = m.groups()
    if len(frac) == 3 and 1 <= len(whole.lstrip("-")) <= 3 and whole.lstrip("-") != "0":
        return s  # `1,000` is a thousand (normalize already dropped the separator), never 1.000
    return f"{whole}.{frac}"


_SUM_OF_TERMS = re.compile(r"[a-zA-Z0-9)}]\s*[+-]\s*[a-zA-Z0-9({\\]")


def _is_relation_in_variables(s: str) -> bool:
    """An equation whose left side is a sum of terms with a variable (`x+y=2`, `2x-3y=1`) relates variables; a left
    side that names the value (`f(x)=1`, `|AB|=1`, `A:B=1`, `\\frac{NO}{BO}=...`) does not (math-verify's reading)."""
    if s.count("=") != 1 or re.search(r"[<>!]=|==", s):
        return False
    lhs = s.split("=", 1)[0]
    return bool(_SUM_OF_TERMS.search(lhs)) and bool(re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", lhs)))


def is_equivalent(pred: str, gold: str) -> bool:
    """Whether `pred` is mathematically equivalent to `gold`. No time bound inside: callers bound it."""
    if pred is None or gold is None:
        return False
    pred, gold = str(pred), str(gold)
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return False
    return _equivalent(pred, gold)


@functools.lru_cache(maxsize=8192)  # the responses of a group share the gold and often the answer
def _equivalent(pred: str, gold: str) -> bool:
    if "=" in pred and "=" in gold and (_explicit_equals_implicit(pred, gold) or _explicit_equals_implicit(gold, pred)):
        return True
    p_map, g_map = assignment_map(pred), assignment_map(gold)
    if p_map and g_map:  # `a=2, b=1` vs `a=1, b=2`: the same names, each with an equal value
        return p_map.keys() == g_map.keys() and all(is_equivalent(p_map[k], g_map[k]) for k in g_map)
    p_text, p_pct = _split_percent(normalize(pred))
    g_text, g_pct = _split_percent(normalize(gold))
    if not p_text or not g_text:
        return False
    if any(MIXED_SLASH.match(t) and to_number(t) is None for t in (p_text, g_text)):
        return False  # `11 7/6`, `4 4/0`: an invalid mixed number equals nothing (not 11, 7/6 or 73/6)
    p_text, g_text = _decimal_comma(p_text, g_text), _decimal_comma(g_text, p_text)
    if _is_relation_in_variables(p_text) != _is_relation_in_variables(g_text):
        return False  # `x+y=2` is an equation, never the value 2 (nor `y=2`, whose `y=` normalize stripped)
    # "\\geq 5" is a relation, not the number 5; "5 or 6" is a hedge (both need the same form in the gold)
    if bool(_RELATION.match(p_text)) != bool(_RELATION.match(g_text)):
        return False
    if _HEDGE.search(p_text) and not _HEDGE.search(g_text):
        return False
    candidates = [(p_text, g_text)]
    p, g = _structure(p_text), _structure(g_text)
    if p_pct != g_pct and p[0] == "num" and g[0] == "num":
        # 50% = 0.5 = 50: a percent equals its number and its fraction of 100
        scale = Fraction(1, 100) if p_pct else Fraction(100)
        return _numbers_match(p[1], g[1], g[2]) or _numbers_match(p[1] * scale, g[1], g[2])
    if _key(p) == _key(g):
        return True
    same = _nodes_equal(p, g)
    if same is not None:
        return same
    # MCQ: a bare letter gold is matched only by the same letter (option text needs the options: see math_reward)
    if g[0] == "str" and re.fullmatch(r"[A-J]", g[1]):
        return p[0] == "str" and p[1] == g[1]
    return any(_symbolic_equal(a, b) for a, b in candidates)


# Where a symbolic answer is evaluated for its vote key: Euler-Mascheroni, Apery, Catalan, golden ratio (one per
# variable, in name order), numbers at which distinct simple expressions are very unlikely to agree to 10 digits.
_POINTS = (0.5772156649015329, 1.2020569031595942, 0.9159655941772190, 1.6180339887498949)


def vote_key(pred: str) -> str:
    """The key majority votes group answers by (verl's maj@N through `pred`, and `r1-recipe eval`'s cons@N).

    `canonical_answer(pred)`, except for a single symbolic expression (not a number, set, tuple, interval, relation,
    hedge, word or bare symbol): its value at fixed points, so that `\\frac{\\sqrt2}{2}` and `\\frac{1}{\\sqrt2}` share
    `≈0.7071067812` and `(x+1)^2` and `x^2+2x+1` share `[x]≈2.487609254`; an expression equal to a rational
    (`\\sqrt{4}`) gets that rational's key (`2`). Costs one parse (~ms) for symbolic answers only.
    """
    return _vote_key(str(pred or "")[:MAX_ANSWER_CHARS])  # what parse_answer reads


@functools.lru_cache(maxsize=4096)  # the responses of a group often give the same answer
def _vote_key(pred: str) -> str:
    text, percent, node, key = parse_answer(pred)
    if percent or node[0] != "str" or "=" in text or _RELATION.match(text) or _HEDGE.search(text):
        return key
    if re.fullmatch(r"[A-Za-z\s]+", text):  # words and names (`yes`, `Even`, `xy`): their canonical key
        return key
    return _fingerprint(text) or key


def _fingerprint(text: str) -> str | None:
    if _hostile(text):
        return None
    try:
        import sympy

        parsed = parse("$" + text + "$", _PARSE_CONFIG, parsing_timeout=None)
        expr = parsed[0] if parsed else None
        if not isinstance(expr, sympy.Expr) or isinstance(expr, sympy.Symbol) or not expr.args:
            return None
        symbols = sorted(expr.free_symbols, key=lambda x: x.name)
        if len(symbols) > len(_POINTS) or not all(isinstance(x, sympy.Symbol) for x in symbols):
            return None
        value = complex(expr.subs(dict(zip(symbols, _POINTS, strict=False))).evalf(30))
    except Exception:  # an answer sympy cannot evaluate keeps its canonical key
        return None
    if not symbols and value.imag == 0 and abs(value.real) < 1e12:  # `\\sqrt{4}`, `\\log_2 8`: a rational's key
        q = Fraction(value.real).limit_denominator(1000)
        if abs(float(q) - value.real) <= 1e-12 * max(1.0, abs(value.real)):
            return _num_key(q)
    if value != value or abs(value) == float("inf"):
        return None
    names = "[" + ",".join(x.name for x in symbols) + "]" if symbols else ""
    imag = f"{value.imag:+.10g}i" if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)) else ""
    return f"{names}≈{value.real:.10g}{imag}"
