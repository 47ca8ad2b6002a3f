"""Plain-text tables for the terminal (no heavy imports)."""

from __future__ import annotations

import unicodedata
from typing import Any, Sequence

import typer


def _width(text: str) -> int:
    # CJK characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int | None = None) -> str:
    """A fixed-width text table; numbers right-aligned, CJK-aware widths. With `max_width`, the
    widest text columns are wrapped (at spaces where possible) until every line fits."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) and rows for i in range(len(headers))]
    if max_width is not None:
        # Words are not cut, nor headers wrapped, while a column can still wrap between words.
        words = [max([_width(w) for r in cells[1:] for w in r[i].split(" ")] + [_width(cells[0][i])])
                 for i in range(len(headers))]
        text = [sum(_width(r[i]) for r in cells) for i in range(len(headers))]
        widths = _fit(widths, max_width, [bool(n) for n in numeric], words, text)
        # The first column names the row (a source, a model): it is never wrapped.
        floors = [widths[0]] + [_width(h) for h in cells[0][1:]]
        widths = _fit(widths, max_width, [bool(n) for n in numeric], floors, text)

    def lines(row: list[str]) -> list[str]:
        wrapped = [_wrap(c, widths[i]) for i, c in enumerate(row)]
        out = []
        for k in range(max(len(w) for w in wrapped)):
            parts = []
            for i, w in enumerate(wrapped):
                c = w[k] if k < len(w) else ""
                pad = " " * (widths[i] - _width(c))
                parts.append(pad + c if numeric[i] else c + pad)
            out.append("  ".join(parts).rstrip())
        return out

    sep = "  ".join("-" * w for w in widths)
    return "\n".join(lines(cells[0]) + [sep] + [ln for r in cells[1:] for ln in lines(r)])


def _fit(widths: list[int], limit: int, numeric: list[bool], floors: list[int], text: list[int]) -> list[int]:
    """Narrow text columns one column at a time until the table fits `limit` (two spaces between
    columns), the column with the most text per unit of width first; numbers are never cut."""
    widths = list(widths)
    floors = [min(max(f, 8), w) for f, w in zip(floors, widths)]
    while sum(widths) + 2 * (len(widths) - 1) > limit:
        shrinkable = [i for i in range(len(widths)) if not numeric[i] and widths[i] > floors[i]]
        if not shrinkable:
            break
        i = max(shrinkable, key=lambda k: (text[k] / widths[k], widths[k]))
        widths[i] -= 1
    return widths


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns, broken at spaces, a longer word cut."""
    if _width(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while _width(word) > width:
            if line:
                lines.append(line)
                line = ""
            cut = 1
            while cut < len(word) and _width(word[: cut + 1]) <= width:
                cut += 1
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{line} {word}" if line else word
        if _width(candidate) <= width:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines or [""]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int | None = None) -> None:
    typer.echo(format_table(headers, rows, max_width))


def parse_seeds(text: str | None, example: str) -> list[int] | None:
    """`--seeds 1,2,3` as integers (None when not given); ConfigError naming the option otherwise."""
    if not text:
        return None
    from collectivesft.errors import ConfigError

    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers, e.g. {example}") from None
