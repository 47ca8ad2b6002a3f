"""The one Markdown table writer every stage's report uses, and how a value becomes a cell."""

from __future__ import annotations

from typing import Any, Sequence

from collectivesft.benchmarks.cmb.format import TYPE_LABELS

ALIGN = {"l": "---", "r": "---:", "c": ":---:"}


def format_cell(value: Any) -> str:
    """A value as table text: None as "-", floats to 4 decimals (1 from 10 up), the rest as str()."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def markdown_table(headers: Sequence[Any], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (no trailing newline); `align` is one of l/r/c per column."""
    if align is not None and len(align) != len(headers):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(headers)} columns")

    def line(cells: Sequence[Any]) -> str:
        # A "|" inside a cell would end it; a newline would end the table.
        text = (format_cell(c).replace("|", "\\|").replace("\n", " ") for c in cells)
        return "| " + " | ".join(text) + " |"

    rule = "|" + "|".join(ALIGN[a] for a in (align or "l" * len(headers))) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def type_label(exam_type: str) -> str:
    """'护理考试 (Nursing)': a CMB exam type's Chinese name with its English gloss, wherever it is shown."""
    gloss = TYPE_LABELS.get(exam_type)
    return f"{exam_type} ({gloss})" if gloss else exam_type
