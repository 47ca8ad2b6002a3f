"""Figures for every stage's reports: one look, saved as PNG and SVG, byte-identical on rerun.

Text is drawn with the report font (fonts.py: a CJK font shipped by a dependency), as pixels
in PNG and as glyph outlines in SVG (`svg.fonttype: path`), so a Chinese exam name reads the
same in any browser, with or without CJK fonts of its own. Without any CJK font, exam-type
names are drawn as their English glosses (fonts.drawable).
"""

from __future__ import annotations

import io
import textwrap
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from collectivesft.io import atomic_write
from collectivesft.report import fonts

# A fixed salt makes the SVG element ids (hashes) the same on every run; no dates or
# software versions go into either file.
SVG_HASH_SALT = "collectivesft"
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}
DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def styled() -> Iterator[None]:
    """matplotlib settings for building and saving a report figure (restored afterwards)."""
    import matplotlib

    rc: dict[str, Any] = {"svg.fonttype": "path", "svg.hashsalt": SVG_HASH_SALT, "savefig.dpi": DPI}
    font = fonts.cjk_font()
    if font:
        rc["font.sans-serif"] = [font[0], *matplotlib.rcParams["font.sans-serif"]]
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        # Without a CJK font, Chinese other than exam-type names (drawn as glosses) shows as boxes.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        yield


def figure(width: float, height: float, ncols: int = 1, sharey: bool = False) -> tuple[Any, Any]:
    """A new (figure, axes) with constrained layout, for plots the helpers below do not draw."""
    with styled():
        return _pyplot().subplots(1, ncols, figsize=(width, height), layout="constrained", sharey=sharey)


def save_figure(fig: Any, path_stem: str | Path) -> dict[str, Path]:
    """Write `path_stem`.png and `path_stem`.svg atomically, close `fig`; return {"png": ..., "svg": ...}."""
    stem = Path(path_stem)
    if stem.suffix in (".png", ".svg"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {kind: stem.with_name(f"{stem.name}.{kind}") for kind in ("png", "svg")}
    with styled():
        for kind, metadata in (("png", PNG_METADATA), ("svg", SVG_METADATA)):
            buf = io.BytesIO()
            fig.savefig(buf, format=kind, metadata=metadata)
            with atomic_write(paths[kind], "wb", encoding=None) as fh:
                fh.write(buf.getvalue())
    _pyplot().close(fig)
    return paths


def bar_chart(categories: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, value_label: str,
              horizontal: bool = False, stacked: bool = False, limits: tuple[float, float] | None = None,
              intervals: Mapping[str, Sequence[tuple[float, float]]] | None = None,
              annotate: str | None = None) -> Any:
    """Bars per category, one bar (or stacked segment) per series; return the figure.

    `intervals` gives (low, high) per category for a series, drawn as error bars;
    `annotate` is a format string ("{:.1f}") for printing each value on its bar.
    """
    import numpy as np

    categories = [fonts.drawable(str(c)) for c in categories]
    series = {fonts.drawable(str(k)): v for k, v in series.items()}
    intervals = {fonts.drawable(str(k)): v for k, v in intervals.items()} if intervals else None
    title = fonts.drawable(title)
    names = list(series)
    n = len(categories)
    if horizontal:
        fig, ax = figure(8, 1.5 + 0.45 * max(n, 1))
    else:
        fig, ax = figure(max(6.0, 1.1 * n + 2), 4)
    positions = np.arange(n, dtype=float)
    width = 0.8 if stacked else 0.8 / max(1, len(names))
    base = np.zeros(n)
    for i, name in enumerate(names):
        values = np.asarray(series[name], dtype=float)
        where = positions if stacked else positions + (i - (len(names) - 1) / 2) * width
        errors = None
        if intervals and name in intervals:
            bounds = np.asarray(intervals[name], dtype=float).reshape(n, 2)
            errors = np.abs(np.stack([values - bounds[:, 0], bounds[:, 1] - values]))
        draw = ax.barh if horizontal else ax.bar
        offset = {"left": base} if horizontal else {"bottom": base}
        # A long legend entry is wrapped: one line as wide as the plot would squeeze the axes to nothing.
        bars = draw(where, values, width, label=textwrap.fill(name, 40), **(offset if stacked else {}),
                    **({"xerr" if horizontal else "yerr": errors, "capsize": 3} if errors is not None else {}))
        if annotate:
            ax.bar_label(bars, labels=[annotate.format(v) for v in values], fontsize=8, padding=2)
        if stacked:
            base = base + values
    if horizontal:
        ax.set_yticks(positions, list(categories))
        ax.invert_yaxis()
        ax.set_xlabel(value_label)
        if limits:
            ax.set_xlim(*limits)
    else:
        long_labels = any(len(str(c)) > 6 for c in categories)
        ax.set_xticks(positions, list(categories), rotation=20 if long_labels else 0,
                      ha="right" if long_labels else "center")
        ax.set_ylabel(value_label)
        if limits:
            ax.set_ylim(*limits)
    ax.set_title(title)
    if len(names) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def line_chart(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, title: str, xlabel: str,
               ylabel: str) -> Any:
    """One line per named (xs, ys) curve, with markers when a curve has few points; return the figure."""
    fig, ax = figure(7, 4)
    for label, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), marker="o" if len(xs) < 30 else None, markersize=3, label=fonts.drawable(label))
    ax.set_xlabel(fonts.drawable(xlabel))
    ax.set_ylabel(fonts.drawable(ylabel))
    ax.set_title(fonts.drawable(title))
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize="small")
    return fig
