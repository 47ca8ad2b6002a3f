"""A stage's own Markdown report (mix/report.md, eval/<label>/scores.md) as a self-contained HTML
page beside the run report, so a link from report.html opens a page, not raw Markdown."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from collectivesft.io import atomic_write
from collectivesft.report.document import html_page, inline_svg


def render_subreport(md_path: Path, out_html: Path, title: str) -> Path:
    """Write `out_html` from the Markdown file `md_path`: tables and headings as HTML, each image
    inline (its SVG twin when the stage saved one, else the PNG as a data URI); return `out_html`."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    images = 0

    def image(renderer, tokens, idx, options, env) -> str:
        nonlocal images
        images += 1
        token = tokens[idx]
        return _embedded(md_path.parent / str(token.attrGet("src") or ""),
                         "".join(t.content for t in token.children or []), f"sub{images}-", md_path.parent)

    md.add_render_rule("image", image)
    body = md.render(md_path.read_text(encoding="utf-8"))
    # Tables go in the same scroll boxes as the run report's.
    body = body.replace("<table>", '<div class="table"><table>').replace("</table>", "</table></div>")
    note = f"<p class=\"status\">Rendered from {html.escape(md_path.as_posix())}</p>"
    out_html.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_html) as fh:
        fh.write(html_page(title, note + body))
    return out_html


def _embedded(path: Path, alt: str, id_prefix: str, home: Path) -> str:
    """An image of a Markdown report as HTML: its SVG twin inline, else the file as a data URI;
    only files under `home` (the report's folder) are read."""
    label = html.escape(alt)
    if not path.resolve().is_relative_to(home.resolve()):
        return f"<em>[image outside the report's folder: {html.escape(path.as_posix())}]</em>"
    if path.with_suffix(".svg").is_file():
        svg = inline_svg(path.with_suffix(".svg").read_text(encoding="utf-8"), id_prefix)
        return f'<figure role="img" aria-label="{label}">{svg}<figcaption>{label}</figcaption></figure>'
    if path.is_file():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'<img alt="{label}" src="data:image/png;base64,{data}" style="max-width:100%">'
    return f"<em>[missing image: {html.escape(path.name)}]</em>"
