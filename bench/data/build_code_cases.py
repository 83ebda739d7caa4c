"""Builds bench/data/code_cases.jsonl: (program, tests, recorded verdict) rows from public code data, with provenance.

Every row is taken from a git snapshot of a public repository (pass the directory holding `owner+name/repo` git
dirs with --mirror; each row records repository, commit, path and item). Nothing is invented: programs, tests and
verdicts are the sources' own; the only conversions are the ones a verl user does when making parquet rows
(LeetCodeDataset's `assert candidate(nums = [1,2], k = 3) == 4` checks become verl's / LiveCodeBench's string
form; a bare program is put in a ```python fence so that it reads like a model response).

Sources (see docs/code-reward.md for what each verdict means):
- salesforce/CodeRL `data/APPS/train/{0001,0111,2287,2404,4184}`: APPS problems (tests in APPS's own form, list-form
  function calls for 2404 and 4184), the accepted human solutions (`solutions.json`) and CodeT5-based generations with
  the verdict APPS's harness gave them on the same tests (`gen_solutions.json`, `error_type`).
- newfacade/LeetCodeDataset `data/LeetCodeDataset-v0.3.1-test.jsonl.gz`: LeetCode problems with the accepted
  `class Solution` completion (doocs/leetcode, cross-verified against the tests by the dataset's authors); written
  without imports (the dataset's judge prepends a preamble), some need sortedcontainers.
- noahshinn/reflexion `programming_runs/root/*leetcode_python3*`: GPT-3.5/GPT-4 generations for 40 LeetCode hard
  problems (plain functions) with LeetCode's own verdict (`is_solved`, from submitting to leetcode.com); tests are
  the problem's examples from LeetCodeDataset (LeetCode judged on hidden tests we do not have: see `verdict_scope`).
- rllm-org/rllm `tests/rewards/test_code_reward.py` (DeepCoder's reward tests): TACO list-form calls, a
  LiveCodeBench functional (string-form) row, LiveCodeBench / CodeContests / TACO stdin rows, all asserted correct.
- volcengine/verl `tests/utils/reward_score/test_sandbox_on_cpu.py`: the prime_code test row (a CodeContests stdin
  program; 1.0 on its tests, 0.9 with one expected output changed).

Run: python bench/data/build_code_cases.py [--mirror /work/.mirror] [--lcd-tests 25]
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import subprocess
from collections import Counter

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "code_cases.jsonl")
CODERL_PROBLEMS = ("0001", "0111", "2287", "2404", "4184")


class Snapshot:
    def __init__(self, mirror: str, repo: str):
        self.repo = repo
        self.git = os.path.join(mirror, repo.replace("/", "+"), "repo")
        self.commit = subprocess.run(["git", "-C", self.git, "rev-parse", "HEAD"], check=True, capture_output=True,
                                     text=True).stdout.strip()

    def read(self, path: str) -> bytes:
        return subprocess.run(["git", "-C", self.git, "show", f"{self.commit}:{path}"], check=True,
                              capture_output=True).stdout

    def files(self) -> list[str]:
        return subprocess.run(["git", "-C", self.git, "ls-tree", "-r", "--name-only", self.commit], check=True,
                              capture_output=True, text=True).stdout.split()

    def where(self, path: str, item) -> dict:
        return {"repo": self.repo, "commit": self.commit, "path": path, "item": item}


def fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def program_kind(code: str, gt: dict) -> str:
    if not gt.get("fn_name"):
        return "script"
    return "class" if "class Solution" in code else "function"


def test_form(gt: dict) -> str:
    if not gt.get("fn_name"):
        return "stdin"
    return "string" if all(isinstance(i, str) for i in gt["inputs"]) else "list"


def row(rid, source, where, response, gt, expected, recorded, author, judge, scope="shipped", **extra):
    code = response.split("```python\n")[-1].split("```")[0]
    return {"id": rid, "source": source, "provenance": where, "tests": test_form(gt), "program": program_kind(code, gt),
            "author": author, "response": response, "ground_truth": gt, "expected": expected, "recorded": recorded,
            "judge_of_record": judge, "verdict_scope": scope, **extra}


def coderl(snap: Snapshot) -> list[dict]:
    rows = []
    for pid in CODERL_PROBLEMS:
        base = f"data/APPS/train/{pid}"
        gt = json.loads(snap.read(f"{base}/input_output.json"))
        seen = set()
        for k, code in enumerate(json.loads(snap.read(f"{base}/solutions.json"))):
            if code not in seen:
                seen.add(code)
                rows.append(row(f"coderl/apps-{pid}/human/{k}", "coderl-apps", snap.where(f"{base}/solutions.json", k),
                                fenced(code), gt, "pass", "accepted solution", "human", "APPS (accepted submissions)"))
        seen = set()
        for k, gen in enumerate(json.loads(snap.read(f"{base}/gen_solutions.json"))):
            if gen["code"] not in seen:
                seen.add(gen["code"])
                expected = "pass" if gen["error_type"] == "passed unit tests" else "fail"
                where = snap.where(f"{base}/gen_solutions.json", k)
                rows.append(row(f"coderl/apps-{pid}/gen/{k}", "coderl-apps", where, fenced(gen["code"]), gt,
                                expected, gen["error_type"], "model (CodeRL, CodeT5)",
                                "APPS harness (CodeRL's unit-test run)"))
    return rows


def _value(node):
    value = ast.literal_eval(node)
    if json.loads(json.dumps(value)) != (list(value) if isinstance(value, tuple) else value):
        raise ValueError("not JSON data")
    return value


def leetcode_tests(check: str, params: list[str], limit: int) -> dict | None:
    """LeetCodeDataset's `test` (`assert candidate(nums = [1,2], k = 3) == [0, 1]`, what its judge runs) -> verl's
    string form, args in the method's parameter order; None when a case is not plain data (ListNode, TreeNode, ...).
    (Its `input_output` field loses the quotes of string outputs: `"-1"` is written `-1`.)"""
    inputs, outputs = [], []
    try:
        asserts = [n for n in ast.walk(ast.parse(check)) if isinstance(n, ast.Assert)]
        for node in asserts[:limit]:
            test = node.test
            if not (isinstance(test, ast.Compare) and isinstance(test.ops[0], ast.Eq)
                    and isinstance(test.left, ast.Call) and not test.left.args):
                return None
            kwargs = {kw.arg: _value(kw.value) for kw in test.left.keywords}
            if sorted(kwargs) != sorted(params):
                return None
            inputs.append("\n".join(json.dumps(kwargs[p]) for p in params))
            outputs.append(json.dumps(_value(test.comparators[0])))
    except (SyntaxError, ValueError, TypeError, KeyError, RecursionError):
        return None
    return {"inputs": inputs, "outputs": outputs} if inputs else None


def solution_params(code: str, method: str) -> list[str] | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == method:
            names = [a.arg for a in node.args.args]
            return names[1:] if names[:1] == ["self"] else names
    return None


def leetcodedataset(snap: Snapshot, limit: int) -> tuple[list[dict], dict]:
    """Accepted completions of the v0.3.1 test split, and every version's problems (for reflexion's tests)."""
    problems, rows = {}, []
    for version in ("v0.1.0-train", "v0.2.0-train", "v0.1.0-test", "v0.2.0-test", "v0.3.0-test", "v0.3.1-test"):
        path = f"data/LeetCodeDataset-{version}.jsonl.gz"
        for line_no, line in enumerate(gzip.decompress(snap.read(path)).decode().splitlines()):
            problem = json.loads(line)
            method = problem["entry_point"].split(".")[-1]
            params = solution_params(problem["completion"], method)
            tests = leetcode_tests(problem["test"], params, limit) if params is not None else None
            if tests is None:
                continue
            gt = {"fn_name": method, **tests}
            where = snap.where(path, line_no)
            problems[problem["task_id"]] = (gt, where)  # later versions carry more tests
            if version == "v0.3.1-test":
                rows.append(row(f"leetcodedataset/{problem['task_id']}", "leetcodedataset", where,
                                fenced(problem["completion"]), gt, "pass", "accepted completion",
                                "human (doocs/leetcode)", "LeetCodeDataset (completion cross-verified with its tests)"))
    return rows, problems


def reflexion(snap: Snapshot, problems: dict) -> list[dict]:
    rows, seen = [], set()
    for path in snap.files():
        if not (path.startswith("programming_runs/root/") and "leetcode_python3" in path
                and path.endswith("_py.jsonl")):
            continue
        model = "gpt-4" if "gpt-4" in path else "gpt-3.5-turbo"
        for line_no, line in enumerate(snap.read(path).decode().splitlines()):
            run = json.loads(line)
            key = (run["task_id"], run["solution"])
            if run["task_id"] not in problems or key in seen or "is_solved" not in run:
                continue
            seen.add(key)
            gt, lcd_where = problems[run["task_id"]]
            solved = bool(run["is_solved"])
            rows.append(row(f"reflexion/{run['task_id']}/{len(seen)}", "reflexion-leetcode",
                            snap.where(path, line_no), fenced(run["solution"]), gt, "pass" if solved else "fail",
                            f"is_solved={solved}", f"model ({model})", "LeetCode online judge (hidden tests)",
                            scope="shipped" if solved else "hidden", tests_from=lcd_where))
    return rows


def _assigned(fn: ast.FunctionDef) -> list[tuple[str, object]]:
    out = []
    for node in fn.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                out.append((node.targets[0].id, ast.literal_eval(node.value)))
            except ValueError:
                pass
    return out


def _deepcoder_gt(meta):
    if isinstance(meta, dict) and "inputs" in meta:
        return meta
    if isinstance(meta, list) and meta and all(t.get("testtype", "stdin") == "stdin" for t in meta):
        return {"inputs": [t["input"] for t in meta], "outputs": [t["output"] for t in meta]}
    if isinstance(meta, list) and meta and all(t.get("testtype") == "functional" for t in meta):
        return {"fn_name": meta[0]["metadata"]["func_name"], "inputs": [t["input"] for t in meta],
                "outputs": [t["output"] for t in meta]}
    return None  # kodcode's pytest files and the skipped leetcode assert-style rows are not in this format


def rllm(snap: Snapshot) -> list[dict]:
    path = "tests/rewards/test_code_reward.py"
    tree = ast.parse(snap.read(path).decode())
    rows = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test_reward_") or "format_error" in fn.name:
            continue
        if any(isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "skip" for d in fn.decorator_list):
            continue
        response = None
        for name, value in _assigned(fn):
            if name == "model_response":
                response = value
            elif name in ("metadata", "tests", "public_test_case") and response is not None:
                gt = _deepcoder_gt(value)
                if gt is not None:
                    rows.append(row(f"rllm/{fn.name}/{len(rows)}", "rllm-deepcoder", snap.where(path, fn.name),
                                    response.strip(), gt, "pass", "asserted is_correct", "model response (test)",
                                    "rllm's DeepCoder reward tests"))
    return rows


def verl(snap: Snapshot) -> list[dict]:
    path = "tests/utils/reward_score/test_sandbox_on_cpu.py"
    values = {}
    for node in ast.parse(snap.read(path).decode()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            value = node.value.left if isinstance(node.value, ast.BinOp) else node.value  # `[answer] * 2`
            try:
                values[node.targets[0].id] = ast.literal_eval(value)
            except ValueError:
                pass
    answer = values["prime_code_answers"][0]
    rows = []
    for k, (gt, score) in enumerate(zip(values["prime_code_gts"], values["prime_code_scores"], strict=True)):
        rows.append(row(f"verl/prime_code/{k}", "verl", snap.where(path, f"prime_code_gts[{k}]"), fenced(answer),
                        json.loads(gt), "pass" if score == 1.0 else "fail", f"score {score}", "test program",
                        "verl's prime_code test"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror", default="/work/.mirror")
    ap.add_argument("--lcd-tests", type=int, default=25, help="tests kept per LeetCodeDataset problem")
    args = ap.parse_args()
    snap = {name: Snapshot(args.mirror, name) for name in ("salesforce/CodeRL", "newfacade/LeetCodeDataset",
                                                           "noahshinn/reflexion", "rllm-org/rllm", "volcengine/verl")}
    lcd_rows, problems = leetcodedataset(snap["newfacade/LeetCodeDataset"], args.lcd_tests)
    rows = (coderl(snap["salesforce/CodeRL"]) + lcd_rows + reflexion(snap["noahshinn/reflexion"], problems)
            + rllm(snap["rllm-org/rllm"]) + verl(snap["volcengine/verl"]))
    with open(OUT, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = Counter((r["source"], r["tests"], r["program"], r["expected"]) for r in rows)
    for key, n in sorted(counts.items()):
        print(*key, n)
    print(f"{len(rows)} rows -> {OUT} ({os.path.getsize(OUT) >> 10} KiB)")


if __name__ == "__main__":
    main()
