"""Name -> reward component registry, with the `r1_recipe.rewards` entry-point group for third-party rewards.

A component is a module-level function (it must be picklable: it runs in the bounded worker pool)::

    fn(solution_str: str, ground_truth, extra_info: dict | None = None, **options) -> RewardOutput | float

A third party adds one with three lines in its own pyproject.toml and selects it by name in YAML::

    [project.entry-points."r1_recipe.rewards"]
    my_reward = "my_pkg.rewards:my_reward"

One rule everywhere: registering a taken name with a different object raises, naming both providers. Two installed
packages whose entry points take the same name make that name unusable (`get` raises, naming both; `conflicts()`
lists them for `r1-recipe doctor`); the other components stay usable.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import threading
from collections.abc import Callable

ENTRY_POINT_GROUP = "r1_recipe.rewards"

# Built-ins are referenced by import path so that importing the registry stays cheap (no sympy, no sandbox).
_BUILTINS: dict[str, str] = {
    "format": "r1_recipe.core.rewards.format:format_reward",
    "math": "r1_recipe.core.rewards.math:math_reward",
    "accuracy": "r1_recipe.core.rewards.accuracy:accuracy_reward",
    "code": "r1_recipe.core.rewards.code:code_reward",
    "language": "r1_recipe.core.rewards.language:language_reward",
}

_registry: dict[str, Callable | str] = dict(_BUILTINS)
_providers: dict[str, str] = {name: f"r1-recipe ({target})" for name, target in _BUILTINS.items()}
_conflicts: dict[str, str] = {}  # name -> the error naming both providers (entry points that clash)
_entry_points_loaded = False
_lock = threading.RLock()


class RewardRegistryError(ValueError):
    pass


def _describe(obj: Callable | str) -> str:
    if isinstance(obj, str):
        return obj
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _same(a: Callable | str, b: Callable | str) -> bool:
    return a is b or _describe(a) == _describe(b)


def _add(name: str, obj: Callable | str, provider: str, strict: bool = True) -> None:
    """Register `obj` as `name`; a clash raises (`strict`) or is recorded in `_conflicts`."""
    with _lock:
        if name in _registry and not _same(_registry[name], obj):
            target = _describe(obj)
            message = (f"reward {name!r} is registered twice: by {_providers[name]} and by "
                       f"{provider if target in provider else f'{provider} ({target})'}; rename one of them")
            if strict:
                raise RewardRegistryError(message)
            _conflicts[name] = message
            return
        if name not in _registry or isinstance(_registry[name], str):
            _registry[name] = obj
            _providers.setdefault(name, provider)


def register(name: str, *, provider: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator: `@register("my_reward")` on a component function."""

    def deco(fn: Callable) -> Callable:
        _add(name, fn, provider or _describe(fn))
        return fn

    return deco


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            provider = f"{dist.name if dist else 'entry point'} ({ep.value})"
            _add(ep.name, ep.value, provider, strict=False)


def _resolve(target: str) -> Callable:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def get(name: str) -> Callable:
    """The component registered as `name`; raises with the list of known names if there is none."""
    _load_entry_points()
    with _lock:
        if name in _conflicts:
            raise RewardRegistryError(_conflicts[name])
        if name not in _registry:
            raise RewardRegistryError(f"unknown reward component {name!r}; available: {', '.join(available())}")
        obj = _registry[name]
        if isinstance(obj, str):
            obj = _resolve(obj)
            _registry[name] = obj
        return obj


def available() -> list[str]:
    """Sorted names of every known component (built-in, registered, or from entry points)."""
    _load_entry_points()
    with _lock:
        return sorted(_registry)


def conflicts() -> dict[str, str]:
    """Names that two installed packages register (entry points): name -> the error naming both providers."""
    _load_entry_points()
    with _lock:
        return dict(_conflicts)


def option_names(fn: Callable) -> frozenset[str] | None:
    """The options a component takes: its named parameters after `(solution_str, ground_truth, extra_info)`.

    `**kwargs` is not an option schema: a component that takes options names them (an unknown key in a recipe then
    fails at start-up instead of being swallowed). A component may instead define `options` (a set of names);
    None when the signature cannot be read (a builtin or C function): anything is passed through.
    """
    explicit = getattr(fn, "options", None)
    if explicit is not None:
        return frozenset(explicit)
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return frozenset(p.name for p in named[3:])


_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "None": (type(None),),
          "list": (list, tuple), "tuple": (list, tuple), "dict": (dict,)}


@functools.lru_cache(maxsize=64)
def option_types(fn: Callable) -> dict[str, tuple[type, ...]]:
    """The types each option accepts, read from the signature's annotations (`bool`, `int`, `float` (an int too),
    `str`, `list[...]` / `tuple[...]` (a YAML list), `dict`, unions of these and `None`); an option annotated otherwise
    (or not at all) is not type-checked."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, p in params.items():
        note = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
        parts = [part.strip().split("[")[0] for part in str(note).split("|")]
        if parts and all(part in _TYPES for part in parts):
            out[name] = tuple(t for part in parts for t in _TYPES[part])
    return out


def check_option_types(fn: Callable, options: dict, key: str) -> None:
    """ValueError naming `key.option` when an option's value has a type its annotation does not allow (a bool is
    never taken for a number, YAML's `false` never for a string)."""
    types = option_types(fn)
    for name, value in options.items():
        allowed = types.get(name)
        if allowed is None:
            continue
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
            names = " or ".join(dict.fromkeys("null" if t is type(None) else "list" if t is tuple else t.__name__
                                              for t in allowed))
            raise ValueError(f"{key}.{name} must be {names}, got {value!r}")


def provider(name: str) -> str:
    _load_entry_points()
    return _providers[name]
