"""report/plots.py and report/tables.py: the figures and tables every stage's report is made of."""

import os
import re
import subprocess
import warnings
import sys

import pytest

from collectivesft.report import fonts, plots
from collectivesft.report.document import inline_svg
from collectivesft.report.tables import markdown_table

TYPES = ["医师考试", "护理考试", "药师考试"]


def _by_type_chart():
    return plots.bar_chart(TYPES, {"base": [0.2, 0.3, 0.25], "trained": [0.5, 0.6, 0.4]},
                           intervals={"trained": [(0.4, 0.6), (0.5, 0.7), (0.3, 0.5)]},
                           title="CMB-Exam 准确率", value_label="accuracy", limits=(0, 1))


def outlined(svg: str, text: str) -> set[str]:
    """The characters of `text` an SVG does not draw as outlines of the report font: matplotlib
    names each glyph's path FONT-<hex glyph index>, and the font's cmap gives each character's index."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(fonts.cjk_font()[1]), lazy=True)
    cmap = font.getBestCmap()
    drawn = {int(i, 16) for i in re.findall(r'<path id="[^"]+-([0-9a-f]+)"', svg)}
    return {c for c in text if not c.isspace() and font.getGlyphID(cmap[ord(c)]) not in drawn}


def test_svg_draws_chinese_labels_as_glyph_outlines_and_png_is_written(tmp_path):
    # A browser without CJK fonts showed every Chinese exam name as boxes when the SVG kept text as text.
    files = plots.save_figure(_by_type_chart(), tmp_path / "by_type")
    assert files == {"png": tmp_path / "by_type.png", "svg": tmp_path / "by_type.svg"}
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = files["svg"].read_text(encoding="utf-8")
    assert "<text" not in svg
    assert outlined(svg, "".join(TYPES) + "准确率") == set()  # every Chinese character has its outline
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg  # no date or version to differ on rerun


def test_the_report_font_ships_with_the_package_so_every_machine_draws_the_same():
    family, path = fonts.cjk_font()
    assert "weblate_fonts" in path.parts and family == "Kurinto Sans SC"


def test_without_any_cjk_font_exam_types_are_drawn_as_their_english_glosses(monkeypatch):
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    fig = plots.bar_chart(["医师考试 (Physician)", "护理考试", "华佗问答"], {"base": [0.2, 0.3, 0.1]},
                          title="CMB-Exam 医师考试", value_label="accuracy")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["Physician", "Nursing", "华佗问答"]  # a name without a gloss stays as it is
    assert fig.axes[0].get_title() == "CMB-Exam Physician"
    assert fonts.font_face_css("医师考试") == ""  # and HTML pages embed no font


# The same chart drawn here and in a fresh interpreter (fresh font cache, fresh id counters).
CHART_SCRIPT = """
import sys
from collectivesft.report import plots
fig = plots.bar_chart(["医师考试", "护理考试"], {"base": [0.2, 0.3], "trained": [0.5, 0.6]},
                      title="准确率", value_label="accuracy", limits=(0, 1))
plots.save_figure(fig, sys.argv[1])
"""


def test_rerun_is_byte_identical_in_this_and_in_a_fresh_process(tmp_path, monkeypatch):
    for stem in ("one", "two"):
        monkeypatch.setattr(sys, "argv", ["chart", str(tmp_path / stem)])
        exec(CHART_SCRIPT, {})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", CHART_SCRIPT, str(tmp_path / "three")], check=True, env=env)
    for kind in ("png", "svg"):
        data = (tmp_path / f"one.{kind}").read_bytes()
        assert data == (tmp_path / f"two.{kind}").read_bytes() == (tmp_path / f"three.{kind}").read_bytes(), kind


def test_save_figure_takes_a_stem_or_a_file_name(tmp_path):
    files = plots.save_figure(plots.line_chart({"train": ([1, 2, 3], [3.0, 2.0, 1.5])}, title="loss",
                                               xlabel="step", ylabel="loss"), tmp_path / "sub" / "loss.png")
    assert files == {"png": tmp_path / "sub" / "loss.png", "svg": tmp_path / "sub" / "loss.svg"}
    assert all(p.is_file() for p in files.values())


def test_horizontal_and_stacked_bars_draw_every_category(tmp_path):
    names = ["cmb", "华佗问答", "medqa"]
    fig = plots.bar_chart(names, {"duplicate": [1, 0, 2], "over-cap": [3, 1, 0]}, title="Dropped records",
                          value_label="records", horizontal=True, stacked=True)
    svg = plots.save_figure(fig, tmp_path / "drops")["svg"].read_text(encoding="utf-8")
    assert outlined(svg, "".join(names)) == set()


def test_a_cjk_font_when_installed_is_put_first(monkeypatch):
    import matplotlib

    before = dict(matplotlib.rcParams)
    monkeypatch.setattr(fonts, "cjk_font", lambda: ("Noto Sans CJK SC", "/usr/share/fonts/NotoSansCJK.ttc"))
    with plots.styled():
        assert matplotlib.rcParams["font.sans-serif"][0] == "Noto Sans CJK SC"
        assert matplotlib.rcParams["svg.fonttype"] == "path"
    assert dict(matplotlib.rcParams) == before  # the caller's settings are left as they were


def test_inline_svg_drops_the_prolog_and_prefixes_ids():
    svg = ('<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg><defs><path id="m1"/><clipPath id="p2"/></defs>'
           '<g id="figure_1"><use xlink:href="#m1"/><g clip-path="url(#p2)"/></g></svg>')
    out = inline_svg(svg, "f3-")
    assert out.startswith("<svg>")
    assert re.findall(r'id="([^"]+)"', out) == ["f3-m1", "f3-p2", "f3-figure_1"]
    assert 'xlink:href="#f3-m1"' in out and "url(#f3-p2)" in out


@pytest.mark.parametrize("headers, rows, align, expected", [
    pytest.param(["a", "b"], [[1, None]], None, "| a | b |\n|---|---|\n| 1 | - |", id="None as a dash"),
    pytest.param(["x"], [[0.123456], [12.345]], "r", "| x |\n|---:|\n| 0.1235 |\n| 12.3 |", id="floats, right-aligned"),
    pytest.param(["t"], [["a|b\nc"]], "c", "| t |\n|:---:|\n| a\\|b c |", id="pipe and newline escaped"),
    pytest.param(["类型", "n"], [["医师考试", 3]], "lr", "| 类型 | n |\n|---|---:|\n| 医师考试 | 3 |", id="Chinese kept"),
])
def test_markdown_table(headers, rows, align, expected):
    assert markdown_table(headers, rows, align) == expected


def test_markdown_table_alignment_must_cover_every_column():
    with pytest.raises(ValueError, match="2 columns"):
        markdown_table(["a", "b"], [], align="l")


def test_a_long_series_name_is_wrapped_instead_of_squeezing_the_plot_away(tmp_path):
    # A comparison's legend entry named by base model and adapter once collapsed the axes to nothing.
    from collectivesft.report.tables import type_label

    name = "lora/demo/model/base (tiny qwen2 small, random weights) + LoRA adapter"
    types = [type_label(t) for t in ["医学考研", "医师考试", "护理考试", "药师考试"]]
    fig = plots.bar_chart(types, {"demo/base": [0.1] * 4, "demo/trained": [0.2] * 4, name: [0.3] * 4},
                          title="CMB-Exam accuracy by exam type, all runs", value_label="accuracy", limits=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "axes sizes collapsed to zero"
        plots.save_figure(fig, tmp_path / "long")
