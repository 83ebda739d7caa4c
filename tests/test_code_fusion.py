"""SandboxFusion backend against a canned local server on 127.0.0.1 (it executes nothing; it answers by stdin)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from r1_recipe.core.rewards.code import code_reward


def finished(stdout, rc=0, status="Success"):
    return {"status": status, "message": "", "compile_result": None,
            "run_result": {"status": "Finished", "execution_time": 0.01, "return_code": rc, "stdout": stdout,
                           "stderr": ""}, "executor_pod_name": None, "files": {}}


# stdin -> SandboxFusion /run_code response, in the shape verl's sandbox_fusion client parses.
CANNED = {
    "3": finished("6\n"),
    "5": finished("11\n"),
    "7": finished("", rc=0),  # exit 0 with nothing printed (an assert-style "pass") must not count
    "9": {"status": "Failed", "run_result": {"status": "TimeLimitExceeded", "return_code": None, "stdout": "",
                                             "stderr": ""}},
    "11": {"status": "SandboxError", "message": "pod crashed"},
    "[1, 2]": finished("3"),
    "[[1, 2], 3]": finished("6"),
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        reply = json.dumps(CANNED[body["stdin"]]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/run_code"
    srv.shutdown()
    srv.server_close()


PROGRAM = "```python\nprint(int(input()) * 2)\n```"


def test_verdicts_come_from_stdout_not_exit_codes(server):
    srv, url = server
    gt = {"inputs": ["3", "5", "7", "9"], "outputs": ["6", "10", "14", "18"]}
    out = code_reward(PROGRAM, gt, backend="sandbox_fusion", sandbox_fusion_url=url)
    assert out.score == 0.25
    assert out.info == {"passed": 1, "total": 4, "first_failure": "wrong_answer", "failed_test": 1, "error": "",
                        "isolation": "sandbox_fusion"}
    req = srv.requests[0]
    assert set(req) == {"code", "stdin", "language", "compile_timeout", "run_timeout", "memory_limit_MB", "files",
                        "fetch_files"}
    assert (req["language"], req["stdin"], req["memory_limit_MB"]) == ("python", "3", 512)
    assert "print(int(input()) * 2)" in req["code"]


def test_timeout_and_sandbox_errors(server):
    _, url = server
    out = code_reward(PROGRAM, {"inputs": ["9"], "outputs": ["18"]}, backend="sandbox_fusion", sandbox_fusion_url=url)
    assert (out.score, out.info["first_failure"]) == (0.0, "timeout")
    err = code_reward(PROGRAM, {"inputs": ["11", "3"], "outputs": ["22", "6"]}, backend="sandbox_fusion",
                      sandbox_fusion_url=url)
    assert (err.score, err.reason, err.info["passed"]) == (0.0, "sandbox_error", 0)


def test_function_call_through_the_server(server):
    srv, url = server
    code = "```python\ndef add(a, b):\n    return a + b\n```"
    out = code_reward(code, {"fn_name": "add", "inputs": [[1, 2]], "outputs": [3]}, backend="sandbox_fusion",
                      sandbox_fusion_url=url)
    assert out.score == 1.0
    assert "call:add" in srv.requests[0]["code"]


def test_request_code_runs_like_the_local_sandbox(server):
    """The code sent to the server carries the judge preamble, the entry-point rules and APPS's top-level `return`:
    run here (a program written by this test, with the system interpreter as the server would) it gives the JSON
    return value on stdout and the program's prints on stderr."""
    import subprocess
    import sys

    srv, url = server
    call = "```python\nclass Solution:\n    def add(self, a: List[int], b: int) -> int:\n        print('dbg')\n" \
           "        return sum(a) + b\n```"
    code_reward(call, {"fn_name": "add", "inputs": ["[1, 2]\n3"], "outputs": ["6"]}, backend="sandbox_fusion",
                sandbox_fusion_url=url)
    code_reward("```python\nif int(input()) > 1:\n    print('big')\n    return\nprint('small')\n```",
                {"inputs": ["[1, 2]"], "outputs": ["3"]}, backend="sandbox_fusion", sandbox_fusion_url=url)
    stdins = ("[[1, 2], 3]", "5\n")
    runs = [subprocess.run([sys.executable, "-I", "-S", "-c", req["code"]], input=stdin, capture_output=True,
                           text=True, timeout=30) for req, stdin in zip(srv.requests, stdins, strict=True)]
    assert [(r.returncode, r.stdout) for r in runs] == [(0, "6"), (0, "big\n")]
    assert runs[0].stderr == "dbg\n"


def test_unreachable_server_is_a_sandbox_error_not_a_crash():
    out = code_reward(PROGRAM, {"inputs": ["3"], "outputs": ["6"]}, backend="sandbox_fusion",
                      sandbox_fusion_url="http://127.0.0.1:9/run_code")
    assert (out.score, out.reason, out.info["first_failure"]) == (0.0, "sandbox_error", "sandbox_error")
