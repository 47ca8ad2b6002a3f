"""CMExam's loader on the release's CSV forms: the Options field, answers, annotations, layouts."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from collectivesft.benchmarks.base import get_benchmark
from collectivesft.benchmarks.cmexam.load import parse_options
from collectivesft.errors import InputLayoutError

HEADER = ["Question", "Options", "Answer", "Explanation"]
TEST_HEADER = HEADER + ["Disease Group", "Area of Competency", "Clinical Department", "Medical Discipline",
                        "Difficulty level"]
OPTIONS = "A 感染\nB 心肌梗死\nC 肺炎\nD 胃炎\nE 肾炎"


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@pytest.mark.parametrize("name, text, expect", [
    ("release form: letter, space, text", "A 感染\nB 心肌梗死", {"A": "感染", "B": "心肌梗死"}),
    ("CRLF and blank lines", "A 感染\r\n\r\nB 心肌梗死\r\n", {"A": "感染", "B": "心肌梗死"}),
    ("full stop after the letter", "A.感染\nB. 心肌梗死", {"A": "感染", "B": "心肌梗死"}),
    ("enumeration comma", "A、感染\nB、心肌梗死", {"A": "感染", "B": "心肌梗死"}),
    ("text with spaces kept whole", "A 急性 心肌梗死\nB 肺炎", {"A": "急性 心肌梗死", "B": "肺炎"}),
    ("a letter with no text is dropped", "A 感染\nB 肺炎\nE", {"A": "感染", "B": "肺炎"}),
    ("a text that starts with capitals is not a letter line", "A ABO血型不合\nB 肺炎", {"A": "ABO血型不合", "B": "肺炎"}),
])
def test_parse_options(name, text, expect):
    assert parse_options(text) == expect


@pytest.mark.parametrize("name, text", [
    ("line without a letter", "感染\nB 肺炎"),
    ("letter given twice", "A 感染\nA 肺炎"),
    ("letter glued to the text", "AB血型\nB 肺炎"),
])
def test_parse_options_refuses(name, text):
    with pytest.raises(ValueError):
        parse_options(text)


# (name, Options, Answer, annotation row or None, expected (answer, multi) or the skip reason)
ROWS = [
    ("single answer", OPTIONS, "B", None, ("B", False)),
    ("multi answer concatenated", OPTIONS, "ACD", None, ("ACD", True)),
    ("multi answer unsorted", OPTIONS, "DB", None, ("BD", True)),
    ("lower-case answer", OPTIONS, "c", None, ("C", False)),
    ("NaN answer (empty field)", OPTIONS, "", None, "no answer (NaN)"),
    ("pandas-written NaN", OPTIONS, "nan", None, "no answer (NaN)"),
    ("answer names a missing option", "A 感染\nB 肺炎\nC", "C", None, "answer names an option that is missing or empty"),
    ("answer not letters", OPTIONS, "A,B", None, "answer is not option letters"),
    ("unreadable options", "感染\n肺炎", "A", None, "unreadable Options (option line '感染' does not start with a letter A-H)"),
]


@pytest.mark.parametrize("name, options, answer, _unused, expect", ROWS)
def test_rows(tmp_path, capsys, name, options, answer, _unused, expect):
    good = ["好的题目", OPTIONS, "A", "解释"]
    (tmp_path / "train.csv").write_text(csv_text(HEADER, [good, ["题目", options, answer, ""], good]), encoding="utf-8")
    bench = get_benchmark("cmexam")
    items = bench.load(tmp_path, "train")
    if isinstance(expect, tuple):
        assert len(items) == 3
        assert (items[1].answer, items[1].multi) == expect
        assert items[1].id == "train/2"
        assert bench.skipped["train"] == {}
    else:
        assert [i.id for i in items] == ["train/1", "train/3"]  # ids are row numbers: stable when rows drop
        assert bench.skipped["train"] == {expect: 1}
        assert f"{expect} 1 (row 2)" in capsys.readouterr().err


def test_annotations_become_groups(tmp_path):
    rows = [["题一", OPTIONS, "A", "解释", "循环系统疾病", "疾病治疗", "心内科", "临床医学", "3.0"],
            ["题二", OPTIONS, "BC", "", "不符合", "不符合", "", "中医学", "5.0"]]
    (tmp_path / "test_with_annotations.csv").write_text(csv_text(TEST_HEADER, rows), encoding="utf-8")
    items = get_benchmark("cmexam").load(tmp_path, "test")
    assert items[0].groups == {"discipline": "临床医学", "competency": "疾病治疗", "disease_group": "循环系统疾病",
                               "department": "心内科", "difficulty": "3"}
    assert items[1].groups["department"] == "N/A" and items[1].groups["difficulty"] == "5"
    assert items[0].explanation == "解释" and items[1].explanation is None
    assert items[1].options == {"A": "感染", "B": "心肌梗死", "C": "肺炎", "D": "胃炎", "E": "肾炎"}


@pytest.fixture()
def release(tmp_path):
    data = tmp_path / "CMExam" / "data"
    data.mkdir(parents=True)
    for name, header in (("train.csv", HEADER), ("val.csv", HEADER), ("test_with_annotations.csv", TEST_HEADER)):
        row = ["题", OPTIONS, "A", "解"] + (["g", "c", "d", "临床医学", "1.0"] if header is TEST_HEADER else [])
        (data / name).write_text(csv_text(header, [row, row]), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("name, where", [
    ("repository root (any depth)", lambda root: root),
    ("data folder", lambda root: root / "CMExam" / "data"),
    ("the test file itself", lambda root: root / "CMExam" / "data" / "test_with_annotations.csv"),
    ("a zip of the repository", "zip"),
])
def test_layouts(release, name, where):
    if where == "zip":
        data = release / "CMExam.zip"
        with zipfile.ZipFile(data, "w") as zf:
            for f in (release / "CMExam" / "data").iterdir():
                zf.write(f, f"CMExam-main/data/{f.name}")
            zf.writestr("__MACOSX/CMExam-main/data/._test_with_annotations.csv", b"\x00\x05junk")
    else:
        data = where(release)
    items = get_benchmark("cmexam").load(data, "test")
    assert [i.id for i in items] == ["test/1", "test/2"]
    assert items[0].groups["discipline"] == "临床医学"


@pytest.mark.parametrize("name, setup, message", [
    ("no test file in the folder", lambda d: (d / "test_with_annotations.csv").unlink(), "holds none of"),
    ("empty file", lambda d: (d / "test_with_annotations.csv").write_text(""), "the file is empty"),
    ("BOM only", lambda d: (d / "test_with_annotations.csv").write_bytes(b"\xef\xbb\xbf\n"), "the file is empty"),
    ("header without Options", lambda d: (d / "test_with_annotations.csv").write_text("Question,Answer\n题,A\n"),
     "lacks column(s) ['Options']"),
    ("saved as GBK", lambda d: (d / "test_with_annotations.csv").write_bytes(
        csv_text(HEADER, [["题目", OPTIONS, "A", ""]]).encode("gbk")), "not UTF-8"),
])
def test_layout_errors_name_the_file(release, name, setup, message):
    setup(release / "CMExam" / "data")
    with pytest.raises(InputLayoutError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")) as err:
        get_benchmark("cmexam").load(release, "test")
    assert "test_with_annotations.csv" in str(err.value) or "holds none" in str(err.value)


def test_bom_is_tolerated(release):
    path = release / "CMExam" / "data" / "val.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # Excel's re-save
    assert len(get_benchmark("cmexam").load(release, "val")) == 2


def test_unknown_split(release):
    with pytest.raises(InputLayoutError, match="unknown CMExam split 'dev'"):
        get_benchmark("cmexam").load(release, "dev")


@pytest.mark.parametrize("name, file, split, ok", [
    ("a renamed test file", "cmexam_test.csv", "test", True),
    ("a file without a split in its name", "questions.csv", "test", True),
    ("the train file asked for test", "train.csv", "test", False),
    ("the val file asked for train", "val.csv", "train", False),
])
def test_a_file_passed_on_its_own(tmp_path, name, file, split, ok):
    path = tmp_path / file
    path.write_text(csv_text(HEADER, [["题", OPTIONS, "A", ""]]), encoding="utf-8")
    if ok:
        assert len(get_benchmark("cmexam").load(path, split)) == 1
    else:
        with pytest.raises(InputLayoutError, match="its name says split"):
            get_benchmark("cmexam").load(path, split)
