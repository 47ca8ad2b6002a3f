"""A report as a list of blocks, rendered to Markdown (PNG links) and to one self-contained
HTML page: SVG plots inline (their text drawn as outlines) and the Chinese characters of the
page embedded as a font subset, so it reads the same in a browser without CJK fonts."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from collectivesft.report.fonts import PAGE_FAMILY, font_face_css
from collectivesft.report.tables import format_cell, markdown_table

# Tables sit in a scroll box and their headers wrap (at "_" too), so a 13-column table fits a
# 1280-px window instead of being cut at the page edge.
# The embedded subset comes first: it holds only Chinese characters, so the rest falls through to
# the system's own fonts.
STYLE = (f"body{{font-family:'{PAGE_FAMILY}',system-ui,'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;"
         "max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
         ".table{overflow-x:auto;max-width:100%}"
         "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 6px;"
         "text-align:left}th{background:#f3f3f3;white-space:normal;vertical-align:bottom}td.n{text-align:right}td:first-child{white-space:nowrap}"
         ".many table{font-size:85%}"
         "figure svg{max-width:100%;height:auto}figcaption{color:#666;font-size:90%}"
         "details{margin:0.5em 0 1em}summary{cursor:pointer;color:#444}"
         "p.status{background:#f6f6f6;border-left:4px solid #999;padding:4px 8px}"
         "p.warn{background:#fff4e0;border-left:4px solid #e69500;padding:4px 8px}")


def html_page(title: str, body: str) -> str:
    """A complete HTML page around `body`, with the report style and its Chinese characters' font."""
    fonts = font_face_css(title + body)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{fonts}{STYLE}</style></head><body>{body}</body></html>\n")


@dataclass
class Document:
    """Headings, paragraphs, tables and figures, in order; figures are {"png", "svg"} files beside the report."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", (level, text)))

    def para(self, text: str, kind: str = "") -> None:
        """A paragraph; `kind` "status" or "warn" sets it apart in HTML (Markdown: a quote)."""
        self.blocks.append(("para", (text, kind)))

    def link(self, text: str, label: str, target: str, html_target: str | None = None) -> None:
        """A paragraph ending in a link (targets relative to the report's folder); the HTML page
        links `html_target` when given (a sub-report rendered to HTML), the Markdown `target`."""
        self.blocks.append(("link", (text, label, target, html_target or target)))

    def details(self, summary: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table folded under `summary` (HTML <details>; Markdown: the summary line, then the table)."""
        self.blocks.append(("details", (summary, [str(h) for h in headers],
                                        [[format_cell(c) for c in r] for r in rows])))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", ([str(h) for h in headers], [[format_cell(c) for c in r] for r in rows])))

    def figure(self, files: dict[str, Path], alt: str) -> None:
        """A plot saved by plots.save_figure."""
        self.blocks.append(("figure", ({k: Path(v) for k, v in files.items()}, alt)))

    def to_markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "heading":
                out += ["#" * value[0] + " " + value[1], ""]
            elif kind == "para":
                text, style = value
                out += [f"> {text}" if style else text, ""]
            elif kind == "link":
                text, label, target, _ = value
                out += [f"{text} [{label}]({target})", ""]
            elif kind == "table":
                out += [markdown_table(*value), ""]
            elif kind == "details":
                summary, headers, rows = value
                out += [f"{summary}:", "", markdown_table(headers, rows), ""]
            elif kind == "figure":
                files, alt = value
                out += [f"![{alt}]({files['png'].relative_to(base).as_posix()})", ""]
        return "\n".join(out)

    def write(self, out: Path, stem: str) -> dict[str, Path]:
        """OUT/STEM.md (PNG plots, paths relative to OUT) and OUT/STEM.html (SVG inline), each atomically."""
        from collectivesft.io import atomic_write

        paths = {"markdown": out / f"{stem}.md", "html": out / f"{stem}.html"}
        with atomic_write(paths["markdown"]) as fh:
            fh.write(self.to_markdown(out))
        with atomic_write(paths["html"]) as fh:
            fh.write(self.to_html())
        return paths

    def to_html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        figures = 0
        for kind, value in self.blocks:
            if kind == "heading":
                body.append(f"<h{value[0]}>{html.escape(value[1])}</h{value[0]}>")
            elif kind == "para":
                text, style = value
                body.append(f'<p class="{style}">{html.escape(text)}</p>' if style else f"<p>{html.escape(text)}</p>")
            elif kind == "link":
                text, label, _, target = value
                body.append(f'<p>{html.escape(text)} <a href="{html.escape(target)}">{html.escape(label)}</a></p>')
            elif kind == "table":
                body.append(html_table(*value))
            elif kind == "details":
                summary, headers, rows = value
                body.append(f"<details><summary>{html.escape(summary)}</summary>{html_table(headers, rows)}</details>")
            elif kind == "figure":
                files, alt = value
                figures += 1
                svg = inline_svg(files["svg"].read_text(encoding="utf-8"), f"fig{figures}-")
                body.append(f'<figure role="img" aria-label="{html.escape(alt)}">{svg}'
                            f"<figcaption>{html.escape(alt)}</figcaption></figure>")
        return html_page(self.title, "".join(body))


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table in its scroll box; headers may wrap at "_"; a table of more than 8 columns is compact."""
    head = "".join(f"<th>{html.escape(h).replace('_', '_<wbr>')}</th>" for h in headers)
    lines = "".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows)
    many = " many" if len(headers) > 8 else ""
    return f'<div class="table{many}"><table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table></div>'


_NUMBER = re.compile(r"^[+\-−<]?\d")


def _cell(text: str) -> str:
    """A table cell: numbers right-aligned, text left-aligned."""
    return f'<td class="n">{html.escape(text)}</td>' if _NUMBER.match(text) else f"<td>{html.escape(text)}</td>"


def inline_svg(svg: str, id_prefix: str) -> str:
    """A matplotlib SVG file as an element for an HTML page: no XML prolog or doctype, and its
    ids prefixed, because every figure names its groups "figure_1", "axes_1"... and ids must be
    unique in a page."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document: no <svg> element")
    # An SVG saved with its text kept as text (before plots drew glyph outlines) draws it with the
    # page's embedded font first, so its Chinese reads without CJK fonts on the viewer's side too.
    svg = svg[start:].replace("font-family: ", f"font-family: '{PAGE_FAMILY}', ")
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if not ids:
        return svg

    def prefix(match: re.Match) -> str:
        return match.group(1) + id_prefix + match.group(2)

    names = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return re.sub(rf'(\bid="|href="#|url\(#)({names})(?=[")])', prefix, svg)
