"""Hard time bounds for reward code, valid from any thread, asyncio loop or Ray actor, that survive worker deaths.

`signal.alarm` only works in the main thread, and verl runs sync scorers in a thread pool, so a sympy call that never
returns would stall a whole training step. Here every bounded call runs in a worker process of a `pebble.ProcessPool`.

What the pool guarantees, and how:
- **Deadlines from submission.** A `run`/`arun` call's `timeout` counts from when it is submitted, queueing
  included (pebble's own timeout starts when a worker picks the task up; `map`, for batch tools, keeps that). Past it
  the caller gets `BoundExceeded("timeout")` and the task is cancelled, which makes pebble kill its worker if it had
  started.
- **Self-healing.** pebble marks a pool broken for good when a worker dies while no task runs (an OOM kill between
  steps): every later call would fail. A monitor thread rebuilds such a pool within `MONITOR_S` and starts its
  workers, so the next step finds them warm; a pool found broken at submission is rebuilt on the spot; and a call
  that failed because its worker died or its pool broke is retried once, within its deadline; only then it fails
  (`worker_died`, `pool_error`). A waiting call checks every `MONITOR_S` that its task is not lost: pebble drops a
  task whose worker dies between acknowledging it and the pool noticing the death (the future would wait for its
  deadline), and leaves tasks queued on a pool that was replaced; both count as `worker_died` / `pool_error`.
- **Nothing outlives the owner.** Workers are started with `spawn` (no forkserver that could be orphaned) and each runs
  a watchdog thread on a pidfd of the process that created the pool: when that process is gone (SIGKILL from Ray),
  the worker kills itself at once. Sandboxes started by a worker die with it (bubblewrap `--die-with-parent`, or a
  parent-death signal in the supervisor).
- **Worker count** from the cores this process may run on (`os.sched_getaffinity`), `R1_RECIPE_WORKERS`, or `workers`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import importlib
import logging
import multiprocessing
import os
import resource
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pebble import ProcessExpired, ProcessPool
from pebble.pool.base_pool import PoolStatus

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
MONITOR_S = 0.5  # how often an idle pool is checked for a broken state
# Why a call failed without a verdict; the response is not to blame (see `r1_recipe.core.rewards.compose`).
INFRA_REASONS = ("timeout", "worker_died", "pool_error", "step_budget")


class BoundExceeded(Exception):
    """A bounded call ran past its deadline, or its worker died / its pool broke twice."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # one of INFRA_REASONS


