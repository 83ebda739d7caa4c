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


# Real public rows, one or two per form. Programs, tests and recorded verdicts are the sources' own (bench/data/
# code_cases.jsonl has the full set with provenance; bench/code_agreement_bench.py runs it).
CODERL = "salesforce/CodeRL@ec3c526 data/APPS/train"  # APPS problems, human solutions, CodeT5 generations + verdicts


APPS_2287_SOLUTION_2 = '''\
import sys
input = sys.stdin.readline
sys.setrecursionlimit(10**7)

N = int(input())
G = [[] for _ in range(N+1)]
for _ in range(N-1):
    A, B = map(int, input().split())
    G[A].append(B)
    G[B].append(A)
K = int(input())
num = [-1] * (N+1)
for _ in range(K):
    V, P = map(int, input().split())
    num[V] = P

# check parity
stack = [1]
depth = [-1] * (N+1)
depth[1] = 0
while stack:
    v = stack.pop()
    for c in G[v]:
        if depth[c] == -1:
            depth[c] = depth[v] + 1
            stack.append(c)
parity = [set(), set()]
for i in range(1, N+1):
    if num[i] != -1:
        parity[depth[i] % 2].add(num[i] % 2)
if len(parity[0]) == 2 or len(parity[1]) == 2:
    print('No')
    return

INF = 10**9
lb = [-INF] * (N+1)
ub = [INF] * (N+1)

def dfs1(v, p):
    for c in G[v]:
        if c == p:
            continue
        dfs1(c, v)
        lb[v] = max(lb[v], lb[c] - 1)
        ub[v] = min(ub[v], ub[c] + 1)
    if num[v] != -1:
        lb[v] = ub[v] = num[v]

dfs1(1, 0)

def dfs2(v, p):
    for c in G[v]:
        if c == p:
            continue
    for c in G[v]:
        if c == p:
            continue
        lb[c] = max(lb[c], lb[v] - 1)
        ub[c] = min(ub[c], ub[v] + 1)
        dfs2(c, v)

dfs2(1, 0)

for i in range(1, N+1):
    if lb[i] > ub[i]:
        print('No')
        return

print('Yes')

def dfs3(v, p):
    for c in G[v]:
        if c == p:
            continue
        if lb[c] <= num[v] - 1:
            num[c] = num[v] - 1
        else:
            num[c] = num[v] + 1
        dfs3(c, v)

num[1] = lb[1]
dfs3(1, 0)

print(*num[1:], sep='\\n')
'''  # its top-level `return`s end the program


@needs_sandbox
def test_string_form_outputs_are_decoded_like_inputs():
    """verl / PRIME / LiveCodeBench: inputs are newline-joined JSON arguments and outputs JSON values."""
    repro = code_reward(fenced("def f(a, b): return sum(a) + b"),
                        {"fn_name": "f", "inputs": ["[2,3]\n5"], "outputs": ["10"]})
    assert (repro.score, repro.info["first_failure"]) == (1.0, "")
    # rllm-org/rllm@9beb6e0 tests/rewards/test_code_reward.py::test_reward_livecodebench (a LiveCodeBench functional
    # test, DeepCoder's format): `List` comes from the judge preamble, as in LiveCodeBench's harness.
    lcb = ("Yes of course!\n```python\nclass Solution:\n    def numberOfEmployeesWhoMetTarget(self, hours: List[int], "
           "target: int) -> int:\n        count = 0\n        for hour in hours:\n            if hour >= target:\n"
           "                count += 1\n        return count\n```")
    gt = {"fn_name": "numberOfEmployeesWhoMetTarget", "inputs": ["[5, 3, 10, 8, 2]\n5", "[5, 1, 4, 2, 2]\n6"],
          "outputs": ["3", "0"]}
    assert code_reward(lcb, gt).info["passed"] == 2


