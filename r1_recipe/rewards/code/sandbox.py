"""Run one untrusted program under OS isolation and return what it printed, capped and time-bounded.

Isolation levels (detected once per process, see `isolation_level()`):
- "bwrap": bubblewrap namespaces (no network, private pid/ipc/uts, a filesystem of read-only /usr plus a fresh
  tmpfs working directory, no /home, /root, /etc or host /tmp), an empty environment, a throwaway unprivileged uid
  when started as root (so RLIMIT_NPROC applies), rlimits set inside the sandbox, the pid namespace killed with
  its parent. This is the level hostile code needs.
- "rlimits": bubblewrap is missing or cannot create namespaces: a temp dir, an empty environment, rlimits and a
  process group kill only. Files, network and other processes of the same user stay reachable: untrusted code is
  refused at this level unless the user opts in (`allow_unsandboxed=True` or `R1_RECIPE_ALLOW_UNSANDBOXED=1`).

Measured costs on the reference machine are in /work/shared/notes/sandbox-facts.md (bwrap + rlimits ~20 ms/launch).
"""

from __future__ import annotations

import functools
import logging
import os
import random
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

ALLOW_ENV = "R1_RECIPE_ALLOW_UNSANDBOXED"

# Runs first inside the sandbox: fixes hard limits the program cannot raise again, then runs the program as
# __main__. argv: limits..., program path, mode ("stdio" or "call:<fn_name>").
RUNNER = r"""
import sys, resource
_a = sys.argv
_mem, _cpu, _fsize, _nofile, _nproc = (int(x) for x in _a[1:6])
for _k, _v in ((resource.RLIMIT_AS, _mem), (resource.RLIMIT_CPU, _cpu), (resource.RLIMIT_FSIZE, _fsize),
               (resource.RLIMIT_NOFILE, _nofile), (resource.RLIMIT_NPROC, _nproc), (resource.RLIMIT_CORE, 0)):
    _h = resource.getrlimit(_k)[1]
    _v = _v if _h == resource.RLIM_INFINITY else min(_v, _h)
    resource.setrlimit(_k, (_v, _v))
_path, _mode = _a[6], _a[7]
sys.argv = [_path]
sys.setrecursionlimit(100000)
_src = globals().get("_R1_SRC") or open(_path).read()
if _mode == "stdio":
    _g = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(_src, "solution.py", "exec"), _g)
else:
    # Function-call style: args come as one JSON list on stdin; the program's own prints go to stderr; the return
    # value is written as JSON on fd 1. The parent compares it: the program's objects never reach the comparison.
    import json, os
    _fn = _mode.split(":", 1)[1]
    _args = json.loads(sys.stdin.read())
    _out = os.fdopen(os.dup(1), "w")
    sys.stdout = sys.stderr
    _g = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(_src, "solution.py", "exec"), _g)
    _f = _g.get(_fn)
    if _f is None and "Solution" in _g:
        _f = getattr(_g["Solution"](), _fn)
    if _f is None:
        raise NameError("function %r is not defined" % _fn)
    _r = _f(*_args)
    def _plain(v):
        if isinstance(v, tuple):
            return [_plain(x) for x in v]
        if isinstance(v, list):
            return [_plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): _plain(x) for k, x in v.items()}
        if v is None or type(v) in (bool, int, float, str):
            return v
        raise TypeError("return value of type %s is not JSON" % type(v).__name__)
    _out.write(json.dumps(_plain(_r)))
    _out.flush()
"""


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
    """What a run produced. status: "ok", "timeout", "output_limit", "signal", "exit" (non-zero exit code)."""

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


def _bwrap_argv(workdir: str, python: str, uid: int | None) -> list[str]:
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
    if uid is not None:
        argv += ["--uid", str(uid), "--gid", str(uid)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--ro-bind", workdir, "/sandbox",
             "--chdir", "/tmp", "--hostname", "sandbox"]
    return argv


