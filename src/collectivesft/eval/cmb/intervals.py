"""95 % bootstrap intervals for CMB-Exam scores and for the difference between two runs.

CMB fixes the number of questions per exam class (400 in the release), so questions are
resampled inside each class (collectivesft.stats.stratified_bootstrap_means): every resample
has the test's design, and a type's score stays the mean of its classes' accuracies. In a
comparison the same resampled questions serve both runs (a paired bootstrap).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from collectivesft import stats

N_BOOT = 1000
SEED = 0
LEVEL = 0.95
METHOD = "percentile bootstrap, questions resampled within each exam class"

Cell = tuple[str, str]  # (exam type, exam class)


def _aggregate(class_acc: Mapping[Cell, Any], class_n: Mapping[Cell, int]) -> tuple[Any, Any, dict[str, Any]]:
    """(micro, mean of types, {type: mean of its classes}) from class accuracies (numbers or arrays)."""
    types: dict[str, list[Any]] = {}
    for (exam_type, _), acc in class_acc.items():
        types.setdefault(exam_type, []).append(acc)
    by_type = {t: sum(v) / len(v) for t, v in types.items()}
    total = sum(class_n.values())
    micro = sum(class_acc[c] * class_n[c] for c in class_acc) / total
    return micro, sum(by_type.values()) / len(by_type), by_type


def _bounds(samples: Any) -> list[float]:
    return list(stats.percentile_interval(samples, LEVEL))


def score_intervals(cells: Mapping[Cell, Sequence[int]], n_boot: int = N_BOOT, seed: int = SEED) -> dict[str, Any]:
    """Intervals of overall_micro, overall_macro_types and each exam type's score from per-class
    0/1 correctness vectors {(type, class): [1, 0, ...]}; {} when nothing was scored."""
    cells = {c: v for c, v in cells.items() if len(v)}
    if not cells:
        return {}
    sampled = stats.stratified_bootstrap_means(cells, n_boot, seed)
    micro, macro, by_type = _aggregate(sampled, {c: len(v) for c, v in cells.items()})
    return {"level": LEVEL, "method": METHOD, "n_boot": n_boot, "seed": seed, "overall_micro": _bounds(micro),
            "overall_macro_types": _bounds(macro), "by_type": {t: _bounds(v) for t, v in by_type.items()}}


def paired_intervals(cells: Mapping[Cell, tuple[Sequence[int], Sequence[int]]], n_boot: int = N_BOOT,
                     seed: int = SEED) -> dict[str, Any]:
    """B minus A on the same questions, from per-class aligned 0/1 vectors (a, b): the point
    difference and paired interval of overall_micro, overall_macro_types and each type."""
    n = {c: len(a) for c, (a, _) in cells.items()}
    point_a = _aggregate({c: sum(a) / len(a) for c, (a, _) in cells.items()}, n)
    point_b = _aggregate({c: sum(b) / len(b) for c, (_, b) in cells.items()}, n)
    sampled = stats.stratified_bootstrap_means({c: [a, b] for c, (a, b) in cells.items()}, n_boot, seed)
    diff = _aggregate({c: s[:, 1] - s[:, 0] for c, s in sampled.items()}, n)

    def entry(a: float, b: float, samples: Any) -> dict[str, Any]:
        return {"a": a, "b": b, "difference": b - a, "interval": _bounds(samples)}

    return {"level": LEVEL, "method": METHOD, "n_boot": n_boot, "seed": seed,
            "overall_micro": entry(point_a[0], point_b[0], diff[0]),
            "overall_macro_types": entry(point_a[1], point_b[1], diff[1]),
            "by_type": {t: entry(point_a[2][t], point_b[2][t], diff[2][t]) for t in point_a[2]}}
