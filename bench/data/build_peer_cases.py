"""Build `bench/data/peer_math_cases.jsonl`: math-verifier test cases from other projects' public test suites.

Every row is test data taken from a peer's tests (inputs and that suite's own expected verdict), never peer code:
`{"suite", "source": "owner/repo:path@commit", "response", "gold", "label", "disputed", "dispute_reason"}`.

Sources
- Math-Verify (huggingface/Math-Verify@5d148cfaaf99214c2e4ffb4bc497ab042c592a7a): the `(gold, pred, expected)`
  parametrize lists of tests/test_all.py, test_numina_cases.py, test_open_thoughts.py, test_yujianll.py,
  test_boxed.py, read with `ast` from a local clone (`--math-verify-repo`, a git directory). Tests that need a
  non-default verify option (`allow_set_relation_comp=True`, `strict=False`) are left out. The pred string is the
  response, the gold string the gold, as the suite's `compare_strings` passes them.
- The other suites are short; their cases are transcribed below (`SMALL`), each with the file and commit it came from.

Disputed: a careful grader would give a different verdict (reasons in `DISPUTES`, keyed by (gold, response)).
Run: `python bench/data/build_peer_cases.py --math-verify-repo /path/to/Math-Verify/.git` (rewrites the jsonl).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "peer_math_cases.jsonl")
MV_REPO, MV_COMMIT = "huggingface/Math-Verify", "5d148cfaaf99214c2e4ffb4bc497ab042c592a7a"
MV_FILES = ("tests/test_all.py", "tests/test_numina_cases.py", "tests/test_open_thoughts.py",
            "tests/test_yujianll.py", "tests/test_boxed.py")  # fmt: skip
MV_SKIP_TESTS = {"test_set_rel_assymetry"}  # needs allow_set_relation_comp=True

# (suite, source, response, gold, label)
SMALL = [
    # NovaSky-AI/SkyRL skyrl-gym AIME env (reward 1.0 / -1.0)
    *[("skyrl", "NovaSky-AI/SkyRL:skyrl-gym/tests/test_aime.py@237bd7190fa7920d0653da978ad78d8c8e42f639", r, g, lab)
      for r, g, lab in [
          ("The answer is \\boxed{42}", "42", True),
          ("The answer is 42", "42", True),
          ("The answer is \\boxed{43}", "42", False),
          ("The answer is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", True),
          ("The answer is \\boxed{0.5}", "\\frac{1}{2}", False),
          ("The answer is \\boxed{\\text{forty-two}}", "42", False),
      ]],
    # huggingface/open-r1 accuracy_reward
    *[("open-r1", "huggingface/open-r1:tests/test_rewards.py@031ec05d1254c4a444eadf9cfa548c684bfc0fbe", r, g, lab)
      for r, g, lab in [
          ("\\boxed{\\frac{63}{400}}", "\\frac{63}{400}", True),
          ("\\boxed{\\frac{64}{400}}", "\\frac{63}{400}", False),
      ]],
    # huggingface/trl accuracy_reward and reasoning_accuracy_reward (None verdicts for unparsable golds left out)
    *[("trl", "huggingface/trl:tests/test_rewards.py@010eddf0110ae5461b2102eb0977f83106b4106d", r, g, lab)
      for r, g, lab in [
          ("\\boxed{\\frac{63}{400}}", "\\frac{63}{400}", True),
          ("\\boxed{\\frac{63}{400}}", "63/400", True),
          ("\\boxed{\\frac{64}{400}}", "\\frac{63}{400}", False),
          ("\\boxed{3}", "6", False),
          ("\\boxed{\\frac{1}{3}}", "\\frac{1}{3}", True),
          ("<think> Reasoning content </think> \\boxed{\\frac{63}{400}}", "\\frac{63}{400}", True),
          ("Reasoning content </think> \\boxed{\\frac{63}{400}}", "\\frac{63}{400}", True),
          ("<think> Reasoning content </think> \\boxed{\\frac{64}{400}}", "\\frac{63}{400}", False),
          ("<think> My answer is \\boxed{42} </think> Some other text.", "\\boxed{42}", False),
          ("<think> The answer is \\boxed{42} </think> Here's a wrong answer: \\boxed{43}.", "\\boxed{42}", False),
          ("<think> Incomplete reasoning without closing tag", "\\frac{63}{400}", False),
          ("\\boxed{\\frac{1}{2}}", "\\frac{1}{3}", False),
      ]],
    # volcengine/verl math.is_equiv on boxed golds
    *[("verl", "volcengine/verl:tests/utils/reward_score/test_numeric_canonicalization_on_cpu.py@"
       "d69068d2a32b985e759049da6f801a039b94b31b", r, g, lab)
      for r, g, lab in [
          ("\\boxed{33}", "\\boxed{033}", True),
          ("\\boxed{33}", "\\boxed{+033}", True),
          ("\\boxed{0}", "\\boxed{-0}", True),
          ("\\boxed{0}", "\\boxed{000}", True),
      ]],
    # radixark/miles DeepScaleR rule-based reward (slime's successor)
    *[("miles", "radixark/miles:tests/fast/rollout/rm_hub/test_deepscaler.py@973fecbfb0e20296b9168fcce6d3736e149e3147",
       r, g, lab)
      for r, g, lab in [
          ("Let me analyze...</think>The answer is \\boxed{42}", "42", True),
          ("Thinking...</think>The answer is \\boxed{wrong}", "42", False),
          ("###Response\\boxed{42}", "42", True),
          ("###Response\\boxed{wrong}", "42", False),
          ("The answer is \\boxed{42}", "42", False),
          ("</think>The answer is 42", "42", False),
          ("</think>\\boxed{42}", "\\boxed{42}", True),
          ("</think>\\boxed{123}", "123", True),
          ("</think>\\boxed{3.14}", "3.14", True),
          ("</think>\\boxed{1/2}", "0.5", True),
          ("</think>\\boxed{\\frac{1}{2}}", "0.5", True),
          ("First thought</think>Second thought</think>\\boxed{42}", "42", True),
          ("<|User|>Ignore \\boxed{0}<|Assistant|><|end_of_thought|>Answer: \\boxed{42}<|end_of_sentence|>", "42",
           True),
          ("<|User|>Ignore \\boxed{42}<|Assistant|><|end_of_thought|>Answer: \\boxed{0}<|end_of_sentence|>", "42",
           False),
      ]],
    *[("miles", "radixark/miles:tests/fast/rollout/rm_hub/test_math_utils.py@32f41ac739bc070b4bde509c63a11f0e28e546d2",
       r, g, lab)
      for r, g, lab in [
          ("\\boxed{42}", "42", True),
          ("The answer is \\boxed{42}", "42", True),
          ("\\boxed{1/2}", "\\frac{1}{2}", True),
          ("\\boxed{wrong}", "42", False),
          ("no boxed", "42", False),
          ("\\boxed{42}", "\\boxed{42}", True),
          # grade_answer_sympy(given, ground_truth), given as a boxed response
          ("\\boxed{x^2}", "x^2", True),
          ("\\boxed{1/2}", "0.5", True),
          ("\\boxed{\\frac{1}{2}}", "0.5", True),
          ("\\boxed{(1,2)}", "(1,2)", True),
          ("\\boxed{(1,2,3)}", "(1,2)", False),
      ]],
    *[("miles", "radixark/miles:tests/fast/rollout/rm_hub/test_math_dapo_utils.py@"
       "32f41ac739bc070b4bde509c63a11f0e28e546d2", r, g, lab)
      for r, g, lab in [
          ("Answer: 42", "42", True),
          ("Answer: 100", "42", False),
          ("Answer: wrong", "42", False),
          ("blah blah \\boxed{42}", "42", True),
          ("\\boxed{wrong}", "42", False),
          ("no box here", "42", False),
          ("x" * 500 + " Answer: 42", "42", True),
      ]],
    # THUDM/slime math_utils (fork carrying the test: cklxx/slime)
    *[("slime", "cklxx/slime:tests/test_math_reward_utils.py", r, g, lab)
      for r, g, lab in [
          ("Reasoning steps...\nAnswer: \\boxed{25}", "25", True),
          ("Here is the result.\nAnswer: 25", "25", True),
          ("25", "25", True),
          ("Answer: \\boxed{0}", "0", True),
          ("Answer: \\boxed{42}", "42", True),
      ]],
    # OpenRLHF/OpenRLHF grade_answer: bracket kinds matter
    *[("openrlhf", "OpenRLHF/OpenRLHF:tests/test_math_utils.py@563c316331efa1ec75b6538ef78a98fc44008490", r, g, lab)
      for r, g, lab in [
          ("\\boxed{[1,2]}", "(1,2)", False),
          ("\\boxed{(1,2)}", "[1,2]", False),
          ("\\boxed{(1,2]}", "(1,2)", False),
          ("\\boxed{[1,2)}", "[1,2]", False),
          ("\\boxed{(1.0,2.0)}", "(1,2)", True),
      ]],
    *[("openrlhf", "OpenRLHF/OpenRLHF:tests/test_boxed_answer_extraction.py@e1f4a219a5044750051e1d6888af59bdf88ef76e",
       r, g, lab)
      for r, g, lab in [
          ("answer: \\boxed{42}", "42", True),
          ("answer: \\fbox{42}", "42", True),
          ("answer: \\fbox{\\frac{1}{2}}", "\\frac{1}{2}", True),
          ("answer: \\fbox{42", "42", False),
      ]],
    # EleutherAI/lm-evaluation-harness minerva_math: the four-shot solutions (Minerva answer format) and their answers
    *[("lm-eval", "EleutherAI/lm-evaluation-harness:lm_eval/tasks/minerva_math/utils.py@"
       "0348ed975af5b6788c275445197287dd91acb221", r, g, lab)
      for r, g, lab in [
          ("Therefore, the domain of the expression is $\\boxed{[2,5)}$.\nFinal Answer: The final answer is $[2,5)$. "
           "I hope it is correct.", "[2,5)", True),
          ("We have that $\\det (\\mathbf{A} \\mathbf{B}) = (2)(12) = \\boxed{24}.$\nFinal Answer: The final answer is "
           "$24$. I hope it is correct.", "24", True),
          ("\\Rightarrow\\qquad n&=480/30=\\boxed{16}\n\\end{align*}\nFinal Answer: The final answer is $16$. I hope "
           "it is correct.", "16", True),
          ("$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$\nFinal Answer: The final answer is "
           "$-\\frac{2}{3}$. I hope it is correct.", "-\\frac{2}{3}", True),
          ("Final Answer: The final answer is $[2,5]$. I hope it is correct.", "[2,5)", False),
          ("Final Answer: The final answer is $\\frac{2}{3}$. I hope it is correct.", "-\\frac{2}{3}", False),
      ]],
]

# (suite, response, gold) -> reason. A careful grader's verdict differs from the suite's label.
DISPUTES = {
    ("math-verify", "$1 + \\frac{1}{\\mathrm{e}}$", "$1 - \\frac{1}{\\mathrm{e}}$"):
        "labelled equal, but 1-1/e and 1+1/e are different numbers",
    ("skyrl", "The answer is \\boxed{0.5}", "\\frac{1}{2}"):
        "0.5 = 1/2; SkyRL's AIME env compares strings",
    ("miles", "The answer is \\boxed{42}", "42"):
        "the boxed answer is right; DeepScaleR's reward requires a </think> marker",
    ("miles", "</think>The answer is 42", "42"): "the stated answer is right; DeepScaleR's reward requires a box",
}


def _literal(node):
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def math_verify_cases(git_dir: str) -> list[tuple]:
    rows = []
    for path in MV_FILES:
        src = subprocess.run(["git", "--git-dir", git_dir, "show", f"{MV_COMMIT}:{path}"], check=True,
                             capture_output=True, text=True).stdout
        for fn in ast.walk(ast.parse(src)):
            if not isinstance(fn, ast.FunctionDef) or fn.name in MV_SKIP_TESTS:
                continue
            body = ast.unparse(fn)
            if "strict=False" in body or "allow_set_relation_comp=True" in body:
                continue
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("parametrize")):
                    continue
                names = [n.strip() for n in str(_literal(dec.args[0])).split(",")]
                if names[:2] != ["gold", "pred"] or len(names) < 3:
                    continue
                for elt in getattr(dec.args[1], "elts", []):
                    vals = _literal(elt)
                    if not isinstance(vals, tuple) or len(vals) != len(names):
                        continue
                    row = dict(zip(names, vals, strict=True))
                    label = row.get("expected", row.get("result"))
                    rows.append(("math-verify", f"{MV_REPO}:{path}@{MV_COMMIT}", row["pred"], row["gold"], bool(label)))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--math-verify-repo", default="/work/.mirror/huggingface+Math-Verify/repo")
    args = ap.parse_args(argv)
    rows = math_verify_cases(args.math_verify_repo) + SMALL
    seen, out = set(), []
    for suite, source, response, gold, label in rows:
        key = (suite, response, str(gold))
        if key in seen:
            continue
        seen.add(key)
        reason = DISPUTES.get((suite, response, str(gold)), "")
        out.append(dict(suite=suite, source=source, response=response, gold=str(gold), label=bool(label),
                        disputed=bool(reason), dispute_reason=reason))
    with open(OUT, "w") as f:
        for r in out:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    by = {}
    for r in out:
        by[r["suite"]] = by.get(r["suite"], 0) + 1
    print(f"{len(out)} cases -> {OUT}: {by}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
