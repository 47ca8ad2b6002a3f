"""CMB-Exam train: dict or string options, multi-answer questions, answer checks, zip and hub inputs."""

import json
import shutil
import zipfile

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.sources.base import Reject
from collectivesft.sources.cmb import parse_options
from collectivesft.sources.convert import convert_source
from collectivesft.sources.registry import get_source
from collectivesft.sources.rows import RawRow
from source_checks import convert_checked


def convert(tmp_path, **kwargs):
    return convert_checked("cmb", tmp_path / "out", **kwargs)


def test_fixture_converts_every_good_row(raw_fixtures, tmp_path):
    stats, records, _ = convert(tmp_path, input=raw_fixtures / "cmb")
    assert stats["kept"] == 30
    for rec in records:
        meta = rec["meta"]
        letters = meta["answer"]
        assert letters == "".join(sorted(letters)) and all(c in meta["options"] for c in letters)
        assert rec["messages"][-1]["content"].startswith(f"答案是{letters}")
        assert {"exam_type", "exam_class", "exam_subject", "question_type"} <= set(meta)
        for letter, text in meta["options"].items():
            assert f"\n{letter}. {text}" in rec["messages"][0]["content"]
        assert "" not in meta["options"].values()  # padded empty options are dropped
    multi = [r for r in records if r["meta"]["question_type"] == "多项选择题"]
    assert multi and all(len(r["meta"]["answer"]) >= 2 for r in multi)


def test_string_options_in_the_raw_file_are_parsed(raw_fixtures, tmp_path):
    _, records, _ = convert(tmp_path, input=raw_fixtures / "cmb")
    by_index = {r["id"].rsplit("-", 1)[1]: r for r in records}
    raw = [row for row in get_source("cmb").read_raw(raw_fixtures / "cmb") if isinstance(row, RawRow)]
    as_text = [row for row in raw if isinstance(row.data["option"], str)]
    assert any(t.data["option"].startswith("{'") for t in as_text)  # Python repr, as on the hub
    assert any(t.data["option"].startswith('{"') for t in as_text)  # JSON string
    for row in as_text:
        if row.data["answer"] in ("G", "", "F"):
            continue  # the deliberately broken rows
        rec = by_index[row.where.rsplit("#", 1)[1]]
        assert rec["meta"]["options"] == parse_options(row.data["option"])


def test_broken_rows_are_quarantined_with_index_and_reason(raw_fixtures, tmp_path):
    stats, _, quarantine = convert(tmp_path, input=raw_fixtures / "cmb")
    assert stats["quarantined"] == 4 and not stats["skipped"]
    reasons = {q["reason"].split(" (")[0]: q["where"] for q in quarantine}
    assert "answer 'G' does not match ^[A-F]+$" in reasons
    assert "empty answer" in reasons
    assert any(r.startswith("answer letter(s) ['F'] not among options") for r in reasons)
    assert any(r.startswith("invalid JSON: file breaks after item") for r in reasons)
    assert all(w.startswith("CMB-Exam/CMB-train/CMB-train-merge.json#") for w in reasons.values())


@pytest.mark.parametrize("name, value, expect", [
    ("dict", {"A": "甲", "B": "乙"}, {"A": "甲", "B": "乙"}),
    ("JSON string", '{"A": "甲", "B": "乙"}', {"A": "甲", "B": "乙"}),
    ("Python repr string", "{'A': '甲', 'B': '乙'}", {"A": "甲", "B": "乙"}),
    ("empty padding option dropped", {"A": "甲", "B": "乙", "E": ""}, {"A": "甲", "B": "乙"}),
    ("keys sorted and trimmed", {"B": " 乙 ", " a": "甲"}, {"A": "甲", "B": "乙"}),
    ("non-string text", {"A": 5, "B": None}, {"A": "5"}),
])
def test_parse_options_accepts(name, value, expect):
    assert parse_options(value) == expect


@pytest.mark.parametrize("name, value", [
    ("not a dict", "['甲', '乙']"),
    ("code is never run", "__import__('os').system('echo hacked')"),
    ("attribute access", "().__class__.__bases__"),
    ("letter out of range", {"G": "甲"}),
    ("garbage", "{'A': '甲'"),
])
def test_parse_options_rejects(name, value):
    with pytest.raises(ValueError):
        parse_options(value)


def row(**changes):
    base = {"exam_type": "医师考试", "exam_class": "临床执业医师", "exam_subject": "内科学",
            "question": "治疗高血压的首选药物是", "answer": "A", "question_type": "单项选择题",
            "option": {"A": "氨氯地平", "B": "二甲双胍", "C": "华法林", "D": "阿莫西林"}}
    base.update(changes)
    return base


