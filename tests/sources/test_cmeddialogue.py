"""cMedDialogue: GB18030 CSVs with CRLF rows and quoted embedded newlines, per department folder."""

import csv
import io
import zipfile

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.sources.base import Reject, Skip
from collectivesft.sources.cmeddialogue import section_of
from collectivesft.sources.convert import convert_source
from collectivesft.sources.registry import get_source
from collectivesft.sources.rows import RawRow
from source_checks import convert_checked

SECTIONS = {"男科", "内科", "妇产科", "肿瘤科", "儿科", "外科"}


def convert(tmp_path, input):
    return convert_checked("cmeddialogue", tmp_path / "out", input=input)


def test_fixture_is_gb18030_with_crlf_and_embedded_newlines(raw_fixtures):
    files = sorted((raw_fixtures / "cmeddialogue" / "Data_数据").glob("*/*.csv"))
    assert {section_of(f.as_posix()) for f in files} == SECTIONS
    data = b"".join(f.read_bytes() for f in files)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert data.startswith(b"department,title,ask,answer\r\n")
    text = data.decode("gb18030", errors="replace")
    assert "😷" in text  # only GB18030, not GBK, encodes it
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert any("\n" in field for r in rows for field in r)


def test_fixture_converts_every_good_row(raw_fixtures, tmp_path):
    stats, records, _ = convert(tmp_path, raw_fixtures / "cmeddialogue")
    assert stats["kept"] == 30
    assert {r["meta"]["section"] for r in records} <= SECTIONS and len({r["meta"]["section"] for r in records}) > 2
    assert all(r["meta"]["department"] for r in records)
    assert any("\n" in r["messages"][-1]["content"] for r in records)  # embedded newline kept
    assert any("😷" in r["messages"][0]["content"] for r in records)
    assert all(r["task"] == "qa" and r["lang"] == "zh" for r in records)
    assert all(r["id"].startswith("cmeddialogue/") and ".csv:" in r["id"] for r in records)


def test_broken_rows_are_quarantined_at_their_line(raw_fixtures, tmp_path):
    stats, _, quarantine = convert(tmp_path, raw_fixtures / "cmeddialogue")
    assert stats["quarantined"] == 3
    by_reason = {q["reason"]: q["where"] for q in quarantine}
    assert set(by_reason) == {"undecodable bytes (not gb18030)", "missing column(s) ['ask', 'answer']",
                              "empty answer"}
    where = by_reason["undecodable bytes (not gb18030)"]
    file, line = where.rsplit(":", 1)
    assert file == "Data_数据/IM_内科/内科5000-33000.csv"
    physical = (raw_fixtures / "cmeddialogue" / file).read_bytes().split(b"\n")
    assert b"\xff\xfe" in physical[int(line) - 1]  # the reported line is the row's first line


def test_zip_of_the_data_folder(raw_fixtures, tmp_path):
    archive = tmp_path / "Chinese-medical-dialogue-data-master.zip"
    root = raw_fixtures / "cmeddialogue"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in root.rglob("*.csv"):
            zf.write(file, "Chinese-medical-dialogue-data-master/" + file.relative_to(root).as_posix())
    stats, records, quarantine = convert(tmp_path, archive)
    assert stats["kept"] == 30 and stats["quarantined"] == 3
    assert {r["meta"]["section"] for r in records} <= SECTIONS
    assert all(q["where"].startswith(archive.name + "!") for q in quarantine)


def test_other_csv_layout_is_unusable_input(tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "data.csv").write_bytes("question_id,content\r\n1,头痛\r\n".encode("gb18030"))
    with pytest.raises(InputLayoutError, match="lacks column"):
        convert_source("cmeddialogue", tmp_path / "out", input=folder)
    with pytest.raises(InputLayoutError, match="no input files"):
        convert_source("cmeddialogue", tmp_path / "out", input=tmp_path / "out")


@pytest.mark.parametrize("name, title, ask, expect", [
    ("title and ask", "高血压能吃党参吗？", "我有高血压，能喝党参水吗", "高血压能吃党参吗？\n我有高血压，能喝党参水吗"),
    ("ask repeats the title", "头痛怎么办", "头痛怎么办，已经三天了", "头痛怎么办，已经三天了"),
    ("ask is a placeholder", "胃反流怎么治", "无", "胃反流怎么治"),
    ("no title", "", "烧心，打嗝，四年多", "烧心，打嗝，四年多"),
])
def test_question_text_table(name, title, ask, expect):
    data = {"department": "消化科", "title": title, "ask": ask, "answer": "建议用奥美拉唑。"}
    rec = get_source("cmeddialogue").convert(RawRow("Data_数据/IM_内科/内科.csv:7", data))
    assert rec["messages"][0]["content"] == expect
    assert rec["id"] == "cmeddialogue/IM_内科/内科.csv:7"
    assert rec["meta"] == {"department": "消化科", "section": "内科"}


def test_empty_answer_and_empty_question():
    source = get_source("cmeddialogue")
    with pytest.raises(Reject, match="empty answer"):
        source.convert(RawRow("x.csv:2", {"department": "", "title": "头痛", "ask": "", "answer": "  "}))
    with pytest.raises(Skip):
        source.convert(RawRow("x.csv:3", {"department": "", "title": "", "ask": "", "answer": "多休息"}))


@pytest.mark.parametrize("path, section", [
    ("Data_数据/Andriatria_男科/男科5-13000.csv", "男科"),
    ("repo.zip!Data_数据/OAGD_妇产科/妇产科6-28000.csv", "妇产科"),
    ("Data_数据/Surgical_\u00e5\u00a4\u0096\u00e7\u00a7\u0091/x.csv", "外科"),  # mangled zip name, prefix survives
    ("x.csv", None),
])
def test_section_from_folder_name(path, section):
    assert section_of(path) == section
