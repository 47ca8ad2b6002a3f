"""Human-facing score files: scores.md (tables) and a PNG bar chart by exam type.

Chinese exam-type names are drawn on the chart only when a CJK font is installed
(`fc-list :lang=zh`); otherwise the bars get ASCII labels and scores.md carries the legend.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from collectivesft.io import atomic_write, write_json, write_jsonl

# English labels for CMB's six exam types (used when no CJK font can draw the Chinese names).
TYPE_LABELS = {
    "医师考试": "Physician", "护理考试": "Nursing", "药师考试": "Pharmacist",
    "医技考试": "Med. technician", "专业知识考试": "Specialist knowl.", "医学考研": "Postgrad entrance",
}
CHART = "scores_by_type.png"


def cjk_font() -> str | None:
    """Family name of an installed font that covers Chinese, or None."""
    if not shutil.which("fc-list"):
        return None
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    families = [line.split(",")[0].strip() for line in out.splitlines() if line.strip()]
    return families[0] if families else None


def type_labels(types: list[str], font: str | None) -> dict[str, str]:
    """Chart label of each exam type: the name itself with a CJK font, else ASCII (T1, T2... when unknown)."""
    if font:
        return {t: t for t in types}
    labels = {}
    for i, t in enumerate(types, 1):
        labels[t] = t if t.isascii() else TYPE_LABELS.get(t, f"T{i}")
    return labels


def plot_by_type(scores: dict[str, Any], path: Path) -> dict[str, str]:
    """Bar chart of accuracy by exam type (plus the macro mean); returns the labels used."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = cjk_font()
    types = list(scores["by_type"])
    labels = type_labels(types, font)
    if font:
        plt.rcParams["font.sans-serif"] = [font] + plt.rcParams["font.sans-serif"]
    values = [100 * scores["by_type"][t] for t in types] + [100 * scores["overall_macro_types"]]
    names = [labels[t] for t in types] + ["Mean (types)"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names)), 3.6), dpi=120)
    bars = ax.bar(range(len(names)), values, color=["#4c72b0"] * len(types) + ["#dd8452"])
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, v + 1, f"{v:.1f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"CMB-Exam by exam type (n={scores['n']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
    return labels


def scores_markdown(scores: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """scores.md: overall numbers, the by-type and by-class tables, key problems."""
    labels = labels or {}
    lines = ["# CMB-Exam scores", "",
             f"- questions scored: {scores['n']} (answered: {scores['n_answered']}, missing: {scores['missing']})",
             f"- overall (micro, all questions): {100 * scores['overall_micro']:.2f}",
             f"- overall (mean of exam types, official): {100 * scores['overall_macro_types']:.2f}"]
    if scores.get("key_invalid"):
        lines.append(f"- key rows excluded for an invalid answer: {scores['key_invalid']} "
                     f"(ids {', '.join(map(str, scores['key_invalid_ids'][:50]))})")
    lines += ["", "## By exam type", "", "| exam type | chart label | accuracy |", "|---|---|---:|"]
    for t, acc in scores["by_type"].items():
        lines.append(f"| {t} | {labels.get(t, t)} | {100 * acc:.2f} |")
    lines += ["", "## By exam class", "", "| exam type | exam class | correct | n | accuracy |", "|---|---|---:|---:|---:|"]
    for t, classes in scores["by_class"].items():
        for c, acc in classes.items():
            cnt = scores["counts"][t][c]
            lines.append(f"| {t} | {c} | {cnt['correct']} | {cnt['n']} | {100 * acc:.2f} |")
    lines += ["", f"![accuracy by exam type]({CHART})", ""]
    return "\n".join(lines)


def write_score_files(out: Path, scores: dict[str, Any], predictions: list[dict[str, Any]]) -> None:
    """predictions.jsonl, scores.json, scores.md and the chart, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "predictions.jsonl", predictions)
    write_json(out / "scores.json", scores)
    labels = plot_by_type(scores, out / CHART) if scores["by_type"] else {}
    with atomic_write(out / "scores.md") as fh:
        fh.write(scores_markdown(scores, labels))
