"""Run one untrusted program under OS isolation and return what it printed, capped and time-bounded.

Isolation levels (detected once per process, see `isolation_level()`):
- "bwrap": bubblewrap namespaces (no network, private pid/ipc/uts, a filesystem of read-only /usr plus a fresh
  tmpfs working directory, no /home, /root, /etc or host /tmp), an empty environment, a throwaway unprivileged uid
  when started as root (so RLIMIT_NPROC applies), rlimits set inside the sandbox, the pid namespace killed with
  its parent. This is the level hostile code needs.
- "rlimits": bubblewrap is missing or cannot create namespaces: a temp dir, an empty environment, rlimits and a
  process group kill only. Files, network and other processes of the same user stay reachable: untrusted code is
  refused at this level unless the user opts in (`allow_unsandboxed=True` or `R1_RECIPE_ALLOW_UNSANDBOXED=1`).

The launch cost (bwrap + rlimits, ~20 ms) is measured by bench/code_sandbox_bench.py.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import random
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

ALLOW_ENV = "R1_RECIPE_ALLOW_UNSANDBOXED"

# The judge preamble: names LeetCode's Python 3 judge, LiveCodeBench's harness and verl's prime_code make available
# without an import (order as LiveCodeBench's: star imports, then modules, then builtins again so that math.pow or
# operator.abs never shadow the builtins). Executed once per sandbox, before the program, into the program's globals.
PREAMBLE = """\
from typing import *
from collections import *
from functools import *
from itertools import *
from heapq import *
from bisect import *
from math import *
from string import *
from operator import *
from copy import deepcopy
try:
    from sortedcontainers import SortedDict, SortedKeyList, SortedList, SortedSet
except ImportError:  # a remote judge (SandboxFusion) without it
    pass
import bisect, collections, copy, datetime, functools, heapq, itertools, math, operator, random, re, string, sys
from builtins import *
inf = float("inf")
"""

# Third-party packages a judge's interpreter offers (LeetCode: sortedcontainers). Pure Python, installed with
# r1-recipe, made visible read-only inside the sandbox (the sandbox's interpreter is the system Python).
JUDGE_PACKAGES = ("sortedcontainers",)
SANDBOX_LIB = "/sandbox-lib"

@dataclass(frozen=True)
class Limits:
    """Per-run limits. wall_s bounds the run from outside; cpu_s, memory_mb, ... are rlimits inside the sandbox."""

    wall_s: float = 2.0
    cpu_s: int = 2
    memory_mb: int = 512
    output_bytes: int = 1 << 20  # stdout cap: past it the run is killed ("output_limit")
    file_bytes: int = 8 << 20  # largest file the program may write in its tmpfs
    open_files: int = 64
    processes: int = 16


@dataclass
class RunResult:
    """What a run produced. status: "ok", "timeout", "output_limit", "signal", "exit" (non-zero exit code),
    "killed" (the sandbox's supervisor was killed, by the program), "sandbox_error" (remote backend)."""

    status: str
    stdout: str
    stderr: str
    returncode: int | None
    seconds: float


def _python() -> str:
    """A system interpreter readable by an unprivileged uid (a pyenv/venv under /root is not)."""
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(cand, os.X_OK):
            return os.path.realpath(cand)
    return os.path.realpath(sys.executable)


@functools.lru_cache(maxsize=1)
def judge_packages() -> dict[str, str]:
    """{name: package directory} of JUDGE_PACKAGES as installed here (found without importing them), each readable
    by the sandbox's throwaway uid: a package inside a private tree (a venv under /root) is copied once to a
    world-readable directory under the temp dir."""
    found = {}
    for name in JUDGE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            logger.warning("code sandbox: judge package %r is not installed; programs importing it will fail", name)
            continue
        path = os.path.realpath(list(spec.submodule_search_locations)[0])
        found[name] = path if _world_readable(path) else _public_copy(name, path)
    return found


def _world_readable(path: str) -> bool:
    """`path` listable by any uid and every directory above it searchable (pip installs files 0644)."""
    if os.stat(path).st_mode & 0o005 != 0o005:
        return False
    while path != "/":
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & 0o001:
            return False
    return True


def _public_copy(name: str, path: str) -> str:
    root = os.path.join(tempfile.gettempdir(), f"r1-judge-packages-{os.getuid()}")
    os.makedirs(root, mode=0o755, exist_ok=True)
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        root = tempfile.mkdtemp(prefix="r1-judge-packages-")  # someone else's: never bind what others can write
    os.chmod(root, 0o755)  # whatever the umask: the throwaway uid must reach the copy
    target = os.path.join(root, name)
    if not os.path.isdir(target):
        staging = tempfile.mkdtemp(dir=root)
        shutil.copytree(path, os.path.join(staging, name), ignore=shutil.ignore_patterns("__pycache__"))
        for d, _, files in os.walk(staging):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        try:
            os.rename(os.path.join(staging, name), target)  # atomic: concurrent workers keep the first copy
        except OSError:
            pass
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _bwrap_argv(workdir: str, python: str) -> list[str]:
    argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{name}"):
            argv += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif os.path.isdir(f"/{name}"):
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    prefix = os.path.dirname(os.path.dirname(python))
    if not python.startswith("/usr/"):
        argv += ["--ro-bind", prefix, prefix]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--ro-bind", workdir, "/sandbox",
             "--chdir", "/tmp", "--hostname", "sandbox"]
    for name, path in judge_packages().items():
        argv += ["--ro-bind", path, f"{SANDBOX_LIB}/{name}"]
    return argv