class _Retry(Exception):
    """The call's worker died or its pool broke: rebuild if needed, and try once more."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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


def _init_worker(memory_mb: int | None, preload: tuple[str, ...], owner: int) -> None:
    threading.Thread(target=_watch_owner, args=(owner,), daemon=True, name="r1-owner-watchdog").start()
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


def _classify(error: BaseException) -> BaseException:
    """pebble's failure -> ours: a timeout, a retryable infrastructure failure, or the task's own exception."""
    if isinstance(error, concurrent.futures.TimeoutError | TimeoutError):
        return BoundExceeded("timeout")
    if isinstance(error, ProcessExpired):
        return _Retry("worker_died")
    if isinstance(error, BrokenProcessPool | concurrent.futures.CancelledError):
        return _Retry("pool_error")
    return error


class BoundedPool:
    """A process pool whose calls each have a hard wall-clock deadline, and which heals itself.

    Args:
        workers: number of worker processes (default: `default_workers()`).
        memory_mb: address-space limit of each worker (None: no limit); an allocation past it raises MemoryError
            in the task (or kills the worker: `worker_died`).
        preload: modules (or "module:function" warm-ups) every worker runs when it starts and restarts.
    """

    def __init__(self, workers: int | None = None, memory_mb: int | None = 4096, preload: tuple[str, ...] = ()):
        self.workers = workers or default_workers()
        self.memory_mb = memory_mb
        self.preload = tuple(preload)
        self.rebuilds = 0  # how often a broken pool was replaced (for tests and logs)
        self._pool: ProcessPool | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._monitor: threading.Thread | None = None

    def _get(self) -> ProcessPool:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                check_main_guard()
                self._pid = os.getpid()
                self._pool = ProcessPool(
                    max_workers=self.workers,
                    initializer=_init_worker,
                    initargs=(self.memory_mb, self.preload, self._pid),
                    context=multiprocessing.get_context("spawn"),
                )
                if self._monitor is None or not self._monitor.is_alive():
                    self._closed.clear()
                    self._monitor = threading.Thread(target=self._watch, daemon=True, name="r1-pool-monitor")
                    self._monitor.start()
            return self._pool

    def _watch(self) -> None:
        """Rebuild a pool that broke while idle right away, and start its workers, so that the next step finds
        them warm (their start-up, imports included, takes seconds) instead of paying for it inside its deadlines."""
        while not self._closed.wait(MONITOR_S):
            pool = self._pool
            # a pebble pool starts on its first task: before that it is not `active` either
            if pool is not None and pool._context.status != PoolStatus.CREATED and not pool.active:
                self._rebuild(pool)
                try:
                    self._get().schedule(os.getpid)
                except RuntimeError:
                    pass

    def _rebuild(self, broken: ProcessPool) -> None:
        """Replace `broken` (once, however many callers saw it fail); its workers are stopped in the background."""
        with self._lock:
            if self._pool is not broken:
                return
            self._pool = None
            self.rebuilds += 1
        logger.warning("reward worker pool broken (a worker died); rebuilt it (rebuild %d)", self.rebuilds)
        threading.Thread(target=_stop, args=(broken,), daemon=True).start()

    def _schedule(self, fn: Callable, args: tuple, kwargs: dict, timeout: float):
        """(pool, future); a pool already broken at submission is rebuilt first."""
        for _ in range(2):
            pool = self._get()
            try:
                return pool, pool.schedule(fn, args=args, kwargs=kwargs, timeout=timeout)
            except RuntimeError:  # "Unexpected error within the Pool": broken while idle
                self._rebuild(pool)
        raise BoundExceeded("pool_error")

    def submit(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any):
        """Schedule `fn(*args, **kwargs)` once (no deadline, no retry); returns pebble's future."""
        return self._schedule(fn, args, kwargs, timeout)[1]

    def run(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> Any:
        """Run `fn` within `timeout` seconds from now; raises `BoundExceeded` (timeout, worker_died, pool_error)
        or the task's own exception. `fn` must be picklable (module level)."""
        reason = "pool_error"
        for pool, future, left in self._attempts(fn, args, kwargs, timeout):
            try:
                return self._wait(pool, future, left)
            except BaseException as e:
                reason = self._retry_or_raise(pool, future, e)
        raise BoundExceeded(reason)

    async def arun(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> Any:
        """Async form of `run` for reward managers that live on an event loop."""
        reason = "pool_error"
        for pool, future, left in self._attempts(fn, args, kwargs, timeout):
            try:
                end, waiting = time.monotonic() + left, asyncio.wrap_future(future)
                while True:
                    try:
                        return await asyncio.wait_for(asyncio.shield(waiting), min(MONITOR_S, left))
                    except asyncio.TimeoutError:
                        left = end - time.monotonic()
                        if left <= 0:
                            raise
                        self._check_not_lost(pool, future)
            except asyncio.CancelledError:
                future.cancel()
                raise
            except BaseException as e:
                reason = self._retry_or_raise(pool, future, e)
        raise BoundExceeded(reason)

    def _wait(self, pool: ProcessPool, future, left: float) -> Any:
        """`future.result(timeout=left)`, checking every `MONITOR_S` that the task is not lost."""
        end = time.monotonic() + left
        while True:
            try:
                return future.result(timeout=max(0.0, min(MONITOR_S, left)))
            except concurrent.futures.TimeoutError:
                left = end - time.monotonic()
                if left <= 0:
                    raise
                self._check_not_lost(pool, future)

    def _check_not_lost(self, pool: ProcessPool, future) -> None:
        """Raise what a lost task counts as: its pool was replaced (`pool_error`), or pebble marked it running on a
        worker that is gone and will never report it (`worker_died`). Reads pebble's task and worker tables
        (private; pebble has no public way to see them): if they change shape, nothing is detected here and the
        deadline still ends the wait."""
        if future.done():
            return
        if self._pool is not pool:
            future.cancel()
            raise BrokenProcessPool("the pool was replaced while the task waited")
        try:
            manager = pool._pool_manager
            task = next((t for t in list(manager.task_manager.tasks.values()) if t.future is future), None)
            lost = task is not None and task.worker_id and task.worker_id not in manager.worker_manager.workers
        except (AttributeError, RuntimeError):
            return
        if lost:
            future.cancel()
            raise ProcessExpired("the worker running the task died unnoticed", pid=task.worker_id)

    def _attempts(self, fn: Callable, args: tuple, kwargs: dict, timeout: float):
        """The two tries of `run`/`arun`: `(pool, future, seconds left)` submitted within `timeout` from now; once
        the deadline has passed, `BoundExceeded("timeout")`."""
        deadline = time.monotonic() + timeout
        for _ in range(2):
            left = deadline - time.monotonic()
            if left <= 0:
                raise BoundExceeded("timeout")
            yield (*self._schedule(fn, args, kwargs, left), left)

    def _retry_or_raise(self, pool: ProcessPool, future, error: BaseException) -> str:
        """The reason to try once more (worker died, pool broke); any other failure is raised as ours."""
        error = self._failed(pool, future, error)
        if not isinstance(error, _Retry):
            raise error
        return error.reason

    def _failed(self, pool: ProcessPool, future, error: BaseException) -> BaseException:
        if isinstance(error, asyncio.TimeoutError | concurrent.futures.TimeoutError | TimeoutError):
            future.cancel()  # pebble kills the worker if the task had started
            return BoundExceeded("timeout")
        error = _classify(error)
        if isinstance(error, _Retry) and error.reason == "pool_error":
            self._rebuild(pool)
        return error

    def map(
        self,
        fn: Callable,
        items: Iterable[tuple],
        timeout: float = DEFAULT_TIMEOUT_S,
        default: Callable[[str, tuple], Any] | None = None,
        progress: bool | str = False,
        total: int | None = None,
    ) -> Iterator[Any]:
        """Apply `fn(*item)` to every item in parallel, yielding results in input order.

        For batch tools (rejection sampling, evaluation): each item has `timeout` seconds of run time from when a
        worker picks it up (a bounded window of items is in flight, so memory stays flat on large inputs); worker
        deaths and broken pools are retried once as in `run`. A call that fails
        yields `default(reason, item)` (reason "timeout", "worker_died", "pool_error" or "error: ..."); with no
        default the error propagates. `progress`: False, True, or a description string for a tqdm bar.
        """
        window = self.workers * 2  # in flight: each item queues behind at most one other per worker
        bar = None
        if progress:
            from tqdm.auto import tqdm

            if total is None and hasattr(items, "__len__"):
                total = len(items)
            bar = tqdm(total=total, desc=progress if isinstance(progress, str) else None, unit="it")
        pending: collections.deque = collections.deque()

        def start(item, tries):
            # pebble's bound (from pickup) is the item's; ours, from submission, only guards against a stalled pool:
            # an item waits behind at most `window / workers` others per worker
            pool, future = self._schedule(fn, item, {}, timeout)
            return item, time.monotonic() + timeout * (window // self.workers + 1) + 1.0, tries, pool, future

        def finish(item, deadline, tries, pool, future):
            while True:
                try:
                    try:
                        value = self._wait(pool, future, deadline - time.monotonic())
                    except BaseException as e:
                        error = self._failed(pool, future, e)
                        if isinstance(error, _Retry):
                            if tries == 0:
                                item, deadline, tries, pool, future = start(item, 1)
                                continue
                            error = BoundExceeded(error.reason)
                        raise error from None
                except Exception as e:
                    if default is None:
                        raise
                    reason = e.reason if isinstance(e, BoundExceeded) else f"error: {type(e).__name__}: {e}"[:300]
                    value = default(reason, item)
                break
            if bar is not None:
                bar.update(1)
            return value

        try:
            for item in items:
                pending.append(start(item, 0))
                if len(pending) >= window:
                    yield finish(*pending.popleft())
            while pending:
                yield finish(*pending.popleft())
        finally:
            for *_, future in pending:
                future.cancel()
            if bar is not None:
                bar.close()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            _stop(pool)


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


def result_of(future) -> Any:
    """The result of a future from `submit`; pebble's failures as `BoundExceeded`."""
    try:
        return future.result()
    except BaseException as e:
        error = _classify(e)
        raise (BoundExceeded(error.reason) if isinstance(error, _Retry) else error) from e
