"""Weighted composition of named reward components, each under a hard time bound (DeepSeek-R1 §2.2.2: the rule
reward is the sum of accuracy and format; §2.3.2 adds language consistency).

Config (the `reward.r1` block of a recipe, or a plain dict)::

    components:            # name -> weight, or name -> {weight: w, <options passed to the component>}
      accuracy: 1.0
      format: {weight: 1.0, answer_tag: true}
    timeout_s: 10          # hard wall-clock bound per component call
    acc_component: null    # which component's score is reported as `acc` (default: accuracy, math or code)
    score_truncated: false # a truncated response (no EOS within the length limit) gets 0 from every component
    workers: null          # worker processes per reward process (default: R1_RECIPE_WORKERS or min(4, cores))
    memory_mb: 4096        # address-space limit of each worker
    reward_model: null     # {weight: 1.0, timeout_s: 300}: rows with reward_model.style == "model" also get a
                           # reward-model score (verl reward loop only, see r1_recipe.verl.reward_manager)

Every call returns the same key set: `score`, `acc`, `pred`, one key per component (its unweighted score) and
`<component>_reason` ("" when normal). A timeout or exception gives that component 0 with the reason; nothing raises.
`pred` is the accuracy component's canonical answer key (`info["key"]`) when it has one, else its extracted answer.

A component may carry a `validate_options(options)` attribute that raises ValueError on bad options; it is called
when the Composer is built, so a typo in a recipe fails at start-up rather than as a per-sample error.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from r1_recipe.core.bounded import BoundedPool, BoundExceeded
from r1_recipe.core.rewards import registry
from r1_recipe.core.rewards.types import RewardOutput, as_output

logger = logging.getLogger(__name__)

DEFAULT_COMPONENTS = {"accuracy": 1.0, "format": 1.0}
_KEYS = {"components", "timeout_s", "acc_component", "score_truncated", "workers", "memory_mb", "reward_model"}
MODEL_ROW = "model-scored row"  # reason of the accuracy component on a row the reward model scores
RULE_ROW = "rule-scored row"    # reason of `reward_model` on a row with a ground truth
_ACC_CANDIDATES = ("accuracy", "math", "code")
_MAX_WARNINGS = 20


@dataclass(frozen=True)
class Component:
    name: str
    weight: float
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelReward:
    """A preference reward model's score, added with `weight` for rows whose `reward_model.style` is "model"
    (DeepSeek-R1 §2.3.4: general data is scored by a reward model, reasoning data by rules)."""
    weight: float = 1.0
    timeout_s: float = 300.0


@dataclass(frozen=True)
class ComposeConfig:
    components: tuple[Component, ...]
    timeout_s: float = 10.0
    acc_component: str | None = None
    score_truncated: bool = False
    workers: int | None = None
    memory_mb: int | None = 4096
    reward_model: ModelReward | None = None


def _plain(obj):
    """DictConfig/ListConfig -> plain containers, without importing omegaconf here."""
    if hasattr(obj, "items") and not isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _number(value, key: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or (
            positive and value <= 0):
        raise ValueError(f"{key} must be a {'positive' if positive else 'finite'} number, got {value!r}")
    return float(value)


def _parse_model_reward(rm, key: str) -> ModelReward | None:
    if rm is None:
        return None
    if not isinstance(rm, dict):
        raise ValueError(f"{key} must be a mapping {{weight: w, timeout_s: s}}, got {rm!r}")
    unknown = set(rm) - {"weight", "timeout_s"}
    if unknown:
        names = ", ".join(f"{key}.{k}" for k in sorted(unknown))
        raise ValueError(f"unknown key(s) {names}; allowed: timeout_s, weight")
    return ModelReward(_number(rm.get("weight", 1.0), f"{key}.weight"),
                       _number(rm.get("timeout_s", 300.0), f"{key}.timeout_s", positive=True))


def parse_config(cfg: Mapping | None, prefix: str = "reward.r1") -> ComposeConfig:
    """Validate a composition config; errors name the full key path (e.g. `reward.r1.components.format.weight`)."""
    cfg = _plain(cfg) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{prefix} must be a mapping, got {type(cfg).__name__}")
    unknown = set(cfg) - _KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(f'{prefix}.{k}' for k in sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(_KEYS))}")
    raw = cfg.get("components")
    raw = DEFAULT_COMPONENTS if raw is None else raw
    if not isinstance(raw, dict):
        raise ValueError(f"{prefix}.components must map component names to weights, got {raw!r}")
    known = registry.available()
    components = []
    for name, spec in raw.items():
        key = f"{prefix}.components.{name}"
        if name not in known:
            raise ValueError(f"{key}: unknown reward component {name!r}; available: {', '.join(known)}")
        options = dict(spec) if isinstance(spec, dict) else {"weight": spec}
        components.append(Component(name, _number(options.pop("weight", 1.0), f"{key}.weight"), options))
    if not components:
        raise ValueError(f"{prefix}.components is empty")
    timeout = cfg.get("timeout_s", 10.0)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"{prefix}.timeout_s must be a positive number of seconds, got {timeout!r}")
    acc = cfg.get("acc_component")
    if acc is not None and acc not in raw:
        raise ValueError(f"{prefix}.acc_component={acc!r} is not one of the configured components {list(raw)}")
    if acc is None:
        acc = next((c for c in _ACC_CANDIDATES if c in raw), None)
    return ComposeConfig(
        components=tuple(components),
        timeout_s=float(timeout),
        acc_component=acc,
        score_truncated=bool(cfg.get("score_truncated", False)),
        workers=cfg.get("workers"),
        memory_mb=cfg.get("memory_mb", 4096),
        reward_model=_parse_model_reward(cfg.get("reward_model"), f"{prefix}.reward_model"),
    )


def call_component(fn, solution_str: str, ground_truth, extra_info, options: dict) -> RewardOutput:
    """Runs in a pool worker. `fn` travels by reference (module + name), so it must be a module-level function."""
    return as_output(fn(solution_str, ground_truth, extra_info, **options))


class Composer:
    """Scores responses with the configured components. Safe to share between threads and coroutines."""

    def __init__(self, cfg: ComposeConfig | Mapping | None = None, pool: BoundedPool | None = None):
        self.cfg = cfg if isinstance(cfg, ComposeConfig) else parse_config(cfg)
        # Resolved here, in the parent: an import error surfaces at start-up, and workers get the function itself
        # (components registered with @register in a user's module work without an entry point).
        self.fns = tuple(registry.get(c.name) for c in self.cfg.components)
        for c, fn in zip(self.cfg.components, self.fns, strict=True):
            validate = getattr(fn, "validate_options", None)  # optional hook: bad options fail at start-up
            if validate is not None:
                try:
                    validate(c.options)
                except ValueError as e:
                    raise ValueError(f"reward.r1.components.{c.name}: {e}") from None
        if pool is None:
            # a component may name the modules it imports lazily (e.g. accuracy -> math, code)
            modules = [m for fn in self.fns for m in (fn.__module__, *getattr(fn, "preload", ()))]
            preload = tuple(dict.fromkeys(modules))
            pool = BoundedPool(self.cfg.workers, self.cfg.memory_mb, preload=preload)
        self.pool = pool
        self._warnings = 0

    @property
    def keys(self) -> list[str]:
        names = [c.name for c in self.cfg.components] + (["reward_model"] if self.cfg.reward_model else [])
        return ["score", "acc", "pred", *names, *(f"{n}_reason" for n in names)]

    def _failed(self, component: Component, reason: str) -> RewardOutput:
        if self._warnings < _MAX_WARNINGS:
            self._warnings += 1
            logger.warning("reward component %r scored 0: %s%s", component.name, reason,
                           " (further warnings suppressed)" if self._warnings == _MAX_WARNINGS else "")
        return RewardOutput(0.0, reason)

    async def _one(self, component: Component, fn, solution_str, ground_truth, extra_info) -> RewardOutput:
        try:
            return await self.pool.arun(call_component, fn, solution_str, ground_truth, extra_info,
                                        component.options, timeout=self.cfg.timeout_s)
        except BoundExceeded as e:
            return self._failed(component, e.reason)
        except Exception as e:  # a component bug must never stop a training step
            return self._failed(component, f"error: {type(e).__name__}: {e}"[:300])

    def assemble(self, outputs: Iterable[RewardOutput], model_out: RewardOutput | None = None) -> dict:
        """Weighted sum plus the fixed key set; `outputs` in component order, `model_out` the reward model's score
        (only with `reward_model` configured; None on a rule-scored row)."""
        outputs = list(outputs)
        info: dict = {}
        total = 0.0
        weighted = list(zip(self.cfg.components, outputs, strict=True))
        if self.cfg.reward_model is not None:
            weighted.append((Component("reward_model", self.cfg.reward_model.weight),
                             model_out or RewardOutput(0.0, RULE_ROW)))
        for c, out in weighted:
            score = float(out.score) if math.isfinite(out.score) else 0.0
            total += c.weight * score
            info[c.name] = score
            info[f"{c.name}_reason"] = out.reason or ""
        acc_out = None
        if self.cfg.acc_component is not None:
            acc_out = outputs[[c.name for c in self.cfg.components].index(self.cfg.acc_component)]
        info["score"] = total
        info["acc"] = info[self.cfg.acc_component] if acc_out is not None else total
        # `pred` drives verl's maj@N, which votes by string equality: the canonical key (when the component gives
        # one, e.g. math: 0.5 and \frac{1}{2} -> "1/2") makes those votes equivalence-aware.
        info["pred"] = str(acc_out.info.get("key") or acc_out.pred or "") if acc_out is not None else ""
        return {k: info[k] for k in self.keys}

    def _truncated(self) -> dict:
        return self.assemble((RewardOutput(0.0, "truncated") for _ in self.cfg.components),
                             RewardOutput(0.0, "truncated"))

    async def ascore(self, solution_str: str, ground_truth, extra_info: dict | None = None,
                     truncated: bool = False, model_out: RewardOutput | None = None) -> dict:
        """`model_out`: the reward model's score of a model-scored row; the accuracy component (which needs a
        ground truth) then gives 0 with reason "model-scored row", the other components score as usual."""
        if truncated and not self.cfg.score_truncated:
            return self._truncated()

        async def one(c, fn):
            if model_out is not None and c.name == self.cfg.acc_component:
                return RewardOutput(0.0, MODEL_ROW)
            return await self._one(c, fn, solution_str, ground_truth, extra_info)

        outs = await asyncio.gather(*(one(c, fn) for c, fn in zip(self.cfg.components, self.fns, strict=True)))
        return self.assemble(outs, model_out)

    def score(self, solution_str: str, ground_truth, extra_info: dict | None = None, truncated: bool = False) -> dict:
        """Synchronous form of `ascore` (for scripts and `compute_score`)."""
        return next(iter(self.score_many([(solution_str, ground_truth, extra_info, truncated)])))

    def score_many(self, samples: Iterable[tuple], progress: bool | str = False, total: int | None = None):
        """Score `(solution_str, ground_truth, extra_info[, truncated])` tuples in parallel over the pool's workers.

        Yields one result dict per sample, in order; memory stays bounded on long inputs.
        """
        comps = self.cfg.components
        samples = iter(samples)
        current: list = []

        def tasks():
            for sample in samples:
                solution_str, ground_truth, extra_info, *rest = sample
                truncated = bool(rest[0]) if rest else False
                current.append(truncated and not self.cfg.score_truncated)
                for c, fn in zip(comps, self.fns, strict=True):
                    yield (fn, solution_str, ground_truth, extra_info, c.options)

        def default(reason, item):
            return self._failed(comps[self.fns.index(item[0])], reason)

        buf: list[RewardOutput] = []
        if progress and total is not None:
            total = total * len(comps)
        for out in self.pool.map(call_component, tasks(), timeout=self.cfg.timeout_s, default=default,
                                 progress=progress, total=total):
            buf.append(out)
            if len(buf) == len(comps):
                yield self._truncated() if current.pop(0) else self.assemble(buf)
                buf = []
