"""MLEC-QA's loader on the release's JSON arrays: answers, images, KD/CA, layouts."""

from __future__ import annotations

import json
import zipfile

import pytest

from collectivesft.benchmarks.base import get_benchmark
from collectivesft.errors import InputLayoutError

SUBSETS = ("Clinic", "Stomatology", "PublicHealth", "TCM", "CWM")


def question(n: int = 0, **change) -> dict:
    row = {"qid": f"0b8f{n:04d}-uuid", "qtype": "A1型题", "qtext": "治疗高血压的首选药物是", "qimage": "",
           "options": {"A": "二甲双胍", "B": "氨氯地平", "C": "阿莫西林", "D": "奥美拉唑", "E": "青蒿素"}, "answer": "B"}
    row.update(change)
    return row


def write(folder, split="test", rows=None, pretty=False, subsets=SUBSETS):
    folder.mkdir(parents=True, exist_ok=True)
    for subset in subsets:
        text = json.dumps(rows if rows is not None and subset == "Clinic" else [question(1), question(2)],
                          ensure_ascii=False, indent=4 if pretty else None)
        (folder / f"{subset}_{split}.json").write_text(text.replace("\n", "\r\n"), encoding="utf-8", newline="")
    return folder


# (name, the middle question, expected (answer, groups subset) or skip reason, kept-note or None)
ROWS = [
    ("letter answer", question(5), ("B", "KD"), None),
    ("one-letter list answer", question(5, answer=["C"]), ("C", "KD"), None),
    ("lower-case letter", question(5, answer="d"), ("D", "KD"), None),
    ("four options padded with an empty E", question(5, options={"A": "甲", "B": "乙", "C": "丙", "D": "丁", "E": ""}),
     ("B", "KD"), None),
    ("case question is CA", question(5, qtype="A2型题"), ("B", "CA"), None),
    ("A3/A4 is CA", question(5, qtype="A3/A4型题"), ("B", "CA"), None),
    ("B1 is KD", question(5, qtype="B1型题"), ("B", "KD"), None),
    ("a type the paper does not name is CA (official rule)", question(5, qtype="X型题"), ("B", "CA"), None),
    ("question with an image keeps its text", question(5, qimage="images/1.png"), ("B", "KD"),
     "question refers to an image (qimage)"),
    ("image-only question", question(5, qtext="", qimage="images/2.png"), "image-only question (no qtext)", None),
    ("empty answer", question(5, answer=""), "empty answer", None),
    ("answer outside the options", question(5, answer="F"), "answer is not one of the options", None),
    ("answer names the padded option", question(5, answer="E", options={"A": "甲", "B": "乙", "E": ""}),
     "answer is not one of the options", None),
    ("two answers", question(5, answer=["A", "B"]), "answer is not one of the options", None),
    ("qid given twice", question(1), "qid appears twice", None),
]


@pytest.mark.parametrize("name, middle, expect, note", ROWS)
def test_rows(tmp_path, capsys, name, middle, expect, note):
    write(tmp_path, rows=[question(1), middle, question(3)], pretty=True)
    bench = get_benchmark("mlecqa")
    items = [i for i in bench.load(tmp_path, "test") if i.groups["subset"] == "Clinic"]
    err = capsys.readouterr().err
    if isinstance(expect, tuple):
        assert len(items) == 3
        assert (items[1].answer, items[1].groups["kind"]) == expect
        assert items[1].id == "Clinic/0b8f0005-uuid" and items[1].groups["subset_name"] == "临床执业医师"
        assert "E" not in items[1].options or items[1].options["E"]
        assert bench.skipped["test"] == ({f"kept: {note}": 1} if note else {})
    else:
        assert [i.id for i in items] == ["Clinic/0b8f0001-uuid", "Clinic/0b8f0003-uuid"]
        assert bench.skipped["test"] == {expect: 1}
        assert f"Clinic_test.json: loaded 2 of 3 rows; skipped 1: {expect} 1 (row 2)" in err


def test_all_subsets_and_categories(tmp_path):
    items = get_benchmark("mlecqa").load(write(tmp_path), "test")
    assert [i.groups["subset"] for i in items] == [s for s in SUBSETS for _ in (1, 2)]
    assert set(get_benchmark("mlecqa").categories) <= set(items[0].groups)


def test_file_cut_off_inside_the_array(tmp_path, capsys):
    write(tmp_path)
    path = tmp_path / "TCM_test.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.rindex('"qtext"')], encoding="utf-8")
    bench = get_benchmark("mlecqa")
    items = bench.load(tmp_path, "test")
    assert [i.id for i in items if i.groups["subset"] == "TCM"] == ["TCM/0b8f0001-uuid"]
    assert bench.skipped["test"] == {"unreadable (invalid JSON)": 1}
    assert "TCM_test.json: loaded 1 of 2 rows" in capsys.readouterr().err


@pytest.mark.parametrize("name, where, count", [
    ("the folder, nested", "nested", 10),
    ("a zip of the folder", "zip", 10),
    ("one subset's file", "file", 2),
])
def test_layouts(tmp_path, name, where, count):
    folder = write(tmp_path / "downloads" / "MLEC-QA")
    write(folder, split="train")
    if where == "nested":
        data = tmp_path
    elif where == "zip":
        data = tmp_path / "MLEC-QA.zip"
        with zipfile.ZipFile(data, "w") as zf:
            for f in sorted(folder.iterdir()):
                zf.write(f, f"MLEC-QA/{f.name}")
    else:
        data = folder / "Stomatology_test.json"
    items = get_benchmark("mlecqa").load(data, "test")
    assert len(items) == count
    if where == "file":
        assert {i.groups["subset"] for i in items} == {"Stomatology"}


@pytest.mark.parametrize("name, change, message", [
    ("a subset missing", lambda d: (d / "CWM_test.json").unlink(), r"lacks \['CWM_test.json'\]"),
    ("another dataset's rows", lambda d: (d / "Clinic_test.json").write_text('[{"question": "q", "answer": "A"}]'),
     "the first row is not an MLEC-QA question"),
    ("an empty array", lambda d: (d / "Clinic_test.json").write_text("[]"), "holds no rows"),
    ("an empty file", lambda d: (d / "Clinic_test.json").write_text(""), "the file is empty"),
])
def test_layout_errors(tmp_path, name, change, message):
    write(tmp_path)
    change(tmp_path)
    with pytest.raises(InputLayoutError, match=message):
        get_benchmark("mlecqa").load(tmp_path, "test")


def test_a_file_of_another_split_is_refused(tmp_path):
    write(tmp_path, split="dev")
    with pytest.raises(InputLayoutError, match="is none of"):
        get_benchmark("mlecqa").load(tmp_path / "Clinic_dev.json", "test")
