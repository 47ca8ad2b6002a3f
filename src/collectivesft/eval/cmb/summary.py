"""Human-facing score files: scores.md (tables) and a bar chart by exam type (PNG + SVG).

Exam types keep their Chinese names on the chart and in the tables; scores.md adds an
English gloss column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectivesft.benchmarks.cmb.format import TYPE_LABELS
from collectivesft.io import atomic_write, write_json, write_jsonl

CHART = "scores_by_type.png"


def plot_by_type(scores: dict[str, Any], path: Path) -> None:
    """Bar chart of accuracy by exam type (plus the macro mean) as `path` (PNG) and the same name .svg."""
    from collectivesft.report import plots

    types = list(scores["by_type"])
    values = [100 * scores["by_type"][t] for t in types] + [100 * scores["overall_macro_types"]]
    fig = plots.bar_chart(types + ["Mean (types)"], {"accuracy (%)": values}, annotate="{:.1f}",
                          title=f"CMB-Exam by exam type (n={scores['n']})", value_label="accuracy (%)",
                          limits=(0, 105))
    plots.save_figure(fig, path)


def scores_markdown(scores: dict[str, Any]) -> str:
    """scores.md: overall numbers, the by-type and by-class tables, key problems."""
    from collectivesft.report.tables import markdown_table

    from collectivesft.eval.cmb.subset import caveat, describe

    ci = scores.get("ci95") or {}

    def interval(name: str) -> str:
        bounds = ci.get(name)
        return f" (95 % interval {100 * bounds[0]:.1f}-{100 * bounds[1]:.1f})" if bounds else ""

    lines = ["# CMB-Exam scores", ""]
    if scores.get("subset"):
        note = caveat(scores["subset"])
        lines.append(f"- run on {describe(scores['subset'])}" + (f": {note}" if note else ""))
    lines += [f"- questions scored: {scores['n']} (answered: {scores['n_answered']}, missing: {scores['missing']})",
              f"- overall (micro, all questions): {100 * scores['overall_micro']:.2f}{interval('overall_micro')}",
              f"- overall (mean of exam types, official): {100 * scores['overall_macro_types']:.2f}"
              f"{interval('overall_macro_types')}"]
    if scores.get("key_invalid"):
        lines.append(f"- key rows excluded for an invalid answer: {scores['key_invalid']} "
                     f"(ids {', '.join(map(str, scores['key_invalid_ids'][:50]))})")
    lines += ["", "## By exam type", "",
              markdown_table(["exam type", "in English", "accuracy"],
                             [[t, TYPE_LABELS.get(t), f"{100 * acc:.2f}"] for t, acc in scores["by_type"].items()],
                             align="llr")]
    rows = [[t, c, scores["counts"][t][c]["correct"], scores["counts"][t][c]["n"], f"{100 * acc:.2f}"]
            for t, classes in scores["by_class"].items() for c, acc in classes.items()]
    lines += ["", "## By exam class", "",
              markdown_table(["exam type", "exam class", "correct", "n", "accuracy"], rows, align="llrrr")]
    if scores.get("diagnostics"):
        from collectivesft.eval.cmb.diagnostics import diagnostics_markdown

        lines += [""] + diagnostics_markdown(scores["diagnostics"])
    lines += ["", f"![accuracy by exam type]({CHART})", ""]
    return "\n".join(lines)


def write_score_files(out: Path, scores: dict[str, Any], predictions: list[dict[str, Any]],
                      settings: dict[str, Any] | None = None) -> None:
    """predictions.jsonl, scores.json (with diagnostics: eval/cmb/diagnostics.py), scores.md and
    the chart, each written atomically. `settings`: the run's settings, when known."""
    from collectivesft.eval.cmb.diagnostics import diagnose

    out.mkdir(parents=True, exist_ok=True)
    scores["diagnostics"] = diagnose(predictions, scores.get("protocol", ""), settings)
    write_jsonl(out / "predictions.jsonl", predictions)
    write_json(out / "scores.json", scores)
    if scores["by_type"]:
        plot_by_type(scores, out / CHART)
    with atomic_write(out / "scores.md") as fh:
        fh.write(scores_markdown(scores))
