"""The report command on hand-made run folders (the stage file formats are the contract)."""

import json
import re
import subprocess
import sys
from pathlib import Path


def _run_folder(root: Path, name: str, acc: float, model: dict | None = None) -> Path:
    run = root / name
    (run / "convert" / "cmb").mkdir(parents=True)
    model = model or {"path": None, "tiny": {"arch": "qwen2"}}
    (run / "recipe.json").write_text(json.dumps({"name": name, "model": model}))
    (run / "convert" / "cmb" / "stats.json").write_text(json.dumps(
        {"read": 12, "kept": 10, "quarantined": 1, "skipped": {"empty answer": 1}}))
    (run / "mix").mkdir()
    (run / "mix" / "manifest.json").write_text(json.dumps({"sources": [{"name": "cmb", "counts": {"train": 9, "val": 1}}]}))
    (run / "train").mkdir()
    (run / "train" / "metrics.json").write_text(json.dumps({
        "final": {"global_step": 10, "train_loss": 1.5, "eval_loss": 1.2},
        "setup": {"world_size": 1, "packing": True},
        "train_curve": [{"step": 5, "loss": 3.0}, {"step": 10, "loss": 1.0}],
        "val_curve": [{"step": 10, "loss": 1.2}]}))
    for label, a in (("base", 0.0), ("trained", acc)):
        (run / "eval" / label).mkdir(parents=True)
        (run / "eval" / label / "scores.json").write_text(json.dumps({
            "overall_micro": a, "overall_macro_types": a, "n": 4, "n_answered": 4 if a else 0,
            "by_type": {"医师考试": a, "护理考试": a}, "by_class": {"医师考试": {"临床执业医师": a}}}, ensure_ascii=False))
    return run


