"""PNG plots for reports (matplotlib, Agg). Labels are ASCII: no CJK font is assumed."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

# CMB exam types in English for plot labels (the tables keep the Chinese names).
EXAM_TYPE_EN = {
    "医师考试": "Physician", "护理考试": "Nursing", "药师考试": "Pharmacist", "医技考试": "Med. technician",
    "专业知识考试": "Prof. knowledge", "医学考研": "Grad. entrance",
}

# Reproducible PNGs: no creation date or software version in the file.
PNG_METADATA = {"Software": None, "Creation Time": None}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(path: Path, categories: Sequence[str], series: dict[str, Sequence[float]], title: str,
                 ylabel: str, ylim: tuple[float, float] | None = None) -> Path:
    """One group of bars per category, one bar per series (e.g. run or model)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(categories) + 2), 4))
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(categories))]
        ax.bar(xs, values, width, label=label)
    ax.set_xticks(range(len(categories)), [EXAM_TYPE_EN.get(c, c) for c in categories], rotation=20, ha="right")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    return path


def loss_curves(path: Path, curves: dict[str, tuple[Sequence[float], Sequence[float]]], title: str) -> Path:
    """Line plot of (steps, losses) per named curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, (steps, losses) in curves.items():
        ax.plot(steps, losses, marker="o" if len(steps) < 30 else None, markersize=3, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    return path
