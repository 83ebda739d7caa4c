"""Build `bench/data/peer_math_cases.jsonl`: math-verifier test cases from other projects' public test suites.

Every row is test data taken from a peer's tests (inputs and that suite's own expected verdict), never peer code:
`{"suite", "source": "owner/repo:path@commit", "response", "gold", "label", "disputed", "dispute_reason"}`.

Sources
- Math-Verify (huggingface/Math-Verify@5d148cfaaf99214c2e4ffb4bc497ab042c592a7a): the `(gold, pred, expected)`
  parametrize lists of tests/test_all.py, test_numina_cases.py, test_open_thoughts.py, test_yujianll.py,
  test_boxed.py, read with `ast` from a local clone (`--math-verify-repo`, a git directory). Tests that need a
  non-default verify option (`allow_set_relation_comp=True`, `strict=False`) are left out. The pred string is the
  response, the gold string the gold, as the suite's `compare_strings` passes them.
- The other suites are short; their cases are transcribed below (`SMALL`), each with the file and commit it came from:
  SkyRL skyrl-gym (test_aime.py at two commits, test_gsm8k.py), open-r1 and TRL tests/test_rewards.py, verl
  test_numeric_canonicalization_on_cpu.py, miles rm_hub (test_deepscaler.py, test_math_utils.py,
  test_math_dapo_utils.py, test_rm_hub.py), slime (cklxx/slime test_math_reward_utils.py; THUDM/slime
  test_rm_math.py, test_rm_math_dapo.py), OpenRLHF (test_math_utils.py, test_boxed_answer_extraction.py),
  open-instruct test_ground_truth_utils.py (GSM8KVerifier), and lm-evaluation-harness (the minerva_math four-shot
  solutions, and the PR-branch tests test_gsm8k_scoring.py, test_hendrycks_math.py, test_hendrycks_math_utils.py,
  test_minerva_math.py, test_minerva_math_utils.py, each at its PR head commit).
- Math-Verify tests newer than the clone's commit (tests/test_mixed_number_extraction.py@05aa3a6,
  tests/test_failed_latex_span.py@056ad62) are transcribed in `SMALL` as suite "math-verify-new", so the
  "math-verify" figures stay comparable.

Disputed: a careful grader would give a different verdict (reasons in `DISPUTES`, keyed by (suite, response, gold)).
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
    # --- added from newer / further public test suites -----------------------------------------------------------
    # huggingface/Math-Verify tests newer than MV_COMMIT (not in that clone, so transcribed here), suite
    # "math-verify-new" so that the "math-verify" figures stay comparable. Verdicts: verify(gold, pred) asserts and
    # `parse(pred)[0]` == value asserts (gold: the sympy value as a string); the `parsed[1]` fallback-string asserts
    # are parse-only, not verdicts, and are left out.
    *[("math-verify-new", "huggingface/Math-Verify:tests/test_mixed_number_extraction.py@"
       "05aa3a67e1e5aa4a0dbecea17550a17cc2d5ed2d", r, g, lab)
      for r, g, lab in [
          ("4 4/9", "40/9", True),
          ("-4 4/9", "-40/9", True),
          ("11 5/6", "71/6", True),
          ("+11 5/6", "71/6", True),
          ("The answer is 4 4/9.", "40/9", True),
          ("The answer is 4 4/9.", "4", False),
          ("0 4/9", "4/9", True),
          ("4 0/9", "4", True),
          ("1 000 4/9", "9004/9", True),
          # test_invalid_mixed_number_has_no_finite_component_equivalence: no finite candidate is equivalent
          *[(pred, cand, False) for pred, cands in [
              ("4 4/0", ("4", "0")),
              ("4 0/0", ("4", "0")),
              ("-4 0/0", ("-4", "0")),
              ("0 0/0", ("0",)),
              ("1 000 0/0", ("1000", "0")),
              ("-1 000 0/0", ("-1000", "0")),
              ("11 6/6", ("11", "1", "12", "10")),
              ("11 7/6", ("11", "7/6", "73/6", "59/6")),
              ("The answer is 11 6/6.", ("11", "1", "12", "10")),
              ("The answer is 4 0/0.", ("4", "0")),
          ] for cand in cands],
          # test_non_mixed_syntax_does_not_gain_an_implicit_operation (against the inserted-operation value)
          ("11/10 4/9", "139/90", False),
          ("11.0 4/9", "103/9", False),
          ("(11) 4/9", "103/9", False),
          ("11/10\n4/9", "139/90", False),
          # test_line_separator_does_not_form_a_mixed_number (the "preserves 5" assert is disputed)
          *[(f"11{sep}5/6", g, lab) for sep in ("\n", "\r\n") for g, lab in (("71/6", False), ("5", True))],
          # test_explicit_addition_and_subtraction_remain_distinct
          ("11 + 4/9", "103/9", True),
          ("11 - 4/9", "95/9", True),
          ("11 - 4/9", "11 + 4/9", False),
          # test_mixed_number_percentage_applies_to_complete_value
          *[(f"4 4/9{suffix}", g, lab)
            for suffix in ("%", " %", "percent", " percent", "percentage", " percentage", "pct", " pct")
            for g, lab in (("40/900", True), ("40/9", False))],
          # test_existing_expression_syntax_is_unchanged
          ("4 + 4/9", "40/9", True),
          ("10/2", "5", True),
          ("1 000", "1000", True),
          ("$5.00", "5", True),
          ("28%", "7/25", True),
          ("There are 4 objects and 4/9 remain.", "4/9", True),
          ("4 4/9 2", "2", True),
      ]],
    # parse(text)[0] == parse(suffix)[0] and parse(...)[0] == 42; the extraction_mode="first_match" asserts (not the
    # default) and the "no Integer at all" asserts (no gold) are left out
    *[("math-verify-new", "huggingface/Math-Verify:tests/test_failed_latex_span.py@"
       "056ad6253a41b01e49072623b7e2c88ded7d82af", r, g, lab)
      for r, g, lab in [
          ("Final answer is $\\sum_{k=0}^n\\bigl(k\\bigr)$. I hope. 42", "42", True),
          ("Final answer is $\\sum_{k=0}^n\\bigl(k\\bigr)$. I hope. $42$", "42", True),
          ("Final answer is $\\sum_{k=0}^n\\bigl(k\\bigr)$. I hope. 1/2", "1/2", True),
          ("$\\sum_{k=0}^n\\bigl(k\\bigr)$ and $42$", "42", True),
          ("$42$ and $\\sum_{k=0}^n\\bigl(k\\bigr)$", "42", True),
      ]],
    # EleutherAI/lm-evaluation-harness gsm8k, PR #3983 (unmerged when read): exact_match with gsm8k.yaml's declared
    # kwargs; the first five score the already-extracted answer against the gsm8k-format gold. The asserts with a
    # rule removed from regexes_to_ignore or with ignore_punctuation=True (not the declared config) are left out.
    *[("lm-eval", "EleutherAI/lm-evaluation-harness:tests/test_gsm8k_scoring.py@"
       "aa25b0a01d7e6e4cfa080452abe35e8a6efadedb", r, g, lab)
      for r, g, lab in [
          ("1234", "#### 1,234", True),
          ("$1,234", "#### 1,234", True),
          ("72", "reasoning #### 72", True),
          ("72.", "#### 72", True),
          ("72..", "#### 72", False),
          ("Let me think. 3 plus 7 is 10.\n#### 10", "#### 10", True),
      ]],
    # lm-eval hendrycks_math process_results / is_equiv(answer, gold), PR #3655 (unmerged when read); gold: the
    # \boxed{} content of the test's doc solution, which is what process_results compares against. The sympy and
    # math_verify asserts run under the lm-eval[math] extra (skipped without it), with no option changed.
    *[("lm-eval", "EleutherAI/lm-evaluation-harness:tests/test_hendrycks_math.py@"
       "4e7a76f41c9bda4e09e893bd656f49e612de6aea", r, g, lab)
      for r, g, lab in [
          ("The domain is \\boxed{[2,5)}", "[2,5)", True),
          ("The answer is $\\frac{1}{2}$", "\\frac{1}{2}", True),
          ("The answer is \\boxed 4", "4", True),
          ("So we get $\\boxed 7$ as the answer.", "7", True),
          ("Final answers: \\boxed{3}, \\boxed{5}, \\boxed{7}", "3, 5, 7", True),
          ("So \\boxed{4}. Therefore \\boxed{4}.", "4", True),
          ("I don't know", "42", False),
          ("3", "4", False),
          ("x + 1", "x + 2", False),
          ("9a + 11", "11 + 9a", True),
          ("1,-2", "1,-3", False),
          ("1,2", "1,3", False),
          ("3, 5, 7", "3, 5, 9", False),
          ("58,500", "58500", True),
          ("The answer is \\boxed{4}", "4", True),  # the math_verify metric
      ]],
    *[("lm-eval", "EleutherAI/lm-evaluation-harness:tests/test_hendrycks_math.py@"
       "17374dd62b93a260f95ff755333e5e98b4715230", r, g, lab)  # PR #3807 (unmerged when read); gold as above
      for r, g, lab in [
          ("### Final Answer\n\n$$\n\\boxed{3}, \\boxed{5}, \\boxed{7}\n$$", "3, 5, 7", True),
          ("Final answer:\n\n$$\n\\boxed{-2}, \\boxed{1}\n$$", "1,-2", True),
          ("### Final Answer\n\n$$\n\\boxed{\\begin{pmatrix} -\\dfrac{1}{3} \\\\ \\dfrac{2}{3} \\\\ \\dfrac{5}{3} "
           "\\end{pmatrix}}\n$$", "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", True),
          ("Thus, the product is:\n\n$$\n\\boxed{52}\n$$", "52_8", True),
      ]],
    *[("lm-eval", "EleutherAI/lm-evaluation-harness:tests/test_hendrycks_math_utils.py@"
       "6d0e21d15fe0308afe5bcc5bea11b4c22c574ee1", r, g, lab)  # PR #3741 (unmerged when read); gold as above
      for r, g, lab in [
          ("The answer is $42$.", "42", True),
          ("Thus the answer is \\[ \\boxed{42} \\]", "42", True),
          ("The answer is $7$.", "42", False),
          ("\\[ \\boxed{7} \\]", "42", False),
      ]],
    # lm-eval minerva_math is_equiv(answer, gold) on normalized answers, PR #4034 (unmerged when read)
    *[("lm-eval", "EleutherAI/lm-evaluation-harness:tests/test_minerva_math.py@"
       "47e871bf4c254b24ff05ac7a3f35f509aacb4678", r, g, lab)
      for r, g, lab in [
          *[(a, a, True) for a in ("(2,4)", "(-1,2,3)", "[2,5)", "(-\\infty,3]", "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
                                   "2", "\\frac{1}{2}", "x+1", "\\text{east}")],
          ("(2,4)", "(3,5)", False),
          ("[2,5)", "[2,6)", False),
          ("(2,4)", "(4,2)", False),
          ("\\text{east}", "\\text{west}", False),
          ("", "", False),
          ("\\frac{1}{2}", "0.5", True),
      ]],
    # is_equiv(normalize_final_answer(a), normalize_final_answer(b)), PR #4032 (unmerged when read); the
    # normalize_final_answer output asserts are not verdicts and are left out
    *[("lm-eval", "EleutherAI/lm-evaluation-harness:tests/test_minerva_math_utils.py@"
       "1eb3dead84f4f23ad4987dd251b9fa91216aae91", r, g, lab)
      for r, g, lab in [
          ("\\left(\\frac{3}{2}\\right)", "\\frac{3}{2}", True),
          ("2\\pi cm", "2\\pi", True),
          ("30^\\circ inches", "30", True),
      ]],
    # allenai/open-instruct GSM8KVerifier (last number vs label, case-insensitive string compare); its
    # test_math_utils.py only pins strip_string outputs (not verdicts) and is left out
    *[("open-instruct", "allenai/open-instruct:open_instruct/test_ground_truth_utils.py@"
       "e6c3044aa6201c8bfa4573c1b03142af599e730d", r, g, lab)
      for r, g, lab in [
          ("Therefore the answer is -3", "-3", True),
          ("Therefore the answer is +7", "+7", True),
          ("Final answer: -3.5", "-3.5", True),
          ("The result is \\\\boxed{-3}", "-3", True),
          ("Therefore the answer is 3", "-3", False),
      ]],
    # NovaSky-AI/SkyRL skyrl-gym AIME env, newer version of test_aime.py (reward 1.0 / -1.0)
    *[("skyrl", "NovaSky-AI/SkyRL:skyrl-gym/tests/test_aime.py@a9564572eb8e91076be43c1bd5e4615e3de17265", r, g, lab)
      for r, g, lab in [
          ("Answer: \\boxed{42}", "42", True),
          ("Answer: 42", "42", True),
          ("Answer: \\boxed{43}", "42", False),
          ("Answer: \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", True),
          ("Answer: \\boxed{0.5}", "\\frac{1}{2}", False),
          ("Answer: \\boxed{\\text{forty-two}}", "42", False),
          ("<|im_start|>Answer: \\boxed{42}<|im_end|>", "42", True),
          ("<|im_start|>Answer: \\boxed{42}im_end|>", "42", False),
          ("Answer: \\boxed{42}<|eot_id|>", "42", True),
          ("Answer: \\boxed{42}|eot_id|>", "42", False),
      ]],
    # SkyRL GSM8K env (reward 1.0 / 0.0). Its third case ("The answer is 42", "42", 0.0: no "#### " marker) has the
    # same (suite, response, gold) as the AIME env's ("The answer is 42", "42", 1.0) above, so the de-duplication
    # below would drop it; it is left out here rather than silently dropped.
    *[("skyrl", "NovaSky-AI/SkyRL:skyrl-gym/tests/test_gsm8k.py@a9564572eb8e91076be43c1bd5e4615e3de17265", r, g, lab)
      for r, g, lab in [
          ("The answer is #### 42", "42", True),
          ("The answer is #### 42", "43", False),
      ]],
    # huggingface/open-r1 accuracy_reward, newer test_rewards.py (the first two repeat the block above)
    *[("open-r1", "huggingface/open-r1:tests/test_rewards.py@1416fa0cf21595d2083b399a2a0bbddd7f6e9563", r, g, lab)
      for r, g, lab in [
          ("\\boxed{\\frac{63}{400}}", "\\frac{63}{400}", True),
          ("\\boxed{\\frac{64}{400}}", "\\frac{63}{400}", False),
          ("\\boxed{3}", "6", False),
      ]],
    # radixark/miles async_rm / batched_async_rm for the math rm_types (math, dapo, deepscaler); the f1 / gpqa /
    # boxed_f1 cases are not math answers. Rows repeating the blocks above are de-duplicated away.
    *[("miles", "radixark/miles:tests/fast/rollout/rm_hub/test_rm_hub.py@31f1ca961a94cb860cec3b2dea34ec332bfa8f76",
       r, g, lab)
      for r, g, lab in [
          ("\\boxed{42}", "42", True),
          ("\\boxed{wrong}", "42", False),
          ("Answer: 42", "42", True),
          ("</think>\\boxed{42}", "42", True),
          ("\\boxed{100}", "100", True),
      ]],
    # THUDM/slime math_utils: grade_answer_mathd / grade_answer_sympy (given, gt), grade_answer_verl (solution, gt)
    *[("slime", "THUDM/slime:tests/test_rm_math.py@624b824a898ab0ec1fcb4d373004c7f3852bf515", r, g, lab)
      for r, g, lab in [
          ("\\frac{1}{2}", "0.5", True),
          ("\\frac12", "\\frac{1}{2}", True),
          ("45^\\circ", "45", True),
          ("3/4", "\\frac{3}{4}", True),
          ("42", "43", False),
          ("x+1", "1+x", True),
          ("\\frac{2}{4}", "\\frac{1}{2}", False),
          ("answer: \\boxed{42}", "\\boxed{42}", True),
          ("just 42", "42", False),
          ("\\boxed{42}", "", False),
      ]],
    # slime math_dapo_utils: is_correct_minerva and verify with the default path; the strict-box asserts
    # (is_correct_strict_box, verify / compute_score with strict_box_verify=True, not the default) are left out
    *[("slime", "THUDM/slime:tests/test_rm_math_dapo.py@624b824a898ab0ec1fcb4d373004c7f3852bf515", r, g, lab)
      for r, g, lab in [
          ("Long solution. Answer: 42", "42", True),
          ("Answer: 41 was a wrong guess.\nAnswer: 42", "42", True),
          ("just a number 42", "42", False),
          ("Answer: 42", "42", True),
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
    ("math-verify-new", "11\n5/6", "5"): "a parse artefact: a careful grader would not read '11', newline, '5/6' as 5",
    ("math-verify-new", "11\r\n5/6", "5"): "a parse artefact: a careful grader would not read '11', CRLF, '5/6' as 5",
    ("math-verify-new", "4 4/9 2", "2"): "a careful grader would not read the sequence '4 4/9 2' as the answer 2",
    **{("math-verify-new", f"4 4/9{suffix}", "40/9"):
       "labelled unequal; MATH-style graders accept a percent answer's number (lm-eval's hendrycks_math strips `\\%`; "
       "a gold `25` for 'what percent?' is answered `25\\%`), so without the question both readings stand"
       for suffix in ("%", " %", "percent", " percent", "percentage", " percentage", "pct", " pct")},
    ("math-verify-new", "Final answer is $\\sum_{k=0}^n\\bigl(k\\bigr)$. I hope. 42", "42"):
        "the declared final answer is the sum (n(n+1)/2), not the stray number after it",
    ("math-verify-new", "Final answer is $\\sum_{k=0}^n\\bigl(k\\bigr)$. I hope. $42$", "42"):
        "the declared final answer is the sum (n(n+1)/2), not the stray number after it",
    ("math-verify-new", "Final answer is $\\sum_{k=0}^n\\bigl(k\\bigr)$. I hope. 1/2", "1/2"):
        "the declared final answer is the sum (n(n+1)/2), not the stray number after it",
    ("lm-eval", "72..", "#### 72"): "the answer is 72; gsm8k's exact match strips only one trailing period",
    ("skyrl", "Answer: \\boxed{0.5}", "\\frac{1}{2}"): "0.5 = 1/2; SkyRL's AIME env compares strings",
    ("skyrl", "<|im_start|>Answer: \\boxed{42}im_end|>", "42"):
        "the boxed answer 42 is right; the trailing 'im_end|>' is a malformed end token, not part of the answer",
    ("skyrl", "Answer: \\boxed{42}|eot_id|>", "42"):
        "the boxed answer 42 is right; the trailing '|eot_id|>' is a malformed end token, not part of the answer",
    ("slime", "\\frac{2}{4}", "\\frac{1}{2}"): "2/4 = 1/2; slime's grade_answer_sympy refuses unreduced fractions",
    ("slime", "just 42", "42"): "the stated answer is right; grade_answer_verl requires a box",
    ("slime", "just a number 42", "42"): "the stated answer is right; the Minerva path requires an 'Answer:' marker",
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
