"""Optional backend: execute on a SandboxFusion server (https://github.com/bytedance/SandboxFusion), as verl does.

Only execution moves to the server: the request is SandboxFusion's `/run_code` body (the shape verl's
`verl/utils/reward_score/sandbox_fusion/utils.py` sends), and the verdict is computed here from the returned stdout
with the same comparison as the local backend. An exit code of 0 never counts as a pass by itself.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from r1_recipe.core.rewards.code.sandbox import Limits, RunResult

_RUN_STATUS = {"Finished": None, "TimeLimitExceeded": "timeout"}


def run_remote(url: str, code: str, stdin: str, limits: Limits, language: str = "python",
               retries: int = 2) -> RunResult:
    """POST one run to `url` (e.g. http://host:8080/run_code); returns a RunResult like the local sandbox.

    An unreachable server or a malformed answer gives status "sandbox_error" (retried `retries` times on
    connection errors and HTTP 5xx).
    """
    body = json.dumps({"code": code, "stdin": stdin, "language": language, "compile_timeout": limits.wall_s,
                       "run_timeout": limits.wall_s, "memory_limit_MB": limits.memory_mb, "files": {},
                       "fetch_files": []}).encode()
    start = time.monotonic()
    err = ""
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json",
                                                              "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=limits.wall_s * 2 + 10) as resp:
                data = json.loads(resp.read(limits.output_bytes * 2 + 65536))
            break
        except urllib.error.HTTPError as e:
            err = f"http {e.code}"
            if e.code < 500:
                return RunResult("sandbox_error", "", err, None, time.monotonic() - start)
        except (OSError, ValueError) as e:
            err = f"{type(e).__name__}: {e}"
        time.sleep(0.2 * (attempt + 1))
    else:
        return RunResult("sandbox_error", "", err, None, time.monotonic() - start)
    if not isinstance(data, dict) or data.get("status") == "SandboxError":
        return RunResult("sandbox_error", "", str(data)[:300], None, time.monotonic() - start)
    compile_result = data.get("compile_result") or {}
    if compile_result.get("status") in ("Error", "TimeLimitExceeded") or compile_result.get("return_code") not in (
            None, 0):
        return RunResult("exit", "", str(compile_result.get("stderr") or "compile error"), 1, time.monotonic() - start)
    run = data.get("run_result") or {}
    stdout, stderr = str(run.get("stdout") or ""), str(run.get("stderr") or "")
    rc = run.get("return_code")
    status = _RUN_STATUS.get(run.get("status"), "exit")
    if status is None:
        status = "ok" if rc == 0 else "exit"
    if len(stdout) > limits.output_bytes:
        status, stdout = "output_limit", stdout[: limits.output_bytes]
    return RunResult(status, stdout, stderr, rc, time.monotonic() - start)
