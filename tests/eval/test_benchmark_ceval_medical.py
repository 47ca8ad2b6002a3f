"""C-Eval's medical subjects: the zip's layout, rows, subject groups and the test submission file."""

from __future__ import annotations

import json
import zipfile

import pytest

from collectivesft.benchmarks.base import Item, get_benchmark
from collectivesft.errors import InputLayoutError

SUBJECTS = ("physician", "clinical_medicine", "basic_medicine")
HEADERS = {"dev": "id,question,A,B,C,D,answer,explanation",
           "val": "id,question,A,B,C,D,answer",
           "test": "id,question,A,B,C,D"}


def rows(split: str, n: int = 2) -> str:
    body = []
    for i in range(n):
        answer = {"dev": ",B,\"1. 解释\n2. 故选B\"", "val": ",B", "test": ""}[split]
        body.append(f"{i},治疗高血压的首选药物是____,二甲双胍,氨氯地平,阿莫西林,奥美拉唑{answer}")
    return HEADERS[split] + "\n" + "\n".join(body) + "\n"


@pytest.fixture()
def exam(tmp_path):
    """The unzipped ceval-exam layout with the three medical subjects, veterinary and one other."""
    root = tmp_path / "ceval-exam"
    for split in HEADERS:
        (root / split).mkdir(parents=True)
        for subject in (*SUBJECTS, "veterinary_medicine", "law"):
            (root / split / f"{subject}_{split}.csv").write_text(rows(split), encoding="utf-8")
    return root


def test_splits_and_groups(exam):
    bench = get_benchmark("ceval-medical")
    val = bench.load(exam, "val")
    assert [i.id for i in val] == [f"{s}/{k}" for s in SUBJECTS for k in (0, 1)]  # veterinary and law not read
    assert val[0].answer == "B" and val[0].options["B"] == "氨氯地平"
    assert val[0].groups == {"subject": "physician", "subject_name": "医师资格"}
    assert {i.groups["subject_name"] for i in val} == {"医师资格", "临床医学", "基础医学"}
    dev = bench.load(exam, "dev")
    assert dev[0].explanation == "1. 解释\n2. 故选B"
    test = bench.load(exam, "test")
    assert len(test) == 6 and all(i.answer is None for i in test)
    assert bench.prompt.header.format(subject=val[0].groups["subject_name"]) == \
        "以下是中国关于医师资格考试的单项选择题，请选出其中的正确答案。\n\n"


@pytest.mark.parametrize("name, line, reason", [
    ("empty answer in val", "1,题目____,甲,乙,丙,丁,", "no answer"),
    ("answer outside A-D", "1,题目____,甲,乙,丙,丁,E", "answer is not one of the options A-D"),
    ("answer names an empty option", "1,题目____,甲,乙,丙,,D", "answer is not one of the options A-D"),
    ("id given twice", "0,题目____,甲,乙,丙,丁,A", "id appears twice"),
    ("no id", ",题目____,甲,乙,丙,丁,A", "no id"),
    ("empty question", "1,,甲,乙,丙,丁,A", "empty question"),
])
def test_rows_left_out(exam, capsys, name, line, reason):
    path = exam / "val" / "physician_val.csv"
    path.write_text(HEADERS["val"] + "\n0,题目____,甲,乙,丙,丁,A\n" + line + "\n2,题目____,甲,乙,丙,丁,C\n",
                    encoding="utf-8")
    bench = get_benchmark("ceval-medical")
    items = bench.load(exam, "val")
    assert [i.id for i in items if i.groups["subject"] == "physician"] == ["physician/0", "physician/2"]
    assert bench.skipped["val"] == {reason: 1}
    assert f"physician_val.csv: loaded 2 of 3 rows; skipped 1: {reason} 1 (row 2)" in capsys.readouterr().err


def test_bom_and_quoted_newline(exam):
    path = exam / "val" / "basic_medicine_val.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADERS["val"] + '\n0,题目____,甲,"乙\n（见表）",丙,丁,B\n').encode("utf-8"))
    items = [i for i in get_benchmark("ceval-medical").load(exam, "val") if i.groups["subject"] == "basic_medicine"]
    assert len(items) == 1 and items[0].options["B"] == "乙\n（见表）"


@pytest.mark.parametrize("name, where, count", [
    ("unzipped folder", lambda root, tmp: root, 6),
    ("the hub's zip", "zip", 6),
    ("one subject's file", lambda root, tmp: root / "val" / "clinical_medicine_val.csv", 2),
])
def test_layouts(exam, tmp_path, name, where, count):
    if where == "zip":
        data = tmp_path / "ceval-exam.zip"
        with zipfile.ZipFile(data, "w") as zf:
            for f in sorted(exam.rglob("*.csv")):
                zf.write(f, f.relative_to(exam).as_posix())  # the hub zip has dev/ val/ test/ at its top
    else:
        data = where(exam, tmp_path)
    items = get_benchmark("ceval-medical").load(data, "val")
    assert len(items) == count
    if count == 2:
        assert items[0].id == "clinical_medicine/0" and items[0].groups["subject_name"] == "临床医学"


@pytest.mark.parametrize("name, change, message", [
    ("a subject missing", lambda root: (root / "val" / "basic_medicine_val.csv").unlink(), "lacks"),
    ("val without its answer column", lambda root: (root / "val" / "physician_val.csv").write_text(
        HEADERS["test"] + "\n0,题,甲,乙,丙,丁\n", encoding="utf-8"), r"lacks column\(s\) \['answer'\]"),
    ("empty file", lambda root: (root / "val" / "physician_val.csv").write_text(""), "the file is empty"),
])
def test_layout_errors(exam, name, change, message):
    change(exam)
    with pytest.raises(InputLayoutError, match=message):
        get_benchmark("ceval-medical").load(exam, "val")


def test_a_file_of_another_split_is_refused(exam):
    with pytest.raises(InputLayoutError, match="is none of"):
        get_benchmark("ceval-medical").load(exam / "dev" / "physician_dev.csv", "val")


def test_submission_file_shape(exam, tmp_path):
    bench = get_benchmark("ceval-medical")
    test = bench.load(exam, "test")
    answers = {item.id: "ABCD"[k % 4] for k, item in enumerate(test)}
    answers["clinical_medicine/1"] = ""  # nothing extracted: still an entry, scored wrong by the site
    sub = bench.submission(test, answers)
    assert sub == {"physician": {"0": "A", "1": "B"}, "clinical_medicine": {"0": "C", "1": ""},
                   "basic_medicine": {"0": "A", "1": "B"}}
    assert json.loads(json.dumps(sub)) == sub  # keys are the published ids as strings, as submission_example.json


@pytest.mark.parametrize("name, answers, message", [
    ("an item without an answer", {"physician/0": "A"}, "no answer for 1 of 2 items"),
    ("two letters for a single-answer item", {"physician/0": "A", "physician/1": "AB"}, "is not one letter A-D"),
    ("a letter past D", {"physician/0": "A", "physician/1": "E"}, "is not one letter A-D"),
])
def test_submission_refuses(name, answers, message):
    items = [Item(id=f"physician/{k}", question="题", options={"A": "甲", "B": "乙"}, answer=None) for k in (0, 1)]
    with pytest.raises(InputLayoutError, match=message):
        get_benchmark("ceval-medical").submission(items, answers)
