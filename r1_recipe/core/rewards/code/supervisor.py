"""Runs inside the sandbox (as `python -I -S -c <this file>`): executes every test of one program and reports.

Started once per program, so a sandbox launch (~20 ms) is paid once, and each test costs a fork of this warm
interpreter (~1.5 ms) instead of a fresh interpreter. Each test runs in a forked child that gets: a fresh working
directory, its own session, its stdin from a file, fresh stdout/stderr pipes, no other open file, and hard rlimits
(address space, CPU seconds, file size, open files, processes) it cannot raise. After each test every other process
in the pid namespace is killed (with bubblewrap), or the test's process group (without).

Input: /sandbox/tests.bin, per test `<length>\n<stdin bytes>`. Output on fd 1, per test: a header line
`<status> <rc> <len(out)> <len(err)>\n` then the raw output and error bytes. (No json/traceback at start-up:
importing them costs ~8 ms per program; call-style runs import json once.) Nothing here is trusted by the parent
beyond what the program could print itself: expected outputs never enter the sandbox, and the parent compares.
Stdlib only; this file is not imported by the package.
"""

import os
import resource
import select
import signal
import sys
import time


def die_with_parent():
    """Without a pid namespace nothing else ends this process when the pool worker that started it is killed."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def child(src, mode, stdin_path, workdir, limits, pipes, pidns):
    os.setsid()
    if not pidns:
        die_with_parent()
    os.chdir(workdir)
    fd = os.open(stdin_path, os.O_RDONLY)
    os.dup2(fd, 0)
    os.dup2(pipes[0], 1)
    os.dup2(pipes[1], 2)
    os.closerange(3, 4096)
    for key, value in limits:
        cap = resource.getrlimit(key)[1]
        soft = value if cap == resource.RLIM_INFINITY else min(value, cap)
        # CPU: past the soft limit the kernel sends SIGXCPU (reported as a timeout), at the hard limit SIGKILL.
        room = key == resource.RLIMIT_CPU and (cap == resource.RLIM_INFINITY or soft < cap)
        resource.setrlimit(key, (soft, soft + 1 if room else soft))
    sys.setrecursionlimit(100000)
    sys.argv = ["solution.py"]
    code = 1
    try:
        glb = {"__name__": "__main__", "__builtins__": __builtins__}
        if mode == "stdio":
            exec(compile(src, "solution.py", "exec"), glb)
        else:
            # Function-call style: the return value goes to fd 1 as JSON; the program's own prints go to fd 2.
            import json

            fn_name = mode.split(":", 1)[1]
            args = json.loads(sys.stdin.read())
            out = os.fdopen(os.dup(1), "w")
            os.dup2(2, 1)
            exec(compile(src, "solution.py", "exec"), glb)
            fn = glb.get(fn_name)
            if fn is None and "Solution" in glb:
                fn = getattr(glb["Solution"](), fn_name)
            if fn is None:
                raise NameError(f"function {fn_name!r} is not defined")
            out.write(json.dumps(plain(fn(*args))))
            out.flush()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    os._exit(code)


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


def collect(pid, rout, rerr, wall, out_cap, pidns, err_cap=65536):
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
            elif len(err) < err_cap:
                err += chunk[: err_cap - len(err)]
        if status:
            break
    os.close(pidfd)
    return out, err, status, wstatus


def main():
    mem, cpu, fsize, nofile, nproc = (int(x) for x in sys.argv[1:6])
    wall, out_cap, mode, root, scratch, pidns = float(sys.argv[6]), int(sys.argv[7]), *sys.argv[8:12]
    limits = [(resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, fsize),
              (resource.RLIMIT_NOFILE, nofile), (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)]
    if pidns != "1":
        die_with_parent()
        if os.getppid() == 1:  # the worker died before the line above
            return
    with open(os.path.join(root, "solution.py")) as f:
        src = f.read()
    with open(os.path.join(root, "tests.bin"), "rb") as f:
        blob = f.read()
    inputs, pos = [], 0
    while pos < len(blob):
        nl = blob.index(b"\n", pos)
        size = int(blob[pos:nl])
        inputs.append(blob[nl + 1 : nl + 1 + size])
        pos = nl + 1 + size
    if mode != "stdio":
        import json  # noqa: F401  (imported once here, so forked call-style children find it loaded)
    report = os.fdopen(1, "wb")
    for i, stdin in enumerate(inputs):
        workdir = os.path.join(scratch, f"run{i}")
        os.mkdir(workdir)
        stdin_path = os.path.join(scratch, f"stdin{i}")
        with open(stdin_path, "wb") as f:
            f.write(stdin)
        rout, wout = os.pipe()
        rerr, werr = os.pipe()
        report.flush()
        pid = os.fork()
        if pid == 0:
            try:
                child(src, mode, stdin_path, workdir, limits, (wout, werr), pidns == "1")
            finally:
                os._exit(1)
        os.close(wout)
        os.close(werr)
        out, err, status, wstatus = collect(pid, rout, rerr, wall, out_cap, pidns == "1")
        reap_rest(pid, pidns == "1")  # no process of this test reaches the next one
        if wstatus is None:
            _, wstatus = os.waitpid(pid, 0)
        os.close(rout)
        os.close(rerr)
        rc = os.waitstatus_to_exitcode(wstatus)
        if status is None:
            sig = -rc if rc < 0 else 0
            status = ("ok" if rc == 0 else "exit" if rc > 0 else "timeout" if sig == signal.SIGXCPU
                      else "output_limit" if sig == signal.SIGXFSZ else "signal")
        out = bytes(out[:out_cap])
        report.write(f"{status} {rc} {len(out)} {len(err)}\n".encode() + out + bytes(err))
        report.flush()


main()