def _host_lib(workdir: str) -> str:
    """Without namespaces: a directory of links to the judge packages, inside the run's own directory."""
    lib = os.path.join(workdir, "lib")
    os.makedirs(lib, exist_ok=True)
    for name, path in judge_packages().items():
        if not os.path.lexists(os.path.join(lib, name)):
            os.symlink(path, os.path.join(lib, name))
    return lib


def _drop_privileges() -> list[str]:
    """Root ignores RLIMIT_NPROC: as root, start bwrap through `setpriv` as a throwaway uid (one per run, so fork
    bombs never share a count). setpriv rather than a preexec_fn, which would force a slow fork of this process."""
    if os.geteuid() != 0:
        return []
    uid = random.randrange(200_000, 1_000_000)
    return [shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


@functools.lru_cache(maxsize=1)
def isolation_level() -> str:
    """Detect the isolation this process can give untrusted code: "bwrap" or "rlimits" (see the module doc)."""
    if shutil.which("bwrap"):
        with tempfile.TemporaryDirectory(prefix="r1-probe-") as d:
            with open(os.path.join(d, "solution.py"), "w") as f:
                f.write("print(6 * 7)")
            os.chmod(d, 0o755)
            os.chmod(os.path.join(d, "solution.py"), 0o644)
            try:
                res = next(run_tests(d, [""], "stdio", Limits(wall_s=10), time.monotonic() + 10, level="bwrap"))
                if res.status == "ok" and res.stdout.strip() == "42":
                    logger.info("code sandbox: isolation level 'bwrap' (namespaces + rlimits + clean env)")
                    return "bwrap"
                logger.warning("code sandbox: bwrap probe failed (%s): %s", res.status, res.stderr[-300:])
            except OSError as e:
                logger.warning("code sandbox: bwrap cannot start: %s", e)
    logger.warning("code sandbox: isolation level 'rlimits' only (no namespaces); untrusted code is refused unless "
                   "%s=1 or allow_unsandboxed=True", ALLOW_ENV)
    return "rlimits"


def unsandboxed_allowed(option: bool) -> bool:
    return bool(option) or os.environ.get(ALLOW_ENV, "") == "1"


SUPERVISOR = (Path(__file__).with_name("supervisor.py")).read_text()
# The SandboxFusion backend's program wrapper (one request per test): the supervisor's functions without its main,
# then `run_remote`: hard limits the program cannot raise again, the preamble, the program as __main__.
# The request's code sets _R1_SRC (program), _R1_PRE (preamble or "") and sys.argv (limits..., path, mode).
RUNNER = "_R1_REMOTE = True\n" + SUPERVISOR + "\nrun_remote(_R1_SRC, _R1_PRE)\n"


def run_tests(workdir: str, inputs: list[str], mode: str, limits: Limits, deadline: float,
              level: str | None = None, python: str | None = None, preamble: bool = False) -> Iterator[RunResult]:
    """Run `workdir/solution.py` on each test input, in one sandbox; yield one RunResult per test, in order.

    `mode` "stdio": each input is the program's stdin, one forked child per test. "call:<fn_name>": each input is a
    JSON argument list; one child calls the function for every test (a new child after a test that kills it), and
    a result's stdout is the JSON return value. `preamble`: run PREAMBLE into the program's globals first.
    One sandbox per program (launch ~20 ms); see supervisor.py.
    `workdir` is mounted read-only at /sandbox; each test gets a fresh directory in the sandbox's own tmpfs.
    The whole run is killed at `deadline` (time.monotonic()); tests not reported by then yield "timeout", and
    tests not reported because the program killed its supervisor yield "killed". Never raises on program
    misbehaviour. Stop iterating early (all-pass mode) and the sandbox is killed.
    """
    level = level or isolation_level()
    python = python or _python()
    with open(os.path.join(workdir, "tests.bin"), "wb") as f:
        for text in inputs:
            data = text.encode()
            f.write(b"%d\n%s" % (len(data), data))
    os.chmod(os.path.join(workdir, "tests.bin"), 0o644)
    args = [str(limits.memory_mb << 20), str(limits.cpu_s), str(limits.file_bytes), str(limits.open_files),
            str(limits.processes), str(limits.wall_s), str(limits.output_bytes), mode]
    pre = PREAMBLE if preamble else ""
    scratch = None
    if level == "bwrap":
        argv = _drop_privileges() + _bwrap_argv(workdir, python) + [python, "-I", "-S", "-c", SUPERVISOR, *args,
                                                                     "/sandbox", "/tmp", "1", pre, SANDBOX_LIB]
        cwd = "/"
    else:
        scratch = tempfile.mkdtemp(prefix="r1-run-")
        argv = [python, "-I", "-S", "-c", SUPERVISOR, *args, workdir, scratch, "0", pre, _host_lib(workdir)]
        cwd = scratch
    cap = len(inputs) * (limits.output_bytes + (1 << 20))  # each report: capped output + capped stderr + header
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={}, cwd=cwd, start_new_session=True, close_fds=True)
    sent = 0
    try:
        buf, total = bytearray(), 0
        fd = proc.stdout.fileno()
        while sent < len(inputs):
            frame = _frame(buf)
            if frame is not None:
                sent += 1
                yield frame
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 1 << 16)
            total += len(chunk)
            if not chunk or total > cap:
                break
            buf += chunk
        timed_out = time.monotonic() >= deadline
    finally:
        _kill_group(proc)
        proc.stdout.close()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    for _ in range(sent, len(inputs)):
        yield RunResult("timeout" if timed_out else "killed", "", "", None, 0.0)


def _frame(buf: bytearray) -> RunResult | None:
    """Pop one complete report `<status> <rc> <len out> <len err>\n<out><err>` from `buf`, or None if incomplete."""
    nl = buf.find(b"\n")
    if nl < 0:
        return None
    try:
        status, rc, n_out, n_err = buf[:nl].decode().split()
        n_out, n_err = int(n_out), int(n_err)
        rc = int(rc)
    except ValueError:
        del buf[:]
        return RunResult("killed", "", "malformed report from the sandbox", None, 0.0)
    end = nl + 1 + n_out + n_err
    if len(buf) < end:
        return None
    out, err = bytes(buf[nl + 1 : nl + 1 + n_out]), bytes(buf[nl + 1 + n_out : end])
    del buf[:end]
    return RunResult(status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), rc, 0.0)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the run's process group; with bwrap the pid namespace dies with its init (--die-with-parent)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