def test_report_on_one_run_has_tables_plots_and_tiny_model_note(tmp_path, cli):
    run = _run_folder(tmp_path, "demo", 0.5)
    result = cli(["report", run, "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "report.md").read_text()
    assert "tiny randomly initialised model" in md
    assert "| cmb | 12 | 10 | 1 | 1 | 9 | 1 |" in md  # raw read, converted, quarantined, skipped, mix train/val
    assert "| trained | collectivesft | 0.5000 | 0.5000 | 1.0000 | 4 |" in md  # the protocol of each score
    for name in ("mixture", "loss", "cmb_by_type"):
        assert (tmp_path / "out" / "report_files" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"](report_files/{name}.png)" in md  # Markdown links the PNGs
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    # Self-contained: the SVGs are inline, no images by reference.
    assert html.count("<svg ") == 3 and "<img" not in html and "<?xml" not in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # each inline SVG's ids are prefixed, so none collide


def test_tiny_note_comes_from_the_recipe_model_field_not_from_text(tmp_path, cli):
    # A real model whose folder name mentions "tiny" is not a tiny random model.
    run = _run_folder(tmp_path, "real", 0.5, model={"path": "models/tiny-llama", "tiny": None})
    result = cli(["report", run, "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    assert "tiny randomly initialised model" not in (tmp_path / "out" / "report.md").read_text()


def test_report_compares_two_runs(tmp_path, cli):
    a, b = _run_folder(tmp_path, "one-source", 0.25), _run_folder(tmp_path, "collective", 0.75)
    result = cli(["report", a, b, "--out", tmp_path / "cmp"])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "cmp" / "report.md").read_text()
    assert "## Comparison" in md
    assert "| one-source | trained | 1 | 9 | 1.0000 | 1.2000 | 0.2500 | 0.2500 |" in md
    assert "| collective | trained | 1 | 9 | 1.0000 | 1.2000 | 0.7500 | 0.7500 |" in md
    assert (tmp_path / "cmp" / "report_files" / "comparison_by_type.png").is_file()
    assert (tmp_path / "cmp" / "report_files" / "comparison_by_type.svg").is_file()


def test_report_on_a_folder_without_outputs_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, "-m", "collectivesft", "report", str(tmp_path / "empty"),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "no stage outputs found" in proc.stderr


def test_html_tables_fit_timings_follow_the_pipeline_and_the_mix_report_is_linked(tmp_path, cli):
    run = _run_folder(tmp_path, "demo", 0.5)
    (run / "mix" / "report.md").write_text("# Mixture report\n", encoding="utf-8")
    timings = {"fixtures": 1.0, "convert/cmb": 2.0, "mix": 3.0, "model": 4.0, "train": 5.0, "eval/base": 6.0}
    (run / "run.json").write_text(json.dumps({"name": "demo", "timings": timings}))
    result = cli(["report", run, "--out", run])
    assert result.exit_code == 0, result.output
    html = (run / "report.html").read_text(encoding="utf-8")
    md = (run / "report.md").read_text(encoding="utf-8")
    # Every table sits in a scroll box; the wide data table gets the compact class; headers wrap at "_".
    assert html.count("<table>") == html.count('<div class="table') >= 3
    assert '"><table><thead><tr><th>source</th><th>raw read</th>' in html
    assert "max-width:1200px" in html and "overflow-x:auto" in html
    rows = re.findall(r"^\| ([a-z/]+) \| [\d.]+ \|$", md.split("### Stage timings")[1], re.M)
    assert rows == [*timings, "total"]
    assert "| total | 21 |" in md or "| total | 21.0" in md
    assert "[the mixture's own report](mix/report.md)" in md  # Markdown links Markdown...
    assert '<a href="report_files/mix-report.html">the mixture&#x27;s own report</a>' in html  # ...HTML, its page


def test_a_wide_table_is_compact_and_its_headers_can_wrap():
    from collectivesft.report.document import Document

    doc = Document("t")
    doc.table([f"mix near_duplicate {i}" for i in range(13)], [list(range(13))])
    html = doc.to_html()
    assert '<div class="table many"><table>' in html and "<th>mix near_<wbr>duplicate 0</th>" in html


def _embedded_font_chars(html: str) -> set[str]:
    """The characters the font embedded in an HTML page (base64 WOFF in @font-face) has glyphs for."""
    import base64
    import io

    from fontTools.ttLib import TTFont

    found = re.search(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", html)
    assert found, "no embedded font"
    return {chr(c) for c in TTFont(io.BytesIO(base64.b64decode(found.group(1)))).getBestCmap()}


def _chinese(text: str) -> set[str]:
    from collectivesft.report.fonts import is_cjk

    return {c for c in text if is_cjk(c)}


def test_html_carries_a_font_for_every_chinese_character_and_glosses_exam_types(tmp_path, cli):
    # Headless Chromium on a server without CJK fonts drew every exam-type name as a row of boxes.
    run = _run_folder(tmp_path, "demo", 0.5)
    assert cli(["report", run, "--out", tmp_path / "out"]).exit_code == 0
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    body = html.split("</style>", 1)[1]
    assert _chinese(body) and _chinese(body) <= _embedded_font_chars(html)
    assert "font-family:'collectivesft-cjk'" in html
    # Every exam-type name in a table has its English gloss beside it; no plot text is left to the browser.
    assert "<td>医师考试 (Physician)</td>" in html and "<td>护理考试 (Nursing)</td>" in html
    assert "<td>医师考试</td>" not in html and "<text" not in html
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| 医师考试 (Physician) | 临床执业医师 |" in md


def test_stage_reports_are_rendered_to_html_pages_with_their_plots_inline(tmp_path, cli):
    from collectivesft.report import plots

    run = _run_folder(tmp_path, "demo", 0.5)
    chart = plots.bar_chart(["华佗问答", "cmb"], {"records": [3, 4]}, title="来源", value_label="records")
    plots.save_figure(chart, run / "mix" / "report" / "composition")
    (run / "mix" / "report.md").write_text(
        "# Mixture report\n\n**9 train** records.\n\n| source | train |\n|---|---|\n| 华佗问答 | 9 |\n\n"
        "![composition](report/composition.png)\n", encoding="utf-8")
    (run / "eval" / "trained" / "scores.md").write_text("# CMB-Exam scores\n\n- overall: 50.00\n", encoding="utf-8")
    assert cli(["report", run, "--out", tmp_path / "out"]).exit_code == 0
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'href="report_files/mix-report.html"' in html and 'href="report_files/trained-scores.html"' in html
    page = (tmp_path / "out" / "report_files" / "mix-report.html").read_text(encoding="utf-8")
    assert "<h1>Mixture report</h1>" in page and "<strong>9 train</strong>" in page
    assert "<td>华佗问答</td>" in page and "| source |" not in page  # a table, not raw Markdown
    assert page.count("<svg ") == 1 and "<text" not in page  # the plot's SVG inline, glyphs as outlines
    assert _chinese(page.split("</style>", 1)[1]) <= _embedded_font_chars(page)
    scores = (tmp_path / "out" / "report_files" / "trained-scores.html").read_text(encoding="utf-8")
    assert "<li>overall: 50.00</li>" in scores
