"""Runs inside the sandbox (as `python -I -S -c <this file>`): executes every test of one program and reports.

Started once per program, so a sandbox launch (~20 ms) is paid once per program.
- stdin programs ("stdio"): each test runs in a forked child of this warm interpreter (~1.5 ms) with a fresh working
  directory, its own session, its stdin from a file, fresh stdout/stderr pipes, no other open file, and hard rlimits
  (address space, CPU seconds, file size, open files, processes) it cannot raise. After each test every other
  process in the pid namespace is killed (with bubblewrap), or the test's process group (without).
- function-call programs ("call:<fn_name>"): one forked child (same isolation) executes the program once and calls
  the function for every test in turn, as LeetCode's, LiveCodeBench's and verl's prime_code judges do; this process
  enforces the per-test wall limit from outside (the child cannot stop that clock) and kills the child on a timeout,
  a crash or an output overflow; the next test then starts in a fresh child. Module state (globals, caches) carries
  from one test to the next within a child, as on LeetCode; a fresh `Solution()` is made for every test.

The judge preamble (imports a LeetCode / LiveCodeBench program may use without importing: typing names, collections,
functools, itertools, heapq, bisect, math, `inf`, sortedcontainers, ...) is executed here once, by this trusted
process, into the globals every child starts from. A stdin program with a top-level `return` (legal in APPS, whose
harness wraps the program in a function) ends there, as in APPS.

Input: /sandbox/tests.bin, per test `<length>\n<stdin bytes or JSON argument list>`. Output on fd 1, per test: a
header line `<status> <rc> <len(out)> <len(err)>\n` then the raw output and error bytes. Nothing here is trusted by
the parent beyond what the program could print itself: expected outputs never enter the sandbox, and the parent
compares. Stdlib only; this file is not imported by the package.
"""

import os
import resource
import select
import signal
import sys
import time

ERR_CAP = 65536


def die_with_parent():
    """Without a pid namespace nothing else ends this process when the pool worker that started it is killed."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def enter_child(workdir, stdin_path, out_fd, err_fd, limits, pidns, keep=()):
    """The forked child's side of the isolation: session, cwd, fds 0-2, nothing else open, hard rlimits."""
    os.setsid()
    if not pidns:
        die_with_parent()
    os.chdir(workdir)
    fd = os.open(stdin_path, os.O_RDONLY)
    os.dup2(fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    low = 3
    for k in sorted(keep):
        os.closerange(low, k)
        low = k + 1
    os.closerange(low, 4096)
    for key, value in limits:
        cap = resource.getrlimit(key)[1]
        soft = value if cap == resource.RLIM_INFINITY else min(value, cap)
        # CPU: past the soft limit the kernel sends SIGXCPU (reported as a timeout), at the hard limit SIGKILL.
        room = key == resource.RLIMIT_CPU and (cap == resource.RLIM_INFINITY or soft < cap)
        resource.setrlimit(key, (soft, soft + 1 if room else soft))
    sys.setrecursionlimit(100000)
    sys.argv = ["solution.py"]


class StopAtTopLevelReturn:
    """AST pass: a `return` outside any function ends the program (APPS runs stdin programs inside `def code():`)."""

    def __init__(self, ast):
        self.ast = ast

    def rewrite(self, body):
        ast = self.ast
        for i, node in enumerate(body):
            if isinstance(node, ast.Return):
                exit_call = ast.Raise(exc=ast.Name(id="SystemExit", ctx=ast.Load()), cause=None)
                body[i] = ast.copy_location(exit_call, node)
            elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for field in ("body", "orelse", "finalbody"):
                    self.rewrite(getattr(node, field, None) or [])
                for part in getattr(node, "handlers", None) or getattr(node, "cases", None) or []:
                    self.rewrite(part.body)


def compile_program(src, stdin_style):
    try:
        return compile(src, "solution.py", "exec")
    except SyntaxError as e:
        if not stdin_style or "'return' outside function" not in str(e):
            raise
    import ast

    tree = ast.parse(src, "solution.py")
    StopAtTopLevelReturn(ast).rewrite(tree.body)
    return compile(ast.fix_missing_locations(tree), "solution.py", "exec")


def exit_code(e):
    return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)


