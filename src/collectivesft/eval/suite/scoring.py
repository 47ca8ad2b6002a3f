"""Scores of one benchmark run: the benchmark's metric, a breakdown per category, 95 % intervals.

The metric is the benchmark's `metric`: "accuracy" is the fraction of scored items right
(micro); "macro:<group>" is the mean over that group's values of their accuracies (CMMLU's
official average: the mean of its subjects' accuracies). Intervals are percentile bootstraps
over items resampled inside the metric's strata (the macro group, else the primary category),
so every resample keeps the split's design (as eval/cmb/intervals.py does for CMB's classes);
a comparison of two runs resamples the same items for both (paired).

Items without a published answer (a test split scored by a leaderboard, or a row whose answer
is unusable) are not scored: they are counted under `unscored` with the reason, never dropped
silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from collectivesft import stats

N_BOOT = 1000
SEED = 0
LEVEL = 0.95


def metric_group(metric: str) -> str | None:
    """The group a macro metric averages over ("macro:subject" -> "subject"); None for accuracy."""
    if metric == "accuracy":
        return None
    if metric.startswith("macro:") and metric[len("macro:"):]:
        return metric[len("macro:"):]
    raise ValueError(f"unknown metric {metric!r}: expected 'accuracy' or 'macro:<group>'")


def stratum_key(benchmark: Any) -> str | None:
    """The group items are resampled within: the macro group, else the primary category."""
    return metric_group(benchmark.metric) or (benchmark.categories[0] if benchmark.categories else None)


POOLED = "(groups of one item, pooled)"


def _metric(cells: Mapping[str, Any], macro: bool, groups: Mapping[str, int] | None = None) -> Any:
    """The metric from per-stratum means (numbers or bootstrap arrays) and sizes; `groups` says how
    many of the macro metric's groups a stratum stands for (the pooled one: several, else 1)."""
    if macro:
        weight = groups or {}
        return sum(m * weight.get(k, 1) for k, (m, _) in cells.items()) / sum(weight.get(k, 1) for k in cells)
    total = sum(n for _, n in cells.values())
    return sum(m * n for m, n in cells.values()) / total


