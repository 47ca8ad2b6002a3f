"""NLPEC's loader on the release's JSON lines: 1-based answers, multi-answer exclusion, layouts."""

from __future__ import annotations

import json
import zipfile

import pytest

from collectivesft.benchmarks.base import get_benchmark
from collectivesft.errors import InputLayoutError


def row(qid: int = 1, **change) -> dict:
    r = {"questionType": "最佳选择题", "questionId": qid, "questionText": "治疗高血压的首选药物是",
         "backgroundText": "", "option": ["二甲双胍", "氨氯地平", "阿莫西林", "奥美拉唑", "青蒿素"],
         "answer": ["2"], "context": ["…"] * 5, "subject": "药学专业知识（二）", "questionImg": [], "optionImg": []}
    r.update(change)
    return r


def jsonl(*rows) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"


# (name, middle row, expected answer or skip reason)
ROWS = [
    ("one-based answer", row(5), "B"),
    ("answer as a bare string", row(5, answer="5"), "E"),
    ("answer as a number", row(5, answer=[1]), "A"),
    ("several answers: excluded as in the paper", row(5, answer=["1", "3"]), "multi-answer question (excluded, as in the paper)"),
    ("answer number out of range", row(5, answer=["7"]), "answer is not an option number"),
    ("answer zero", row(5, answer=["0"]), "answer is not an option number"),
    ("empty answer", row(5, answer=[]), "empty answer"),
    ("question image", row(5, questionImg=["q_1.png"]), "question needs an image"),
    ("option image", row(5, optionImg=["o_1.png"]), "question needs an image"),
    ("answer names an empty option", row(5, option=["甲", "", "丙", "丁"]), "answer names an empty option"),
    ("questionId given twice", row(1), "questionId appears twice"),
]


@pytest.mark.parametrize("name, middle, expect", ROWS)
def test_rows(tmp_path, capsys, name, middle, expect):
    folder = tmp_path / "NLPEC_public_data"
    folder.mkdir()
    (folder / "test.json").write_text(jsonl(row(1), middle, row(3)), encoding="utf-8")
    bench = get_benchmark("nlpec")
    items = bench.load(tmp_path, "test")
    if len(expect) == 1:
        assert [i.id for i in items] == ["1", "5", "3"] and items[1].answer == expect
        assert items[1].groups == {"subject": "药学专业知识（二）", "qtype": "最佳选择题"}
    else:
        assert [i.id for i in items] == ["1", "3"]
        assert bench.skipped["test"] == {expect: 1}
        assert f"loaded 2 of 3 rows; skipped 1: {expect} 1 (line 2)" in capsys.readouterr().err


def test_background_is_part_of_the_question(tmp_path):
    (tmp_path / "test.json").write_text(jsonl(row(1, backgroundText="患者，男，65岁，血压160/100mmHg。",
                                                  questionType="综合分析选择题")), encoding="utf-8")
    (item,) = get_benchmark("nlpec").load(tmp_path / "test.json", "test")
    assert item.question == "患者，男，65岁，血压160/100mmHg。\n治疗高血压的首选药物是"


def test_bom_crlf_and_bad_lines(tmp_path, capsys):
    folder = tmp_path / "NLPEC_public_data"
    folder.mkdir()
    good = [json.dumps(row(k), ensure_ascii=False).encode("utf-8") for k in (1, 2, 3)]
    gbk = json.dumps(row(4), ensure_ascii=False).encode("gbk")
    cut = json.dumps(row(5), ensure_ascii=False).encode("utf-8")[:50]
    (folder / "test.json").write_bytes(b"\xef\xbb\xbf" + b"\r\n".join([good[0], gbk, good[1], cut, good[2]]) + b"\r\n")
    bench = get_benchmark("nlpec")
    assert [i.id for i in bench.load(tmp_path, "test")] == ["1", "2", "3"]
    assert sum(bench.skipped["test"].values()) == 2
    assert "loaded 3 of 5 rows" in capsys.readouterr().err


@pytest.mark.parametrize("name, where", [
    ("the release folder's parent", lambda t: t),
    ("the folder renamed", "renamed"),
    ("a zip", "zip"),
    ("the file itself", lambda t: t / "NLPEC_public_data" / "test.json"),
])
def test_layouts(tmp_path, name, where):
    folder = tmp_path / "NLPEC_public_data"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        (folder / f"{split}.json").write_text(jsonl(row(1), row(2)) if split == "test" else jsonl(row(9)), encoding="utf-8")
    if where == "renamed":
        data = folder.rename(tmp_path / "nlpec")
    elif where == "zip":
        data = tmp_path / "NLPEC.zip"
        with zipfile.ZipFile(data, "w") as zf:
            for f in sorted(folder.iterdir()):
                zf.write(f, f"NLPEC_public_data/{f.name}")
    else:
        data = where(tmp_path)
    assert [i.id for i in get_benchmark("nlpec").load(data, "test")] == ["1", "2"]


@pytest.mark.parametrize("name, file, content, message", [
    ("a file named for another split", "dev.json", jsonl(row()), "its name says split 'dev', not 'test'"),
    ("another dataset's rows", "test.json", jsonl({"question": "q", "answer": "A"}), "not an NLPEC question"),
    ("an empty file", "test.json", "", "the file is empty"),
])
def test_layout_errors(tmp_path, name, file, content, message):
    (tmp_path / file).write_text(content, encoding="utf-8")
    with pytest.raises(InputLayoutError, match=message):
        get_benchmark("nlpec").load(tmp_path / file, "test")