def run_stdio_child(src, base):
    code = 1
    try:
        exec(compile_program(src, True), dict(base))
        code = 0
    except SystemExit as e:
        code = exit_code(e)
    except BaseException:
        import traceback

        traceback.print_exc()
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    os._exit(code)


def send(fd, status, payload):
    data = b"%s %d\n%s" % (status, len(payload), payload)
    while data:
        data = data[os.write(fd, data):]


def failure_text():
    import traceback

    return traceback.format_exc()[-ERR_CAP:].encode("utf-8", "replace")


def entry_point(glb, fn_name):
    """What a test calls: `Solution().<fn_name>` (a fresh instance per test, as LeetCode does), else `<fn_name>`."""
    cls = glb.get("Solution")
    if isinstance(cls, type) and hasattr(cls, fn_name):
        return lambda: getattr(cls(), fn_name)
    if callable(glb.get(fn_name)):
        return lambda: glb[fn_name]
    raise NameError(f"function {fn_name!r} is not defined")


def run_call_child(src, fn_name, tests, base, report_fd):
    """Execute the program once, then call `fn_name` on each test's arguments; one frame per test on report_fd."""
    import json

    glb = dict(base)
    try:
        exec(compile_program(src, False), glb)
        target = entry_point(glb, fn_name)
    except BaseException:
        err = failure_text()
        for _ in tests:
            send(report_fd, b"exit", err)
        os._exit(1)
    for raw in tests:
        try:
            value = target()(*json.loads(raw))
            send(report_fd, b"ok", json.dumps(plain(value)).encode())
        except BaseException:
            send(report_fd, b"exit", failure_text())
    os._exit(0)


