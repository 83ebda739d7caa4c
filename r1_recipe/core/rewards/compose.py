"""Weighted composition of named reward components under one deadline per sample (DeepSeek-R1 §2.2.2: the rule
reward is the sum of accuracy and format; §2.3.2 adds language consistency).

Config: the `reward.r1` block of a recipe, or a plain dict, defined once in `REWARD_R1` (key, type, default, check,
meaning: `components`, `timeout_s`, `step_budget_s`, `acc_component`, `score_truncated`, `workers`, `memory_mb`,
`infra_warn_rate`, `reward_model`; docs/rewards.md lists them, tests/test_config_schema.py checks that it does).

Options: a component's options are its named keyword parameters (`registry.option_names`), with the types of their
annotations (`registry.check_option_types`); an unknown key or a value of the wrong type fails when the config is
parsed, naming its full path. `accuracy` routes to `math` or `code`: its flat options go to the branch whose options
they are, its nested `math: {...}` / `code: {...}` blocks are checked against that branch. A component may also
carry `validate_options(options)` (raises ValueError on bad values), called at parse time.

One scoring path and one deadline rule: every sample is one call in a pool worker that runs all its components in
order (each stopped by an in-worker alarm shortly before the sample's deadline) and, for the reward manager, its
per-response signals; it may run `timeout_s` in the worker, counted from when a worker starts it, after which the
worker is killed (`r1_recipe.core.bounded`). `score`, `ascore` and `score_many` differ only in how they wait.

Every call returns the same key set: `score`, `acc`, `pred`, one key per component (its unweighted score),
`<component>_reason` ("" when normal) and `infra_failure` (0/1). A timeout or exception gives that component 0 with the
reason; nothing raises. `pred` is the accuracy component's canonical answer key (`info["key"]`) when it has one, else
its extracted answer.

Infra failures: a component output flagged `infra` (`types.no_verdict`: no verdict for a reason that is not the
response's; set where it happens: the in-worker alarm, the pool, the step budget, the reward model) sets
`infra_failure: 1`; no reason text is parsed. Such a sample must not count as a wrong answer: the infra-failure
policy (r1_recipe.verl.infra_policy) gives it its group's mean reward before the advantage, so its GRPO advantage
is 0; `r1/reward/infra_failures` counts them per step.
"""

from __future__ import annotations

import _signal
import collections
import functools
import logging
import math
import signal
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from r1_recipe.core import schema
from r1_recipe.core.bounded import MEMORY_MB, BoundedPool, BoundExceeded, task_deadline
from r1_recipe.core.config import Block, Key
from r1_recipe.core.rewards import registry
from r1_recipe.core.rewards.tokens import as_text
from r1_recipe.core.rewards.types import RewardOutput, as_output, no_verdict

logger = logging.getLogger(__name__)

DEFAULT_COMPONENTS = {"accuracy": 1.0, "format": 1.0}
MODEL_ROW = "model-scored row"  # reason of the accuracy component on a row the reward model scores
RULE_ROW = "rule-scored row"    # reason of `reward_model` on a row with a ground truth
INFRA_KEY = schema.INFRA_FAILURE
_ACC_CANDIDATES = ("accuracy", "math", "code")
_MAX_WARNINGS = 20
_WINDOW = 256          # samples per infra-failure rate check
SOFT_MARGIN_S = 0.5    # components stop this long before the sample's deadline, so the verdicts still come back
RESERVE_S = 0.1        # kept per component still to run (a slow first one must not starve the cheap rest)

# The `reward.r1` block, defined once (core.config): parse_config reads it, docs/rewards.md lists it (tested), the
# dry-run prints it.
REWARD_R1 = Block("reward.r1", (
    Key("components", None, "name -> weight, or name -> {weight: w, <options of the component>}; null: "
        "accuracy 1.0 and format 1.0", kind="mapping", null=True,
        must="a mapping of component names to weights (or null)"),
    Key("timeout_s", 10.0, "deadline per sample: its run time in a worker, all its components and its signals",
        above=0, must="a positive number of seconds"),
    Key("step_budget_s", None, "seconds from a step's first sample, waiting included, after which the rest fail "
        "(`step_budget`)", above=0, null=True),
    Key("acc_component", None, "the component reported as `acc`: accuracy, else math, else code, else the total",
        kind="str", null=True),
    Key("score_truncated", False, "false: a truncated response (no EOS within the length limit) gets 0 from every "
        "component", kind="bool"),
    Key("workers", None, "pool processes per reward process; default R1_RECIPE_WORKERS, else (the r1 manager) the "
        "node's cores shared by verl's reward.num_workers reward processes, else the usable cores", kind="int",
        above=0, null=True, must="a positive integer or null"),
    MEMORY_MB,
    Key("infra_warn_rate", 0.02, "an ERROR log when more than this share of 256 samples are infra failures", low=0,
        high=1),
    Key("reward_model", None, "{weight: 1.0, timeout_s: 300}: rows with reward_model.style == model also get a "
        "reward-model score (verl reward loop only)", kind="mapping", null=True,
        must="a mapping {weight: w, timeout_s: s} (or null)"),
))
REWARD_MODEL = Block("reward.r1.reward_model", (
    Key("weight", 1.0, "weight of the reward model's score"),
    Key("timeout_s", 300.0, "seconds per request; past it the row has no verdict", above=0),
))


