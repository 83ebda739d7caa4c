"""The math accuracy reward: extraction, equivalence, canonical keys, reward-hacking rules, hard time bounds."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _components import sleepy

from r1_recipe.core.rewards.math import (
    canonical_answer,
    extract_answer,
    is_equivalent,
    math_reward,
    verify_batch,
    vote_key,
)
from r1_recipe.core.rewards.math.reward import gold_texts
from r1_recipe.rewards import get

# --- extraction ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("<think> 2+2 </think> <answer> 4 </answer>", ("4", "answer_tag")),
        ("<think> x </think> <answer> so $\\boxed{\\frac{1}{2}}$ </answer>", ("\\frac{1}{2}", "answer_tag")),
        ("<think>\nwork\n</think>\n\nThe answer is $\\boxed{\\frac{a}{b^{2}}}$.", ("\\frac{a}{b^{2}}", "boxed")),
        ("It is \\fbox{7}.", ("7", "boxed")),
        ("so \\boxed 5.", ("5", "boxed")),
        ("<think> maybe \\boxed{3}? no </think> The answer is \\boxed{4}.", ("4", "boxed")),
        ("\\boxed{42}. Check: \\boxed{42.0}", ("42.0", "boxed")),  # same value twice is one answer
        ("Natalia sold 48 clips.\n#### 72", ("72", "gsm8k_hashes")),
        ("Work...\nFinal Answer: $\\frac{1}{2}$.", ("\\frac{1}{2}", "answer_colon")),
        ("no marker at all, 12 then 13", ("13", "last_math")),  # free prose: math-verify's last span / number
        ("It is \\boxed{3} or \\boxed{4}.", (None, "multiple_answers")),
        ("<think> x </think> <answer> 3 </answer> <answer> 4 </answer>", (None, "multiple_answers")),
        ("<think> x </think> <answer> 42", (None, "unclosed_answer")),
        ("So \\boxed{\\frac{1}{2", (None, "unclosed_boxed")),
        ("<think> it is \\boxed{42} and I go on", (None, "unclosed_think")),
        ("<think> it is \\boxed{42} </think> not sure", (None, "answer_in_think")),
        ("<think> a </think> <answer> 4 </answer><|im_end|>", ("4", "answer_tag")),
    ],
)
def test_extract_answer_finds_the_final_answer_or_says_why_not(text, expected):
    assert extract_answer(text) == expected


def test_unclosed_reasoning_never_counts_unless_think_policy_allows_it():
    for text in ("<think> it is \\boxed{42} and I go on", "<think> it is \\boxed{4", "<think> Answer: 5", "<think>"):
        assert extract_answer(text, think_policy="ignore") == (None, "unclosed_think")
    assert extract_answer("<think> it is \\boxed{42} and I go on", think_policy="allow") == ("42", "think:boxed")
    assert extract_answer("<think> it is \\boxed{4", think_policy="allow") == (None, "unclosed_think")
    # turn markers, with ASCII or full-width bars, and thought-tag aliases are still read
    assert extract_answer("<｜User｜>\\boxed{1}<｜Assistant｜><think>x</think> \\boxed{2}") == ("2", "boxed")
    assert extract_answer("<|begin_of_thought|>\\boxed{1}<|end_of_thought|> \\boxed{3}") == ("3", "boxed")


def test_gold_texts_are_a_fresh_list_each_time():
    golds = gold_texts("#### 72")
    assert golds == ["72"]
    golds.append("73")  # the caller's list: the remembered golds are not changed
    assert gold_texts("#### 72") == ["72"]
    assert gold_texts("") == [] and gold_texts(["7", "\\boxed{8}"]) == ["7", "8"]


def test_fallbacks_are_configurable_and_last_number_is_opt_in():
    text = "we get 12 and then 13 apples"
    assert extract_answer(text, fallbacks=("answer_colon", "answer_is", "gsm8k_hashes", "bare")) == (None, "no_answer")
    assert extract_answer(text, fallbacks=("last_number",)) == ("13", "last_number")
    assert extract_answer("#### 72", fallbacks=()) == (None, "no_answer")
    with pytest.raises(ValueError, match="unknown fallback 'nope'"):
        extract_answer("x", fallbacks=("nope",))


def test_multiple_last_takes_the_last_answer_for_evaluation_of_models_that_box_intermediates():
    text = "First \\boxed{12} apples, so the total is \\boxed{15}."
    assert extract_answer(text) == (None, "multiple_answers")
    assert extract_answer(text, multiple="last") == ("15", "boxed")
    assert math_reward(text, "15", multiple="last").score == 1.0
    with pytest.raises(ValueError, match="multiple must be one of"):
        extract_answer(text, multiple="first")


def test_think_policy_allow_accepts_an_answer_inside_the_reasoning():
    text = "<think> it is \\boxed{42} </think> not sure"
    assert extract_answer(text, think_policy="allow") == ("42", "think:boxed")
    assert math_reward(text, "42", think_policy="allow").score == 1.0
    assert math_reward(text, "42").reason == "answer_in_think"
    with pytest.raises(ValueError, match="think_policy"):
        extract_answer(text, think_policy="sometimes")


# --- equivalence -----------------------------------------------------------------------------------------------

EQUIVALENT = [
    ("0.5", "\\frac{1}{2}"), ("1/2", "\\dfrac12"), ("x=3", "3"), ("\\{1,2\\}", "2,1"), ("x \\le 3", "(-\\infty,3]"),
    ("2 < x \\leq 5", "(2,5]"), ("50\\%", "0.5"), ("35\\%", "35"), ("90^\\circ", "90"), ("\\tfrac{3}{4}", "0.75"),
    ("10 \\text{ cm}", "10"), ("9.8 \\text{ m}/\\text{s}^2", "9.8"), ("1,000", "1000"), ("1{,}000", "1000"),
    ("\\$18", "18"), ("\\sqrt{12}", "2\\sqrt{3}"), ("\\frac{\\sqrt3}{2}", "\\frac{\\sqrt{3}}{2}"),
    ("4i+3", "3+4i"), ("(C)", "\\text{(C)}"), ("\\textbf{(C) }12", "C"), ("033", "33"), ("2\\frac{1}{3}", "\\frac73"),
    ("0.\\overline{7}", "\\frac{7}{9}"), ("1.2\\times10^{5}", "120000"), ("3e8", "3.0\\times10^{8}"),
    ("6.668", "6.67"), ("(x+1)^2", "x^2+2x+1"), ("y = 3 + 2x", "y=2x+3"), ("(2,1),(1,2)", "(1,2),(2,1)"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
    ("\\text{Paris}", "Paris"), ("-0", "0"),
]  # fmt: skip

NOT_EQUIVALENT = [
    ("2", "\\frac{1}{2}"), ("0.333", "\\frac{1}{3}"), ("6.7", "6.67"), ("(-\\infty,3)", "(-\\infty,3]"),
    ("x<3", "x \\le 3"), ("[2,5]", "(2,5)"), ("(1,2)", "(2,1)"), ("\\{1,2\\}", "1"), ("1,2,3", "\\{1,2\\}"),
    ("3-4i", "3+4i"), ("B", "C"),
    ("142", "42"), ("42+x", "42"), ("4.2", "42"), ("5\\%", "0.5"), ("\\frac{1}{2x}", "\\frac{1}{2}x"), ("3.14", "\\pi"),
    ("\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"), ("London", "Paris"),
    ("10^{10^{10^{10}}}", "1"), ("(100!)!", "2"), ("5", "5m"), ("7.54", "7.5"),
]  # fmt: skip


@pytest.mark.parametrize("pred,gold", EQUIVALENT)
def test_equivalent_forms_are_accepted(pred, gold):
    assert is_equivalent(pred, gold)


@pytest.mark.parametrize("pred,gold", NOT_EQUIVALENT)
def test_near_misses_are_rejected(pred, gold):
    assert not is_equivalent(pred, gold)


@pytest.mark.parametrize(
    "forms,key",
    [
        (["0.5", "\\frac{1}{2}", "1/2", "\\dfrac12", "$\\frac{1}{2}$", "0.50"], "1/2"),
        (["1,000", "1000", "1{,}000", "1000.0", "x = 1000", "1000 \\text{ units}"], "1000"),
        (["\\{1,2\\}", "2,1", "1, 2"], "{1,2}"),
        (["x \\le 3", "(-\\infty, 3]", "\\left(-\\infty,3\\right]"], "(-oo,3]"),
        (["C", "(C)", "\\text{(C)}", "\\textbf{(C)}"], "C"),
        (["1.2\\times10^{5}", "120000", "1.2e5"], "120000"),
    ],
)
def test_canonical_answer_gives_equivalent_forms_one_key(forms, key):
    assert [canonical_answer(f) for f in forms] == [key] * len(forms)


def test_canonical_answer_keeps_different_answers_apart_and_order_where_it_matters():
    keys = [canonical_answer(a) for a in ["1/2", "1/3", "(1,2)", "(2,1)", "[1,2)", "50\\%", "\\frac{1}{2x}"]]
    assert keys == ["1/2", "1/3", "(1,2)", "(2,1)", "[1,2)", "50%", "\\frac1{2x}"]
    assert canonical_answer(None) == ""


# --- the reward component --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response,gold,score,reason",
    [
        ("<think> a </think> <answer> 0.5 </answer>", "\\frac{1}{2}", 1.0, ""),
        ("<think> a </think> <answer> 0.6 </answer>", "\\frac{1}{2}", 0.0, "wrong"),
        ("We get \\boxed{1}, \\boxed{2}, \\boxed{5}, \\boxed{7}.", "7", 0.0, "multiple_answers"),
        ("The answer is \\boxed{142}.", "42", 0.0, "wrong"),  # gold as a substring is not the answer
        ("The answer is \\boxed{1, 2, 3, 4, 5, 6, 7}.", "7", 0.0, "wrong"),  # a list of candidates is a set
        ("<think> a </think> <answer> 42", "42", 0.0, "unclosed_answer"),  # truncated
        ("nothing here", "42", 0.0, "no_answer"),
        ("\\boxed{42}", None, 0.0, "unparsable_gold"),
        ("\\boxed{42}", ["42"], 1.0, ""),  # verl datasets may carry a one-element list
        ("\\boxed{42}", 42, 1.0, ""),
        ("\\boxed{42}", np.array(["42"]), 1.0, ""),  # parquet list column
        ("\\boxed{0.5}", np.float64(0.5), 1.0, ""),
        ("\\boxed{42}", "\\boxed{42}", 1.0, ""),  # a gold solution with its own box
        ("x" * (1 << 20) + "x", "42", 0.0, "too_long"),  # past MAX_RESPONSE_CHARS (1 Mi characters)
        ("<think>" + "So we add them. " * 62_000 + "</think> \\boxed{42}", "42", 1.0, ""),  # ~1 M characters
        ("\\boxed{" + "9" * 2000 + "}", "9", 0.0, "too_long"),
    ],
)
def test_math_reward_verdicts_and_reasons(response, gold, score, reason):
    out = math_reward(response, gold)
    assert (out.score, out.reason) == (score, reason)


def test_math_reward_reports_the_extracted_answer_and_its_key():
    out = math_reward("<think> a </think> The answer is $\\boxed{\\dfrac{1}{2}}$.", "0.5")
    assert (out.score, out.pred, out.info) == (1.0, "\\dfrac{1}{2}", {"key": "1/2", "where": "boxed"})


def test_option_text_matches_a_letter_gold_when_the_options_are_given():
    info = {"options": ["12", "\\frac{1}{2}", "7"]}
    assert math_reward("\\boxed{0.5}", "B", info).score == 1.0
    assert math_reward("\\boxed{7}", "B", info).score == 0.0
    assert math_reward("\\boxed{0.5}", "B").score == 0.0  # no options: text never matches a letter
    assert math_reward("\\boxed{0.5}", "B", {"options": "A) 12 B) 1/2"}).score == 0.0  # malformed options
    assert math_reward("\\boxed{0.5}", "B", {"choices": np.array(["12", "0.5"])}).score == 1.0  # from parquet


def test_the_registry_resolves_math_to_this_component_and_accuracy_routes_to_it():
    assert get("math") is math_reward
    out = get("accuracy")("<think> a </think> <answer> 0.5 </answer>", "\\frac{1}{2}", None, think_policy="ignore")
    assert (out.score, out.pred) == (1.0, "0.5")


# --- bounds and the batch API ----------------------------------------------------------------------------------


def test_hostile_answers_get_a_wrong_verdict_within_the_bound():
    hostile = ["10^{10^{10^{10}}}", "1000000!", "(100!)!", "9^{9^{99}}", "x^{10^{10}}-1", "10^{1000000}"]
    out = verify_batch([(f"\\boxed{{{p}}}", "1") for p in hostile], timeout_s=5.0, workers=2, progress=False)
    assert [(o.score, o.reason) for o in out] == [(0.0, "wrong")] * len(hostile)  # refused, not timed out


def test_verify_batch_keeps_order_and_reasons():
    pairs = [("\\boxed{0.5}", "\\frac12"), ("\\boxed{3}", "4"), ("<answer> 7", "7"), ("\\boxed{\\{2,1\\}}", "1,2")]
    out = verify_batch(pairs, timeout_s=10, workers=2, progress=False)
    assert [(o.score, o.reason) for o in out] == [(1.0, ""), (0.0, "wrong"), (0.0, "unclosed_answer"), (1.0, "")]
    assert [o.pred for o in out] == ["0.5", "3", None, "\\{2,1\\}"]


def test_verify_batch_turns_a_verdict_past_the_bound_into_a_timeout_zero():
    # `sleepy` stands in for a sympy call that never returns: its worker is killed at the bound, the batch goes on
    start = time.monotonic()
    out = verify_batch([("a", "1"), ("b", "2")], timeout_s=1.0, workers=2, progress=False, scorer=sleepy, seconds=60)
    assert [(o.score, o.reason, o.infra) for o in out] == [(0.0, "timeout", True), (0.0, "timeout", True)]
    assert time.monotonic() - start < 30


# --- issue 14: failure classes found on other projects' test suites ----------------------------------------------


@pytest.mark.parametrize(
    "response,gold",
    [
        ("\\boxed{x^2+y^2}", "y^2+x^2"),
        ("\\boxed{(x-3)^2+(y+1)^2=4}", "(y+1)^2+(x-3)^2=4"),
        ("\\boxed{2^3\\cdot 3^2}", "72"),
        ("\\boxed{4.123105625617661}", "\\sqrt{17}"),
        ("\\boxed{0.0833333333333333}", "\\frac{1}{12}"),
    ],
)
def test_ordinary_powers_and_long_decimals_reach_symbolic_comparison(response, gold):
    assert math_reward(response, gold).score == 1.0


def test_power_towers_and_huge_factorials_are_still_refused_before_sympy():
    assert math_reward("\\boxed{10^{10^{10}}}", "10^{10^{10}}+1").score == 0.0
    assert math_reward("\\boxed{1000000!}", "1000001!").score == 0.0


@pytest.mark.parametrize(
    "response,gold,pred",
    [
        ("\\boxed{3}, \\boxed{5}, \\boxed{7}", "3, 5, 7", "3, 5, 7"),
        ("\\boxed{(2,2)} and \\boxed{(6,2)}", "(2,2),(6,2)", "(2,2), (6,2)"),
        ("\\boxed{2} and \\boxed{1}", "\\boxed{1}\\boxed{2}", "2, 1"),
    ],
)
def test_several_boxes_are_accepted_as_the_parts_of_a_multi_part_gold(response, gold, pred):
    out = math_reward(response, gold)
    assert (out.score, out.pred, out.info["where"]) == (1.0, pred, "boxed_parts")


def test_several_boxes_for_a_single_valued_gold_are_still_hedging():
    out = math_reward("\\boxed{3} or maybe \\boxed{5}", "5")
    assert (out.score, out.reason) == (0.0, "multiple_answers")


def test_a_box_in_a_worked_gold_solution_is_not_a_part_of_the_gold():
    # Math-Verify's suite: only the gold's last box counts when the boxes sit in prose
    assert math_reward("$\\boxed{1,2}$", "\\boxed{1} no no no no no \\boxed{2}").score == 0.0


@pytest.mark.parametrize(
    "text,expected",
    [
        ("The answer is $\\frac{1}{2}$.", ("\\frac{1}{2}", "answer_is")),
        ("Therefore the answer is -3", ("-3", "answer_is")),
        ("The answer is 1,200.", ("1,200", "answer_is")),
        ("Answer \\[ 9 \\]", ("9", "answer_is")),
        ("$9$", ("9", "bare")),
        ("7,425,000", ("7,425,000", "bare")),
        ("Answer $ \n 9 \n $", (None, "no_answer")),  # inline math does not span lines
        ("the value is 1.5 so we stop", ("1.5", "last_math")),  # free prose: the last number, as math-verify reads it
    ],
)
def test_prose_and_bare_answers_are_extracted_by_default(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Therefore $x \\geq 5$ is the solution.", ("x \\geq 5", "last_math")),
        ("We find that $x \\neq 3$.", ("x \\neq 3", "last_math")),
        (
            "The identity matrix is $ \\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix} $.",
            ("\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}", "last_math"),
        ),
        ("so the number is 10 which is 1,000.99m²", ("1000.99", "last_math")),
        ("First $x=2$, then $y = 7$ and we stop.", ("y = 7", "last_math")),  # the last span, not the first
        ("Answer $ \n 9 \n $", (None, "no_answer")),  # a malformed answer statement is not rescued
        ("<think> so $x = 4$ </think> so it is $5$.", ("5", "last_math")),  # the answer region only
        ("<think> so $x = 4$ </think> and we stop here", (None, "answer_in_think")),
        ("<think> it is $x = 4$ </think>", (None, "answer_in_think")),
        ("<think> a </think> <answer> we get $3$ then 4 </answer>", ("we get $3$ then 4", "answer_tag")),
        ("no math here at all", (None, "no_answer")),
    ],
)
def test_free_prose_without_marker_falls_back_to_math_verify_extraction_of_the_answer_region(text, expected):
    assert extract_answer(text) == expected


def test_last_math_fallback_scores_through_our_equivalence_and_can_be_switched_off():
    assert math_reward("Therefore $x \\geq 5$ is the solution.", "$x >= 5$").score == 1.0
    assert math_reward("Therefore $x \\geq 5$ is the solution.", "5").score == 0.0  # a relation is not a number
    assert (
        math_reward(
            "Here is a zero matrix: $ \\begin{pmatrix}0 & 0 \\\\0 & 0\\end{pmatrix} $",
            "\\begin{bmatrix}0 & 0 \\\\0 & 0\\end{bmatrix}",
        ).score
        == 1.0
    )
    strict = ("answer_colon", "answer_is", "gsm8k_hashes", "bare")
    out = math_reward("Therefore $x \\geq 5$ is the solution.", "$x >= 5$", fallbacks=strict)
    assert (out.score, out.reason) == (0.0, "no_answer")


@pytest.mark.parametrize(
    "answer,gold",
    [("\\text{E}", "E"), ("7,425,000", "7425000"), ("2 i", "2i"), ("5 \\text{ cm}", "5")],
)
def test_minerva_final_answer_drops_the_i_hope_it_is_correct_tail(answer, gold):
    out = math_reward(f"Final Answer: The final answer is ${answer}$. I hope it is correct.", gold)
    assert (out.score, out.pred) == (1.0, answer)


@pytest.mark.parametrize(
    "answer,gold",
    [
        ("2\\pi cm", "2\\pi"),
        ("30^\\circ inches", "30"),
        ("12ft", "12"),
        ("5 \\textbf{meters}", "5"),
        ("42 square", "42"),
    ],
)
def test_units_and_unit_words_are_dropped(answer, gold):
    assert math_reward(f"\\boxed{{{answer}}}", gold).score == 1.0


def test_a_single_letter_glued_to_a_number_is_not_taken_for_a_unit():
    assert math_reward("\\boxed{5m}", "5").score == 0.0


@pytest.mark.parametrize(
    "answer,gold",
    [("\\varnothing", "\\emptyset"), ("\\text{all real numbers}", "(-\\infty,\\infty)")],
)
def test_word_forms_of_sets_equal_their_symbols(answer, gold):
    assert math_reward(f"\\boxed{{{answer}}}", gold).score == 1.0


@pytest.mark.parametrize(
    "answer,gold",
    [
        ("\\frac{1}{2^{98}}", "\\frac{1}{2^{99}}"),
        ("0.0011", "0.001"),
        ("\\text{The answer is 5 or 6}", "5"),
        ("\\geq 5", "5"),
        ("32, 349", "32349"),
    ],
)
def test_near_misses_hedges_and_relations_are_wrong(answer, gold):
    out = math_reward(f"\\boxed{{{answer}}}", gold)
    assert (out.score, out.reason) == (0.0, "wrong")


def test_latex_thousands_separator_is_one_number():
    assert math_reward("\\boxed{32,\\!349}", "32349").score == 1.0
    assert canonical_answer("32,\\!349") == "32349"


def test_gold_decimal_precision_still_accepts_a_rounding_answer():
    assert math_reward("\\boxed{7.5437}", "7.54").score == 1.0
    assert math_reward("\\boxed{7.56}", "7.54").score == 0.0


@pytest.mark.parametrize(
    "response,gold",
    [
        ("$\\boxed{(5,2),(7,2)}$", "$p=5,q=2;p=7,q=2$"),
        ("\\boxed{4, 5}", "$AB=4,CD=5$"),
        ("\\boxed{b=2, a=1}", "a=1, b=2"),
        ("\\boxed{(3,2)}", "$(p,q)=(3,2)$"),
        ("\\boxed{\\{-12, -11, -10\\}}", "$-12;-11;-10$"),
    ],
)
def test_golds_written_as_assignments_or_semicolon_lists_equal_their_values(response, gold):
    assert math_reward(response, gold).score == 1.0


def test_an_assignment_gold_with_other_values_is_still_wrong():
    assert math_reward("\\boxed{(3,2)}", "(p,q,r)=(3,2,7)").score == 0.0
    assert math_reward("\\boxed{a=2, b=1}", "a=1, b=2").score == 0.0
    assert canonical_answer("p=5,q=2;p=7,q=2") == canonical_answer("(5,2),(7,2)")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Final Answer: The largest $n$ is 34.", ("34", "answer_colon")),
        ("Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.", ("3", "answer_colon")),
        ("Final Answer: it is 5 or 6.", ("it is 5 or 6", "answer_colon")),  # a hedge stays as written
        ("Final Answer: $\\frac{1}{2}$.", ("\\frac{1}{2}", "answer_colon")),
    ],
)
def test_answer_colon_in_words_is_read_by_math_verify_extraction_unless_it_hedges(text, expected):
    assert extract_answer(text) == expected


def test_answer_colon_in_words_scores_its_last_value_and_a_hedge_scores_zero():
    assert math_reward("Final Answer: The largest $n$ is 34.", "34").score == 1.0
    assert math_reward("Final Answer: it is 5 or 6.", "6").score == 0.0
    strict = ("answer_colon", "answer_is", "gsm8k_hashes", "bare")
    assert extract_answer("Final Answer: The largest $n$ is 34.", fallbacks=strict) == (
        "The largest $n$ is 34",
        "answer_colon",
    )


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("1000,99", "1000.99", True),  # a comma that cannot be a thousands separator, against a point decimal
        ("1.22", "1,22", True),
        ("0.111", "0,111", True),  # a leading 0 is never followed by a thousands group
        ("1,000", "1.000", False),  # `1,000` is a thousand
        ("1,000", "1000", True),
        ("0,111", "111", False),
        ("1,5", "1.2", False),
        ("1,2", "1", False),  # without a point decimal on the other side, a comma list stays a list
        ("1,2", "\\{1,2\\}", True),
    ],
)
def test_decimal_comma_is_read_only_against_a_point_decimal_and_never_as_a_thousands_group(pred, gold, expected):
    assert is_equivalent(pred, gold) is expected


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("y=-\\frac{1}{2}x+\\frac{3}{4}", "2x+4y-3=0", True),
        ("$2x+4y-3=0$", "$y=-\\frac{1}{2}x+\\frac{3}{4}$", True),  # either side may be the solved form
        ("y = 2x", "4x - 2y = 0", True),
        ("y=2x+1", "2x-y=0", False),  # a different line
        ("y=x", "y^2=x^2", False),  # y is not linear there: two solutions, not one
    ],
)
def test_an_equation_solved_for_one_variable_equals_its_implicit_form(pred, gold, expected):
    assert is_equivalent(pred, gold) is expected


@pytest.mark.parametrize(
    "gold,response",
    [
        ("\\boxed{1} papers and \\boxed{2} bins", "$\\boxed{1,2}$"),  # Math-Verify test_open_thoughts
        ("\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", "$\\boxed{-2,1}$."),
        ("$\\boxed{a} \\quad \\text{and} \\quad \\boxed{b}$", "\\boxed{a, b}"),
        ("$21,16$ or $11$", "$21,16,11$"),  # math spans joined by a connector
        ("$\\\\boxed{35 cm} ++++++ \\\\boxed{4}$", "${35 cm,4}$"),
    ],
)
def test_a_gold_written_as_several_parts_with_short_filler_is_one_multi_part_gold(gold, response):
    assert math_reward(response, gold).score == 1.0


@pytest.mark.parametrize(
    "gold,response",
    [
        ("\\boxed{1} no no no no no \\boxed{2}", "$\\boxed{1,2}$"),  # more than two words between: not one answer
        ("$x$ is $5$", "x, 5"),  # math spans joined by words, not by a connector, are not parts
    ],
)
def test_parts_separated_by_prose_are_not_joined(gold, response):
    assert math_reward(response, gold).score == 0.0


def test_a_worked_solution_as_the_gold_is_read_by_its_stated_final_answer():
    gold = (
        "Let the value be $100$. After losing $10 \\%$ it is $90$; after $20 \\%$ more it is $72$. "
        "Final Answer: The final answer is $28 \\%$. I hope it is correct."
    )
    assert math_reward("a total loss of $\\boxed{28\\%}$.", gold).score == 1.0
    assert math_reward("a total loss of $\\boxed{72\\%}$.", gold).score == 0.0


def test_minerva_final_answer_after_the_last_box_is_the_designated_answer():
    response = (
        "interest $= \\boxed{255}$. So he has $10,200 + $255 = $10,455. "
        "Final Answer: The final answer is $10,455$. I hope it is correct."
    )
    assert math_reward(response, "10455").score == 1.0
    assert math_reward(response, "255").score == 0.0
    # a box after the final-answer line is the later statement
    assert math_reward("Final Answer: The final answer is $6$. \\boxed{5}", "5").score == 1.0
    # a hedge in the final line is still a hedge
    assert math_reward("\\boxed{5} \\boxed{6} Final Answer: 5 or 6", "5").score == 0.0


def test_inline_math_with_an_escaped_dollar_is_one_span():
    assert extract_answer("Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $")[0] == "\\frac{1}{2} \\$ = \\frac{10}{9}"
    assert math_reward("Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", "$10/9$").score == 1.0


@pytest.mark.parametrize(
    "response,gold,expected",
    [
        # miles' DeepScaleR test: a rollout log that holds the prompt is graded on the assistant turn
        ("<|User|>Ignore \\boxed{0}<|Assistant|><|end_of_thought|>Answer: \\boxed{42}<|end_of_sentence|>", "42", 1.0),
        ("<|User|>Ignore \\boxed{42}<|Assistant|><|end_of_thought|>Answer: \\boxed{0}<|end_of_sentence|>", "42", 0.0),
        ("<|im_start|>user\nIs it \\boxed{3}?<|im_end|>\n<|im_start|>assistant\n\\boxed{4}", "4", 1.0),
        # Sky-T1 / OpenThoughts markers are think tags: a box only inside the thought does not count
        ("<|begin_of_thought|>\\boxed{4}<|end_of_thought|><|begin_of_solution|>so<|end_of_solution|>", "4", 0.0),
        (
            "<|begin_of_thought|>\\boxed{3}<|end_of_thought|><|begin_of_solution|>\\boxed{4}<|end_of_solution|>",
            "4",
            1.0,
        ),
    ],
)
def test_prompt_echo_and_thought_markers(response, gold, expected):
    assert math_reward(response, gold).score == expected


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("2.6667", "\\frac{8}{3}", True),  # 4 places, rounded
        ("2.6666", "\\frac{8}{3}", True),  # 4 places, truncated
        ("(0.6,2.6667]", "(\\frac{3}{5},\\frac{8}{3}]", True),  # inside an interval too (Math-Verify test_all)
        ("2.667", "\\frac{8}{3}", False),  # 3 places are not the exact answer
        ("0.33", "\\frac{1}{3}", False),
        ("0.3330", "\\frac{1}{3}", False),  # off by more than one unit of its last place
        ("0.0001", "0.0001234", False),  # a decimal gold keeps its own precision rule
        ("0.0001", "\\frac{1}{8103}", False),  # within a unit of the last place but 20% off
    ],
)
def test_an_exact_gold_accepts_a_decimal_of_four_or_more_places_within_a_unit_of_its_last_place(pred, gold, expected):
    assert is_equivalent(pred, gold) is expected


def test_a_set_counts_a_repeated_element_once():
    gold = "$(37,3,3,13),(17,3,3,7),(3,37,3,13),(3,17,3,7),(3,3,2,3)$"
    response = "$\\boxed{(3, 37, 3, 13), (3, 17, 3, 7), (3, 3, 2, 3), (3,17,3,7), (17,3,3,7), (37,3,3,13)}$"
    assert math_reward(response, gold).score == 1.0
    assert canonical_answer("2, 2, 3") == canonical_answer("3, 2")
    assert is_equivalent("(1,2,2)", "(1,2)") is False  # a tuple keeps its length


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("y=2", "x+y=2", False),  # an equation in variables is not the value of one of them
        ("2", "x+y=2", False),
        ("x+y=2", "2", False),
        ("x+y=2", "y+x=2", True),
        ("1", "f(x)=1", True),  # a left side that names the value (Math-Verify's reading) still compares by value
        ("1", "|AB|=1", True),
        ("2+3=5", "5", True),  # arithmetic, no variables
    ],
)
def test_an_equation_relating_variables_never_equals_a_bare_value(pred, gold, expected):
    assert is_equivalent(pred, gold) is expected


@pytest.mark.parametrize(
    "a,b",
    [
        ("\\frac{\\sqrt2}{2}", "\\frac{1}{\\sqrt{2}}"),
        ("(x+1)^2", "x^2+2x+1"),
        ("2\\sqrt3", "\\sqrt{12}"),
        ("\\sqrt{4}", "2"),  # a symbolic form of a rational votes with that rational
        ("\\log_2 8", "3"),
        ("0.5", "\\frac{1}{2}"),
    ],
)
def test_equivalent_symbolic_answers_share_a_vote_key(a, b):
    assert is_equivalent(a, b) is True
    assert vote_key(a) == vote_key(b)


@pytest.mark.parametrize(
    "a,b",
    [
        ("(x+1)^2", "(y+1)^2"),
        ("\\frac{\\sqrt2}{2}", "\\frac{\\sqrt3}{2}"),
        ("x^2+1", "x^2-1"),
        ("2\\sqrt3", "3\\sqrt2"),
    ],
)
def test_different_symbolic_answers_keep_different_vote_keys(a, b):
    assert is_equivalent(a, b) is False
    assert vote_key(a) != vote_key(b)


def test_vote_keys_of_numbers_sets_letters_and_relations_are_their_canonical_keys():
    for answer, key in [("\\frac12", "1/2"), ("\\{2,1\\}", "{1,2}"), ("(C)", "C"), ("x \\geq 2", "[2,oo)"), ("x", "x")]:
        assert vote_key(answer) == canonical_answer(answer) == key
    assert vote_key("10^{10^{10}}") == canonical_answer("10^{10^{10}}")  # costly input: never evaluated


def test_math_reward_reports_the_vote_key_that_verl_maj_at_n_groups_by():
    keys = {
        math_reward(f"\\boxed{{{a}}}", "\\frac{\\sqrt2}{2}").info["key"]
        for a in ("\\frac{1}{\\sqrt2}", "\\frac{\\sqrt{2}}{2}")
    }
    assert keys == {"≈0.7071067812"}


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("\\text{Even}", "even", True),
        ("\\text{North East}", "north east", True),
        ("\\text{Yes}", "no", False),
        ("E", "e", True),  # math-verify: both are Euler's number
        ("a", "A", False),  # an MCQ letter gold is matched only by that letter
    ],
)
def test_text_answers_compare_without_case(pred, gold, expected):
    assert is_equivalent(pred, gold) is expected
    if expected and len(gold) > 1:
        assert vote_key(pred) == vote_key(gold) == canonical_answer(gold)


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("4 4/9", "40/9", True),  # Math-Verify test_mixed_number_extraction
        ("-4 4/9", "-40/9", True),
        ("1 000 4/9", "9004/9", True),  # spaced thousands in the whole part
        ("4 0/9", "4", True),
        ("4 4/9", "4", False),  # never only its whole part
        ("4 4/0", "4", False),  # a zero denominator is no number
        ("11 7/6", "73/6", False),  # an improper fraction part is no mixed number, so it equals nothing
        ("11 6/6", "12", False),
        ("4 4/9%", "40/900", True),
        ("4 4/9 percent", "40/900", True),
        ("28 pct", "\\frac{7}{25}", True),
    ],
)
def test_mixed_numbers_with_a_slash_and_percent_words(pred, gold, expected):
    assert is_equivalent(pred, gold) is expected


def test_a_gsm8k_answer_field_is_read_after_its_hashes():
    gold = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether she sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    assert math_reward("She sold \\boxed{72} clips.", gold).score == 1.0
    assert math_reward("$1,234", "#### 1,234").score == 1.0  # lm-eval gsm8k test (PR #3983)


@pytest.mark.parametrize(
    "response,gold",
    [
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),  # lm-eval hendrycks_math
        ("\\text{east}", "\\text{east}"),
    ],
)
def test_a_bare_answer_may_hold_latex_words(response, gold):
    assert math_reward(response, gold).score == 1.0


# Math-Verify's tests/test_failed_latex_span.py (upstream at 056ad62, after the pinned 0.9.0 release): a formula its
# parser rejects cannot supply a number from inside it, while answers elsewhere in the text are still found.
SUM = "\\sum_{k=0}^n\\bigl(k\\bigr)"


def last_math(text: str):
    """What the `last_math` fallback alone extracts (math-verify's loop as we mirror it)."""
    return extract_answer(text, fallbacks=("last_math",))


@pytest.mark.parametrize("text", [f"${SUM}$", f"Final answer is ${SUM}$. I hope."])
def test_a_formula_that_fails_to_parse_does_not_supply_the_number_inside_it(text):
    assert last_math(text) == (None, "no_answer")
    assert math_reward(text, "0").score == 0.0


@pytest.mark.parametrize("suffix,expected", [("42", "42"), ("$42$", "42"), ("1/2", "1/2")])
def test_answers_outside_a_failed_formula_are_still_extracted(suffix, expected):
    # upstream's text starts "Final answer is $..$": our extraction refuses a malformed answer statement outright
    assert last_math(f"So we get ${SUM}$. I hope. {suffix}") == (expected, "last_math")


def test_a_failed_formula_next_to_a_parsed_one_leaves_the_parsed_one():
    assert last_math(f"${SUM}$ and $42$") == ("42", "last_math")
    assert last_math(f"$42$ and ${SUM}$") == ("42", "last_math")


def test_only_math_verifys_timeout_disabled_warning_is_filtered(caplog):
    import logging

    import r1_recipe.core.rewards.math.equivalence  # noqa: F401  (installs the filter)

    with caplog.at_level(logging.WARNING, logger="math_verify"):
        logging.getLogger("math_verify.parser").warning("Timeout is disabled as parsing_timeout is None")
        logging.getLogger("math_verify.parser").warning("Timeout during parsing: x")
        logging.getLogger("math_verify.grader").warning("Timeout during comparison")
    assert [r.getMessage() for r in caplog.records] == ["Timeout during parsing: x", "Timeout during comparison"]
