"""R1 accuracy reward for code: run the extracted program against the sample's test cases in a sandbox.

Ground truth: verl's `test_cases` JSON (`{"inputs": [...], "outputs": [...], "fn_name": optional}`), as a dict or a
JSON string. Without `fn_name`, each input is fed on stdin and stdout is compared token-wise with float tolerance;
with `fn_name`, each input is the argument list (or newline-separated JSON arguments, LiveCodeBench style), the
function (or `Solution().<fn_name>`) is called in the sandbox, and its JSON-serialised return value is compared here,
in the trusted parent. Paper: DeepSeek-R1 §2.2.2 ("for LeetCode problems, a compiler can be used to generate
feedback based on predefined test cases").

Time budget: each test has `timeout_s` wall time (and the same CPU seconds); the whole call stops starting tests
after `total_timeout_s`. The `r1` reward manager bounds the call with `reward.r1.timeout_s`: set it above
`total_timeout_s` plus ~2 s, or the call is killed and scored 0 with reason "timeout".
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import tempfile
import time

from r1_recipe.core.rewards.code import compare, sandbox
from r1_recipe.core.rewards.code.extract import extract_code
from r1_recipe.core.rewards.code.fusion import run_remote
from r1_recipe.core.rewards.code.sandbox import ALLOW_ENV, Limits, RunResult, isolation_level
from r1_recipe.core.rewards.types import RewardOutput

logger = logging.getLogger(__name__)

__all__ = ["code_reward", "isolation_level", "extract_code", "parse_tests", "call_test", "ALLOW_ENV"]

# Languages the reward accepts. Adding one (e.g. C++ via the system compiler) means an entry here plus a compile
# step before the runs; the test loop and the comparison do not change.
CODE_LANGUAGES = {"python": ("python", "py", "python3", "py3")}
MAX_CODE_CHARS = 100_000
FAILURE_KINDS = ("wrong_answer", "runtime_error", "timeout", "memory", "output_limit", "sandbox_violation",
                 "compile_error", "sandbox_error")
PREAMBLE_MODES = ("call", "all", "none")  # which programs get the judge preamble (sandbox.PREAMBLE)


def parse_tests(ground_truth) -> tuple[list, list, str | None]:
    """`(inputs, outputs, fn_name)` from verl's test_cases (dict or JSON string); raises ValueError if malformed."""
    gt = ground_truth
    if isinstance(gt, str | bytes):
        gt = json.loads(gt)
    if not isinstance(gt, dict) or "inputs" not in gt or "outputs" not in gt:
        raise ValueError("ground truth must hold 'inputs' and 'outputs'")
    inputs, outputs, fn_name = list(gt["inputs"]), list(gt["outputs"]), gt.get("fn_name") or None
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise ValueError("no test cases")
    if fn_name is not None and not (isinstance(fn_name, str) and fn_name.isidentifier()):
        raise ValueError(f"fn_name {fn_name!r} is not an identifier")
    return inputs, outputs, fn_name


def call_test(args, expected) -> tuple[str, object]:
    """One function-call test as `(JSON argument list, expected value)`, from either form real data uses.

    - string form (verl, PRIME/Eurus, LiveCodeBench, DeepCoder): the input is newline-separated JSON arguments and
      the output one JSON value (`"[2,3]\n5"` -> `[[2, 3], 5]`, `"10"` -> `10`); an output that is not JSON stays the
      string it is.
    - list form (APPS, TACO): the input is the argument list and the output the value, or a one-element list of it.
    """
    if isinstance(args, str):
        args = [json.loads(line) for line in args.split("\n") if line.strip()]
        if isinstance(expected, str):
            try:
                expected = json.loads(expected)
            except ValueError:
                pass
    elif not isinstance(args, list | tuple):
        args = [args]
    return json.dumps(list(args)), expected