@dataclass(frozen=True)
class Component:
    name: str
    weight: float
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelReward:
    """A preference reward model's score, added with `weight` for rows whose `reward_model.style` is "model"
    (DeepSeek-R1 §2.3.4: general data is scored by a reward model, reasoning data by rules)."""
    weight: float = REWARD_MODEL["weight"].default
    timeout_s: float = REWARD_MODEL["timeout_s"].default


@dataclass(frozen=True)
class ComposeConfig:
    components: tuple[Component, ...]
    timeout_s: float = REWARD_R1["timeout_s"].default
    step_budget_s: float | None = REWARD_R1["step_budget_s"].default
    acc_component: str | None = REWARD_R1["acc_component"].default
    score_truncated: bool = REWARD_R1["score_truncated"].default
    workers: int | None = REWARD_R1["workers"].default
    memory_mb: int | None = REWARD_R1["memory_mb"].default
    infra_warn_rate: float = REWARD_R1["infra_warn_rate"].default
    reward_model: ModelReward | None = REWARD_R1["reward_model"].default


def _plain(obj):
    """DictConfig/ListConfig -> plain containers, without importing omegaconf here."""
    if hasattr(obj, "items") and not isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if hasattr(obj, "__iter__") and not isinstance(obj, str | bytes | list | tuple) and hasattr(obj, "__len__"):
        return [_plain(v) for v in obj]
    return obj


_WEIGHT = Key("weight", 1.0, "the component's weight in `score`", must="a finite number")


def _unknown(keys, allowed, key: str) -> None:
    unknown = sorted(set(keys) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(f'{key}.{k}' for k in unknown)}; "
                         f"allowed: {', '.join(sorted(allowed)) or '(none)'}")


def check_options(fn, options: dict, key: str) -> None:
    """The one options check: names against the component's schema (and its branches'), types against its
    signature's annotations, then its own values check. Raises ValueError naming the full key path (e.g.
    `reward.r1.components.accuracy.math.fallback`)."""
    branches = getattr(fn, "branches", ())  # e.g. accuracy -> math, code
    if branches:
        fns = {b: registry.get(b) for b in branches}
        schemas = {b: registry.option_names(f) for b, f in fns.items()}
        flat = set().union(*(s or () for s in schemas.values()))
        for b in branches:
            nested = options.get(b)
            if nested is not None and not isinstance(nested, dict):
                raise ValueError(f"{key}.{b} must be a mapping of {b} options, got {nested!r}")
            if schemas[b] is not None:
                _unknown(nested or {}, schemas[b], f"{key}.{b}")
            registry.check_option_types(fns[b], nested or {}, f"{key}.{b}")
            flat_here = {k: v for k, v in options.items() if k not in branches and k in (schemas[b] or ())}
            registry.check_option_types(fns[b], flat_here, key)
        _unknown(set(options) - set(branches), flat, key)
    else:
        names = registry.option_names(fn)
        if names is not None:
            _unknown(options, names, key)
        registry.check_option_types(fn, options, key)
    validate = getattr(fn, "validate_options", None)
    if validate is not None:
        try:
            validate(options)
        except ValueError as e:
            raise ValueError(f"{key}: {e}") from None