def _drop_privileges(uid: int):
    """Root ignores RLIMIT_NPROC: run bwrap as a throwaway uid (one per run, so fork bombs never share a count)."""

    def pre():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return pre


@functools.lru_cache(maxsize=1)
def isolation_level() -> str:
    """Detect the isolation this process can give untrusted code: "bwrap" or "rlimits" (see the module doc)."""
    if shutil.which("bwrap"):
        with tempfile.TemporaryDirectory(prefix="r1-probe-") as d:
            with open(os.path.join(d, "p.py"), "w") as f:
                f.write("print(6 * 7)")
            os.chmod(d, 0o755)
            os.chmod(os.path.join(d, "p.py"), 0o644)
            try:
                res = run_program(d, "p.py", "stdio", "", Limits(wall_s=10), level="bwrap")
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


def run_program(workdir: str, program: str, mode: str, stdin: str, limits: Limits, level: str | None = None,
                python: str | None = None) -> RunResult:
    """Run `workdir/program` (Python) with `stdin`, under `level` isolation; never raises on program misbehaviour.

    `workdir` is mounted read-only at /sandbox; the working directory is a fresh tmpfs (/tmp). stdout is read as
    it streams (so a full pipe never deadlocks) and capped at `limits.output_bytes`; the run is killed at
    `limits.wall_s`. The whole process group (and, with bwrap, the pid namespace) dies at the end.
    """
    level = level or isolation_level()
    python = python or _python()
    lim = [str(limits.memory_mb << 20), str(limits.cpu_s), str(limits.file_bytes), str(limits.open_files),
           str(limits.processes)]
    stdin_path = os.path.join(workdir, f"stdin-{os.getpid()}-{random.getrandbits(32):08x}")
    with open(stdin_path, "w") as f:
        f.write(stdin)
    os.chmod(stdin_path, 0o644)
    if level == "bwrap":
        uid = random.randrange(200_000, 1_000_000) if os.geteuid() == 0 else None
        argv = _bwrap_argv(workdir, python, None) + [python, "-I", "-S", "-c", RUNNER, *lim, f"/sandbox/{program}",
                                                     mode]
        pre = _drop_privileges(uid) if uid is not None else None
        cwd = "/"
    else:
        argv = [python, "-I", "-S", "-c", RUNNER, *lim, os.path.join(workdir, program), mode]
        pre, cwd = None, tempfile.mkdtemp(prefix="r1-run-")
    start = time.monotonic()
    try:
        with open(stdin_path, "rb") as fin:
            proc = subprocess.Popen(argv, stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={},
                                    cwd=cwd, start_new_session=True, preexec_fn=pre, close_fds=True)
        return _collect(proc, limits, start)
    finally:
        os.unlink(stdin_path)
        if level != "bwrap":
            shutil.rmtree(cwd, ignore_errors=True)


def _collect(proc: subprocess.Popen, limits: Limits, start: float) -> RunResult:
    out, err = bytearray(), bytearray()
    err_cap = 64 << 10
    status = None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    deadline = start + limits.wall_s
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                status = "timeout"
                break
            for key, _ in sel.select(timeout=left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = key.data
                if buf is out:
                    buf += chunk
                    if len(out) > limits.output_bytes:
                        status = "output_limit"
                elif len(err) < err_cap:
                    buf += chunk[: err_cap - len(err)]
            if status:
                break
        if status is None:
            try:
                proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                status = "timeout"
    finally:
        _kill_group(proc)
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
    rc = proc.returncode
    if status is None:
        if rc == 0:
            status = "ok"
        elif rc is not None and rc < 0:
            status = "timeout" if -rc == signal.SIGXCPU else "output_limit" if -rc == signal.SIGXFSZ else "signal"
        else:
            status = "exit"
    return RunResult(status, out[: limits.output_bytes].decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                     rc, time.monotonic() - start)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the run's process group; with bwrap the pid namespace dies with its init (--die-with-parent)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
