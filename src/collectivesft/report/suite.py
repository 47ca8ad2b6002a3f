"""The report's benchmark-suite section: one table of every benchmark's score per model, trained
minus base per benchmark as a paired difference, and a retention line for the general group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectivesft.report.collect import RunSummary
from collectivesft.report.document import Document

RETENTION_NOTE = ("an interval entirely below zero is general knowledge the fine-tuning cost; one containing zero "
                  "shows no measurable loss")


def _cell(value: Any, interval: Any) -> Any:
    """'0.208 [0.161, 0.251]' (non-breaking spaces keep it on one line); '-' without a score."""
    if value is None:
        return None
    if not (isinstance(interval, (list, tuple)) and len(interval) == 2):
        return value
    return f"{value:.3f}\u00a0[{interval[0]:.3f},\u00a0{interval[1]:.3f}]"


def _folder(run: RunSummary, label: str, row: dict[str, Any]) -> Path:
    """A benchmark's eval folder: under the run folder (it may have moved), else where it was written."""
    here = run.path / "eval" / label / row["benchmark"]
    return here if here.is_dir() else Path(row.get("dir") or here)


def paired_rows(run: RunSummary) -> dict[str, dict[str, Any]]:
    """benchmark -> trained minus base in its metric with a paired interval (when both were scored)."""
    from collectivesft.benchmarks.base import benchmark_names, get_benchmark

    if "base" not in run.suites or "trained" not in run.suites:
        return {}
    base = {r["benchmark"]: r for r in run.suites["base"].get("benchmarks") or []}
    known = set(benchmark_names())
    out = {}
    for row in run.suites["trained"].get("benchmarks") or []:
        name = row["benchmark"]
        if name in base and name in known:
            paired = get_benchmark(name).paired(_folder(run, "base", base[name]), _folder(run, "trained", row))
            if paired:
                out[name] = paired
    return out


def suite_section(doc: Document, run: RunSummary) -> None:
    """The suite table (rows: benchmarks; columns: each model's score [95% CI], trained - base)."""
    if not run.suites:
        return
    doc.heading("Benchmark suite", 3)
    labels = list(run.suites)
    rows_by: dict[str, dict[str, dict[str, Any]]] = {}
    for label, suite in run.suites.items():
        for row in suite.get("benchmarks") or []:
            rows_by.setdefault(row["benchmark"], {})[label] = row
    paired = paired_rows(run)
    headers = ["benchmark", "group", "metric"] + [f"{label} [95% CI]" for label in labels]
    if paired:
        headers.append("trained − base [95% CI]")
    table = []
    for name, by_label in rows_by.items():
        first = next(iter(by_label.values()))
        cells = [f"{first['title']} ({name})", first["group"], first["metric"]]
        cells += [_cell(by_label[l]["score"], by_label[l].get("ci95")) if l in by_label else None for l in labels]
        if paired:
            p = paired.get(name)
            cells.append(_cell(p["difference"], p["interval"]) if p else None)
        table.append(cells)
    doc.para("Each benchmark in its own metric (macro:<group> = the mean of that group's accuracies, as the "
             "benchmark's official score); intervals are 95 % bootstrap intervals, the difference a paired "
             "bootstrap on the items both models answered.")
    doc.table(headers, table)
    for name, p in paired.items():
        if rows_by[name][next(iter(rows_by[name]))]["group"] == "general":
            lo, hi = p["interval"]
            doc.para(f"Retention ({name}, general subjects): trained − base = {p['difference']:+.3f} "
                     f"[{lo:+.3f}, {hi:+.3f}] on {p['n']} items; {RETENTION_NOTE}.")