@needs_sandbox
def test_apps_list_form_with_recorded_verdicts():
    """APPS / TACO: inputs are argument lists, outputs the value or `[value]`; a LeetCode `class Solution` (2404) and a
    Codewars function (4184), each with an accepted human solution and a generation APPS's harness failed."""
    kth = {"fn_name": "findKthPositive", "inputs": [[[2, 3, 4, 7, 11], 5]], "outputs": [9]}  # 2404/input_output.json
    human = ("class Solution:\n    def findKthPositive(self, arr: List[int], k: int) -> int:\n        \n"
             "        t=list(set([i for i in range(1,3000)])-set(arr))\n        t.sort()\n        return t[k-1]\n")
    failed = ('class Solution:\n'
              '\tdef findKthPositive(self, arr: List[int], k: int) -> int:\n'
              '\t\tarr1 = arr[:arr.index(max(arr))]\n'
              '\t\tarr2 = arr[arr.index(max(arr)):]\n'
              '\t\tarr3 = arr[:arr.index(max(arr))]\n'
              '\t\tarr4 = arr[arr.index(max(arr)):]\n'
              '\t\t\n'
              '\t\twhile len(arr1)<k:\n'
              '\t\t\tarr1.append(arr1[-1]+1)\n'
              '\t\t\t\n'
              '\t\twhile len(arr2)<k:\n'
              '\t\t\tarr2.append(arr2[-1]+1)\n'
              '\t\t\t\n'
              '\t\twhile len(arr3)<k:\n'
              '\t\t\tarr3.append(arr3[-1]+1)\n'
              '\t\t\t\n'
              '\t\twhile len(arr4)<k:\n'
              '\t\t\tarr4.append(arr4[-1]+1)\n'
              '\t\t\t\n'
              '\t\tprint((arr1, arr2, arr3, arr4))\n'
              '\t\treturn arr1[k-1]\n')  # generation 5: "failed unit tests"
    assert code_reward(fenced(human), kth).score == 1.0
    assert code_reward(fenced(failed), kth).info["first_failure"] == "wrong_answer"
    prime = {"fn_name": "is_prime", "inputs": [[1], [2], [5], [143], [-1], [29], [53], [529]],  # 4184
             "outputs": [[False], [True], [True], [False], [False], [True], [True], [False]]}
    human = ("primes = [2, 3, 5, 7]\n\ndef is_prime(n):\n    if n < 2:\n        return False\n"
             "    m = int(n ** .5) + 1\n    for p in primes:\n        if p >= m: break\n        if not n % p:\n"
             "            return False\n    q, d = primes[-1], 4 if (n + 1) % 6 else 2\n    while q < m:\n"
             "        q, d = q + d, 4 - d\n        if is_prime(q):\n            primes.append(q)\n"
             "            if not n % q:\n                return False\n    return True\n")
    failed = "primes = [2, 3, 5, 7]\n\ndef is_prime(n):\n\tprint(n)\n\treturn n > 1 and n not in primes\n"  # gen 9
    assert code_reward(fenced(human), prime).score == 1.0  # module state (the primes cache) carries across tests
    out = code_reward(fenced(failed), prime)
    assert (out.info["passed"], out.info["failed_test"]) == (4, 1)  # 2 is in `primes`: False where True is expected


@needs_sandbox
def test_leetcode_completions_run_with_the_judge_preamble_and_sortedcontainers():
    """newfacade/LeetCodeDataset@182cd19 v0.3.1-test: accepted completions written without imports (LeetCode's judge
    provides List, defaultdict, pairwise, SortedList); tests converted from the row's `test` asserts."""
    profit = ("class Solution:\n"
              "    def maxProfit(self, workers: List[int], tasks: List[List[int]]) -> int:\n"
              "        d = defaultdict(SortedList)\n"
              "        for skill, profit in tasks:\n"
              "            d[skill].add(profit)\n"
              "        ans = 0\n"
              "        for skill in workers:\n"
              "            if not d[skill]:\n"
              "                continue\n"
              "            ans += d[skill].pop()\n"
              "        mx = 0\n"
              "        for ls in d.values():\n"
              "            if ls:\n"
              "                mx = max(mx, ls[-1])\n"
              "        ans += mx\n"
              "        return ans\n")
    gt = {"fn_name": "maxProfit", "inputs": ["[1, 3, 5, 7, 9]\n[[2, 50], [4, 100], [6, 150], [8, 200], [10, 250]]",
                                             "[1, 2, 3]\n[[3, 10], [2, 20], [1, 30], [4, 40]]"],
          "outputs": ["250", "100"]}
    assert code_reward(fenced(profit), gt).score == 1.0
    bare = code_reward(fenced(profit), gt, preamble="none")
    assert bare.info["first_failure"] == "runtime_error" and "NameError" in bare.info["error"]
    pairs = "class Solution:\n    def minOperations(self, nums: List[int]) -> int:\n        " \
            "return sum(x != y for x, y in pairwise(nums))\n"
    assert code_reward(fenced(pairs), {"fn_name": "minOperations", "inputs": ["[-1, 2, -3, 4, -5]", "[1]"],
                                       "outputs": ["4", "0"]}).score == 1.0


