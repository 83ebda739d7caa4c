"""95 % confidence intervals for pass@1, pass@k and cons@k, and the paired difference of two runs (`r1-recipe eval`).

Two sources of uncertainty, reported separately because they answer different questions:

- **problems** (`ci95`): bootstrap over problems. The benchmark is a sample of problems; resampling them with
  replacement (percentile interval of the mean over `n_boot` resamples) says how far the score could move on another
  set of problems like these. Each problem's value already carries its own sampling noise, so this interval holds
  both. It is the one to quote for "model X solves Y % of such problems", and it is wide for small benchmarks (AIME:
  30 problems, about +-9 points at 50 %).
- **sampling** (`ci95_sampling`): the problems held fixed, each problem's k samples resampled with replacement and the
  metric recomputed (pass@1: the mean; pass@k: the unbiased estimator on the resampled correct count; cons@k: the
  majority vote over k resampled answers, ties to the first drawn), then averaged over problems. It says how far
  the score could move if the same benchmark were generated again with the same settings: the noise behind the
  reported-vs-reproduced gaps of R1 reproductions. For pass@1 its variance is the analytic (1/N^2) sum_i
  p_i (1 - p_i) / n_i of binary scores (tests/test_intervals.py checks the bootstrap against it).

`paired_difference` (for `eval --compare`): per common problem the difference B - A, then a bootstrap over those
problems; pairing removes the between-problem variance both runs share, so it is much narrower than comparing two
separate intervals.

Bootstraps use numpy's default generator with a fixed seed (`seed`, recorded in eval.json): the same inputs give the
same intervals. Percentile intervals: the 2.5 % and 97.5 % quantiles of the resampled statistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

CONFIDENCE = 0.95
N_BOOT = 10_000          # problem bootstrap: resamples of the problem set (cheap: one mean each)
N_BOOT_SAMPLING = 2_000  # sampling bootstrap: resamples of every problem's samples
SEED = 0
_CHUNK = 1 << 22         # indices drawn at once (memory bound of the problem bootstrap)


@dataclass
class ProblemSamples:
    """One problem's per-sample results: `acc` (n,), answer `clusters` (n,) from passk.cluster_answers, and whether
    cons@k applies (not for code)."""
    acc: np.ndarray
    clusters: np.ndarray
    votes: bool = True

    @classmethod
    def of(cls, scores: Sequence, clusters: Sequence[int], votes: bool = True) -> ProblemSamples:
        return cls(np.asarray([float(s["acc"]) for s in scores], dtype=float), np.asarray(clusters), votes)


def percentile(draws: np.ndarray, confidence: float = CONFIDENCE) -> list[float]:
    """[lo, hi]: the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of `draws`."""
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(np.asarray(draws, dtype=float), [tail, 1.0 - tail])
    return [float(lo), float(hi)]


def bootstrap_means(values: Sequence[float], n_boot: int = N_BOOT, seed: int = SEED) -> np.ndarray:
    """`n_boot` means of `values` resampled with replacement (the problem bootstrap)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("bootstrap of no values")
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK // values.size)
    out = [values[rng.integers(0, values.size, size=(min(rows, n_boot - start), values.size))].mean(axis=1)
           for start in range(0, n_boot, rows)]
    return np.concatenate(out)


def problem_interval(values: Sequence[float], n_boot: int = N_BOOT, seed: int = SEED,
                     confidence: float = CONFIDENCE) -> list[float]:
    """Percentile interval of the mean over problems (bootstrap over problems)."""
    return percentile(bootstrap_means(values, n_boot, seed), confidence)


def paired_difference(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOT, seed: int = SEED,
                      confidence: float = CONFIDENCE) -> dict:
    """B - A over paired problems: {"diff": mean difference, "ci95": [lo, hi], "problems": count}."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    return {"diff": float(d.mean()), "ci95": problem_interval(d, n_boot, seed, confidence), "problems": int(d.size)}


# ---------------------------------------------------------------------------------------- the sampling bootstrap
def _kind(metric: str) -> tuple[str, int]:
    kind, _, k = metric.partition("@")
    return kind, int(k)


def sampling_draws(problem: ProblemSamples, metric: str, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """`n_boot` values of `metric` ("pass@1", "pass@k", "cons@k") of one problem with its samples resampled."""
    kind, k = _kind(metric)
    acc, n = problem.acc, problem.acc.size
    if kind == "pass" and k == 1:
        return acc[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    if kind == "pass":
        table = np.array([1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k) for c in range(n + 1)])
        correct = (acc >= 1.0)[rng.integers(0, n, size=(n_boot, n))].sum(axis=1)
        return table[correct]
    # cons@k: majority over k drawn answers; ties go to the cluster drawn first, whose first voter's acc counts
    idx = rng.integers(0, n, size=(n_boot, k))
    _, labels = np.unique(problem.clusters, return_inverse=True)
    drawn = labels[idx]                                             # (B, k) cluster of each drawn answer
    members = drawn[:, :, None] == np.arange(labels.max() + 1)      # (B, k, C)
    counts = members.sum(axis=1)                                    # (B, C)
    first = np.where(members.any(axis=1), members.argmax(axis=1), k)  # (B, C) first position drawn, k if absent
    winner = np.argmax(counts * (k + 1) - first, axis=1)            # most votes, then earliest
    rows = np.arange(n_boot)
    return acc[idx[rows, first[rows, winner]]]


def sampling_interval(problems: Sequence[ProblemSamples], metric: str, n_boot: int = N_BOOT_SAMPLING,
                      seed: int = SEED, confidence: float = CONFIDENCE) -> list[float] | None:
    """Percentile interval of the benchmark mean with every problem's samples resampled (problems fixed); None when
    no problem has the metric. A problem with fewer than k samples is left out, as in the point estimate."""
    kind, k = _kind(metric)
    chosen = [p for p in problems if p.acc.size >= k and (kind == "pass" or p.votes)]
    if not chosen:
        return None
    rng = np.random.default_rng(seed)
    total = np.zeros(n_boot)
    for p in chosen:
        total += sampling_draws(p, metric, n_boot, rng)
    return percentile(total / len(chosen), confidence)


def intervals(problems: Sequence[ProblemSamples], per_problem: Sequence[dict], metrics: Sequence[str],
              n_boot: int = N_BOOT, n_boot_sampling: int = N_BOOT_SAMPLING, seed: int = SEED,
              confidence: float = CONFIDENCE) -> dict[str, dict[str, list[float]]]:
    """{metric: {"ci95": problem-bootstrap interval, "ci95_sampling": sampling interval}} for one benchmark.
    `per_problem`: passk.problem_metrics of each problem (the values the point estimate averages)."""
    out = {}
    for metric in metrics:
        values = [m[metric] for m in per_problem if metric in m]
        if not values:
            continue
        out[metric] = {"ci95": problem_interval(values, n_boot, seed, confidence),
                       "ci95_sampling": sampling_interval(problems, metric, n_boot_sampling, seed, confidence)}
    return out
