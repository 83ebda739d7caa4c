"""Every pebble name `r1_recipe.core.bounded` relies on (pebble 5.2.3).

pebble has no public way to see which worker runs a task, or whether a pool is broken before a task fails on it, so
the pool reads some of its private state; these names have moved between 5.x releases before. The tested version is
pinned exactly in pyproject.toml, and each name is listed here with what breaks without it, so that another version
fails loudly instead of silently turning a safeguard off: `missing()` resolves every name (`r1-recipe doctor` reports
them; tests/test_bounded.py checks them, walks bounded.py's source for every attribute of a pebble object it uses
(tests/_source_walk.py, the walk that also checks verl's names) and checks that it reads no private attribute of
pebble left out here).
Behaviour we rely on (not a name: covered by tests/test_bounded.py) is listed at the end.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

TESTED_VERSION = "5.2.3"


@dataclass(frozen=True)
class PebbleName:
    owner: str         # "module:Class" (or "module" for a module attribute); "pool"/"task": an instance, see below
    path: str          # dotted attributes from the owner, e.g. "_pool_manager.task_manager.tasks"
    used_for: str      # what stops working without it
    private: bool = True


NAMES: tuple[PebbleName, ...] = (
    PebbleName("pebble", "ProcessPool", "every bounded call", private=False),
    PebbleName("pool", "schedule", "every bounded call (with a per-task timeout)", private=False),
    PebbleName("pool", "stop", "closing a pool, replacing a broken one", private=False),
    PebbleName("pool", "join", "the same", private=False),
    PebbleName("pebble", "ProcessExpired", "a worker that died under a call: retried once, then worker_died",
               private=False),
    PebbleName("pebble.common.types", "RemoteTraceback", "a call's own TimeoutError (raised in the worker, with the "
               "remote traceback as its cause) is not a timeout of the pool"),
    PebbleName("pebble.pool.base_pool", "PoolStatus.CREATED", "a pool that has not started yet is not broken"),
    PebbleName("pool", "_context.status", "the monitor rebuilds a pool that broke while idle (OOM kill)"),
    PebbleName("pool", "active", "the same (a pool whose manager threads died)", private=False),
    PebbleName("pool", "_pool_manager.task_manager.tasks", "lost calls: a task recorded on a worker that is gone"),
    PebbleName("pool", "_pool_manager.worker_manager.workers", "lost calls: the live workers, by pid"),
    PebbleName("pebble.pool.base_pool", "Task", "lost calls: the task records of the pool (and `_instance` below)"),
    PebbleName("task", "future", "lost calls: which task is a call's"),
    PebbleName("task", "worker_id", "lost calls: the pid of the worker a task runs on"),
    PebbleName("pool", "_pool_manager.worker_manager.workers_channel.mutex.reader_mutex", "a worker killed holding "
               "the channel lock stalls the pool: the monitor replaces it (`_dead_holder`)"),
    PebbleName("pool", "_pool_manager.worker_manager.workers_channel.mutex.writer_mutex", "the same"),
)

BEHAVIOUR = (
    "a task's `timeout` counts from when a worker acknowledges it, and pebble stops that worker with SIGTERM then "
    "sets TimeoutError on its future",
    "cancelling the future of a running task stops its worker",
    "the pool's initializer runs after pebble installed its SIGTERM handler in the worker (ours restores the default "
    "action, so a worker in C code dies at once)",
    "a worker dead with no task running marks the pool broken for good (`schedule` raises RuntimeError)",
    "the channel's two locks are made with the pool's context's `RLock()` and taken with acquire/release "
    "(`_HeldRLock` records their holder); a worker holds both while it takes a task off the channel and acknowledges "
    "it, the writer one while it sends a result, and pebble stops a worker (timeout, cancel) only once it holds them",
)


def _instance(owner: str):
    """A pool that is never started (no process, no thread; its channel made, as at its start) or a bare task record,
    to read attributes from."""
    if owner == "pool":
        from pebble import ProcessPool

        pool = ProcessPool(max_workers=1)
        pool._pool_manager.worker_manager.create_channels()  # pipes and their locks (freed with the pool)
        return pool
    from concurrent.futures import Future

    from pebble.pool.base_pool import Task

    return Task(0, Future(), None, None)


def missing() -> list[tuple[PebbleName, str]]:
    """`(name, why)` for every listed name the installed pebble lacks; empty when all resolve."""
    out = []
    for name in NAMES:
        try:
            obj = _instance(name.owner) if name.owner in ("pool", "task") else importlib.import_module(name.owner)
        except Exception as e:
            out.append((name, f"{name.owner}: {type(e).__name__}: {e}"))
            continue
        for part in name.path.split("."):
            if isinstance(getattr(type(obj), part, None), property):
                break  # present; not evaluated (`ProcessPool.active` would start the pool)
            if not hasattr(obj, part):
                out.append((name, f"{name.owner}.{name.path}: no attribute {part!r}"))
                break
            obj = getattr(obj, part)
    return out


def installed_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("pebble")
    except importlib.metadata.PackageNotFoundError:
        return None