@needs_sandbox
def test_plain_function_generations_with_leetcode_verdicts():
    """noahshinn/reflexion@218cf0e leetcode-hard runs: GPT-4 functions with LeetCode's verdict; tests are the
    problem's examples (LeetCodeDataset)."""
    solved = ("def minCost(nums: List[int], cost: List[int]) -> int:\n    def cost_to_target(target: int) -> int:\n"
              "        return sum(abs(nums[i] - target) * cost[i] for i in range(len(nums)))\n"
              "    min_num, max_num = min(nums), max(nums)\n    min_cost = float('inf')\n"
              "    while min_num <= max_num:\n        mid = (min_num + max_num) // 2\n"
              "        left_cost = cost_to_target(mid - 1)\n        mid_cost = cost_to_target(mid)\n"
              "        right_cost = cost_to_target(mid + 1)\n        min_cost = min(min_cost, mid_cost)\n"
              "        if left_cost < right_cost:\n            max_num = mid - 1\n        else:\n"
              "            min_num = mid + 1\n    return min_cost\n")
    gt = {"fn_name": "minCost", "inputs": ["[1, 3, 5, 2]\n[2, 3, 1, 14]", "[2, 2, 2, 2, 2]\n[4, 2, 8, 1, 3]"],
          "outputs": ["8", "0"]}
    assert code_reward(fenced(solved), gt).score == 1.0  # is_solved=True
    rejected = ("def lengthOfLIS(nums: List[int], k: int) -> int:\n    dp = [1] * len(nums)\n"  # is_solved=False
                "    for i in range(len(nums)):\n        for j in range(i):\n            if nums[i] - nums[j] <= k:\n"
                "                dp[i] = max(dp[i], dp[j] + 1)\n    return max(dp) if dp else 0\n")
    gt = {"fn_name": "lengthOfLIS", "inputs": ["[4, 2, 1, 4, 3, 4, 5, 8, 15]\n3", "[7, 4, 5, 1, 8, 12, 4, 7]\n5",
                                               "[1, 5]\n1"], "outputs": ["5", "4", "1"]}
    assert code_reward(fenced(rejected), gt).info["passed"] == 1  # not strictly increasing: wrong on both long ones


@needs_sandbox
def test_apps_stdin_program_with_top_level_return():
    """APPS runs stdin programs inside a function, so a top-level `return` ends them (CodeRL 2287, solution 2)."""
    gt = {"inputs": ["5\n1 2\n3 1\n4 3\n3 5\n2\n2 6\n5 7\n", "5\n1 2\n3 1\n4 3\n3 5\n3\n2 6\n4 3\n5 7\n",
                     "4\n1 2\n2 3\n3 4\n1\n1 0\n"],
          "outputs": ["Yes\n5\n6\n6\n5\n7\n", "No\n", "Yes\n0\n-1\n-2\n-3\n"]}
    out = code_reward(fenced(APPS_2287_SOLUTION_2), gt)
    assert (out.score, out.info["first_failure"]) == (1.0, "")


@needs_sandbox
def test_preamble_for_stdin_programs_is_an_option_and_sortedcontainers_imports_anyway():
    program = "from sortedcontainers import SortedList\nprint(*SortedList(Counter(input()).values()))\n"
    gt = {"inputs": ["abbccc"], "outputs": ["1 2 3"]}
    assert code_reward(fenced(program), gt).info["first_failure"] == "runtime_error"  # Counter: not imported
    assert code_reward(fenced(program), gt, preamble="all").score == 1.0
    with pytest.raises(ValueError, match="preamble"):
        code_reward.validate_options({"preamble": "stdin"})


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
    """Names and types come from code_reward's signature, values from its validate_options; all at parse time."""
    from r1_recipe.core.rewards.compose import check_options

    key = "reward.r1.components.code"
    with pytest.raises(ValueError, match=r"unknown option\(s\) reward\.r1\.components\.code\.timeout; allowed: "):
        check_options(code_reward, {"timeout": 3}, key)
    with pytest.raises(ValueError, match=r"^reward\.r1\.components\.code\.max_tests must be int, got '10'$"):
        check_options(code_reward, {"max_tests": "10"}, key)
    with pytest.raises(ValueError, match=r"^reward\.r1\.components\.code\.allow_unsandboxed must be bool, got 'no'"):
        check_options(code_reward, {"allow_unsandboxed": "no"}, key)
    with pytest.raises(ValueError, match=r"^reward\.r1\.components\.code: code reward option memory_mb must be a "
                                         r"positive number, got 0$"):
        check_options(code_reward, {"memory_mb": 0}, key)
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
