"""Hard time bounds for reward code, valid from any thread, asyncio loop or Ray actor, that survive worker deaths.

`signal.alarm` only works in the main thread, and verl runs sync scorers in a thread pool, so a sympy call that never
returns would stall a whole training step. Here every bounded call runs in a worker process of a `pebble.ProcessPool`.

What the pool guarantees, and how:
- **One deadline rule.** A call (`run`, `arun`, each item of `map`) may run `timeout` seconds in a worker, counted from
  when a worker starts it; then its worker is killed (SIGTERM with the default action: C code that ignores Python's
  signal handlers dies too) and the caller gets `BoundExceeded("timeout")` within about 0.2 s. Waiting for a free
  worker is not charged: the pool hands pebble at most `window` (2 per worker) calls, the rest wait in its own FIFO
  queue, so a burst of 8,192 samples is not failed for queueing. `stop_at` (a `time.monotonic()` instant) bounds a
  call from outside as well, queueing included (the reward's step budget). The caller's memory is bounded: a call's
  failure is stored once (never re-raised in a loop), and at most `window` payloads sit in pebble.
- **Self-healing.** pebble marks a pool broken for good when a worker dies while no task runs (an OOM kill between
  steps): every later call would fail. A monitor thread rebuilds such a pool within `MONITOR_S` and starts its
  workers, so the next step finds them warm; a pool found broken at submission is rebuilt on the spot; and a call
  that failed because its worker died or its pool broke is retried once, within its deadline; only then it fails
  (`worker_died`, `pool_error`). The monitor also checks every `MONITOR_S` that no call is lost: pebble drops a task
  whose worker dies between acknowledging it and the pool noticing the death, and leaves tasks queued on a pool that
  was replaced; both count as `worker_died` / `pool_error`. One scan per `MONITOR_S` for all calls, not one per call.
- **Nothing outlives the owner.** Workers are started with `spawn` (no forkserver that could be orphaned) and each runs
  a watchdog thread on a pidfd of the process that created the pool: when that process is gone (SIGKILL from Ray),
  the worker kills itself at once. Sandboxes started by a worker die with it (bubblewrap `--die-with-parent`, or a
  parent-death signal in the supervisor).
- **Worker count** from the cores this process may run on (`os.sched_getaffinity`), `R1_RECIPE_WORKERS`, or `workers`.

Every failure the pool reports is a `BoundExceeded`: no verdict, for a reason that is not the task's input (the
typed "infra" failure of `r1_recipe.core.rewards.types.RewardOutput`); a task's own exception is raised as itself.
pebble's private state read here is listed in `r1_recipe.core.pebble_names` (checked by `r1-recipe doctor`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import gc
import importlib
import logging
import math
import multiprocessing
import multiprocessing.context
import multiprocessing.synchronize
import os
import resource
import select
import shutil
import signal
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pebble import ProcessExpired, ProcessPool
from pebble.common.types import RemoteTraceback
from pebble.pool.base_pool import PoolStatus, Task

from r1_recipe.core.config import Key

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
MONITOR_S = 0.5  # how often the pool is checked for a broken state, lost calls and stalled ones
# How long a call handed to pebble may wait for a worker to take it before it is failed as lost: far above a worker's
# start-up (spawn, imports and preloads: under a second idle, ~20 s measured on a 2-core host at load 28), which is
# never charged to the call's deadline.
START_S = 60.0
DEFAULT_MEMORY_MB = 4096
# The smallest address-space limit (RLIMIT_AS) a worker may get: a worker that has imported sympy, math-verify and
# the built-in rewards maps ~270 MB (VmSize, Python 3.11, x86-64), and the math cases of bench/data and the code
# sandbox score the same at 384 MB as without a limit; 512 leaves room for a verdict's own work. Below it every sample
# would fail with MemoryError, charged to the response, so a smaller value is refused when the config is parsed.
MIN_MEMORY_MB = 512


class BoundExceeded(Exception):
    """No verdict, for a reason that is not the call's input: it ran past its deadline ("timeout"), or its worker
    died / its pool broke twice ("worker_died", "pool_error")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Retry(Exception):
    """The call's worker died or its pool broke: rebuild if needed, and try once more."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# reward.r1.memory_mb (core.rewards.compose.REWARD_R1) and BoundedPool's memory_mb
MEMORY_MB = Key("memory_mb", DEFAULT_MEMORY_MB, "address-space limit of each worker process: >= 512, or null for no "
                "limit", kind="int", null=True, low=MIN_MEMORY_MB,
                must=f"an integer number of MB >= {MIN_MEMORY_MB} (what a worker needs to import its rewards), or null "
                     "for no limit")


def check_memory_mb(value, key: str = "memory_mb") -> int | None:
    """`value` as a worker's address-space limit in MB: None (no limit) or an integer >= MIN_MEMORY_MB; anything
    else (0, a negative number, a limit too small to import the rewards) raises ValueError naming `key`."""
    return MEMORY_MB.check(value, key)


def default_workers() -> int:
    """`R1_RECIPE_WORKERS`, else the number of cores this process may run on (its CPU affinity, not the host's)."""
    env = os.environ.get("R1_RECIPE_WORKERS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _watch_owner(owner: int) -> None:
    """Kill this worker as soon as process `owner` is gone. A pidfd turns readable when its process exits (Linux
    >= 5.3); elsewhere the parent pid is polled. Started in a daemon thread of the worker."""
    try:
        fd = os.pidfd_open(owner)
    except (AttributeError, OSError):
        fd = None
    if fd is None:
        if os.getppid() != owner:  # owner died while this worker started
            os.kill(os.getpid(), signal.SIGKILL)
        while os.getppid() == owner:
            time.sleep(0.5)
    else:
        select.select([fd], [], [])
    os.kill(os.getpid(), signal.SIGKILL)


def _init_worker(memory_mb: int | None, preload: tuple[str, ...], owner: int, setup: tuple = ()) -> None:
    threading.Thread(target=_watch_owner, args=(owner,), daemon=True, name="r1-owner-watchdog").start()
    # pebble stops a worker (a task past its time, a cancelled one) with SIGTERM, whose handler it sets to a Python
    # function: a worker stuck in C code (a factorial of 10^100) runs no Python handler, so pebble waits 3 s and then
    # SIGKILLs it, with its manager thread blocked meanwhile (every other timeout and the replacement worker wait).
    # The default action ends the worker at once. Safe: pebble terminates a worker only while it holds the channel
    # lock (so the worker is not holding it) or when the pool stops.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Import heavy modules (sympy, math-verify) and run warm-ups ("module:function", e.g. the sandbox probe) before
    # the first task, so a task's deadline measures the task and not the start-up.
    for target in preload:
        module, _, fn = target.partition(":")
        try:
            obj = importlib.import_module(module)
            if fn:
                getattr(obj, fn)()
        except Exception:  # the task itself will report the error
            logger.debug("preload %s failed", target, exc_info=True)
    for fn, args in setup:  # state the tasks need, sent once per worker (e.g. the tokenizer that decodes responses)
        try:
            fn(*args)
        except Exception:
            logger.warning("worker setup %s failed", getattr(fn, "__qualname__", fn), exc_info=True)
    # What the preloads built (sympy alone is ~10^5 objects) lives as long as the worker: kept out of the cyclic
    # collector's full scans, which would otherwise walk it again and again while the tasks allocate (~10% of a
    # short task's time). Garbage the tasks make is collected as before.
    gc.freeze()


_deadline: float | None = None  # in a worker: time.time() at which the running call is killed
_PROGRESS = struct.Struct("<qd")  # a chunk's progress record: (index of the call running, time.time() it started)


def _task(fn: Callable, run_s: float, args: tuple, kwargs: dict) -> Any:
    """Runs in a worker: `fn(*args, **kwargs)`, with `task_deadline()` telling it when it will be killed."""
    global _deadline
    _deadline = time.time() + run_s
    try:
        return fn(*args, **kwargs)
    finally:
        _deadline = None


def _chunk(path: str, items: list[tuple]) -> list[tuple[bool, Any]]:
    """Runs in a worker: several calls `(run_s, end, fn, args, kwargs)` one after the other, each with its own
    deadline (`run_s` from its start, and never past `end`, a time.time()); before each, its index and start time
    are written over `path`, so the pool can kill the worker when that call runs past its deadline, and knows which
    calls of the chunk had run. Returns `(True, value)` or `(False, exception)` per call."""
    global _deadline
    out: list[tuple[bool, Any]] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for i, (run_s, end, fn, args, kwargs) in enumerate(items):
            start = time.time()
            os.pwrite(fd, _PROGRESS.pack(i, start), 0)
            _deadline = min(start + run_s, end)
            try:
                if _deadline <= start:
                    raise BoundExceeded("timeout")  # the step budget ended while it waited in the chunk
                out.append((True, fn(*args, **kwargs)))
            except Exception as e:
                out.append((False, e))
            finally:
                _deadline = None
    finally:
        os.close(fd)
    return out


def _progress(path: str) -> tuple[int, float]:
    """(index, start time) of the call a chunk runs, or (-1, 0.0) before its first."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return -1, 0.0
    try:
        data = os.pread(fd, _PROGRESS.size, 0)
    finally:
        os.close(fd)
    return _PROGRESS.unpack(data) if len(data) == _PROGRESS.size else (-1, 0.0)


def task_deadline() -> float | None:
    """In a pool worker, the `time.time()` at which the running call will be killed (for a soft stop shortly
    before it, e.g. an interval timer); None outside a bounded call."""
    return _deadline


class _HeldRLock(multiprocessing.synchronize.RLock):
    """A multiprocessing RLock that also records, in shared memory, the pid of the process holding it (0: none).

    pebble guards the channel between a pool and its workers with two of these: a worker holds both while it takes a
    task off the channel (unpickling it, which may import the task's module) and acknowledges it, and the writer one
    while it sends a result. A worker killed in that window (SIGKILL, the OOM killer) leaves them held for ever:
    every other worker blocks on them, pebble (which stops a worker only once it holds them) can neither time out
    nor cancel a task, and the pool looks healthy while no call finishes, until pebble's 60 s lock timeouts end the
    blocked workers one after the other. The holder's pid lets the monitor see that and replace the pool
    (`_dead_holder`). A kill between taking the lock and recording the pid (a few bytecodes) is not seen."""

    def __init__(self, ctx):
        self.holder = ctx.RawValue("i", 0)
        super().__init__(ctx=ctx)

    def _make_methods(self) -> None:  # multiprocessing's hook, called in every process that unpickles the lock
        acquire, release, holder, pid = self._semlock.acquire, self._semlock.release, self.holder, os.getpid()
        depth = 0  # pebble takes these recursively (a worker's recv and ack inside its task transaction)

        def take(block=True, timeout=None):
            nonlocal depth
            if not acquire(block, timeout):
                return False
            depth += 1
            holder.value = pid
            return True

        def give():
            nonlocal depth
            depth -= 1
            if depth == 0:
                holder.value = 0
            release()

        self.acquire, self.release = take, give

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *_):
        self.release()

    def __getstate__(self):
        return super().__getstate__(), self.holder

    def __setstate__(self, state):
        self.holder = state[1]
        try:
            super().__setstate__(state[0])
        except FileNotFoundError:
            # a worker still being spawned when its pool was stopped (a broken pool being replaced): the pool's
            # semaphores are gone, so it has nothing to serve; it exits without a traceback on stderr
            raise SystemExit(1) from None


class _Spawn(multiprocessing.context.SpawnContext):
    """The `spawn` start method, whose RLock (what pebble makes its channel locks of) records its holder."""

    def RLock(self):  # noqa: N802 (multiprocessing's name)
        return _HeldRLock(self)


_SPAWN = _Spawn()


def _classify(error: BaseException) -> BaseException:
    """pebble's failure -> ours: a timeout, a retryable infrastructure failure, or the task's own exception (which
    pebble rebuilds with its remote traceback as the cause: a task's own TimeoutError is not a timeout of ours)."""
    if isinstance(error.__cause__, RemoteTraceback):
        return error
    if isinstance(error, concurrent.futures.TimeoutError | TimeoutError):
        return BoundExceeded("timeout")  # pebble's: the task ran past its time and its worker was killed
    if isinstance(error, ProcessExpired):
        return _Retry("worker_died")
    if isinstance(error, BrokenProcessPool | concurrent.futures.CancelledError):
        return _Retry("pool_error")
    return error


class _Outcome:
    """A light future for the calls of one `map` (the part of `concurrent.futures.Future` the pool uses): the calls of
    a map share one Condition, and there are no callbacks. A Future costs ~5 us to make and watch, as much as the rest
    of the parent's work on a call of rejection sampling's thousands."""

    __slots__ = ("_cond", "_state", "_value")  # state: 0 pending, 1 result, 2 exception, 3 cancelled

    def __init__(self, cond: threading.Condition):
        self._cond, self._state, self._value = cond, 0, None

    def done(self) -> bool:
        return self._state != 0

    def cancelled(self) -> bool:
        return self._state == 3

    def _set(self, state: int, value: Any) -> bool:
        with self._cond:
            if self._state:
                return False
            self._state, self._value = state, value
            self._cond.notify_all()
            return True

    def set_result(self, value: Any) -> None:
        if not self._set(1, value):
            raise concurrent.futures.InvalidStateError("already settled")

    def set_exception(self, error: BaseException) -> None:
        if not self._set(2, error):
            raise concurrent.futures.InvalidStateError("already settled")

    def cancel(self) -> bool:
        return self._set(3, None) or self._state == 3

    def wait(self, timeout: float) -> None:
        with self._cond:
            if not self._state:
                self._cond.wait(timeout)

    def result(self) -> Any:
        if self._state == 1:
            return self._value
        if self._state == 2:
            raise self._value
        raise concurrent.futures.CancelledError() if self._state == 3 else concurrent.futures.InvalidStateError()


class _Job:
    """One call: queued in the pool, then in flight in pebble (in a `_Unit`), then settled (`future`: a Future, or
    for `map` an `_Outcome`)."""

    __slots__ = ("fn", "args", "kwargs", "timeout", "stop_at", "future", "tries", "ran", "solo", "unit")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, timeout: float, stop_at: float | None,
                 outcome: threading.Condition | None = None):
        self.fn, self.args, self.kwargs, self.timeout, self.stop_at = fn, args, kwargs, timeout, stop_at
        self.future = concurrent.futures.Future() if outcome is None else _Outcome(outcome)
        self.tries = 0      # retries after a dead worker or a broken pool (at most one)
        self.ran = 0.0      # seconds it already ran in a worker before (a retry gets what is left)
        self.solo = False   # run alone, never in a chunk (its chunk was killed while it ran)
        self.unit: _Unit | None = None


class _Unit:
    """One pebble task: a single call, or a chunk of calls run one after the other (`path`: its progress file)."""

    __slots__ = ("jobs", "run_s", "ends", "path", "pool", "task", "since", "started")

    def __init__(self, jobs: list[_Job], run_s: list[float], ends: list[float], path: str | None):
        self.jobs, self.run_s, self.ends, self.path = jobs, run_s, ends, path
        self.pool: ProcessPool | None = None
        self.task = None  # pebble's future while in flight
        self.since = 0.0  # time.monotonic() when handed to pebble
        self.started = 0.0  # time.monotonic() when the monitor first saw that a worker took it (0: not yet)


class BoundedPool:
    """A process pool whose calls each have a hard wall-clock deadline, and which heals itself.

    Args:
        workers: number of worker processes (default: `default_workers()`).
        memory_mb: address-space limit of each worker (None: no limit; else at least MIN_MEMORY_MB); an allocation
            past it raises MemoryError in the task (or kills the worker: `worker_died`).
        preload: modules (or "module:function" warm-ups) every worker runs when it starts and restarts.
        setup: `(function, args)` pairs every worker calls when it starts, after the preloads (picklable: they are
            sent to each worker once, e.g. a tokenizer).
        chunk: at most this many queued calls are handed to a worker as one pebble task when many wait (each keeps its
            own deadline, see `_chunk`): the per-task cost of pebble's pipes and threads is paid once per chunk.
    """

    def __init__(self, workers: int | None = None, memory_mb: int | None = DEFAULT_MEMORY_MB,
                 preload: tuple[str, ...] = (), setup: tuple[tuple[Callable, tuple], ...] = (), chunk: int = 16):
        self.workers = workers or default_workers()
        self.memory_mb = check_memory_mb(memory_mb)
        self.preload = tuple(preload)
        self.setup = tuple(setup)
        self.chunk = max(1, int(chunk))
        self.window = 2 * self.workers  # pebble tasks handed over at once: one running and one ready per worker
        self.rebuilds = 0  # how often a broken pool was replaced (for tests and logs)
        self._pool: ProcessPool | None = None
        self._pid = os.getpid()
        self._lock = threading.RLock()  # pebble's threads call back into the pool (a finished task frees a slot)
        self._queue: collections.deque[_Job] = collections.deque()
        self._inflight: dict[_Unit, None] = {}  # an ordered set
        self._closed = threading.Event()
        self._wake = threading.Event()  # the monitor's sleep, cut short when a chunk deadline comes sooner
        self._monitor: threading.Thread | None = None
        self._dir: str | None = None  # progress files of chunks
        self._chunks = 0
        self._suspect = 0  # a dead process seen holding the pool's channel lock at the last scan

    @property
    def started(self) -> bool:
        """Whether a process pool was ever started (False: the first call could not start one, e.g. from a script
        without a main guard; that error is the caller's, raised by the call)."""
        return self._pool is not None or self.rebuilds > 0

    # ---------------------------------------------------------------- the calls

    def run(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, stop_at: float | None = None,
            **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` with `timeout` seconds of run time in a worker; raises `BoundExceeded` (timeout,
        worker_died, pool_error) or the task's own exception. `fn` must be picklable (module level)."""
        return self._result(self._submit(fn, args, kwargs, timeout, stop_at))

    def submit(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any
               ) -> concurrent.futures.Future:
        """Start `fn(*args, **kwargs)` under the deadline rule of `run` and return its Future at once, for a caller
        that goes on with other work meanwhile. The Future settles with the value, a `BoundExceeded` or the task's own
        exception (the pool's monitor settles it by the deadline); cancelling it cancels the call."""
        return self._submit(fn, args, kwargs, timeout, None).future

    async def arun(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, stop_at: float | None = None,
                   **kwargs: Any) -> Any:
        """Async form of `run` for reward managers that live on an event loop (cancelling it cancels the call)."""
        job = self._submit(fn, args, kwargs, timeout, stop_at)
        try:
            return await asyncio.wrap_future(job.future)
        finally:
            job.future.cancel()  # no-op once settled

    def map(self, fn: Callable, items: Iterable[tuple], timeout: float = DEFAULT_TIMEOUT_S,
            default: Callable[[BaseException, tuple], Any] | None = None, progress: bool | str = False,
            total: int | None = None, ahead: int | None = None) -> Iterator[Any]:
        """Apply `fn(*item)` to every item in parallel, yielding results in input order.

        For batch tools (rejection sampling, evaluation): the deadline rule of `run`; a bounded window of items is
        submitted ahead of the consumer, so memory stays flat on large inputs. A call that fails yields
        `default(error, item)`: `error` is a `BoundExceeded` (no verdict: timeout, worker_died, pool_error) or the
        task's own exception; with no default the error propagates. `progress`: False, True, or a description string
        for a tqdm bar. `ahead`: how many items are submitted ahead of the one yielded (default: enough to give
        every worker chunks; more keeps the workers busy while the consumer does slow work of its own).
        """
        bar = None
        if progress:
            from tqdm.auto import tqdm

            if total is None and hasattr(items, "__len__"):
                total = len(items)
            bar = tqdm(total=total, desc=progress if isinstance(progress, str) else None, unit="it")
        pending: collections.deque = collections.deque()
        ahead = ahead or 2 * self.window * self.chunk  # enough queued calls to fill every worker with chunks
        cond = threading.Condition(threading.Lock())  # the calls' `_Outcome`s

        def finish(item, job):
            try:
                value = self._result(job)
            except Exception as e:
                if default is None:
                    raise
                value = default(e, item)
            if bar is not None:
                bar.update(1)
            return value

        try:
            for item in items:
                pending.append((item, self._submit(fn, item, {}, timeout, None, cond)))
                if len(pending) >= ahead:
                    yield finish(*pending.popleft())
            while pending:
                yield finish(*pending.popleft())
        finally:
            for _, job in pending:
                self._cancel(job)
            if bar is not None:
                bar.close()

    def _submit(self, fn: Callable, args: tuple, kwargs: dict, timeout: float, stop_at: float | None,
                outcome: threading.Condition | None = None) -> _Job:
        job = _Job(fn, args, kwargs, timeout, stop_at, outcome)
        if outcome is None:  # `map` cancels its own calls
            job.future.add_done_callback(functools.partial(self._on_settled, job))
        with self._lock:
            self._closed.clear()  # a call after close() opens the pool again
            self._ensure_monitor()
            self._queue.append(job)
            try:
                self._pump()
            except BaseException:  # e.g. check_main_guard: the pool cannot start from here
                if job in self._queue:
                    self._queue.remove(job)
                raise
        return job

    def _result(self, job: _Job) -> Any:
        """Wait for a call (sync callers). `concurrent.futures.wait` returns at the end of a slice without raising,
        so a task's own timeout error (a TimeoutError, the class of a slice's timeout since 3.11) is read once, when
        the call is settled. (Waiting with `result(timeout=)` and catching TimeoutError spun on a timed-out task,
        re-raising its stored error until an outer deadline: 3x the deadline, and ~2 GB of traceback.)"""
        wait = job.future.wait if isinstance(job.future, _Outcome) else \
            functools.partial(concurrent.futures.wait, (job.future,))
        try:
            while not job.future.done():
                wait(timeout=1.0)
                with self._lock:
                    self._ensure_monitor()
        except BaseException:
            self._cancel(job)
            raise
        return job.future.result()

    def _cancel(self, job: _Job) -> None:
        """Cancel a call that is not settled (a Future's callback, `_on_settled`, is run by the Future)."""
        if job.future.cancel() and isinstance(job.future, _Outcome):
            self._on_settled(job, job.future)

    # ---------------------------------------------------------------- the queue and pebble

    def _pump(self) -> None:
        """Hand queued calls to pebble while it holds fewer than `window` tasks (under the lock): one call, or when
        many wait, a chunk of up to `chunk` (a share of the queue per task slot, so that the workers stay balanced)."""
        while self._queue and len(self._inflight) < self.window:
            job = self._queue.popleft()
            if job.future.done():
                continue
            jobs = [job]
            if not job.solo and self.chunk > 1:
                size = min(self.chunk, -(-(len(self._queue) + 1) // self.window))
                while len(jobs) < size and self._queue and not self._queue[0].solo:
                    nxt = self._queue.popleft()
                    if not nxt.future.done():
                        jobs.append(nxt)
            self._dispatch(jobs)

    def _dispatch(self, jobs: list[_Job]) -> None:
        now, wall = time.monotonic(), time.time()
        live, run_s, ends = [], [], []
        for job in jobs:
            left = job.timeout - job.ran  # a retry keeps what is left of its deadline
            end = math.inf
            if job.stop_at is not None:
                left, end = min(left, job.stop_at - now), wall + (job.stop_at - now)
            if left <= 0:
                self._settle(job, error=BoundExceeded("timeout"))
                continue
            live.append(job)
            run_s.append(left)
            ends.append(end)
        if not live:
            return
        if len(live) == 1:
            unit = _Unit(live, run_s, ends, None)
            fn, args, timeout = _task, (live[0].fn, run_s[0], live[0].args, live[0].kwargs), run_s[0]
        else:
            unit = _Unit(live, run_s, ends, self._progress_path())
            items = [(r, e, j.fn, j.args, j.kwargs) for j, r, e in zip(live, run_s, ends, strict=True)]
            # the monitor kills a chunk whose running call passes its deadline; pebble's bound is a backstop
            fn, args, timeout = _chunk, (unit.path, items), sum(run_s) + 2 * MONITOR_S + 1.0
        try:
            pool, task = self._schedule(fn, args, timeout)
        except BoundExceeded as e:
            for job in live:
                self._settle(job, error=e)
            return
        unit.pool, unit.task, unit.since = pool, task, now
        for job in live:
            job.unit = unit
        self._inflight[unit] = None
        task.add_done_callback(functools.partial(self._on_done, unit))
        if unit.path is not None and min(run_s) < MONITOR_S:
            self._wake.set()  # the monitor watches chunk deadlines: this one may come before its next scan

    def _progress_path(self) -> str:
        if self._dir is None:
            shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            self._dir = tempfile.mkdtemp(prefix=f"r1-pool-{os.getpid()}-", dir=shm)
        self._chunks += 1
        return os.path.join(self._dir, str(self._chunks))

    def _schedule(self, fn: Callable, args: tuple, timeout: float):
        """(pool, pebble's future); a pool already broken at submission is rebuilt first."""
        for _ in range(2):
            pool: ProcessPool = self._get()
            try:
                return pool, pool.schedule(fn, args=args, timeout=timeout)
            except RuntimeError:  # "Unexpected error within the Pool": broken while idle
                self._rebuild(pool)
        raise BoundExceeded("pool_error")

    def _on_done(self, unit: _Unit, task) -> None:
        """pebble finished, failed or cancelled `task` (called from pebble's threads, or the canceller's)."""
        with self._lock:
            self._inflight.pop(unit, None)
            if unit.task is task:  # else the monitor or a caller already took it back
                unit.task = None
                error = task.exception() if not task.cancelled() else BrokenProcessPool("task cancelled by pebble")
                if error is not None:
                    self._unit_failed(unit, _classify(error))
                elif unit.path is None:
                    self._settle(unit.jobs[0], value=task.result())
                else:
                    for job, (ok, value) in zip(unit.jobs, task.result(), strict=True):
                        self._settle(job, value=value) if ok else self._settle(job, error=value)
                self._forget(unit)
            self._pump()

    def _unit_failed(self, unit: _Unit, error: BaseException, hung: bool = False) -> None:
        """A task failed as a whole (under the lock). A single call is retried or settled (`_failed`). In a chunk,
        the progress file tells which call ran: it alone is charged (a timeout when it ran out its deadline, or
        `hung`: killed by the monitor for it; a retry when its worker died); the calls that had finished before it
        (their results died with the worker) and those after it go back to the queue, in order. A chunk that failed
        for another reason (a result that cannot be pickled) or before its first call is run again call by call."""
        if isinstance(error, _Retry) and error.reason == "pool_error" and unit.pool is not None:
            self._rebuild(unit.pool)
        if unit.path is None:
            job = unit.jobs[0]
            # its run time, as the monitor saw it (waiting for a worker, start-up included, is not charged)
            job.ran += time.monotonic() - unit.started if unit.started else 0.0
            self._failed(job, error)
            return
        index, start = _progress(unit.path)
        ran = max(0.0, time.time() - start) if index >= 0 else 0.0
        infra = isinstance(error, _Retry | BoundExceeded)
        back: list[_Job] = []
        for i, job in enumerate(unit.jobs):
            if job.future.done():
                continue
            job.unit = None
            if index < 0 or not infra:
                job.solo = True
                self._failed(job, error, back) if isinstance(error, _Retry) else back.append(job)
            elif i != index:
                back.append(job)
            else:
                job.solo, job.ran = True, job.ran + ran
                if isinstance(error, _Retry):
                    self._failed(job, error, back)
                elif hung or ran >= unit.run_s[i] - 0.05:
                    self._settle(job, error=BoundExceeded("timeout"))
                else:
                    back.append(job)  # stopped before its own deadline (the chunk's backstop): the rest of its time
        self._queue.extendleft(reversed(back))

    def _failed(self, job: _Job, error: BaseException, requeue: list | None = None) -> None:
        """Settle a call with `error`, or try it once more when its worker died or its pool broke (under the lock);
        a retry goes to the front of the queue (or onto `requeue`)."""
        if isinstance(error, _Retry):
            if job.tries == 0 and not job.future.done():
                job.tries = 1
                if requeue is not None:
                    requeue.append(job)
                else:
                    self._queue.appendleft(job)
                return
            error = BoundExceeded(error.reason)
        self._settle(job, error=error)

    @staticmethod
    def _settle(job: _Job, value: Any = None, error: BaseException | None = None) -> None:
        try:
            if error is None:
                job.future.set_result(value)
            else:
                job.future.set_exception(error)
        except concurrent.futures.InvalidStateError:  # cancelled by its caller meanwhile
            pass
        # A settled call needs neither its task nor its arguments: the links (job <-> unit, and a Future's callback
        # back to its job) are reference cycles, which would keep the arguments (the response) and the result alive
        # until the cyclic collector runs: ~10 objects per call of a batch tool, and the collector's time with them.
        job.unit = None
        job.args, job.kwargs = (), {}

    @staticmethod
    def _forget(unit: _Unit) -> None:
        if unit.path is not None:
            try:
                os.unlink(unit.path)
            except OSError:
                pass

    def _on_settled(self, job: _Job, future) -> None:
        """A call cancelled by its caller leaves the queue; a single call in flight is cancelled in pebble (which
        stops its worker if it had started); a chunk runs on (its other calls are not to lose their results)."""
        if not future.cancelled():
            return
        with self._lock:
            try:
                self._queue.remove(job)
            except ValueError:
                pass
            unit, job.unit = job.unit, None
            task = unit.task if unit is not None and unit.path is None else None
            if task is not None:
                unit.task = None
        if task is not None:
            task.cancel()  # `_on_done` frees the slot
            self._forget(unit)

    def _abandon(self, unit: _Unit, error: BaseException | None, hung: bool = False) -> None:
        """Take `unit` back from pebble (cancelling its task kills its worker) and fail, retry or requeue its calls
        (under the lock); with no `error`, its calls go back to the front of the queue as they were (uncharged)."""
        task, unit.task = unit.task, None
        self._inflight.pop(unit, None)
        if task is not None:
            task.cancel()
        if error is not None:
            self._unit_failed(unit, error, hung)
        else:
            for job in unit.jobs:
                job.unit = None
            self._queue.extendleft(reversed([j for j in unit.jobs if not j.future.done()]))
        self._forget(unit)

    # ---------------------------------------------------------------- the pool's health

    def _get(self) -> ProcessPool:
        with self._lock:
            if self._closed.is_set() and self._pid == os.getpid():
                raise BoundExceeded("pool_error")  # closed: a late retry or warm-up must not start a new pool
            if self._pool is None or self._pid != os.getpid():
                if self._pid != os.getpid():  # a forked child: the parent's calls are not ours
                    self._queue, self._inflight, self._monitor, self._dir = collections.deque(), {}, None, None
                check_main_guard()
                self._pid = os.getpid()
                self._pool = ProcessPool(
                    max_workers=self.workers,
                    initializer=_init_worker,
                    initargs=(self.memory_mb, self.preload, self._pid, self.setup),
                    context=_SPAWN,
                )
                self._ensure_monitor()
            return self._pool

    def _ensure_monitor(self) -> None:
        if self._monitor is None or not self._monitor.is_alive():
            self._monitor = threading.Thread(target=self._watch, daemon=True, name="r1-pool-monitor")
            self._monitor.start()

    def _watch(self) -> None:
        wait = MONITOR_S
        while not self._closed.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._closed.is_set():
                return
            try:
                wait = min(MONITOR_S, max(0.01, self._check() - time.time()))
            except Exception:  # the monitor must outlive any surprise in pebble's state
                logger.debug("reward pool monitor check failed", exc_info=True)
                wait = MONITOR_S

    def _check(self) -> float:
        """One scan; returns the time.time() of the next chunk deadline it knows of (inf when none).

        Rebuilds a pool that broke while idle (and starts its workers, so that the next step finds them warm instead
        of paying their start-up inside its deadlines), or whose channel lock a dead worker holds (seen at two scans
        in a row, so that a worker pebble is just starting is in its table: `_HeldRLock`); kills a chunk whose
        running call passed its deadline; fails or retries every task whose pool was replaced (`pool_error`; a task
        still waiting in a pool whose worker died sending a result goes back to the queue uncharged: no worker took
        it), that pebble lost (`worker_died`), or that has been in flight longer than its deadline allows even behind
        a full window; settles calls past `stop_at`."""
        pool: ProcessPool | None = self._pool
        why, spared = None, None
        # a pebble pool starts on its first task: before that it is not `active` either
        if pool is not None and pool._context.status != PoolStatus.CREATED and not pool.active:
            why = "a worker died"
        elif pool is not None:
            dead, taking = _dead_holder(pool)
            if dead and dead == self._suspect:
                why = f"worker {dead} died holding its channel lock, which stalls every other worker"
                # one that died taking a task took one of the waiting ones with it (pebble cannot tell which): they
                # are all charged, as when a pool breaks
                spared = None if taking else pool
            self._suspect = dead
        if why is not None:
            self._rebuild(pool, why)
            try:
                self._get().schedule(os.getpid)
            except (RuntimeError, BoundExceeded):  # broken again, or closed meanwhile
                pass
        now, wall = time.monotonic(), time.time()
        with self._lock:
            units = list(self._inflight)
            late = [j for j in self._queue if j.stop_at is not None and now >= j.stop_at]
        lost = _lost(units)
        running = {u: _progress(u.path) for u in units if u.path is not None}
        rounds = self.window // self.workers + 1  # a task waits behind at most one other per worker, then runs
        upcoming = math.inf
        with self._lock:
            for job in late:
                self._settle(job, error=BoundExceeded("timeout"))
            for unit in units:
                if unit.task is None:
                    continue
                if not unit.started and unit.task.running():  # a worker took it (acknowledged to pebble)
                    unit.started = now
                index, start = running.get(unit, (-1, 0.0))
                due = min(start + unit.run_s[index], unit.ends[index]) + 0.1 if index >= 0 else math.inf
                if unit.pool is not self._pool:
                    waited = unit.pool is spared and not (unit.task.running() or unit.task.done())
                    self._abandon(unit, None if waited else _Retry("pool_error"))
                elif unit in lost:
                    self._abandon(unit, _Retry("worker_died"))
                elif wall >= due:
                    self._abandon(unit, BoundExceeded("timeout"), hung=True)
                # the backstop for a call that no deadline kill reached: from when a worker took it (a cold pool's
                # start-up is not charged), or START_S for a worker to take it at all
                elif now > (unit.started or unit.since + START_S) + rounds * sum(unit.run_s) + 1.0 or any(
                        j.stop_at is not None and now >= j.stop_at for j in unit.jobs if not j.future.done()):
                    self._abandon(unit, BoundExceeded("timeout"))
                else:
                    upcoming = min(upcoming, due)
            self._pump()
        return upcoming

    def _rebuild(self, broken: ProcessPool, why: str = "a worker died") -> None:
        """Replace `broken` (once, however many callers saw it fail); its workers are stopped in the background."""
        with self._lock:
            if self._pool is not broken:
                return
            self._pool = None
            self._suspect = 0
            self.rebuilds += 1
        logger.warning("reward worker pool broken (%s); rebuilt it (rebuild %d)", why, self.rebuilds)
        threading.Thread(target=_stop, args=(broken,), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        with self._lock:
            pool, self._pool = self._pool, None
            jobs = [*self._queue, *(j for u in self._inflight for j in u.jobs)]
            for unit in self._inflight:
                unit.task = None
            self._queue.clear()
            self._inflight.clear()
            for job in jobs:
                self._settle(job, error=BoundExceeded("pool_error"))
            folder, self._dir = self._dir, None
        if pool is not None and self._pid == os.getpid():
            _stop(pool)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _lost(units: list[_Unit]) -> set[_Unit]:
    """The tasks pebble marked running on a worker that is gone, which it will never report: a worker that dies
    between acknowledging a task and the pool noticing. Reads pebble's task and worker tables (private; pebble has no
    public way to see them: see r1_recipe.core.pebble_names); if they change shape, nothing is detected here and the
    deadline still ends the wait."""
    found = set()
    by_pool: dict[int, list[_Unit]] = {}
    for unit in units:
        by_pool.setdefault(id(unit.pool), []).append(unit)
    for group in by_pool.values():
        try:
            pool: ProcessPool = group[0].pool
            manager = pool._pool_manager
            tasks = {id(t.future): t for t in list(manager.task_manager.tasks.values())}
            workers = manager.worker_manager.workers
        except (AttributeError, RuntimeError):
            continue
        for unit in group:
            task: Task | None = tasks.get(id(unit.task))
            if task is not None and task.worker_id and task.worker_id not in workers:
                found.add(unit)
    return found


def _dead_holder(pool: ProcessPool) -> tuple[int, bool]:
    """`(pid, taking)` of a process that is gone while it holds one of `pool`'s channel locks (see `_HeldRLock`),
    else `(0, False)`: a holder that is neither this process nor one of the pool's live workers (pebble drops a dead
    worker from its table within 0.1 s). `taking`: it held the reader lock, which a worker takes only to take a task
    off the channel (holding the writer lock alone, it was sending a result). Reads pebble's private state (see
    r1_recipe.core.pebble_names); nothing is found when it has another shape, before the pool started or after it
    stopped (pebble has no channel then)."""
    try:
        mutex = pool._pool_manager.worker_manager.workers_channel.mutex
        reader, writer = mutex.reader_mutex.holder.value, mutex.writer_mutex.holder.value
        workers = pool._pool_manager.worker_manager.workers
    except AttributeError:
        return 0, False
    dead = next((pid for pid in (reader, writer) if pid and pid != os.getpid() and pid not in workers), 0)
    return dead, bool(dead) and dead == reader


_GUARD_FIX = ("The reward workers use the 'spawn' start method, which imports the main module again in every worker, "
              "so that code would run again there and break the pool. Put the code that calls r1-recipe under "
              "`if __name__ == \"__main__\":` (as for multiprocessing and torch DataLoader workers).")


def check_main_guard() -> None:
    """Refuse to start a pool from code that every spawned worker would run again: the top level of the main script
    outside `if __name__ == "__main__":` (checked in the parent, from the calling line), or a worker that is still
    importing the main module (the same mistake, caught in the worker if the parent could not read its script).
    Without this the workers die at start-up and the caller only sees broken pools and `pool_error`."""
    import multiprocessing.process
    import sys

    if getattr(multiprocessing.process.current_process(), "_inheriting", False):
        raise RuntimeError(f"r1-recipe: a reward worker pool was started while a worker process was importing the "
                           f"main module. {_GUARD_FIX}")
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    path = getattr(main, "__file__", None)
    if path is None or name == "__main__" or name.endswith(".__main__"):  # spawn does not re-run these
        return
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None or os.path.abspath(frame.f_code.co_filename) != os.path.abspath(path):
        return  # not called from the main script's top-level code
    if not _guarded(path, frame.f_lineno):
        raise RuntimeError(f"r1-recipe: a reward worker pool is being started from the top level of {path} (line "
                           f"{frame.f_lineno}), outside `if __name__ == \"__main__\":`. {_GUARD_FIX}")


def _guarded(path: str, line: int) -> bool:
    """Whether `line` of the Python file `path` lies in the body of an `if __name__ == "__main__":` (True when the
    file cannot be read: then nothing is claimed)."""
    import ast

    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and node.body and node.body[0].lineno <= line <= node.body[-1].end_lineno:
            names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            if "__name__" in names and any(isinstance(n, ast.Constant) and n.value == "__main__"
                                           for n in ast.walk(node.test)):
                return True
    return False


def _stop(pool: ProcessPool) -> None:
    pool.stop()
    pool.join()
