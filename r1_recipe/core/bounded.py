"""Hard time bounds for reward code, valid from any thread, asyncio loop or Ray actor.

`signal.alarm` only works in the main thread, and verl runs sync scorers in a thread pool, so a sympy call that never
returns would stall a whole training step. Here every bounded call runs in a worker process of a `pebble.ProcessPool`;
on timeout that worker is killed and replaced, and the caller gets `BoundExceeded` (or a default value), never a hang.

One pool per process (created lazily, re-created after a fork). Workers start with the `forkserver` method so that
a multi-threaded parent (Ray actors, asyncio loops) is never forked.
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
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pebble import ProcessExpired, ProcessPool

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


class BoundExceeded(Exception):
    """A bounded call ran past its time limit or its worker died (memory limit, crash)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "timeout" or "worker_died"


def _default_workers() -> int:
    env = os.environ.get("R1_RECIPE_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


def _init_worker(memory_mb: int | None, preload: tuple[str, ...]) -> None:
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Import heavy modules (sympy, math-verify) before the first task, so a task's time bound measures the task
    # and not the import.
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # the task itself will report the import error
            pass


class BoundedPool:
    """A process pool whose tasks each have a hard wall-clock limit.

    Args:
        workers: number of worker processes (default: `R1_RECIPE_WORKERS` or min(4, cores)).
        memory_mb: address-space limit of each worker (None: no limit); an allocation past it raises MemoryError
            in the task (or kills the worker: `worker_died`).
        preload: modules every worker imports when it starts (and restarts after a kill).
    """

    def __init__(self, workers: int | None = None, memory_mb: int | None = 4096, preload: tuple[str, ...] = ()):
        self.workers = workers or _default_workers()
        self.memory_mb = memory_mb
        self.preload = tuple(preload)
        self._pool: ProcessPool | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _get(self) -> ProcessPool:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ProcessPool(
                    max_workers=self.workers,
                    initializer=_init_worker,
                    initargs=(self.memory_mb, self.preload),
                    context=multiprocessing.get_context("forkserver"),
                )
                self._pid = os.getpid()
            return self._pool

    def submit(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any):
        """Schedule `fn(*args, **kwargs)`; returns a concurrent future. `fn` must be picklable (module level)."""
        return self._get().schedule(fn, args=args, kwargs=kwargs, timeout=timeout)

    def run(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> Any:
        """Run `fn` with a hard time bound; raises `BoundExceeded` on timeout or worker death."""
        return result_of(self.submit(fn, *args, timeout=timeout, **kwargs))

    async def arun(self, fn: Callable, *args: Any, timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> Any:
        """Async form of `run` for reward managers that live on an event loop."""
        future = self.submit(fn, *args, timeout=timeout, **kwargs)
        try:
            return await asyncio.wrap_future(future)
        except (concurrent.futures.TimeoutError, TimeoutError) as e:
            raise BoundExceeded("timeout") from e
        except ProcessExpired as e:
            raise BoundExceeded("worker_died") from e

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

        A call that exceeds its bound or raises yields `default(reason, item)` (reason "timeout", "worker_died" or
        "error: ..."); with no default the error propagates.
        `progress`: False, True, or a description string for a tqdm bar (shown on stderr).
        """
        pool = self._get()
        window = self.workers * 4  # bounded number of in-flight tasks: memory stays flat on large inputs
        bar = None
        if progress:
            from tqdm.auto import tqdm

            if total is None and hasattr(items, "__len__"):
                total = len(items)
            bar = tqdm(total=total, desc=progress if isinstance(progress, str) else None, unit="it")
        pending: collections.deque = collections.deque()

        def finish(item, future):
            try:
                value = result_of(future)
            except Exception as e:
                if default is None:
                    raise
                reason = e.reason if isinstance(e, BoundExceeded) else f"error: {type(e).__name__}: {e}"[:300]
                value = default(reason, item)
            if bar is not None:
                bar.update(1)
            return value

        try:
            for item in items:
                pending.append((item, pool.schedule(fn, args=item, timeout=timeout)))
                if len(pending) >= window:
                    yield finish(*pending.popleft())
            while pending:
                yield finish(*pending.popleft())
        finally:
            for _, f in pending:
                f.cancel()
            if bar is not None:
                bar.close()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.stop()
                self._pool.join()
            self._pool = None


def result_of(future) -> Any:
    try:
        return future.result()
    except (concurrent.futures.TimeoutError, TimeoutError) as e:
        raise BoundExceeded("timeout") from e
    except ProcessExpired as e:
        raise BoundExceeded("worker_died") from e
