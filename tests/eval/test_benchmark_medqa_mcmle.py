"""MedQA-MCMLE's loader: answer text against answer_idx, the 5- and 4-option files, layouts."""

from __future__ import annotations

import json
import zipfile

import pytest

from collectivesft.benchmarks.base import get_benchmark
from collectivesft.errors import InputLayoutError

OPTIONS = {"A": "24小时内", "B": "12小时内", "C": "6小时内", "D": "2小时内", "E": "48小时内"}


def line(**change) -> str:
    row = {"question": "医院感染流行时，医院应报告的时间是（　　）。", "options": OPTIONS, "answer": "24小时内",
           "meta_info": "卫生法规", "answer_idx": "A"}
    row.update(change)
    return json.dumps(row, ensure_ascii=False)


# (name, the middle line, expected answer or skip reason, expected kept-note or None)
ROWS = [
    ("text agrees with answer_idx", line(), "A", None),
    ("text with stray whitespace agrees", line(answer=" 24 小时内 "), "A", None),
    ("text names another option", line(answer="12小时内"), "answer text names another option than answer_idx", None),
    ("text names no option: answer_idx kept", line(answer="一天内"), "A",
     "answer text matches no option (answer_idx kept)"),
    ("empty answer_idx recovered from the text", line(answer_idx="", answer="6小时内"), "C",
     "answer_idx recovered from the answer text"),
    ("empty answer_idx and empty text", line(answer_idx="", answer=""),
     "no answer_idx and the answer text names no single option", None),
    ("answer_idx outside the options", line(answer_idx="F"), "answer_idx is not one of the options", None),
    ("lower-case answer_idx", line(answer_idx="a"), "A", None),
    ("bigbio's [{key, value}] options", line(options=[{"key": k, "value": v} for k, v in OPTIONS.items()]), "A", None),
    ("options not an object", line(options="A. 24小时内"), "options is not an object of letter -> text", None),
    ("row not an object", json.dumps(["a", "b"]), "row is not a JSON object", None),
    ("line cut off", line()[:30], "unreadable (invalid JSON", None),
]


@pytest.mark.parametrize("name, middle, expect, note", ROWS)
def test_rows(tmp_path, capsys, name, middle, expect, note):
    folder = tmp_path / "data_clean" / "questions" / "Mainland"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_text("\n".join([line(), middle, line()]) + "\n", encoding="utf-8")
    bench = get_benchmark("medqa-mcmle")
    items = bench.load(tmp_path, "test")
    err = capsys.readouterr().err
    if len(expect) == 1:
        assert [i.id for i in items] == ["1", "2", "3"]
        assert items[1].answer == expect and items[1].groups == {"meta_info": "卫生法规"}
        assert bench.skipped["test"] == ({f"kept: {note}": 1} if note else {})
        assert (note in err) if note else err == ""
    else:
        assert [i.id for i in items] == ["1", "3"]
        (reason,) = bench.skipped["test"]
        assert reason.startswith(expect)
        assert "loaded 2 of 3 rows" in err and "(line 2)" in err


@pytest.fixture()
def data_clean(tmp_path):
    root = tmp_path / "data_clean" / "questions"
    for region, n in (("US", 5), ("Mainland", 5)):
        folder = root / region
        folder.mkdir(parents=True)
        (folder / "test.jsonl").write_text("\n".join([line()] * 3) + "\n", encoding="utf-8")
    four = root / "Mainland" / "4_options"
    four.mkdir()
    opts4 = {k: v for k, v in OPTIONS.items() if k != "E"}
    (four / "test.jsonl").write_text(line(options=opts4) + "\n", encoding="utf-8")
    return tmp_path / "data_clean"


@pytest.mark.parametrize("name, benchmark, where, count, letters", [
    ("release root: the five-option Mainland file", "medqa-mcmle", lambda d: d, 3, "ABCDE"),
    ("release root: the 4_options file", "medqa-mcmle-4options", lambda d: d, 1, "ABCD"),
    ("the Mainland folder", "medqa-mcmle", lambda d: d / "questions" / "Mainland", 3, "ABCDE"),
    ("the 4_options folder", "medqa-mcmle-4options", lambda d: d / "questions" / "Mainland" / "4_options", 1, "ABCD"),
    ("the file itself", "medqa-mcmle", lambda d: d / "questions" / "Mainland" / "test.jsonl", 3, "ABCDE"),
])
def test_layouts(data_clean, name, benchmark, where, count, letters):
    items = get_benchmark(benchmark).load(where(data_clean), "test")
    assert len(items) == count and "".join(items[0].options) == letters


def test_zip(data_clean, tmp_path):
    archive = tmp_path / "data_clean.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(data_clean.rglob("*.jsonl")):
            zf.write(f, f.relative_to(data_clean.parent).as_posix())
    assert len(get_benchmark("medqa-mcmle").load(archive, "test")) == 3
    assert len(get_benchmark("medqa-mcmle-4options").load(archive, "test")) == 1


@pytest.mark.parametrize("name, where, message", [
    ("only the US files", lambda d: d / "questions" / "US", "holds none of"),
    ("a path that does not exist", lambda d: d / "nowhere", "does not exist"),
])
def test_layout_errors(data_clean, name, where, message):
    with pytest.raises(InputLayoutError, match=message):
        get_benchmark("medqa-mcmle").load(where(data_clean), "test")


@pytest.mark.parametrize("name, content, message", [
    ("empty file", b"", "the file is empty"),
    ("every line unreadable", b"\xb2\xe2\xca\xd4\n{broken\n", "no readable row"),
])
def test_file_errors(tmp_path, name, content, message):
    path = tmp_path / "test.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputLayoutError, match=message) as err:
        get_benchmark("medqa-mcmle").load(path, "test")
    assert str(path) in str(err.value)
