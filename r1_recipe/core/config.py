"""The config blocks r1-recipe reads, each defined once: key, type, default, check and meaning.

One definition per block (`Block`), read by

- parse-time validation (`Block.parse`: an unknown key, a wrong type or a value out of range fails naming the full
  key, e.g. `reward.r1.timeout_s must be a positive number of seconds, got 0`), called by the `r1` reward manager,
  the estimators, `r1-recipe run` and the generation client;
- the docs: tests/test_config_schema.py checks that the tables and YAML blocks of README.md and docs/ list the same
  keys with the same defaults;
- `r1-recipe run --dry-run`, which prints each block's effective values (defaults filled, `Block.effective`).

The blocks: `reward.r1` (core.rewards.compose.REWARD_R1, with `reward.r1.reward_model`), `algorithm.r1`
(core.advantage.ALGORITHM_R1, also read by r1_recipe.verl.ref_reset) and `r1_generation`
(r1_recipe.verl.generate.R1_GENERATION). A reward component's options are declared by its signature (names, defaults
and simple type annotations: `registry.option_names`, checked by `compose.check_options`), plus its own
`validate_options` for the values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

_KINDS = ("number", "int", "bool", "str", "mapping", "any")


@dataclass(frozen=True)
class Key:
    """One config key. `kind`: number (int or float), int, bool, str, mapping or any; `null`: None is allowed;
    `choices`: the allowed values; `low` / `above` / `high`: inclusive lower, exclusive lower, inclusive upper bound;
    `must`: the error's "must be ..." text when the generic one says too little."""

    name: str
    default: object
    doc: str
    kind: str = "number"
    null: bool = False
    choices: tuple = ()
    low: float | None = None
    above: float | None = None
    high: float | None = None
    must: str | None = None

    def __post_init__(self):
        assert self.kind in _KINDS, self.kind

    def describe(self) -> str:
        """What a valid value is, in words (the error message's "must be ...")."""
        if self.must:
            return self.must  # says whether null is allowed itself
        if self.choices:
            text = "one of " + ", ".join(map(repr, self.choices))
        elif self.kind in ("number", "int"):
            noun = "an integer" if self.kind == "int" else "a number"
            if self.above == 0 and self.low is None and self.high is None:
                text = ("a positive integer" if self.kind == "int" else "a positive number")
            else:
                bounds = [f">= {self.low:g}" if self.low is not None else "",
                          f"> {self.above:g}" if self.above is not None else "",
                          f"<= {self.high:g}" if self.high is not None else ""]
                text = " ".join([noun, " and ".join(b for b in bounds if b)]).strip()
                text = text if any(bounds) else ("a finite number" if self.kind == "number" else noun)
        else:
            text = {"bool": "true or false", "str": "a string", "mapping": "a mapping", "any": "a value"}[self.kind]
        return text + (" (or null)" if self.null else "")

    def check(self, value, path: str):
        """`value` (ints as float for a number) when valid, else ValueError "`path` must be ..., got `value`"."""
        if value is None and self.null:
            return None
        if not self._valid(value):
            raise ValueError(f"{path} must be {self.describe()}, got {value!r}")
        return float(value) if self.kind == "number" else value

    def _valid(self, value) -> bool:
        if value is None:
            return False
        if self.choices:
            return value in self.choices
        if self.kind in ("number", "int"):
            if isinstance(value, bool) or not isinstance(value, int if self.kind == "int" else int | float):
                return False
            return math.isfinite(value) and (self.low is None or value >= self.low) and (
                self.above is None or value > self.above) and (self.high is None or value <= self.high)
        return {"bool": isinstance(value, bool), "str": isinstance(value, str),
                "mapping": isinstance(value, Mapping), "any": True}[self.kind]


@dataclass(frozen=True)
class Block:
    """A config block (`path`, e.g. "reward.r1") and its keys."""

    path: str
    keys: tuple[Key, ...]

    def __getitem__(self, name: str) -> Key:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(f"{self.path} has no key {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def defaults(self) -> dict:
        return {k.name: k.default for k in self.keys}

    def parse(self, node, path: str | None = None) -> dict:
        """Every key's checked value (its default when absent); ValueError naming the full key for an unknown key, a
        node that is not a mapping, or a bad value. `node`: a mapping (a DictConfig reads as one) or None."""
        path = path or self.path
        node = {} if node is None else node
        if not isinstance(node, Mapping) and not (hasattr(node, "items") and hasattr(node, "keys")):
            raise ValueError(f"{path} must be a mapping, got {type(node).__name__}")
        unknown = sorted(set(node.keys()) - set(self.names))
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(f'{path}.{k}' for k in unknown)}; "
                             f"allowed: {', '.join(sorted(self.names))}")
        return {k.name: k.check(node[k.name], f"{path}.{k.name}") if k.name in node else k.default
                for k in self.keys}

    def effective(self, node, path: str | None = None) -> str:
        """One line for `--dry-run`: the block's effective values, those left at their default marked."""
        values = self.parse(node, path)
        given = set((node or {}).keys())
        return f"{path or self.path}: " + ", ".join(
            f"{k}={_show(v)}" + ("" if k in given else " (default)") for k, v in values.items())


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return f"{value:g}" if isinstance(value, float) else str(value)
