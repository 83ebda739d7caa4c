"""Hard time bounds that hold from threads and event loops (where signal.alarm does not work)."""

import asyncio
import threading
import time

import pytest
from _components import explode, length, memory_hog, sleepy

from r1_recipe.core.bounded import BoundedPool, BoundExceeded


@pytest.fixture(scope="module")
def pool():
    p = BoundedPool(workers=2, memory_mb=1024)
    yield p
    p.close()


def test_a_call_past_its_bound_is_killed_from_a_worker_thread(pool):
    outcome = {}

    def in_thread():  # verl runs sync scorers in a thread pool
        start = time.monotonic()
        try:
            pool.run(sleepy, "x", None, seconds=60, timeout=1.0)
        except BoundExceeded as e:
            outcome["reason"] = e.reason
        outcome["elapsed"] = time.monotonic() - start

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(30)
    assert outcome["reason"] == "timeout"
    assert outcome["elapsed"] < 10  # the 60 s call did not run to the end
    assert pool.run(length, "abcd", None, timeout=10) == 4  # the pool replaced the killed worker


def test_async_form_and_memory_limit(pool):
    async def main():
        # the worker's address-space limit turns a runaway allocation into MemoryError, not a host OOM
        with pytest.raises(MemoryError):
            await pool.arun(memory_hog, "x", None, timeout=20)
        return await pool.arun(length, "ab", None, scale=2.0, timeout=10)

    assert asyncio.new_event_loop().run_until_complete(main()) == 4.0


def test_map_keeps_order_and_maps_failures_to_the_default(pool):
    items = [("a", None), ("abc", None), ("x", None), ("abcdef", None)]
    got = list(pool.map(length, items, timeout=10))
    assert got == [1, 3, 1, 6]
    mixed = [(length, "ab", None), (sleepy, "x", None), (explode, "x", None), (length, "abc", None)]
    out = list(pool.map(_dispatch, mixed, timeout=1.5, default=lambda reason, item: reason))
    assert out[0] == 2 and out[3] == 3
    assert out[1] == "timeout"
    assert out[2] == "error: RuntimeError: component bug"


def _dispatch(fn, *args):
    return fn(*args)
