"""Honest behaviour of the code accuracy reward: extraction, both test styles, scoring modes, options, refusal."""

import json
import os
import shutil

import pytest

from r1_recipe.core.rewards import registry
from r1_recipe.core.rewards.code import code_reward, extract_code
from r1_recipe.core.rewards.code.compare import stdout_equal, value_equal

# Skipped only where bubblewrap is not installed: where it is, a broken sandbox must fail these tests.
needs_sandbox = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

DOUBLE = "n = int(input())\nprint(n * 2)\n"


def fenced(code, lang="python"):
    return f"```{lang}\n{code}\n```" if not code.endswith("\n") else f"```{lang}\n{code}```"


def test_extracts_last_python_block_inside_answer():
    resp = f"<think>{fenced('print(0)')}</think><answer>{fenced('print(1)')}\n{fenced('print(2)')}</answer>"
    assert extract_code(resp, ("python", "py")) == ("print(2)\n", "")


def test_ignores_blocks_of_other_languages_and_reports_missing_code():
    assert extract_code(fenced("int main(){}", "cpp"), ("python",)) == (None, "no_code_block")
    assert extract_code("no code here", ("python",)) == (None, "no_code_block")
    assert extract_code("", ("python",)) == (None, "empty_response")
    out = code_reward("just text", {"inputs": ["1"], "outputs": ["2"]})
    assert (out.score, out.reason) == (0.0, "no_code_block")


def test_stdout_comparison_tokens_and_float_tolerance():
    assert stdout_equal("1 2\n3  \n\n", "1 2 3")
    assert stdout_equal("0.3333333", "0.33333333")
    assert not stdout_equal("0.34", "0.33")
    assert not stdout_equal("1 2", "1 2 3")
    assert value_equal([1, 0.30000000000000004], [1, 0.3])
    assert not value_equal(True, 1)


@needs_sandbox
def test_stdio_pass_rate_and_all_pass():
    gt = {"inputs": ["3\n", "5\n", "7\n", "1\n"], "outputs": ["6\n", "10", "15", "2"]}
    out = code_reward(fenced(DOUBLE), gt)
    assert out.score == 0.75
    assert out.info == {"passed": 3, "total": 4, "first_failure": "wrong_answer", "failed_test": 2, "error": "",
                        "isolation": "bwrap"}
    assert out.pred == DOUBLE
    strict = code_reward(fenced(DOUBLE), json.dumps(gt), mode="all_pass")
    assert (strict.score, strict.info["passed"]) == (0.0, 2)  # stops at the first failure
    assert code_reward(fenced(DOUBLE), {"inputs": ["4"], "outputs": ["8"]}, mode="all_pass").score == 1.0


@needs_sandbox
def test_function_call_style_with_solution_class_and_livecodebench_args():
    code = "class Solution:\n    def twoSum(self, nums, target):\n        print('debug')\n" \
           "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n" \
           "                return (seen[target - x], i)\n            seen[x] = i\n"
    gt = {"fn_name": "twoSum", "inputs": [[[2, 7, 11, 15], 9], "[3, 2, 4]\n6"], "outputs": [[0, 1], [[1, 2]]]}
    out = code_reward(fenced(code), gt)
    assert (out.score, out.info["passed"], out.info["first_failure"]) == (1.0, 2, "")


@needs_sandbox
def test_failure_kinds_runtime_compile_and_missing_function():
    rt = code_reward(fenced("raise ValueError('boom')\n"), {"inputs": ["1"], "outputs": ["1"]})
    assert rt.info["first_failure"] == "runtime_error" and "ValueError: boom" in rt.info["error"]
    ce = code_reward(fenced("print(1\n"), {"inputs": ["1", "2"], "outputs": ["1", "2"]})
    assert (ce.score, ce.info["first_failure"], ce.info["failed_test"]) == (0.0, "compile_error", 0)
    nf = code_reward(fenced("def g(x):\n    return x\n"), {"fn_name": "f", "inputs": [[1]], "outputs": [1]})
    assert nf.info["first_failure"] == "runtime_error" and "NameError" in nf.info["error"]


def test_malformed_ground_truth_is_zero_with_reason():
    for gt in ('{"inputs": [1]}', {"inputs": ["1"], "outputs": []}, "not json", {"inputs": [], "outputs": []},
               {"inputs": [[1]], "outputs": [1], "fn_name": "os.system"}):
        out = code_reward(fenced(DOUBLE), gt)
        assert (out.score, out.reason) == (0.0, "bad_ground_truth"), gt


def test_unsandboxed_runs_are_refused_unless_opted_in(monkeypatch):
    import r1_recipe.core.rewards.code as code

    monkeypatch.setattr(code, "isolation_level", lambda: "rlimits")
    monkeypatch.delenv("R1_RECIPE_ALLOW_UNSANDBOXED", raising=False)
    out = code_reward(fenced(DOUBLE), {"inputs": ["2"], "outputs": ["4"]})
    assert (out.score, out.reason, out.info["isolation"]) == (0.0, "unsandboxed_refused", "rlimits")
    with pytest.raises(ValueError, match="allow_unsandboxed"):
        code_reward.validate_options({})
    monkeypatch.setattr(code.sandbox, "isolation_level", lambda: "rlimits")
    ok = code_reward(fenced(DOUBLE), {"inputs": ["2"], "outputs": ["4"]}, allow_unsandboxed=True)
    assert (ok.score, ok.info["isolation"]) == (1.0, "rlimits")
    monkeypatch.setenv("R1_RECIPE_ALLOW_UNSANDBOXED", "1")
    assert code_reward(fenced(DOUBLE), {"inputs": ["2"], "outputs": ["4"]}).score == 1.0


def test_option_validation_names_the_bad_key():
    with pytest.raises(ValueError, match="timeout"):
        code_reward.validate_options({"timeout": 3})
    with pytest.raises(ValueError, match="mode"):
        code_reward.validate_options({"mode": "best"})
    with pytest.raises(ValueError, match="sandbox_fusion_url"):
        code_reward.validate_options({"backend": "sandbox_fusion"})


@needs_sandbox
def test_accuracy_routes_test_cases_to_code_with_nested_options():
    acc = registry.get("accuracy")
    gt = json.dumps({"inputs": ["2", "3"], "outputs": ["4", "7"]})
    assert acc(fenced(DOUBLE), gt).score == 0.5
    assert acc(fenced(DOUBLE), gt, code={"mode": "all_pass"}, math={"multiple": "last"}).score == 0.0
    acc.validate_options({"code": {"mode": "all_pass"}})
    with pytest.raises(ValueError, match="mode"):
        acc.validate_options({"code": {"mode": "best"}})


def test_workdirs_of_dead_processes_are_swept_and_live_ones_kept(monkeypatch, tmp_path):
    """A worker killed at a sample's hard deadline never reaches its cleanup; the next worker removes its dir."""
    import subprocess
    import sys

    from r1_recipe.core.rewards.code import sweep_stale_workdirs

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"r1-code-{dead.pid}-abc").mkdir()
    (tmp_path / f"r1-code-{os.getpid()}-def").mkdir()
    assert sweep_stale_workdirs() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"r1-code-{os.getpid()}-def"]
