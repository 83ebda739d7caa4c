"""Adversarial programs: each hostile behaviour gets the right verdict and leaves no trace on the host.

Safe on a developer machine: canaries live in pytest's tmp_path, the only socket is a loopback listener made here,
fork bombs run under RLIMIT_NPROC in a pid namespace, and every test checks that no sandbox process survives.
"""

import os
import shutil
import socket
import time

import pytest

from r1_recipe.core.rewards.code import code_reward

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

FAST = {"timeout_s": 1.0, "total_timeout_s": 3.0}


def fenced(code):
    return f"```python\n{code}\n```"


def sandbox_pids():
    """Processes of any sandbox run: the supervisor source is on the command line of every sandboxed process."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"executes every test of one program" in cmd or b"4242.5" in cmd:
            found.append(int(pid))
    return found


def sandbox_pids_after_reaping():
    """`sandbox_pids()` once killed sandboxes had up to 1 s to go: the kernel reaps a killed pid namespace
    asynchronously (also those an earlier test file killed, e.g. through the composer's time bound)."""
    for _ in range(20):
        if not sandbox_pids():
            break
        time.sleep(0.05)
    return sandbox_pids()


@pytest.fixture(autouse=True)
def nothing_survives():
    assert sandbox_pids_after_reaping() == []
    yield
    assert sandbox_pids_after_reaping() == []


def run(code, inputs=("",), outputs=("ok",), **opts):
    return code_reward(fenced(code), {"inputs": list(inputs), "outputs": list(outputs)}, **{**FAST, **opts})


# Time bounds below: the test's own limit plus 4 s for starting and killing a sandboxed Python on a loaded 2-core
# machine; each test sets the other limit (the total, or the test's own) far enough away (20 s, 10 s) that a limit
# that did not work would take much longer than the bound.
SLACK_S = 4.0


def test_infinite_loop_times_out_quickly():
    t = time.monotonic()
    out = run("while True:\n    pass", total_timeout_s=20.0)
    assert (out.score, out.info["first_failure"]) == (0.0, "timeout")
    assert time.monotonic() - t < FAST["timeout_s"] + SLACK_S  # the per-test limit, not the 20 s total


def test_fork_bomb_is_bounded_and_reaped():
    out = run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    assert (out.score, out.info["first_failure"]) == (0.0, "timeout")


def test_daemon_that_detaches_does_not_outlive_the_run():
    code = ("import os, sys\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        os.execv('/usr/bin/sleep', ['sleep', '4242.5'])\n    os._exit(0)\nprint('ok')")
    out = run(code)
    assert out.score == 1.0  # the program itself is honest about its output; its daemon is killed with the run


def test_memory_exhaustion_is_a_memory_failure():
    out = run("x = bytearray(4 << 30)\nprint('ok')", memory_mb=256)
    assert (out.score, out.info["first_failure"]) == (0.0, "memory")


def test_huge_output_is_capped_and_killed():
    t = time.monotonic()
    out = run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", max_output_bytes=1 << 20, timeout_s=10.0,
              total_timeout_s=20.0)
    assert (out.score, out.info["first_failure"]) == (0.0, "output_limit")
    assert time.monotonic() - t < SLACK_S  # killed at the cap (milliseconds of writing), not at the 10 s limit


def test_disk_fill_hits_the_file_size_limit():
    out = run("f = open('big', 'wb')\nwhile True:\n    f.write(b'0' * (1 << 20))")
    assert (out.score, out.info["first_failure"]) == (0.0, "output_limit")


def test_host_files_are_invisible_and_untouched(tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("precious")
    home_secret = os.path.expanduser("~/.r1_canary_secret")
    code = (f"import os, shutil\nfound = []\nfor p in [{str(canary)!r}, {home_secret!r}, '/etc/passwd', '/root']:\n"
            "    try:\n        found.append(open(p).read())\n    except OSError:\n        pass\n"
            f"    try:\n        os.remove(p)\n    except OSError:\n        pass\n"
            f"try:\n    open('/usr/pwned', 'w')\nexcept OSError:\n    pass\nprint('|'.join(found) or 'ok')")
    out = run(code, outputs=("precious",))
    assert (out.score, out.info["first_failure"]) == (0.0, "wrong_answer")
    assert canary.read_text() == "precious"
    assert not os.path.exists("/usr/pwned")


def test_environment_secrets_do_not_leak(monkeypatch):
    monkeypatch.setenv("R1_CANARY_TOKEN", "hf_canary_secret")
    code = ("import os\nleak = repr(dict(os.environ))\nfor p in os.listdir('/proc'):\n    try:\n"
            "        leak += open(f'/proc/{p}/environ').read()\n    except OSError:\n        pass\n"
            "print('hf_canary_secret' if 'hf_canary_secret' in leak else 'clean')")
    out = run(code, outputs=("hf_canary_secret",))
    assert (out.score, out.info["first_failure"]) == (0.0, "wrong_answer")


def test_network_is_unreachable_even_on_loopback():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.3)
    port = srv.getsockname()[1]
    code = (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=0.5)\n"
            "s.sendall(b'exfiltrated')\nprint('ok')")
    try:
        out = run(code)
        assert out.score == 0.0 and out.info["first_failure"] in ("runtime_error", "sandbox_violation")
        with pytest.raises(TimeoutError):
            srv.accept()
    finally:
        srv.close()


def test_killing_the_parent_or_everyone_hits_only_the_sandbox():
    out = run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\nprint('ok')")
    assert out.score in (0.0, 1.0)  # whatever it did to itself, the host process (this test) is alive
    assert run("print('ok')").score == 1.0