def parse_config(cfg: Mapping | None, prefix: str = "reward.r1") -> ComposeConfig:
    """Validate a composition config (`REWARD_R1`), component options included; errors name the full key path
    (e.g. `reward.r1.components.format.weight`). This is the one place reward options are checked."""
    values = REWARD_R1.parse(_plain(cfg), prefix)
    raw = DEFAULT_COMPONENTS if values["components"] is None else values["components"]
    known = registry.available()
    components = []
    for name, spec in raw.items():
        key = f"{prefix}.components.{name}"
        if name not in known:
            raise ValueError(f"{key}: unknown reward component {name!r}; available: {', '.join(known)}")
        options = dict(spec) if isinstance(spec, dict) else {"weight": spec}
        weight = _WEIGHT.check(options.pop("weight", _WEIGHT.default), f"{key}.weight")
        check_options(registry.get(name), options, key)
        components.append(Component(name, weight, options))
    if not components:
        raise ValueError(f"{prefix}.components is empty")
    acc = values["acc_component"]
    if acc is not None and acc not in raw:
        raise ValueError(f"{prefix}.acc_component={acc!r} is not one of the configured components {list(raw)}")
    if acc is None:
        acc = next((c for c in _ACC_CANDIDATES if c in raw), None)
    rm = values["reward_model"]
    return ComposeConfig(
        components=tuple(components),
        **{k: v for k, v in values.items() if k not in ("components", "acc_component", "reward_model")},
        acc_component=acc,
        reward_model=None if rm is None else ModelReward(**REWARD_MODEL.parse(rm, f"{prefix}.reward_model")),
    )


def reward_model_errors(r1_reward_model, enabled: bool, custom_reward_path, router_up: bool | None = None) -> list:
    """Why a reward-model set-up is inconsistent (empty when it is fine); the recipe validator and the reward manager
    both ask here. `router_up`: whether verl started a reward router (None: not known yet, at validation)."""
    errors = []
    if enabled and custom_reward_path is None:
        errors.append("reward.reward_model.enable=true: verl 0.9.1 then sends every row to the reward model and never "
                      "calls the `r1` manager (rule rewards would be lost); set "
                      "reward.custom_reward_function.path=pkg://r1_recipe.rewards")
    wanted = r1_reward_model is not None
    if wanted != bool(enabled) or (wanted and router_up is False):
        errors.append(f"reward.r1.reward_model and reward.reward_model.enable must be set together (rows with "
                      f"reward_model.style=model then get the reward model's score); got reward.r1.reward_model="
                      f"{r1_reward_model}, reward.reward_model.enable={bool(enabled)}"
                      + ("" if router_up is None else f", reward router {'up' if router_up else 'absent'}"))
    return errors


# ---------------------------------------------------------------- the worker side


class _SoftDeadline(Exception):
    pass


def _on_alarm(signum, frame):
    raise _SoftDeadline


def _bounded(call, deadline: float, alarm: bool, late: str):
    """(`call()`, None) stopped by SIGALRM at `deadline` (time.time()) when `alarm`, or (None, why as a RewardOutput):
    past the deadline, no verdict with reason `late`; an exception, a 0 with its reason (a component bug must never
    stop a training step)."""
    left = deadline - time.time()
    if left <= 0:
        return None, no_verdict(late)
    if alarm and math.isfinite(left):
        signal.setitimer(signal.ITIMER_REAL, left)
    try:
        return call(), None
    except _SoftDeadline:
        return None, no_verdict(late)
    except Exception as e:
        return None, RewardOutput(0.0, f"error: {type(e).__name__}: {e}"[:300])
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)


