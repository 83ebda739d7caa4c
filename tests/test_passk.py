"""pass@k estimator against hand-computed values; cons@k clusters equivalent answers; metrics over problems."""

from __future__ import annotations

import pytest

from r1_recipe.core.rewards.math import canonical_answer, is_equivalent
from r1_recipe.tools.passk import (
    cluster_answers,
    default_ks,
    majority_acc,
    pass_at_k,
    pass_cons,
    problem_metrics,
    summarize,
)


@pytest.mark.parametrize("n, c, k, expected", [
    (5, 2, 2, 1 - 3 / 10),    # 1 - C(3,2)/C(5,2)
    (4, 1, 2, 1 - 3 / 6),     # 1 - C(3,2)/C(4,2)
    (10, 3, 1, 3 / 10),       # pass@1 is the fraction correct
    (8, 2, 4, 1 - 15 / 70),   # 1 - C(6,4)/C(8,4)
    (4, 3, 2, 1.0),           # fewer wrong samples than k: some draw always holds a correct one
    (6, 0, 3, 0.0),
    (3, 3, 3, 1.0),
])
def test_unbiased_pass_at_k_matches_hand_computed_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n, c, k", [(4, 5, 1), (4, 1, 5), (4, 1, 0), (4, -1, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError, match="pass_at_k"):
        pass_at_k(n, c, k)


def test_one_half_written_three_ways_votes_together():
    keys = [canonical_answer(a) for a in ("3", "0.5", "\\frac{1}{2}", "1/2", "3")]
    assert cluster_answers(keys) == [0, 1, 1, 1, 0]
    scores = [{"acc": 0.0, "pred": k} for k in keys[:1]] + [{"acc": 1.0, "pred": k} for k in keys[1:4]] + [
        {"acc": 0.0, "pred": keys[4]}]
    assert majority_acc(scores) == 1.0  # 3 votes for 1/2 beat 2 for 3
    # by string equality the three spellings would split and 3 would win
    assert majority_acc(scores, clusters=[0, 1, 2, 3, 0]) == 0.0


def test_keys_the_canonicaliser_misses_are_merged_by_the_verifier():
    keys = [canonical_answer(a) for a in ("\\sqrt{2}/2", "5", "\\frac{\\sqrt{2}}{2}", "x+1", "1+x", "1+x")]
    assert len(set(keys)) == 5
    assert cluster_answers(keys) == [0, 1, 2, 3, 4, 4]
    assert cluster_answers(keys, is_equivalent) == [0, 1, 0, 3, 3, 3]


def test_ties_go_to_the_answer_seen_first_and_no_answer_is_a_vote():
    tie = [{"acc": 0.0, "pred": "4"}, {"acc": 1.0, "pred": "5"}, {"acc": 1.0, "pred": "5"}, {"acc": 0.0, "pred": "4"}]
    assert majority_acc(tie) == 0.0
    mostly_silent = [{"acc": 0.0, "pred": ""}, {"acc": 0.0, "pred": ""}, {"acc": 1.0, "pred": "5"}]
    assert majority_acc(mostly_silent) == 0.0


def test_problem_metrics_of_one_problem_are_exact():
    scores = [{"acc": a, "pred": p} for a, p in [(0.0, "4"), (1.0, "5"), (1.0, "5"), (0.0, "4"), (0.0, "6"),
                                                 (1.0, "5"), (0.0, "4"), (0.0, "7")]]
    assert problem_metrics(scores, cons_k=[4, 8]) == {
        "pass@1": 3 / 8, "samples": 8,
        "pass@2": 1 - 10 / 28, "pass@4": 1 - 5 / 70, "pass@8": 1.0,   # C(5,2)/C(8,2), C(5,4)/C(8,4)
        "cons@4": 0.0,   # first four: 4, 5, 5, 4 -> tie, 4 seen first
        "cons@8": 0.0,   # 4 x3, 5 x3 -> tie, 4 seen first
    }
    assert default_ks(8) == [1, 2, 4, 8] and default_ks(6) == [1, 2, 4, 6]


def test_summaries_average_over_problems_and_count_those_too_small_for_k():
    easy = [{"acc": 1.0, "pred": "1"}] * 4
    hard = [{"acc": 0.0, "pred": "2"}, {"acc": 1.0, "pred": "1"}, {"acc": 0.0, "pred": "2"}, {"acc": 0.0, "pred": "3"}]
    short = [{"acc": 1.0, "pred": "9"}, {"acc": 0.0, "pred": "8"}]
    out = summarize([easy, hard, short], ks=[2, 4], cons_k=[4])
    assert out == {
        "problems": 3, "samples": 10,
        "pass@1": (1.0 + 0.25 + 0.5) / 3,
        "pass@2": (1.0 + 0.5 + 1.0) / 3,     # hard: 1 - C(3,2)/C(4,2) = 0.5; short: 1 - C(1,2)/C(2,2) = 1
        "pass@4": (1.0 + 1.0) / 2, "problems@pass@4": 2,
        "cons@4": (1.0 + 0.0) / 2, "problems@cons@4": 2,
    }


def test_pass_cons_takes_a_flat_list_of_score_dicts():
    flat = [{"acc": 1.0, "pred": "1/2"}, {"acc": 1.0, "pred": "1/2"}, {"acc": 0.0, "pred": "3"},
            {"acc": 0.0, "pred": "2"}, {"acc": 0.0, "pred": "2"}, {"acc": 1.0, "pred": "7"}]
    assert pass_cons(flat, 3) == {"pass@1": (2 / 3 + 1 / 3) / 2, "pass@3": 1.0, "cons@3": 0.5}
    with pytest.raises(ValueError, match="multiple of k=4"):
        pass_cons(flat, 4)
