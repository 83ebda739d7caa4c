"""The 95 % intervals `r1-recipe eval` prints (r1_recipe.tools.intervals), against cases computed by hand: bootstrap
distributions small enough to enumerate, and the normal approximation of a binomial."""

from __future__ import annotations

import math

import numpy as np
import pytest

from r1_recipe.tools import intervals
from r1_recipe.tools.intervals import ProblemSamples, paired_difference, problem_interval, sampling_interval


def problem(accs, clusters=None, votes=True) -> ProblemSamples:
    accs = np.asarray(accs, dtype=float)
    return ProblemSamples(accs, np.asarray(clusters if clusters is not None else range(len(accs))), votes)


# --------------------------------------------------------------------------------------- bootstrap over problems
def test_two_problems_give_the_whole_range_of_their_resampled_means():
    # resampled means of [0, 1]: 0 (p 1/4), 1/2 (1/2), 1 (1/4): the 2.5 % and 97.5 % quantiles are 0 and 1
    assert problem_interval([0.0, 1.0]) == [0.0, 1.0]
    # [0.25, 0.75] (pass@1 of the eval tests' two AIME problems): means 0.25, 0.5, 0.75
    assert problem_interval([0.75, 0.25]) == [0.25, 0.75]


def test_equal_values_and_one_problem_give_a_point():
    assert problem_interval([0.5] * 7) == [0.5, 0.5]
    assert problem_interval([0.3]) == [0.3, 0.3]


def test_binomial_interval_matches_the_normal_approximation():
    # 400 problems, 120 solved: p = 0.3, SE = sqrt(p (1 - p) / N) = 0.022913, 95 %: p -+ 1.96 SE = [0.2551, 0.3449]
    values = [1.0] * 120 + [0.0] * 280
    se = math.sqrt(0.3 * 0.7 / 400)
    assert np.std(intervals.bootstrap_means(values)) == pytest.approx(se, rel=0.03)
    lo, hi = problem_interval(values)
    assert lo == pytest.approx(0.3 - 1.959964 * se, abs=0.004) and hi == pytest.approx(0.3 + 1.959964 * se, abs=0.004)


def test_the_interval_is_reproducible_with_its_seed():
    values = np.random.default_rng(1).random(50)
    assert problem_interval(values, seed=3) == problem_interval(values, seed=3)
    assert problem_interval(values, seed=3) != problem_interval(values, seed=4)


def test_paired_difference_over_common_problems():
    # d = B - A = [1, 0, 0]: mean 1/3; resampled means 0, 1/3, 2/3, 1 with p 8/27, 12/27, 6/27, 1/27:
    # P(<= 2/3) = 26/27 = 0.963 < 0.975, so the upper end is 1, the lower 0
    assert paired_difference([0.0, 1.0, 1.0], [1.0, 1.0, 1.0]) == {"diff": pytest.approx(1 / 3), "ci95": [0.0, 1.0],
                                                                   "problems": 3}
    # the same shift on every problem: no doubt about it, however different the problems are
    assert paired_difference([0.1, 0.5, 0.9], [0.2, 0.6, 1.0])["ci95"] == pytest.approx([0.1, 0.1])


# -------------------------------------------------------------------------- sampling variance over the k samples
def test_problems_solved_always_or_never_have_no_sampling_variance():
    fixed = [problem([1, 1, 1, 1]), problem([0, 0, 0, 0])]
    for metric in ("pass@1", "pass@2", "pass@4", "cons@4"):
        assert sampling_interval(fixed, metric) == [0.5, 0.5], metric


def test_pass_at_1_sampling_variance_is_the_binomial_one():
    # 60 problems of 16 samples: Var(mean) = (1/N^2) sum_i p_i (1 - p_i) / n  (plug-in binomial variance per problem)
    rng = np.random.default_rng(7)
    correct = rng.integers(0, 17, size=60)
    probs = [problem([1.0] * c + [0.0] * (16 - c)) for c in correct]
    p = correct / 16
    se = math.sqrt(float(np.sum(p * (1 - p) / 16))) / 60
    shared = np.random.default_rng(0)  # one stream: the problems' resamples are independent
    draws = sum(intervals.sampling_draws(q, "pass@1", 20_000, shared) for q in probs) / 60
    assert np.std(draws) == pytest.approx(se, rel=0.03)
    lo, hi = sampling_interval(probs, "pass@1", n_boot=20_000)
    assert hi - lo == pytest.approx(2 * 1.959964 * se, rel=0.05)


def test_pass_at_k_sampling_draws_are_the_estimator_on_resampled_counts():
    # n = k = 4, one correct: a resample has no correct answer with p (3/4)^4, so the draws average 1 - (3/4)^4
    draws = intervals.sampling_draws(problem([1, 0, 0, 0]), "pass@4", 40_000, np.random.default_rng(0))
    assert set(np.unique(draws)) == {0.0, 1.0}
    assert draws.mean() == pytest.approx(1 - 0.75 ** 4, abs=0.01)
    # n = 4, k = 2: the draws take the unbiased estimator's values 1 - C(4 - c, 2) / C(4, 2), c = 0..4
    draws = intervals.sampling_draws(problem([1, 1, 0, 0]), "pass@2", 1000, np.random.default_rng(0))
    assert set(np.unique(draws).round(12)) <= {0.0, round(1 - 3 / 6, 12), round(1 - 1 / 6, 12), 1.0}


def test_cons_at_k_sampling_draws_vote_like_cons_at_k():
    # answers [x, x, y], x right: three draws elect x when it gets 2 or 3 votes: 3 (2/3)^2 (1/3) + (2/3)^3 = 20/27
    draws = intervals.sampling_draws(problem([1, 1, 0], clusters=[0, 0, 2]), "cons@3", 40_000,
                                     np.random.default_rng(0))
    assert draws.mean() == pytest.approx(20 / 27, abs=0.01)
    # two draws of [x, y]: a tie goes to the answer drawn first, so x wins exactly when it is drawn first: 1/2
    draws = intervals.sampling_draws(problem([1, 0], clusters=[0, 1]), "cons@2", 40_000, np.random.default_rng(0))
    assert draws.mean() == pytest.approx(0.5, abs=0.01)


def test_code_problems_and_problems_with_too_few_samples_are_left_out():
    probs = [problem([1, 0, 1, 0]), problem([1, 1], votes=False), problem([0, 0, 0, 0], votes=False)]
    assert sampling_interval(probs[1:], "cons@2") is None  # no vote on code
    assert sampling_interval(probs, "pass@4")[0] >= 0.0
    # pass@4 averages the two 4-sample problems only: a fixed 0 and a varying one, so at most 1/2
    assert sampling_interval(probs, "pass@4")[1] <= 0.5