def score_sample(fns, options, skip, sample, with_signals: bool, budget_end: float | None = None, after=None):
    """Runs in a pool worker: one sample's components in order, then (with_signals) its per-response signals, then
    (`after`: `(function, args)`) what a batch tool wants done with the same response in the same call.

    skip: per component, a reason to give it 0 without running it ("truncated", MODEL_ROW) or "".
    Every call here stops `SOFT_MARGIN_S` before the pool kills this task (`bounded.task_deadline()`), or before
    `budget_end` (time.time() at which the step budget ends) when that comes first, less `RESERVE_S` per call still to
    come, with no verdict (reason "timeout", or "step_budget"). A pool worker runs tasks in its main thread, so an
    interval timer can interrupt Python code; C loops run to the hard deadline, where the pool kills the worker.
    Returns (outputs, signals or None, after's value or None).
    """
    from r1_recipe.core.signals import _no_signals, sample_signals

    solution_str, ground_truth, extra_info, truncated = sample
    solution_str = as_text(solution_str)  # token ids are decoded here, in the worker (core.rewards.tokens)
    hard, late = task_deadline() or math.inf, "timeout"
    if budget_end is not None and budget_end <= hard + 0.05:  # the pool cut this call's time to the budget's end
        hard, late = min(budget_end, hard), "step_budget"
    soft = hard - SOFT_MARGIN_S
    alarm = threading.current_thread() is threading.main_thread()
    # `_signal.signal`: `signal.signal` wraps the old handler in an enum by way of a caught ValueError (~3 us a call)
    previous = _signal.signal(signal.SIGALRM, _on_alarm) if alarm else None
    try:
        outs = []
        for i, (fn, opts, why) in enumerate(zip(fns, options, skip, strict=True)):
            if why:
                outs.append(RewardOutput(0.0, why))
                continue
            later = sum(not w for w in skip[i + 1:]) + bool(with_signals) + bool(after)
            value, failed = _bounded(lambda f=fn, o=opts: as_output(f(solution_str, ground_truth, extra_info, **o)),
                                     soft - RESERVE_S * later, alarm, late)
            outs.append(failed or value)
        signals = None
        if with_signals:
            prompt = (extra_info or {}).get("prompt") or ""
            signals, _ = _bounded(lambda: sample_signals(solution_str, str(prompt), truncated),
                                  soft - RESERVE_S * bool(after), alarm, late)
            signals = signals or _no_signals(truncated)
        extra = _bounded(lambda: after[0](*after[1]), soft, alarm, late)[0] if after else None
        return outs, signals, extra
    finally:
        if alarm:
            _signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- the parent side