def test_early_exit_and_success_markers_never_pass():
    for code in ("import sys\nsys.exit(0)", "import os\nos._exit(0)", "print('All tests passed')"):
        out = run(code, inputs=("1",), outputs=("2",))
        assert (out.score, out.info["first_failure"]) == (0.0, "wrong_answer"), code


def test_call_style_hacks_are_judged_on_serialised_values():
    gt = {"fn_name": "f", "inputs": [[1], [2]], "outputs": [2, 4]}
    always_equal = "class Any:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return Any()"
    patch = ("import builtins, json, sys\nbuiltins.isinstance = lambda *a: True\nsys.modules['json'].loads = "
             "lambda *a, **k: 2\ndef f(x):\n    return -1")
    raw = "import os\ndef f(x):\n    os.write(1, b'2')\n    return 0"
    peek = ("import gc\ndef f(x):\n    ints = [o for o in gc.get_objects() if isinstance(o, list) and o == [2, 4]]\n"
            "    return 'seen' if ints else x * 2 + 1")
    for code in (always_equal, patch, raw, peek):
        out = code_reward(fenced(code), gt, **FAST)
        assert out.score == 0.0, code


def test_composer_bound_kills_the_sandbox_with_its_worker():
    """reward.r1.timeout_s below the code budget: the worker is killed, the sample scores 0, no sandbox survives."""
    from r1_recipe.core.rewards.compose import Composer

    loop = fenced("while True:\n    pass")
    good = fenced("print(int(input()) + 1)")
    gt = {"inputs": ["1", "2", "3"], "outputs": ["2", "3", "4"]}
    tight = Composer({"components": {"code": {"weight": 1.0, "timeout_s": 2.0, "total_timeout_s": 6.0}},
                      "timeout_s": 1.0, "workers": 1})
    try:
        rows = list(tight.score_many([(loop, gt, None), (good, gt, None)]))
    finally:
        tight.pool.close()
    assert [(r["code"], r["code_reason"]) for r in rows] == [(0.0, "timeout"), (1.0, "")]


def test_call_tests_share_one_child_until_one_kills_it():
    """One child runs a program's call tests in turn (module state carries over, as on LeetCode and in prime_code);
    a test that times out or exits takes only itself down: the next test starts in a fresh child."""
    code = ("import os\ncalls = []\ndef f(x):\n    calls.append(x)\n    if x == 0:\n        while True:\n"
            "            pass\n    if x == 9:\n        os._exit(0)\n    return len(calls)")
    gt = {"fn_name": "f", "inputs": [[5], [5], [0], [5], [9], [5]], "outputs": [1, 2, 3, 1, 0, 1]}
    t = time.monotonic()
    out = code_reward(fenced(code), gt, **{**FAST, "total_timeout_s": 20.0})
    assert (out.info["passed"], out.info["first_failure"], out.info["failed_test"]) == (4, "timeout", 2)
    assert time.monotonic() - t < FAST["timeout_s"] + SLACK_S  # the looping test's limit, not the 20 s total


def test_writes_to_the_report_pipe_fail_the_test_and_nothing_else():
    """A call program can reach the pipe its results travel on: junk there fails that test (the child is replaced);
    what it could forge is only a value it could have returned, and the expected outputs never enter the sandbox."""
    code = ("import os\ndef f(x):\n    if x == 1:\n        for fd in range(3, 64):\n            try:\n"
            "                os.write(fd, b'garbage that is no frame\\n')\n            except OSError:\n"
            "                pass\n    return x * 2")
    out = code_reward(fenced(code), {"fn_name": "f", "inputs": [[0], [1], [2]], "outputs": [0, 2, 4]}, **FAST)
    assert (out.info["passed"], out.info["failed_test"]) == (2, 1)


def test_oversized_return_value_is_an_output_limit():
    code = "def f(n):\n    return 'x' * n"
    gt = {"fn_name": "f", "inputs": [[1 << 21], [3]], "outputs": ["x", "xxx"]}
    out = code_reward(fenced(code), gt, max_output_bytes=1 << 20, **FAST)
    assert (out.info["passed"], out.info["first_failure"], out.info["failed_test"]) == (1, "output_limit", 0)


def test_judge_package_in_a_private_tree_is_bound_from_a_public_copy(monkeypatch):
    """sortedcontainers installed where the sandbox's throwaway uid cannot read (a venv under /root) is copied once
    to a world-readable directory, and the sandbox binds that copy read-only."""
    import tempfile

    from r1_recipe.core.rewards.code import isolation_level, sandbox

    assert isolation_level() == "bwrap"  # probed (and cached) before the temp dir moves
    tmp = tempfile.mkdtemp(prefix="r1-test-judge-", dir="/tmp")
    os.chmod(tmp, 0o755)  # like /tmp itself: searchable by the throwaway uid (pytest's tmp_path is not)
    monkeypatch.setattr("tempfile.tempdir", tmp)
    monkeypatch.setattr(sandbox, "_world_readable", lambda path: path.startswith(tmp))
    sandbox.judge_packages.cache_clear()
    try:
        path = sandbox.judge_packages()["sortedcontainers"]
        assert path == os.path.join(tmp, f"r1-judge-packages-{os.getuid()}", "sortedcontainers")
        assert os.stat(path).st_mode & 0o777 == 0o755
        out = run("from sortedcontainers import SortedList\nprint(SortedList([3, 1, 2])[0])", outputs=("1",))
        assert out.score == 1.0
    finally:
        sandbox.judge_packages.cache_clear()
        shutil.rmtree(tmp, ignore_errors=True)
