"""pass@1, unbiased pass@k and cons@k (DeepSeek-R1 §3.1 "Evaluation Setup"), on plain score dicts.

Every function takes the per-sample result dicts the reward `Composer` returns (`acc` in [0, 1], `pred` the canonical
answer key) or anything with those two keys, grouped per problem.

- pass@1: mean over problems of the fraction of correct samples (the paper's "pass@1 averaged over k samples").
- pass@k: Chen et al. 2021's unbiased estimator `1 - C(n-c, k) / C(n, k)` per problem (n samples, c correct), averaged
  over problems. verl's `best@k` is a bootstrap estimate with replacement, which is biased low for k close to n.
- cons@k: majority vote over the first k samples of a problem; the answer wins that most samples share, answers that
  are mathematically equivalent vote together (`0.5`, `\\frac{1}{2}` and `1/2` share the vote key `1/2`; keys the
  vote key leaves apart may be merged by an `equivalent(a, b)` callable). The score is the first voter's `acc`.
  As in verl's `maj@N` (`calc_maj_val`), ties go to the answer seen first and a response with no answer (`pred` "")
  is a vote for "no answer", so a model that mostly fails to answer gets cons@k 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from math import comb

Scores = Sequence[Mapping]
Equivalent = Callable[[str, str], bool]

MAX_MERGE_KEYS = 16  # distinct symbolic keys per problem compared pairwise by `equivalent` (120 pairs at most)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with `n` samples of which `c` are correct (Chen et al. 2021, eq. 1)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def _is_number_key(key: str) -> bool:
    # canonical numeric keys are exact rationals ("-3/4", "12"): two different ones are never equivalent
    head, _, tail = key.lstrip("-").partition("/")
    return head.isdigit() and (not tail or tail.isdigit())


def cluster_answers(keys: Sequence[str], equivalent: Equivalent | None = None,
                    max_merge: int = MAX_MERGE_KEYS) -> list[int]:
    """Cluster id per sample: samples with the same key share a cluster; with `equivalent`, clusters whose keys it
    finds equivalent are merged too (only non-numeric, non-empty keys, the `max_merge` most frequent ones).

    Ids are the index of the cluster's first sample, so sorting by id keeps first-seen order.
    """
    keys = ["" if k is None else str(k) for k in keys]
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
        counts[key] = counts.get(key, 0) + 1
    head = {key: first[key] for key in first}  # key -> id of its cluster
    if equivalent is not None:
        symbolic = sorted((k for k in first if k and not _is_number_key(k)), key=lambda k: (-counts[k], first[k]))
        representatives: list[str] = []  # one key per merged cluster: its most frequent one
        for key in symbolic[:max_merge]:
            match = next((r for r in representatives if equivalent(r, key)), None)
            if match is None:
                representatives.append(key)
                continue
            joined = {head[match], head[key]}
            for k, h in head.items():
                if h in joined:
                    head[k] = min(joined)
    return [head[key] for key in keys]


def majority_acc(scores: Scores, equivalent: Equivalent | None = None, clusters: Sequence[int] | None = None) -> float:
    """cons of one problem: `acc` of the first sample of the largest answer cluster (ties: the earliest cluster)."""
    if not scores:
        raise ValueError("majority_acc of no samples")
    if clusters is None:
        clusters = cluster_answers([s.get("pred", "") for s in scores], equivalent)
    sizes: dict[int, int] = {}
    for c in clusters:
        sizes[c] = sizes.get(c, 0) + 1
    winner = max(sorted(sizes), key=sizes.__getitem__)  # max keeps the first of equal sizes (the earliest id)
    return float(scores[winner]["acc"])


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... below n, then n (verl's validation uses the same ladder)."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return [*ks, n] if n else []


def problem_metrics(scores: Scores, ks: Iterable[int] | None = None, cons_k: Iterable[int] | None = None,
                    equivalent: Equivalent | None = None, clusters: Sequence[int] | None = None) -> dict[str, float]:
    """`pass@1`, `pass@k` for k in `ks` (default `default_ks(n)`) and `cons@k` for k in `cons_k` (default: n) of one
    problem; a k above the problem's sample count is left out. `clusters` (from `cluster_answers` on all samples)
    skips re-clustering; cons@k then uses the first k samples' clusters."""
    n = len(scores)
    if n == 0:
        raise ValueError("a problem with no samples")
    correct = sum(1 for s in scores if float(s["acc"]) >= 1.0)
    out = {"pass@1": sum(float(s["acc"]) for s in scores) / n, "samples": n}
    for k in sorted(set(ks if ks is not None else default_ks(n))):
        if 1 < k <= n:
            out[f"pass@{k}"] = pass_at_k(n, correct, k)
    if clusters is None:
        clusters = cluster_answers([s.get("pred", "") for s in scores], equivalent)
    for k in sorted(set(cons_k if cons_k is not None else [n])):
        if 1 <= k <= n:
            head = list(clusters[:k])
            # a cluster id is the index of its first sample; within the first k samples re-anchor on the first member
            anchor = {c: i for i, c in reversed(list(enumerate(head)))}
            out[f"cons@{k}"] = majority_acc(scores[:k], clusters=[anchor[c] for c in head])
    return out


def average(per_problem: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean over problems of `problem_metrics` dicts, plus `problems` and `samples` counts. A metric is averaged over
    the problems that have it (pass@64 only over problems with at least 64 samples); `problems@<metric>` says how
    many when that is not all of them."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    n_problems = n_samples = 0
    for metrics in per_problem:
        n_problems += 1
        n_samples += int(metrics.get("samples", 0))
        for name, value in metrics.items():
            if name != "samples":
                sums[name] = sums.get(name, 0.0) + value
                counts[name] = counts.get(name, 0) + 1
    out: dict[str, float] = {"problems": n_problems, "samples": n_samples}
    for name in sorted(sums, key=_metric_order):
        out[name] = sums[name] / counts[name]
        if counts[name] != n_problems:
            out[f"problems@{name}"] = counts[name]
    return out


def summarize(problems: Iterable[Scores], ks: Iterable[int] | None = None, cons_k: Iterable[int] | None = None,
              equivalent: Equivalent | None = None) -> dict[str, float]:
    """`average` of `problem_metrics` over problems (each a list of score dicts)."""
    ks = list(ks) if ks is not None else None
    cons_k = list(cons_k) if cons_k is not None else None
    return average(problem_metrics(scores, ks, cons_k, equivalent) for scores in problems)


def _metric_order(name: str) -> tuple:
    kind, _, k = name.partition("@")
    return (kind != "pass", int(k) if k.isdigit() else 0)


def pass_cons(scores: Scores, k: int, equivalent: Equivalent | None = None) -> dict[str, float]:
    """pass@1, pass@k and cons@k of a flat list holding `k` consecutive samples per problem."""
    if not scores or len(scores) % k:
        raise ValueError(f"pass_cons: {len(scores)} scores is not a non-zero multiple of k={k}")
    groups = [scores[i:i + k] for i in range(0, len(scores), k)]
    out = summarize(groups, ks=[k], cons_k=[k], equivalent=equivalent)
    return {name: out[name] for name in ("pass@1", f"pass@{k}", f"cons@{k}") if name in out}
