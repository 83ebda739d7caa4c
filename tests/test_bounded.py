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
    out = list(pool.map(_dispatch, mixed, timeout=1.5, default=lambda error, item: error))
    assert out[0] == 2 and out[3] == 3
    assert isinstance(out[1], BoundExceeded) and out[1].reason == "timeout"  # no verdict: typed, not a string
    assert type(out[2]) is RuntimeError and str(out[2]) == "component bug"  # the task's own error, as itself


def _dispatch(fn, *args):
    return fn(*args)


# ---- faults from outside: killed workers, a killed owner ------------------------------------------------------------
import multiprocessing  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def workers_of(pool):
    """Pids of the pool's live worker processes (children of this process started by pebble)."""
    return [c.pid for c in multiprocessing.active_children() if c.name == "pebble_pool_worker"
            and pool._pool is not None and c.pid in pool._pool._pool_manager.worker_manager.workers]


def wait_for(predicate, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_worker_killed_while_idle_does_not_break_later_calls():
    p = BoundedPool(workers=2, memory_mb=None)
    try:
        assert p.run(length, "ab", None, timeout=20) == 2
        os.kill(workers_of(p)[0], signal.SIGKILL)  # between steps: pebble marks the pool broken for good
        assert wait_for(lambda: p.rebuilds == 1 and len(workers_of(p)) == 2, 20)  # rebuilt with no call waiting
        assert [p.run(length, "x" * n, None, timeout=20) for n in range(1, 4)] == [1, 2, 3]
        assert p.rebuilds == 1
    finally:
        p.close()


def test_busy_workers_killed_twice_in_a_row_never_give_a_silent_wrong_result():
    """Both workers SIGKILLed within milliseconds while a step runs, then once more: every sample gets its real result
    or fails with an infrastructure reason (retried once first; a sample that loses two workers fails), never a
    silent wrong value, and the healed pool serves the next call. How many samples lose two workers depends on the
    machine's speed (how far the retries got before the second kill), so only the kinds of outcome are fixed here."""
    p = BoundedPool(workers=2, memory_mb=None)
    try:
        p.run(length, "warm", None, timeout=20)

        async def step():
            tasks = [asyncio.ensure_future(p.arun(sleepy_length, "x" * n, 0.3, timeout=30)) for n in range(1, 13)]
            for _ in range(2):
                await asyncio.sleep(0.4)
                for pid in workers_of(p):
                    os.kill(pid, signal.SIGKILL)
            return await asyncio.gather(*tasks, return_exceptions=True)

        results = asyncio.run(step())
        for n, result in enumerate(results, start=1):
            if isinstance(result, BaseException):
                assert isinstance(result, BoundExceeded) and result.reason in ("worker_died", "pool_error"), result
            else:
                assert result == n
        assert p.run(length, "abc", None, timeout=30) == 3
    finally:
        p.close()


def test_a_sample_whose_worker_dies_twice_fails_as_worker_died():
    p = BoundedPool(workers=1, memory_mb=None)
    try:
        with pytest.raises(BoundExceeded) as e:
            p.run(suicide, timeout=20)
        assert e.value.reason == "worker_died"
        assert p.run(length, "abc", None, timeout=20) == 3
    finally:
        p.close()


def test_a_cold_pool_s_start_up_is_not_charged_to_its_first_calls():
    """A worker that takes 4 s to start (imports and set-up on a loaded machine: the CLI tools start a cold pool) does
    not make calls under a 0.5 s deadline time out: the deadline is run time in a worker, and the pool's backstop for
    lost calls counts from when a worker took the call, not from when it was handed over (it used to: 3 x 0.5 + 1 s
    after hand-over, every first call of a slow-starting pool came back `timeout`)."""
    p = BoundedPool(workers=1, memory_mb=None, setup=((time.sleep, (4.0,)),))
    try:
        start = time.monotonic()
        assert list(p.map(length, [("a", None), ("bb", None)], timeout=0.5, default=lambda e, item: repr(e))) == [1, 2]
        assert 4.0 <= time.monotonic() - start < 4.0 + 4.0  # start-up, then two short calls (slack: a loaded machine)
    finally:
        p.close()


def test_the_deadline_is_run_time_waiting_for_a_worker_is_not_charged():
    """One worker, two 1.5 s calls under a 2 s deadline submitted together: the second waits for the worker and still
    gets its whole 2 s (a burst larger than the workers is not failed for queueing); `stop_at` bounds a call from
    outside, waiting included."""
    p = BoundedPool(workers=1, memory_mb=None)
    try:
        p.run(length, "warm", None, timeout=20)

        async def two(stop_at=None):
            start = time.monotonic()

            async def one():
                try:
                    await p.arun(sleepy, "x", None, seconds=1.5, timeout=2.0, stop_at=stop_at)
                    return "ok", time.monotonic() - start
                except BoundExceeded as e:
                    return e.reason, time.monotonic() - start
            return await asyncio.gather(one(), one())

        (first, t1), (second, t2) = asyncio.run(two())
        assert (first, second) == ("ok", "ok")  # charged for its wait, the second would have failed at 2 s
        assert 3.0 <= t2 < 3.0 + 2.0  # two 1.5 s sleeps; 2 s for dispatch on a loaded 2-core machine
        (first, t1), (second, t2) = asyncio.run(two(time.monotonic() + 2.5))
        assert (first, second) == ("ok", "timeout")  # queued 1.5 s, then 1 s left of the outer bound
        # `stop_at` is enforced by the pool's monitor (every MONITOR_S = 0.5 s), then the worker is killed: its
        # period plus 1.5 s of scheduling slack on a loaded machine (had `stop_at` been ignored, the status above
        # would be "ok", at 3.0 s)
        assert t2 < 2.5 + 2.0
    finally:
        p.close()


def descendants(pid):
    """Every live (non-zombie) process below `pid`, by walking /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


OWNER = r'''
import sys, time
sys.path[:0] = [{tests!r}]
from r1_recipe.core.rewards.compose import Composer
from _components import sleepy
from r1_recipe.rewards import register
register("t_sleepy")(sleepy)
if __name__ == "__main__":
    c = Composer({{"components": {{"code": {{"weight": 1.0, "timeout_s": 30, "total_timeout_s": 60}},
                                  "t_sleepy": {{"weight": 1.0, "seconds": 60}}}}, "timeout_s": 120, "workers": 3}})
    loop = "```python\nwhile True:\n    pass\n```"
    rows = c.score_many([(loop, {{"inputs": ["1"] * 3, "outputs": ["1"] * 3}}, None)] * 3)
    print("scoring", flush=True)
    next(iter(rows))
'''


def test_sigkill_of_the_reward_process_leaves_no_descendant(tmp_path):
    """Ray SIGKILLs reward actors: the pool workers, and the sandboxes they run, must not outlive them."""
    script = tmp_path / "owner.py"
    script.write_text(OWNER.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "R1_RECIPE_ALLOW_UNSANDBOXED": "1"}
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert owner.stdout.readline().strip() == "scoring"
        # wait until the workers are busy: three workers, and a sandbox (or its supervisor) under at least one
        assert wait_for(lambda: len(descendants(owner.pid)) >= 4, 60), descendants(owner.pid)
        time.sleep(1.0)
        below = descendants(owner.pid)
    finally:
        owner.kill()
        owner.wait()
    assert wait_for(lambda: not any(alive(pid) for pid in below), 10), [p for p in below if alive(p)]


def sleepy_length(solution_str, seconds):
    time.sleep(seconds)
    return len(solution_str)


def suicide():
    os.kill(os.getpid(), signal.SIGKILL)


def _lose_the_running_task(pool, lost: list):
    """What pebble's ack/death race leaves behind (a worker dies between acknowledging a task and the pool noticing):
    the task is recorded on another worker id than the one that died, so pebble never expires it. Waits until a
    worker runs the task (a fixed sleep could come first on a loaded machine, and the test would then pass without
    losing anything); appends the killed pid to `lost`."""
    def running():
        return [t for t in list(pool._pool._pool_manager.task_manager.tasks.values()) if t.worker_id]

    if not wait_for(lambda: running(), 10):
        return
    time.sleep(0.2)  # inside the 2 s call
    for task in running():
        real, task.worker_id = task.worker_id, 999_999_999
        os.kill(real, signal.SIGKILL)
        lost.append(real)


def test_a_task_lost_by_the_pool_is_retried_at_once_instead_of_waiting_for_its_deadline():
    p = BoundedPool(workers=2, memory_mb=None)
    try:
        p.run(length, "warm", None, timeout=20)
        lost = []
        threading.Thread(target=_lose_the_running_task, args=(p, lost)).start()
        start = time.monotonic()
        assert p.run(sleepy_length, "abcd", 2.0, timeout=30) == 4  # the retry's real result
        assert time.monotonic() - start < 10 and len(lost) == 1  # lost, and retried long before the 30 s deadline

        async def lost_async():
            threading.Thread(target=_lose_the_running_task, args=(p, lost)).start()
            return await p.arun(sleepy_length, "abc", 2.0, timeout=30)

        start = time.monotonic()
        assert asyncio.run(lost_async()) == 3
        assert time.monotonic() - start < 10 and len(lost) == 2
    finally:
        p.close()


# ---- calls handed to a worker in chunks keep their own deadlines ---------------------------------------------------
class _KillOnTake:
    """Kills the worker that unpickles it: inside pebble's task transaction, which holds both of the channel's locks
    while a worker reads a task and acknowledges it; only the first time (the file `marker` records it)."""

    def __init__(self, marker: str, value):
        self.marker, self.value = marker, value

    def __reduce__(self):
        return _kill_once, (self.marker, self.value)


class _KillOnSend(_KillOnTake):
    """Kills the worker that pickles it as a result: under the channel's writer lock (made in the worker by
    `_killing_result`); only the first time."""

    def __reduce__(self):
        _kill_once(self.marker, None)
        return _same, (self.value,)


def _kill_once(marker, value):
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return value
    os.kill(os.getpid(), signal.SIGKILL)


def _same(value):
    return value


def _killing_result(marker, value):
    return _KillOnSend(marker, value)


def _meet(folder, n):
    """Returns once `n` workers called it (so that all of them are up and then idle at the channel)."""
    Path(folder, str(os.getpid())).touch()
    wait_for(lambda: len(os.listdir(folder)) >= n, 30)
    return len(os.listdir(folder))


def test_the_channel_lock_records_its_holder_until_its_last_release():
    from r1_recipe.core.bounded import _SPAWN

    lock = _SPAWN.RLock()
    assert lock.holder.value == 0
    assert lock.acquire() and lock.acquire(timeout=1)  # pebble takes it recursively (recv and ack in a transaction)
    lock.release()
    assert lock.holder.value == os.getpid()
    lock.release()
    assert lock.holder.value == 0
    with lock:
        assert lock.holder.value == os.getpid()
    assert lock.holder.value == 0 and lock.acquire(block=False)


@pytest.mark.parametrize("at", ["take", "send"])
def test_a_worker_killed_holding_the_channel_lock_gets_its_pool_replaced(tmp_path, caplog, at):
    """pebble guards the pool<->worker channel with two multiprocessing locks; a worker killed while it holds them
    (taking a task off the channel, or sending a result) leaves them held for ever: every other worker blocks on
    them, pebble can neither time out nor cancel a task (it stops a worker only once it holds the lock), and the pool
    looks healthy while no call finishes (until pebble's 60 s lock timeouts kill the blocked workers; before the
    fix every call here ended in timeout at its `stop_at`, 30 s then, and so did the next one). The pool is replaced
    within a second, and every call, the killed one included, gets its real result: the killed call is retried once,
    and ("send") the calls still waiting in the stalled pool, the killed call's retry among them, go back to the queue
    uncharged (without that the retry failed with pool_error); "take" charges them one try (one of them went with
    the dead worker), which these calls have to spare."""
    marker = str(tmp_path / "killed")
    (tmp_path / "met").mkdir()
    p = BoundedPool(workers=2, memory_mb=None)
    try:
        assert list(p.map(_meet, [(str(tmp_path / "met"), 2)] * 2, timeout=40)) == [2, 2]

        async def step():
            # far above the fix (~1 s, plus a new pool's start-up: ~20 s at load 28), which `timeout` does not charge
            stop_at = time.monotonic() + 60
            # one call runs while the other worker dies in the window: with none running, pebble would find the
            # pool broken by itself ("All workers expired")
            busy = asyncio.ensure_future(p.arun(sleepy_length, "abcd", 2.0, timeout=10, stop_at=stop_at))
            await asyncio.sleep(0.3)
            killed = (p.arun(_same, _KillOnTake(marker, 5), timeout=10, stop_at=stop_at) if at == "take" else
                      p.arun(_killing_result, marker, 5, timeout=10, stop_at=stop_at))
            return await asyncio.gather(busy, killed, p.arun(length, "abc", None, timeout=10, stop_at=stop_at),
                                        return_exceptions=True)

        assert asyncio.run(step()) == [4, 5, 3]
        assert os.path.exists(marker)  # a worker did die in the window
        assert p.rebuilds == 1 and "died holding its channel lock" in caplog.text  # the stall, not a broken pool
        assert p.run(length, "ab", None, timeout=10) == 2  # and later calls run
    finally:
        p.close()


def c_hang(n):
    """n back, or (n < 0) hours of a loop in C (in constant memory) that no Python signal interrupts."""
    return sum(range(10**14)) if n < 0 else n


def test_a_call_stuck_in_c_inside_a_chunk_alone_times_out_at_its_own_deadline():
    """One worker, so the 41 calls run in chunks: the stuck one is killed 1.5 s after it started (not after the
    chunk's total), the calls of its chunk that ran before and after it are run again, and every other gets its
    value."""
    p = BoundedPool(workers=1, memory_mb=1024)
    try:
        p.run(c_hang, 1, timeout=60)
        start = time.monotonic()
        got, stuck_at = [], None
        for value in p.map(c_hang, [(i,) for i in range(20)] + [(-1,)] + [(i,) for i in range(20)], timeout=1.5,
                           default=lambda error, item: error):
            got.append(value)
            if len(got) == 21:
                stuck_at = time.monotonic() - start
    finally:
        p.close()
    assert got[:20] == list(range(20)) and got[21:] == list(range(20))
    assert isinstance(got[20], BoundExceeded) and got[20].reason == "timeout"
    # killed 1.5 s after it started (the 20 calls before it take milliseconds), found by the monitor (every 0.5 s):
    # 3 s of slack for a loaded 2-core machine still tell it from a deadline charged to its chunk (up to 16 calls:
    # 24 s)
    assert 1.5 <= stuck_at < 1.5 + 3.0


# ---- the pebble names the pool relies on ---------------------------------------------------------------------------
def test_every_pebble_name_the_pool_reads_resolves_and_the_tested_version_is_installed():
    import importlib.metadata

    from r1_recipe.core import pebble_names

    assert pebble_names.missing() == []
    assert importlib.metadata.version("pebble") == pebble_names.TESTED_VERSION
    requirement = next(r for r in importlib.metadata.requires("r1-recipe") if r.startswith("pebble"))
    assert requirement == f"pebble=={pebble_names.TESTED_VERSION}"  # pinned, not a range


def test_every_pebble_name_the_pool_uses_is_in_the_table():
    """The source walk of tests/_source_walk.py (the one that checks verl's names; its docstring states the rule and
    its limits) over core/: every pebble class, function and attribute of a pebble object used is listed."""
    from pathlib import Path

    from _source_walk import host_uses

    from r1_recipe.core import bounded, pebble_names

    owners = {"pool": "pebble:ProcessPool", "task": "pebble.pool.base_pool:Task"}
    listed = {f"{owners[n.owner]}.{n.path}" if n.owner in owners else f"{n.owner}:{n.path}" for n in pebble_names.NAMES}
    core = Path(bounded.__file__).parent
    uses = [u for path in sorted(core.rglob("*.py"))
            for u in host_uses(path, "r1_recipe.core." + path.stem, ("pebble",))]
    undeclared = [f"{u.line}: {u.name}" for u in uses
                  if not any(u.name == d or u.name.startswith(d + ".") for d in listed)]
    assert undeclared == []
    assert {"pebble:ProcessPool._context.status", "pebble.pool.base_pool:Task.worker_id",
            "pebble:ProcessPool.schedule"} <= {u.name for u in uses}


def test_bounded_reads_no_private_pebble_attribute_left_out_of_the_table():
    """Every underscored attribute bounded.py reads on an object other than its own (`self`, its jobs and units)
    is one of the listed pebble names."""
    import ast
    import inspect

    from r1_recipe.core import bounded, pebble_names

    listed = {part for name in pebble_names.NAMES for part in name.path.split(".") if part.startswith("_")}
    ours = {"_pool", "_lock", "_queue", "_inflight", "_closed", "_wake", "_monitor", "_dir", "_chunks", "_pid",
            "_deadline", "_getframe"}  # the pool's own, and sys._getframe (check_main_guard)
    tree = ast.parse(inspect.getsource(bounded))
    read = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr.startswith("_")
            and not node.attr.startswith("__") and not (isinstance(node.value, ast.Name) and node.value.id == "self")}
    assert read - ours <= listed, read - ours - listed
    assert listed <= read  # and the table lists nothing bounded.py no longer reads