def _failure_kind(res: RunResult) -> str:
    if res.status in ("timeout", "output_limit", "sandbox_error"):
        return res.status
    if res.status == "killed":
        return "sandbox_violation"
    err = res.stderr
    if "MemoryError" in err:
        return "memory"
    if "[Errno 27] File too large" in err:  # Python ignores SIGXFSZ: RLIMIT_FSIZE surfaces as EFBIG
        return "output_limit"
    if any(s in err for s in ("SyntaxError", "IndentationError", "TabError")) and "solution.py" in err:
        return "compile_error"
    if any(s in err for s in ("PermissionError", "Read-only file system", "Network is unreachable",
                              "BlockingIOError: [Errno 11]", "Operation not permitted")):
        return "sandbox_violation"
    return "runtime_error"


def _validate(options: dict) -> None:
    """The values of `code_reward`'s options (its signature declares their names, defaults and types, checked by
    `compose.check_options` before this)."""
    if options.get("mode", "pass_rate") not in ("pass_rate", "all_pass"):
        raise ValueError(f"code reward option mode must be 'pass_rate' or 'all_pass', got {options['mode']!r}")
    if options.get("backend", "local") not in ("local", "sandbox_fusion"):
        raise ValueError(f"code reward option backend must be 'local' or 'sandbox_fusion', got {options['backend']!r}")
    if options.get("backend") == "sandbox_fusion" and not options.get("sandbox_fusion_url"):
        raise ValueError("code reward backend 'sandbox_fusion' needs sandbox_fusion_url")
    if options.get("preamble", "call") not in PREAMBLE_MODES:
        raise ValueError(f"code reward option preamble must be one of {PREAMBLE_MODES}, got {options['preamble']!r}")
    if options.get("language", "python") not in CODE_LANGUAGES:
        raise ValueError(f"code reward language must be one of {sorted(CODE_LANGUAGES)}, got {options['language']!r}")
    for key in ("timeout_s", "total_timeout_s", "memory_mb", "max_output_bytes", "max_tests"):
        value = options.get(key)
        if value is not None and not (isinstance(value, int | float) and not isinstance(value, bool) and value > 0):
            raise ValueError(f"code reward option {key} must be a positive number, got {value!r}")
    if options.get("backend", "local") == "local":
        level = isolation_level()  # logs the level at start-up
        if level != "bwrap" and not sandbox.unsandboxed_allowed(options.get("allow_unsandboxed", False)):
            raise ValueError(f"code reward: no sandbox available (isolation level {level!r}); install bubblewrap, "
                             f"use backend: sandbox_fusion, or opt in with allow_unsandboxed: true / {ALLOW_ENV}=1")


