"""Uncertainty of benchmark scores: bootstrap intervals for a mean and for a paired difference,
and McNemar's test for two models answering the same questions. numpy only.

Resampling is vectorised (a block of resamples is one index matrix), so 11,200 items x 1,000
resamples take a fraction of a second.
"""

from __future__ import annotations

import math
from typing import Hashable, Mapping, Sequence

import numpy as np

# McNemar: the exact binomial test up to this many discordant pairs (the exact big-integer sum
# takes about 0.1 s at this size). Above it, the chi-square approximation with continuity
# correction; at 25,000 pairs the two differ by about 0.5% of the p-value even near p = 1e-10.
EXACT_MAX_DISCORDANT = 25_000
# Resamples drawn per block: bounds memory (block x items int32 indices) without a Python loop per resample.
_BLOCK_CELLS = 4_000_000


def _vector(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D sequence of numbers, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def _check(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (exclusive), got {level}")


def _bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of `n_boot` resamples (with replacement, same size) of `values`."""
    rng = np.random.default_rng(seed)
    n = values.size
    block = max(1, _BLOCK_CELLS // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        index = rng.integers(0, n, size=(stop - start, n), dtype=np.int32 if n < 2**31 else np.int64)
        means[start:stop] = values[index].mean(axis=1)
    return means


def _percentiles(means: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_interval(correct: Sequence[float], n_boot: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) at `level` for the mean of `correct` (e.g. 0/1 per question)."""
    _check(n_boot, level)
    return _percentiles(_bootstrap_means(_vector(correct, "correct"), n_boot, seed), level)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """mean(b) - mean(a) on the same items, with a percentile bootstrap interval that resamples
    items (both scores of an item together): {"diff", "low", "high"}."""
    _check(n_boot, level)
    a_, b_ = _vector(a, "a"), _vector(b, "b")
    if a_.size != b_.size:
        raise ValueError(f"paired scores need the same items: a has {a_.size}, b has {b_.size}")
    diff = b_ - a_
    low, high = _percentiles(_bootstrap_means(diff, n_boot, seed), level)
    return {"diff": float(diff.mean()), "low": low, "high": high}


def _binary(values: Sequence[float], name: str) -> np.ndarray:
    array = _vector(values, name)
    if not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{name}: McNemar's test needs 0/1 (wrong/right) per item")
    return array.astype(bool)


def mcnemar(a: Sequence[float], b: Sequence[float], exact_max: int = EXACT_MAX_DISCORDANT) -> dict[str, float]:
    """McNemar's two-sided test that a and b (0/1 per item, same items) are equally often right.

    b01: items a got wrong and b right; b10: a right, b wrong. The p-value is the exact binomial
    test on the discordant items (n = b01 + b10, success 1/2); above `exact_max` discordant items,
    the chi-square test with continuity correction. "method" says which was used.
    """
    a_, b_ = _binary(a, "a"), _binary(b, "b")
    if a_.size != b_.size:
        raise ValueError(f"paired scores need the same items: a has {a_.size}, b has {b_.size}")
    b01 = int((~a_ & b_).sum())
    b10 = int((a_ & ~b_).sum())
    n = b01 + b10
    if n <= exact_max:
        return {"b01": b01, "b10": b10, "p_value": _exact_binomial_two_sided(min(b01, b10), n), "method": "exact"}
    statistic = (abs(b01 - b10) - 1) ** 2 / n
    # Survival function of chi-square with one degree of freedom.
    return {"b01": b01, "b10": b10, "p_value": math.erfc(math.sqrt(statistic / 2)), "method": "chi2"}


def _exact_binomial_two_sided(k: int, n: int) -> float:
    """2 * P(X <= k) for X ~ Binomial(n, 1/2), k <= n/2, capped at 1 (exact integer arithmetic)."""
    if n == 0:
        return 1.0
    term, total = 1, 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        total += term
    return min(1.0, 2 * total / 2**n)


def stratified_bootstrap_means(groups: Mapping[Hashable, Sequence], n_boot: int = 1000,
                               seed: int = 0) -> dict[Hashable, np.ndarray]:
    """Per group, the means of `n_boot` resamples drawn inside that group (a stratified
    bootstrap: every resample keeps each group's size). A group is one vector (result shape
    (n_boot,)) or k aligned vectors of the same items (shape (n_boot, k)): the same resampled
    items serve all k, which is what a paired comparison needs."""
    _check(n_boot, 0.5)
    rng = np.random.default_rng(seed)
    out: dict[Hashable, np.ndarray] = {}
    for name, values in groups.items():
        data = np.asarray(values, dtype=float)
        single = data.ndim == 1
        data = data[None, :] if single else data
        if data.ndim != 2 or data.shape[1] == 0 or not np.isfinite(data).all():
            raise ValueError(f"group {name!r}: expected non-empty finite vectors, got shape {data.shape}")
        n = data.shape[1]
        block = max(1, _BLOCK_CELLS // n)
        means = np.empty((n_boot, data.shape[0]))
        for start in range(0, n_boot, block):
            stop = min(n_boot, start + block)
            index = rng.integers(0, n, size=(stop - start, n), dtype=np.int32 if n < 2**31 else np.int64)
            means[start:stop] = data[:, index].mean(axis=2).T
        out[name] = means[:, 0] if single else means
    return out


def percentile_interval(samples: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The (low, high) percentile interval at `level` of bootstrap samples."""
    _check(1, level)
    return _percentiles(np.asarray(samples, dtype=float), level)


def _runs_matrix(runs: Sequence[Sequence[float]], name: str) -> np.ndarray:
    matrix = np.asarray(runs, dtype=float)
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise ValueError(f"{name}: expected runs x items scores (a non-empty 2-D table), got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return matrix


def runs_bootstrap(a_runs: Sequence[Sequence[float]], b_runs: Sequence[Sequence[float]], n_boot: int = 2000,
                   seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """mean(b) - mean(a) where each side is several training runs (seeds) scored on the same items:
    a two-level percentile bootstrap that resamples the items (shared by both sides, so the
    comparison stays paired) and, independently per side, the runs. With one run per side it is
    `paired_bootstrap`; with several, how much a retrained model moves is in the interval.

    Also a two-sided bootstrap p-value for "no difference" (twice the smaller share of resampled
    differences on either side of 0; when no resample reaches 0 it is reported as 1/n_boot and
    "p_below" says p is below that): {"diff", "low", "high", "p_value", "p_below", "runs_a", "runs_b"}.
    """
    _check(n_boot, level)
    a, b = _runs_matrix(a_runs, "a_runs"), _runs_matrix(b_runs, "b_runs")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"both sides need the same items: a has {a.shape[1]}, b has {b.shape[1]}")
    rng = np.random.default_rng(seed)
    n, ka, kb = a.shape[1], a.shape[0], b.shape[0]
    # Per run, the sum over a resample of items is a matrix product with the items' counts.
    diffs = np.empty(n_boot)
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        m = stop - start
        items = rng.integers(0, n, size=(m, n))
        counts = np.zeros((m, n))
        np.add.at(counts, (np.repeat(np.arange(m), n), items.ravel()), 1.0)
        per_run_a = counts @ a.T / n  # (m, ka): each run's accuracy on each resample of items
        per_run_b = counts @ b.T / n
        pick_a = rng.integers(0, ka, size=(m, ka))
        pick_b = rng.integers(0, kb, size=(m, kb))
        rows = np.arange(m)[:, None]
        diffs[start:stop] = per_run_b[rows, pick_b].mean(axis=1) - per_run_a[rows, pick_a].mean(axis=1)
    low, high = _percentiles(diffs, level)
    p = min(1.0, 2 * min(float((diffs <= 0).mean()), float((diffs >= 0).mean())))
    return {"diff": float(b.mean() - a.mean()), "low": low, "high": high, "p_value": max(p, 1 / n_boot),
            "p_below": p < 1 / n_boot, "runs_a": ka, "runs_b": kb}