@pytest.mark.parametrize("name, data, expect", [
    ("single answer", row(), "A"),
    ("multi answer is sorted", row(answer="CA", question_type="多项选择题"), "AC"),
    ("surrounding spaces", row(answer=" B "), "B"),
    ("answer letter repeated", row(answer="BB"), "B"),
    ("lower-case letter", row(answer="a"), Reject),
    ("letter beyond F", row(answer="G"), Reject),
    ("letter not among options", row(answer="E"), Reject),
    ("empty answer", row(answer=""), Reject),
    ("option string not a dict", row(option="A. 氨氯地平 B. 二甲双胍"), Reject),
    ("missing option", {k: v for k, v in row().items() if k != "option"}, Reject),
])
def test_convert_row_table(name, data, expect):
    source = get_source("cmb")
    if expect is Reject:
        with pytest.raises(Reject):
            source.convert(RawRow("t#0", data))
    else:
        rec = source.convert(RawRow("t#0", data))
        assert rec["meta"]["answer"] == expect and rec["id"] == "cmb/train-0"


def test_single_answer_type_with_several_letters_is_kept_and_counted():
    source = get_source("cmb")
    rec = source.convert(RawRow("t#1", row(answer="AB")))
    assert rec["meta"]["answer"] == "AB"
    assert source.notes["single-answer question with several answer letters"] == 1


def test_zip_as_released(raw_fixtures, tmp_path):
    archive = tmp_path / "CMB.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in (raw_fixtures / "cmb").rglob("*.json"):
            zf.write(file, file.relative_to(raw_fixtures / "cmb").as_posix())
    stats, records, quarantine = convert(tmp_path, input=archive)
    assert stats["kept"] == 30 and stats["quarantined"] == 4
    assert all(q["where"].startswith("CMB.zip!CMB-Exam/CMB-train/") for q in quarantine)


def test_unusable_inputs_raise_layout_errors(raw_fixtures, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputLayoutError, match="CMB-train-merge.json"):
        convert_source("cmb", tmp_path / "o1", input=empty)
    broken = tmp_path / "CMB.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputLayoutError):
        convert_source("cmb", tmp_path / "o2", input=broken)


def test_corrupt_zip_member_is_a_layout_error(raw_fixtures, tmp_path):
    archive = tmp_path / "CMB.zip"
    src = raw_fixtures / "cmb" / "CMB-Exam" / "CMB-train" / "CMB-train-merge.json"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.write(src, "CMB-Exam/CMB-train/CMB-train-merge.json")
    data = bytearray(archive.read_bytes())
    middle = data.index(b"question") + 200
    data[middle:middle + 4] = b"\x00\x00\x00\x00"  # stored bytes changed: the CRC check fails
    archive.write_bytes(bytes(data))
    with pytest.raises(InputLayoutError, match="corrupt or truncated archive"):
        convert_source("cmb", tmp_path / "o", input=archive)


def test_hub_path_with_a_local_folder_in_hub_layout(tmp_path):
    """The hub copy holds `option` as a string; a local folder of JSON lines stands in for it."""
    folder = tmp_path / "hub"
    folder.mkdir()
    rows = [row(option=str(row()["option"])),
            row(answer="BD", question_type="多项选择题",
                option=json.dumps({"A": "甲", "B": "乙", "C": "丙", "D": "丁"}, ensure_ascii=False)),
            row(answer="H", option=str(row()["option"]))]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                                        encoding="utf-8")
    stats, records, quarantine = convert(tmp_path, hub=str(folder))
    assert stats["kept"] == 2 and stats["quarantined"] == 1
    assert [r["id"] for r in records] == ["cmb/train-0", "cmb/train-1"]
    assert records[0]["meta"]["options"]["A"] == "氨氯地平" and records[1]["meta"]["answer"] == "BD"
    assert quarantine[0]["where"].endswith("/train#2") and "'H'" in quarantine[0]["reason"]
    assert stats["input"] == f"hub:{folder}"


def test_cli_convert(cli, raw_fixtures, tmp_path):
    result = cli(["data", "convert", "cmb", "--input", raw_fixtures / "cmb", "--out", tmp_path / "cli"])
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "cli" / "stats.json").read_text(encoding="utf-8"))
    assert stats["kept"] == 30 and stats["quarantined"] == 4
    shutil.rmtree(tmp_path / "cli")