def code_reward(solution_str: str, ground_truth, extra_info: dict | None = None, *, mode: str = "pass_rate",
                timeout_s: float = 2.0, total_timeout_s: float = 8.0, memory_mb: int = 512,
                max_output_bytes: int = 1 << 20, max_tests: int = 100, backend: str = "local",
                sandbox_fusion_url: str | None = None, allow_unsandboxed: bool = False,
                language: str = "python", preamble: str = "call") -> RewardOutput:
    """Score a response by running its last code block against the test cases.

    Returns score = passed/total (`mode="pass_rate"`) or 1.0 iff all pass (`"all_pass"`, stops at the first
    failure). `info`: passed, total, first_failure (one of FAILURE_KINDS or ""), failed_test (index or -1),
    error (a short stderr tail), isolation. reason: "" when the tests ran, else why they did not (no_code_block,
    bad_ground_truth, code_too_long, unsandboxed_refused).
    """
    info = {"passed": 0, "total": 0, "first_failure": "", "failed_test": -1, "error": "", "isolation": backend}
    code, why = extract_code(solution_str, CODE_LANGUAGES.get(language, (language,)))
    if code is None:
        return RewardOutput(0.0, why, None, info)
    if len(code) > MAX_CODE_CHARS:
        return RewardOutput(0.0, "code_too_long", code[:1000], info)
    try:
        inputs, outputs, fn_name = parse_tests(ground_truth)
        inputs, outputs = inputs[:max_tests], outputs[:max_tests]
        tests = [call_test(i, o) if fn_name else (str(i), o) for i, o in zip(inputs, outputs, strict=True)]
    except (ValueError, TypeError) as e:
        info["error"] = str(e)[:200]
        logger.debug("code reward: bad ground truth (%s)", info["error"])
        return RewardOutput(0.0, "bad_ground_truth", code, info)
    info["total"] = len(tests)
    if backend == "local":
        info["isolation"] = isolation_level()
        if info["isolation"] != "bwrap" and not sandbox.unsandboxed_allowed(allow_unsandboxed):
            return RewardOutput(0.0, "unsandboxed_refused", code, info)
    limits = Limits(wall_s=float(timeout_s), cpu_s=max(1, int(timeout_s + 0.999)), memory_mb=int(memory_mb),
                    output_bytes=int(max_output_bytes))
    call_mode = f"call:{fn_name}" if fn_name else "stdio"
    with_preamble = preamble == "all" or (preamble == "call" and fn_name is not None)
    workdir = tempfile.mkdtemp(prefix=f"r1-code-{os.getpid()}-")
    try:
        os.chmod(workdir, 0o755)  # readable by the sandbox's throwaway uid
        path = os.path.join(workdir, "solution.py")  # the supervisor reports this name in tracebacks
        with open(path, "w") as f:
            f.write(code)
        os.chmod(path, 0o644)
        remote_code = None
        if backend == "sandbox_fusion":
            argv = ["-", *(str(x) for x in (memory_mb << 20, limits.cpu_s, limits.file_bytes, limits.open_files,
                                             limits.processes)), "solution.py", call_mode]
            pre = sandbox.PREAMBLE if with_preamble else ""
            remote_code = f"_R1_SRC = {code!r}\n_R1_PRE = {pre!r}\nimport sys\nsys.argv = {argv!r}\n{sandbox.RUNNER}"
        deadline = time.monotonic() + float(total_timeout_s)
        if remote_code is not None:
            results = (RunResult("timeout", "", "total_timeout_s exhausted", None, 0.0) if time.monotonic() >= deadline
                       else run_remote(sandbox_fusion_url, remote_code, stdin, limits) for stdin, _ in tests)
        else:
            results = sandbox.run_tests(workdir, [stdin for stdin, _ in tests], call_mode, limits, deadline,
                                        preamble=with_preamble)
        try:
            for index, ((_, expected), res) in enumerate(zip(tests, results, strict=False)):
                kind = _judge(res, expected, fn_name is not None)
                if kind == "":
                    info["passed"] += 1
                    continue
                if not info["first_failure"]:
                    info.update(first_failure=kind, failed_test=index, error=res.stderr.strip()[-300:])
                if mode == "all_pass" or kind in ("compile_error", "sandbox_error"):
                    break
        finally:
            if hasattr(results, "close"):
                results.close()  # kills the sandbox when all-pass mode stops early
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    passed, total = info["passed"], info["total"]
    score = (1.0 if passed == total else 0.0) if mode == "all_pass" else passed / total
    # the sandbox backend failed (unreachable, a malformed answer): no verdict on the program, not a wrong one
    sandbox_down = info["first_failure"] == "sandbox_error"
    return RewardOutput(score, "sandbox_error" if sandbox_down else "", code, info, infra=sandbox_down)


def sweep_stale_workdirs() -> int:
    """Remove the working directories of code calls whose process is gone (a worker killed at the sample's hard
    deadline never reaches its `finally`). Run by every pool worker when it starts; returns how many it removed."""
    removed = 0
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "r1-code-*-*")):
        pid = os.path.basename(path).split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a killed, not yet reaped worker is gone
    except OSError:
        return False


def _warm_up() -> None:
    """Pool-worker start-up: the sandbox probe (~0.8 s, outside any sample's deadline) and the stale-dir sweep."""
    sweep_stale_workdirs()
    isolation_level()


def _judge(res: RunResult, expected, call_based: bool) -> str:
    """"" for a pass, else the failure kind. Only the parsed output decides: exit code 0 alone is not a pass."""
    if res.status != "ok":
        return _failure_kind(res)
    if not call_based:
        return "" if compare.stdout_equal(res.stdout, str(expected)) else "wrong_answer"
    try:
        got = json.loads(res.stdout)
    except ValueError:
        return "wrong_answer"
    return "" if compare.call_result_equal(got, expected) else "wrong_answer"


code_reward.validate_options = _validate
code_reward.preload = ("r1_recipe.core.rewards.code:_warm_up",)
