"""Trusted comparison of a program's serialised output with the expected one (in the parent, never the sandbox)."""

from __future__ import annotations

import math

REL_TOL = 1e-6
ABS_TOL = 1e-6


def _token_equal(got: str, want: str, rel_tol: float, abs_tol: float) -> bool:
    if got == want:
        return True
    try:
        g, w = float(got), float(want)
    except ValueError:
        return False
    if math.isnan(g) or math.isnan(w) or math.isinf(w):
        return False
    return math.isclose(g, w, rel_tol=rel_tol, abs_tol=abs_tol)


def stdout_equal(got: str, want: str, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    """Whitespace-insensitive token-wise equality with float tolerance (the APPS / CodeContests rule).

    Line breaks, trailing spaces and blank lines do not matter; tokens must match one for one, and two numeric
    tokens match when they are close (`1.0000001` vs `1`), so that formatting choices are not graded.
    """
    g, w = got.split(), str(want).split()
    return len(g) == len(w) and all(_token_equal(a, b, rel_tol, abs_tol) for a, b in zip(g, w, strict=True))


def value_equal(got, want, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    """Equality of JSON values (lists, dicts, numbers, strings, bools, None) with float tolerance.

    Both sides are plain decoded JSON, so no object of the program's takes part (no custom `__eq__`).
    bool and int are kept apart (`True` is not `1`).
    """
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is type(want) and got == want
    if isinstance(got, int | float) and isinstance(want, int | float):
        if isinstance(got, int) and isinstance(want, int):
            return got == want
        return math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(
            value_equal(a, b, rel_tol, abs_tol) for a, b in zip(got, want, strict=True)
        )
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(value_equal(got[k], want[k], rel_tol, abs_tol) for k in got)
    return type(got) is type(want) and got == want


def call_result_equal(got, want) -> bool:
    """APPS/TACO call-based rule: the expected output is the value, or a one-element list wrapping it."""
    if value_equal(got, want):
        return True
    return isinstance(want, list) and len(want) == 1 and value_equal(got, want[0])