def plain(v):
    """Only JSON values leave the sandbox: a custom object (e.g. an always-equal `__eq__`) is an error."""
    if isinstance(v, (tuple, list)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if v is None or type(v) in (bool, int, float, str):
        return v
    raise TypeError(f"return value of type {type(v).__name__} is not JSON")


def reap_rest(pid, pidns):
    """Kill what the test left behind: its process group, and with a pid namespace everything but init and us."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if pidns:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:  # nothing else was running
            pass


def status_of(wstatus):
    rc = os.waitstatus_to_exitcode(wstatus)
    sig = -rc if rc < 0 else 0
    return rc, ("ok" if rc == 0 else "exit" if rc > 0 else "timeout" if sig == signal.SIGXCPU
                else "output_limit" if sig == signal.SIGXFSZ else "signal")


def collect(pid, rout, rerr, wall, out_cap, pidns):
    """Read the test's output as it streams (capped) until it exits and its pipes close, or until `wall` seconds."""
    out, err, status, wstatus = bytearray(), bytearray(), None, None
    deadline = time.monotonic() + wall
    pidfd = os.pidfd_open(pid)  # readable when the child exits, so exit and output share one select
    fds = [rout, rerr, pidfd]
    while rout in fds or rerr in fds or wstatus is None:
        left = deadline - time.monotonic()
        if left <= 0:
            status = "timeout"
            break
        ready, _, _ = select.select(fds, [], [], left)
        for fd in ready:
            if fd == pidfd:
                _, wstatus = os.waitpid(pid, 0)
                fds.remove(pidfd)
                reap_rest(pid, pidns)  # a daemon holding the pipes must not turn an exit into a timeout
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                fds.remove(fd)
            elif fd == rout:
                out += chunk
                if len(out) > out_cap:
                    status = "output_limit"
            elif len(err) < ERR_CAP:
                err += chunk[: ERR_CAP - len(err)]
        if status:
            break
    os.close(pidfd)
    return out, err, status, wstatus


class Reporter:
    def __init__(self):
        self.f = os.fdopen(1, "wb")

    def __call__(self, status, rc, out=b"", err=b""):
        self.f.write(f"{status} {rc} {len(out)} {len(err)}\n".encode() + bytes(out) + bytes(err))
        self.f.flush()


def spawn(scratch, index, limits, pidns, stdin=b"", report=False):
    """Fork a child with its own working directory, stdin file and pipes. Returns `(pid, out, err, rep)`: in the
    parent the read ends (out is None for a call-style child, whose prints all go to err; rep only for one), in the
    child pid 0 and its report pipe's write end."""
    workdir = os.path.join(scratch, f"run{index}")
    os.mkdir(workdir)
    stdin_path = os.path.join(scratch, f"stdin{index}")
    with open(stdin_path, "wb") as f:
        f.write(stdin)
    rerr, werr = os.pipe()
    rout, wout = (None, werr) if report else os.pipe()
    rrep, wrep = os.pipe() if report else (None, None)
    pid = os.fork()
    if pid == 0:
        try:
            enter_child(workdir, stdin_path, wout, werr, limits, pidns, keep=(wrep,) if report else ())
        except BaseException:
            os._exit(1)
        return 0, None, None, wrep
    for fd in {wout, werr, wrep} - {None}:
        os.close(fd)
    return pid, rout, rerr, rrep


def run_stdio(src, inputs, base, limits, wall, out_cap, scratch, pidns, report):
    for i, stdin in enumerate(inputs):
        pid, rout, rerr, _ = spawn(scratch, i, limits, pidns, stdin)
        if pid == 0:
            try:
                run_stdio_child(src, base)
            finally:
                os._exit(1)
        out, err, status, wstatus = collect(pid, rout, rerr, wall, out_cap, pidns)
        reap_rest(pid, pidns)  # no process of this test reaches the next one
        if wstatus is None:
            _, wstatus = os.waitpid(pid, 0)
        os.close(rout)
        os.close(rerr)
        rc, exit_status = status_of(wstatus)
        report(status or exit_status, rc, out[:out_cap], err)


def run_call(src, fn_name, inputs, base, limits, wall, out_cap, scratch, pidns, report):
    """All tests in one child; after a test that times out, kills the child or breaks the protocol, a new child
    continues from the next test."""
    cpu_s = dict(limits)[resource.RLIMIT_CPU]
    i = 0
    while i < len(inputs):
        # CPU backstop for the whole child: the per-test budget times the tests it may run (wall is checked here)
        child_limits = [(k, cpu_s * (len(inputs) - i) if k == resource.RLIMIT_CPU else v) for k, v in limits]
        pid, _, rerr, rrep = spawn(scratch, i, child_limits, pidns, report=True)
        if pid == 0:
            try:
                run_call_child(src, fn_name, inputs[i:], base, rrep)
            finally:
                os._exit(1)
        i = watch_call_child(pid, rrep, rerr, i, len(inputs), wall, out_cap, pidns, report)
        os.close(rrep)
        os.close(rerr)


def pop_frame(buf, out_cap):
    """`(tag, payload)` of the child's next complete frame `<tag> <size>\n<payload>` in `buf`, None if incomplete;
    OverflowError for a frame past the caps, ValueError for bytes that are no frame (the program wrote them)."""
    nl = buf.find(b"\n")
    if nl < 0:
        if len(buf) > 64:
            raise ValueError("no frame header")
        return None
    tag, size = buf[:nl].split()
    size = int(size)
    if tag not in (b"ok", b"exit"):
        raise ValueError("bad frame")
    if size > out_cap + ERR_CAP:
        raise OverflowError("frame past the output cap")
    if len(buf) < nl + 1 + size:
        return None
    payload = bytes(buf[nl + 1 : nl + 1 + size])
    del buf[: nl + 1 + size]
    return tag, payload


def watch_call_child(pid, rrep, rerr, i, n, wall, out_cap, pidns, report):
    """Relay the child's per-test frames, each within `wall` seconds of the previous one; returns the index of the
    first test it did not finish (that test is reported failed when the child stops short of it)."""
    buf, err, wstatus, failure = bytearray(), b"", None, None
    deadline = time.monotonic() + wall
    pidfd = os.pidfd_open(pid)
    fds = [rrep, rerr, pidfd]
    while i < n and failure is None:
        if wstatus is not None and rrep not in fds:
            rc, status = status_of(wstatus)
            failure = (status if status != "ok" else "exit", rc)  # it ended without reporting this test
            break
        left = deadline - time.monotonic()
        ready = select.select(fds, [], [], left)[0] if left > 0 else []
        if not ready:
            failure = ("timeout", -signal.SIGKILL)
        for fd in ready:
            if fd == pidfd:
                _, wstatus = os.waitpid(pid, 0)
                fds.remove(pidfd)
                reap_rest(pid, pidns)  # the pipes close once nothing else holds them
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                fds.remove(fd)
            elif fd == rerr:
                err = (err + chunk)[-ERR_CAP:]  # the program's own prints: kept for a failure's report
            else:
                buf += chunk
        while i < n and failure is None and rrep in ready:
            try:
                frame = pop_frame(buf, out_cap)
            except OverflowError:
                failure = ("output_limit", 0)
                break
            except ValueError:
                failure = ("exit", 1)
                break
            if frame is None:
                break
            tag, payload = frame
            if tag == b"exit":
                report("exit", 1, b"", payload)
            elif len(payload) > out_cap:
                report("output_limit", 0, b"", err)
            else:
                report("ok", 0, payload)
            i, err, deadline = i + 1, b"", time.monotonic() + wall
    reap_rest(pid, pidns)
    if wstatus is None:
        _, wstatus = os.waitpid(pid, 0)
    os.close(pidfd)
    if failure is not None and i < n:
        report(failure[0], failure[1], b"", err)
        i += 1
    return i


def run_remote(src, preamble):
    """SandboxFusion: one test per request; argv: limits..., path, mode. A call-style result is written as JSON on
    fd 1 and the program's own prints go to fd 2; the parent compares, as with the local sandbox."""
    mem, cpu, fsize, nofile, nproc = (int(x) for x in sys.argv[1:6])
    for key, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, fsize),
                       (resource.RLIMIT_NOFILE, nofile), (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
        cap = resource.getrlimit(key)[1]
        value = value if cap == resource.RLIM_INFINITY else min(value, cap)
        resource.setrlimit(key, (value, value))
    mode = sys.argv[7]
    sys.argv = [sys.argv[6]]
    sys.setrecursionlimit(100000)
    glb = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(preamble, glb)
    if mode == "stdio":
        exec(compile_program(src, True), glb)
        return
    import json

    args = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w")
    sys.stdout = sys.stderr
    exec(compile_program(src, False), glb)
    out.write(json.dumps(plain(entry_point(glb, mode.split(":", 1)[1])()(*args))))
    out.flush()


def read_tests(path):
    with open(path, "rb") as f:
        blob = f.read()
    inputs, pos = [], 0
    while pos < len(blob):
        nl = blob.index(b"\n", pos)
        size = int(blob[pos:nl])
        inputs.append(blob[nl + 1 : nl + 1 + size])
        pos = nl + 1 + size
    return inputs


def main():
    mem, cpu, fsize, nofile, nproc = (int(x) for x in sys.argv[1:6])
    wall, out_cap, mode, root, scratch, pidns = float(sys.argv[6]), int(sys.argv[7]), *sys.argv[8:12]
    preamble, libdir = sys.argv[12], sys.argv[13]
    limits = [(resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, fsize),
              (resource.RLIMIT_NOFILE, nofile), (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)]
    if pidns != "1":
        die_with_parent()
        if os.getppid() == 1:  # the worker died before the line above
            return
    if libdir:
        sys.path.insert(0, libdir)  # read-only third-party packages a judge offers (sortedcontainers)
    base = {"__name__": "__main__", "__builtins__": __builtins__}
    if preamble:
        exec(compile(preamble, "<judge preamble>", "exec"), base)
    with open(os.path.join(root, "solution.py")) as f:
        src = f.read()
    inputs = read_tests(os.path.join(root, "tests.bin"))
    args = (src, inputs, base, limits, wall, out_cap, scratch, pidns == "1", Reporter())
    if mode == "stdio":
        run_stdio(*args)
    else:
        import json  # noqa: F401  (loaded here once, so forked children find it warm)

        run_call(args[0], mode.split(":", 1)[1], *args[1:])


if "_R1_REMOTE" not in globals():  # SandboxFusion's runner (sandbox.RUNNER) only takes the functions above
    main()