def pool_singletons(vectors: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Strata for resampling, with every group of one item pooled into one stratum (collapsed strata):
    a group of one item resampled within itself never varies, so a split of many one-item groups
    (a small run, a fixture) would get an interval of zero width. The pooled stratum's mean times its
    group count is the sum of those groups' accuracies, so point values are unchanged."""
    single = [k for k, v in vectors.items() if len(v) == 1]
    if len(single) < 2:
        return vectors, {}
    pooled = {k: v for k, v in vectors.items() if len(v) != 1}
    pooled[POOLED] = [v[0] for k, v in vectors.items() if k in single]
    return pooled, {POOLED: len(single)}


def metric_value(benchmark: Any, rows: Sequence[tuple[dict[str, str], int]]) -> float:
    """The benchmark's metric over (groups, correct 0/1) rows (what the tests compute by hand)."""
    group = metric_group(benchmark.metric)
    cells: dict[str, list[int]] = {}
    for groups, correct in rows:
        cells.setdefault(groups.get(group, "-") if group else "all", []).append(correct)
    return _metric({k: (sum(v) / len(v), len(v)) for k, v in cells.items()}, group is not None)


def _strata(benchmark: Any, predictions: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    key = stratum_key(benchmark)
    out: dict[str, list[dict[str, Any]]] = {}
    for p in predictions:
        out.setdefault((p.get("groups") or {}).get(key, "-") if key else "all", []).append(p)
    return out


def score_predictions(benchmark: Any, predictions: list[dict[str, Any]], n_boot: int = N_BOOT,
                      seed: int = SEED) -> dict[str, Any]:
    """scores.json for prediction rows ({id, model_answer, correct (None: unscored), groups, ...})."""
    scored = [p for p in predictions if p.get("correct") is not None]
    unscored = [{"id": p["id"], "reason": p.get("unscored") or "no published answer"}
                for p in predictions if p.get("correct") is None]
    group = metric_group(benchmark.metric)
    scores: dict[str, Any] = {
        "benchmark": benchmark.name, "title": benchmark.title, "metric": benchmark.metric,
        "n": len(scored), "n_items": len(predictions), "n_correct": sum(bool(p["correct"]) for p in scored),
        "n_answered": sum(1 for p in scored if p.get("model_answer")),
        "unscored": unscored,
    }
    if not scored:
        scores.update({"score": None, "ci95": None, "accuracy": None, "accuracy_ci95": None, "by": {}})
        return scores
    strata = _strata(benchmark, scored)
    vectors, weights = pool_singletons({k: [int(bool(p["correct"])) for p in rows] for k, rows in strata.items()})
    sampled = stats.stratified_bootstrap_means(vectors, n_boot, seed)
    point = {k: (sum(v) / len(v), len(v)) for k, v in vectors.items()}
    boot = {k: (sampled[k], len(v)) for k, v in vectors.items()}
    micro, micro_samples = _metric(point, False), _metric(boot, False)
    scores["accuracy"] = micro
    scores["accuracy_ci95"] = list(stats.percentile_interval(micro_samples, LEVEL))
    if group:
        scores["score"] = _metric(point, True, weights)
        scores["ci95"] = list(stats.percentile_interval(_metric(boot, True, weights), LEVEL))
    else:
        scores["score"], scores["ci95"] = micro, scores["accuracy_ci95"]
    by: dict[str, dict[str, Any]] = {}
    for key in benchmark.categories:
        cells: dict[str, list[int]] = {}
        for p in scored:
            cells.setdefault((p.get("groups") or {}).get(key, "-"), []).append(int(bool(p["correct"])))
        by[key] = {value: {"accuracy": sum(v) / len(v), "correct": sum(v), "n": len(v),
                           "ci95": list(stats.bootstrap_interval(v, n_boot, seed, LEVEL))}
                   for value, v in sorted(cells.items())}
    scores["by"] = by
    scores["interval_method"] = (f"percentile bootstrap ({n_boot} resamples, seed {seed}), items resampled within "
                                 f"each {stratum_key(benchmark) or 'split'}"
                                 + (f" ({weights[POOLED]} groups of one item resampled as one pool)" if weights else "")
                                 + "; categories: plain bootstrap")
    return scores


def paired_predictions(benchmark: Any, a: list[dict[str, Any]], b: list[dict[str, Any]], n_boot: int = N_BOOT,
                       seed: int = SEED) -> dict[str, Any] | None:
    """B minus A in the benchmark's metric on the items both scored: point values, the difference and
    its paired stratified bootstrap interval; None when they share no scored item."""
    by_id = {str(p["id"]): p for p in a if p.get("correct") is not None}
    pairs = [(by_id[str(p["id"])], p) for p in b if p.get("correct") is not None and str(p["id"]) in by_id]
    if not pairs:
        return None
    key = stratum_key(benchmark)
    cells: dict[str, list[list[int]]] = {}
    for pa, pb in pairs:
        cell = cells.setdefault((pa.get("groups") or {}).get(key, "-") if key else "all", [[], []])
        cell[0].append(int(bool(pa["correct"])))
        cell[1].append(int(bool(pb["correct"])))
    macro = metric_group(benchmark.metric) is not None
    single = [k for k, (x, _) in cells.items() if len(x) == 1]
    weights: dict[str, int] = {}
    if len(single) >= 2:  # as pool_singletons: groups of one item resampled as one pool
        pooled = [[cells[k][0][0] for k in single], [cells[k][1][0] for k in single]]
        cells = {k: v for k, v in cells.items() if k not in single}
        cells[POOLED], weights = pooled, {POOLED: len(single)}
    point_a = _metric({k: (sum(x) / len(x), len(x)) for k, (x, _) in cells.items()}, macro, weights)
    point_b = _metric({k: (sum(y) / len(y), len(y)) for k, (_, y) in cells.items()}, macro, weights)
    sampled = stats.stratified_bootstrap_means({k: v for k, v in cells.items()}, n_boot, seed)
    diff = _metric({k: (s[:, 1] - s[:, 0], len(cells[k][0])) for k, s in sampled.items()}, macro, weights)
    return {"a": point_a, "b": point_b, "difference": point_b - point_a,
            "interval": list(stats.percentile_interval(diff, LEVEL)), "n": len(pairs)}


def read_predictions(folder: str | Path) -> list[dict[str, Any]]:
    path = Path(folder) / "predictions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def paired_folders(benchmark: Any, a: str | Path, b: str | Path) -> dict[str, Any] | None:
    """paired_predictions on two eval folders' predictions.jsonl (None when either is missing)."""
    if not ((Path(a) / "predictions.jsonl").is_file() and (Path(b) / "predictions.jsonl").is_file()):
        return None
    return paired_predictions(benchmark, read_predictions(a), read_predictions(b))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def interval_text(bounds: Sequence[float] | None) -> str:
    return f"{100 * bounds[0]:.1f}-{100 * bounds[1]:.1f}" if bounds else ""


def scores_markdown(scores: dict[str, Any], subset_line: str = "") -> str:
    """scores.md: the metric with its interval, counts, unscored items, one table per category."""
    from collectivesft.report.tables import markdown_table

    lines = [f"# {scores['title']} scores", ""]
    if subset_line:
        lines.append(f"- run on {subset_line}")
    lines += [f"- metric: {scores['metric']} = {_pct(scores['score'])} (95 % interval {interval_text(scores['ci95'])})",
              f"- accuracy over all scored items (micro): {_pct(scores['accuracy'])} "
              f"(95 % interval {interval_text(scores['accuracy_ci95'])})",
              f"- items scored: {scores['n']} (answered: {scores['n_answered']}, right: {scores['n_correct']})"]
    if scores["unscored"]:
        shown = ", ".join(f"{u['id']} ({u['reason']})" for u in scores["unscored"][:20])
        lines.append(f"- **not scored: {len(scores['unscored'])} item(s)**: {shown}"
                     + (" ..." if len(scores["unscored"]) > 20 else ""))
    for key, cells in (scores.get("by") or {}).items():
        lines += ["", f"## By {key}", "",
                  markdown_table([key, "correct", "n", "accuracy", "95% interval"],
                                 [[v, c["correct"], c["n"], _pct(c["accuracy"]), interval_text(c["ci95"])]
                                  for v, c in cells.items()], align="lrrrr")]
    lines.append("")
    return "\n".join(lines)