class Composer:
    """Scores responses with the configured components. Safe to share between threads and coroutines."""

    def __init__(self, cfg: ComposeConfig | Mapping | None = None, pool: BoundedPool | None = None,
                 setup: tuple = (), chunk: int = 16):
        """`setup`: `(function, args)` pairs each worker of a pool built here runs at start (e.g.
        `core.rewards.tokens.setup` for responses sent as `TokenIds`). `chunk`: at most this many queued calls per
        task of a pool built here (`BoundedPool`'s `chunk`; batch tools that stream many calls use more)."""
        self.cfg = cfg if isinstance(cfg, ComposeConfig) else parse_config(cfg)
        # Resolved here, in the parent: an import error surfaces at start-up, and workers get the function itself
        # (components registered with @register in a user's module work without an entry point).
        self.fns = tuple(registry.get(c.name) for c in self.cfg.components)
        self.options = tuple(c.options for c in self.cfg.components)
        if pool is None:
            # a component may name the modules (and warm-ups) it needs, e.g. accuracy -> math, code, the sandbox probe
            modules = [m for fn in self.fns for m in (fn.__module__, *getattr(fn, "preload", ()))]
            modules.append("r1_recipe.core.signals")
            pool = BoundedPool(self.cfg.workers, self.cfg.memory_mb, preload=tuple(dict.fromkeys(modules)),
                               setup=setup, chunk=chunk)
        self.pool = pool
        self._lock = threading.Lock()
        self._warnings = 0
        self._window = [0, 0]  # samples, infra failures
        self._window_reasons: dict[str, int] = {}
        self._active = 0
        self._budget_end: float | None = None

    @functools.cached_property
    def _weighted(self) -> tuple[tuple[str, float], ...]:
        """(name, weight) of every score in the sum: the components, then the reward model when configured."""
        rm = self.cfg.reward_model
        return tuple((c.name, c.weight) for c in self.cfg.components) + ((("reward_model", rm.weight),) if rm else ())

    @functools.cached_property
    def keys(self) -> list[str]:
        names = [n for n, _ in self._weighted]
        return ["score", "acc", "pred", *names, *(f"{n}_reason" for n in names), INFRA_KEY]

    @functools.cached_property
    def _acc_index(self) -> int | None:
        names = [c.name for c in self.cfg.components]
        return None if self.cfg.acc_component is None else names.index(self.cfg.acc_component)

    def assemble(self, outputs: Iterable[RewardOutput], model_out: RewardOutput | None = None) -> dict:
        """Weighted sum plus the fixed key set; `outputs` in component order, `model_out` the reward model's score
        (only with `reward_model` configured; None on a rule-scored row)."""
        outputs = list(outputs)
        if self.cfg.reward_model is not None:
            outputs.append(model_out or RewardOutput(0.0, RULE_ROW))
        total = 0.0
        scores = []
        infra = []
        for (name, weight), out in zip(self._weighted, outputs, strict=True):
            score = float(out.score) if math.isfinite(out.score) else 0.0
            total += weight * score
            scores.append(score)
            if out.infra:
                infra.append((name, out.reason))
        acc, pred = total, ""
        if self._acc_index is not None:
            acc_out = outputs[self._acc_index]
            acc = scores[self._acc_index]
            # `pred` drives verl's maj@N, which votes by string equality: the vote key (when the component gives one,
            # e.g. math: 0.5 and \frac{1}{2} -> "1/2", \frac{\sqrt2}{2} and \frac{1}{\sqrt2} -> "≈0.7071067812")
            # makes those votes equivalence-aware.
            pred = str(acc_out.info.get("key") or acc_out.pred or "")
        self._record(infra)
        return dict(zip(self.keys, (total, acc, pred, *scores, *(out.reason or "" for out in outputs),
                                    float(bool(infra))), strict=True))

    def _record(self, infra: list[tuple[str, str]]) -> None:
        """Log infra failures, (component, reason) pairs (the first few one by one), and warn loudly when a window's
        rate passes the threshold."""
        with self._lock:
            self._window[0] += 1
            if infra:
                self._window[1] += 1
                for _, reason in infra:
                    self._window_reasons[reason[:60]] = self._window_reasons.get(reason[:60], 0) + 1
                if self._warnings < _MAX_WARNINGS:
                    self._warnings += 1
                    logger.warning("reward infra failure (no verdict, not the response's fault): %s%s",
                                   "; ".join(f"{n}: {r}" for n, r in infra),
                                   " (further single warnings suppressed; rates are reported "
                                   f"every {_WINDOW} samples)" if self._warnings == _MAX_WARNINGS else "")
            if self._window[0] >= _WINDOW:
                n, failed = self._window
                if failed > self.cfg.infra_warn_rate * n:
                    logger.error("reward infra failures: %d of the last %d samples (%.1f%% > reward.r1."
                                 "infra_warn_rate %.1f%%): %s. They get their group's mean reward; check the "
                                 "reward workers' memory, reward.r1.timeout_s and reward.r1.workers.", failed, n,
                                 100 * failed / n, 100 * self.cfg.infra_warn_rate, self._window_reasons)
                self._window, self._window_reasons = [0, 0], {}

    def _plan(self, truncated: bool, model_row: bool) -> tuple[str, ...]:
        return self._plans[bool(truncated and not self.cfg.score_truncated), bool(model_row)]

    @functools.cached_property
    def _plans(self) -> dict[tuple[bool, bool], tuple[str, ...]]:
        """The skip plan per (cut as truncated, model-scored row): per component, why it gets 0 without running."""
        return {(cut, model_row): tuple("truncated" if cut else MODEL_ROW if model_row and c.name ==
                                        self.cfg.acc_component else "" for c in self.cfg.components)
                for cut in (False, True) for model_row in (False, True)}

    def _finish(self, skip, result, failure: RewardOutput | None, model_out, truncated: bool, signals: bool) -> dict:
        if result is None:  # the whole sample failed in the pool: every component that should have run gets why
            outs = [RewardOutput(0.0, why) if why else failure for why in skip]
            sig = None
        else:
            outs, sig, _ = result
        info = self.assemble(outs, model_out)
        if signals:
            from r1_recipe.core.signals import _no_signals

            info.update(sig or _no_signals(truncated))
        return info

    @staticmethod
    def _no_verdict(e: Exception, stop_at: float | None) -> RewardOutput:
        """The pool's failure of a whole sample, as no verdict: its deadline, the step budget, a dead worker..."""
        if isinstance(e, BoundExceeded):
            budget = e.reason == "timeout" and stop_at is not None and time.monotonic() >= stop_at - 0.05
            return no_verdict("step_budget" if budget else e.reason)
        return no_verdict(f"pool_error: {type(e).__name__}: {e}"[:300])

    def _start(self) -> tuple[float | None, float | None]:
        """The step budget's end for a sample that arrives now, as (time.monotonic(), time.time()), or (None, None)
        without a budget; a burst (a step) starts when a sample arrives while none is in flight."""
        with self._lock:
            self._active += 1
            if self.cfg.step_budget_s is None:
                return None, None
            now = time.monotonic()
            if self._active == 1:
                self._budget_end = now + self.cfg.step_budget_s
            return self._budget_end, time.time() + (self._budget_end - now)

    def _done(self) -> None:
        with self._lock:
            self._active -= 1

    def _call(self, solution_str, ground_truth, extra_info, truncated: bool, model_row: bool, signals: bool):
        """(skip plan, the pool call's positional arguments without the budget)."""
        skip = self._plan(truncated, model_row)
        return skip, (score_sample, self.fns, self.options, skip, (solution_str, ground_truth, extra_info, truncated),
                      signals)

    async def ascore(self, solution_str: str, ground_truth, extra_info: dict | None = None,
                     truncated: bool = False, model_out: RewardOutput | None = None, signals: bool = False) -> dict:
        """Score one sample on an event loop. `model_out`: the reward model's score of a model-scored row; the
        accuracy component (which needs a ground truth) then gives 0 with reason "model-scored row".
        `signals`: also return the per-response signals (response_truncated, reflection_words, language_mixed)."""
        skip, call = self._call(solution_str, ground_truth, extra_info, truncated, model_out is not None, signals)
        if all(skip) and not signals:
            return self._finish(skip, None, None, model_out, truncated, False)
        stop_at, budget_end = self._start()
        result = failure = None
        try:
            result = await self.pool.arun(*call, budget_end, timeout=self.cfg.timeout_s, stop_at=stop_at)
        except Exception as e:  # never an exception into the trainer, once the pool runs
            if not getattr(self.pool, "started", True):
                raise  # it could not start here at all (a script without a main guard): the caller's error
            failure = self._no_verdict(e, stop_at)
        finally:
            self._done()
        return self._finish(skip, result, failure, model_out, truncated, signals)

    def score(self, solution_str: str, ground_truth, extra_info: dict | None = None, truncated: bool = False) -> dict:
        """Synchronous form of `ascore` (for scripts and `compute_score`), with the same deadline."""
        skip, call = self._call(solution_str, ground_truth, extra_info, truncated, False, False)
        if all(skip):
            return self._finish(skip, None, None, None, truncated, False)
        stop_at, budget_end = self._start()
        result = failure = None
        try:
            result = self.pool.run(*call, budget_end, timeout=self.cfg.timeout_s, stop_at=stop_at)
        except Exception as e:
            if not getattr(self.pool, "started", True):
                raise
            failure = self._no_verdict(e, stop_at)
        finally:
            self._done()
        return self._finish(skip, result, failure, None, truncated, False)

    def score_many(self, samples: Iterable[tuple], progress: bool | str = False, total: int | None = None,
                   after=None, ahead: int | None = None):
        """Score `(solution_str, ground_truth, extra_info[, truncated])` tuples in parallel over the pool's workers,
        each with `timeout_s` of run time (the deadline rule of `ascore`). Yields one result dict per sample, in
        order; memory stays bounded on long inputs. Samples with nothing to run (truncated) never reach the pool.

        `after`: a module-level function run in the same worker call, after the components, on each sample's fifth
        element (a tuple of its arguments), e.g. rejection sampling's text filters: one call per response instead
        of two. Then every sample goes to a worker, and `(result, after's value)` pairs are yielded (the value is
        None when the call gave no answer: out of time, or the worker died). `ahead`: see `BoundedPool.map`."""
        order: collections.deque = collections.deque()  # skip plans in input order, runnable or not

        def items():
            for sample in samples:
                solution_str, ground_truth, extra_info, *rest = sample
                skip, call = self._call(solution_str, ground_truth, extra_info, bool(rest[0]) if rest else False,
                                        False, False)
                order.append(skip)
                if after is not None:
                    yield (*call[1:], None, (after, rest[1]))
                elif not all(skip):
                    yield call[1:]

        def finish(result):
            skip = order.popleft()
            if isinstance(result, BaseException):  # the pool's failure: the sample as a whole has no verdict
                info, extra = self._finish(skip, None, self._no_verdict(result, None), None, False, False), None
            else:
                info, extra = self._finish(skip, result, None, None, False, False), result[2]
            return info if after is None else (info, extra)

        results = self.pool.map(score_sample, items(), timeout=self.cfg.timeout_s, default=lambda e, item: e,
                                progress=progress, total=total, ahead=ahead)
        end = object()
        while True:
            while after is None and order and all(order[0]):
                yield self._finish(order.popleft(), None, None, None, False, False)
            result = next(results, end)  # the verdict of the first sample in `order` that went to the pool
            if result is end:
                if not order:
                    return
                continue
            while after is None and all(order[0]):
                yield self._finish(order.popleft(), None, None, None, False, False)
            yield finish(result)
