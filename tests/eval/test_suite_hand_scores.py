"""Each benchmark beyond CMB scored by hand: items as its loader makes them, model outputs read by the
shared runner's extraction, the benchmark's own metric and categories (values worked out on paper)."""

from __future__ import annotations

import pytest

from collectivesft.benchmarks.base import Item, get_benchmark
from collectivesft.eval.suite.runner import _prediction
from collectivesft.eval.suite.scoring import score_predictions

OPTIONS = {k: f"选项{k}" for k in "ABCDE"}


def item(ident: str, answer: str, **groups: str) -> Item:
    return Item(id=ident, question=f"题目{ident}", options=OPTIONS, answer=answer, multi=len(answer) > 1,
                groups=groups)


# (benchmark, [(item, model output)], expected score, {category: {value: accuracy}})
CASES = [
    ("cmexam", [
        (item("test/1", "A", discipline="临床医学", difficulty="1"), "答案：A"),
        (item("test/2", "BD", discipline="临床医学", difficulty="3"), "答案：B"),  # half a multi-answer: wrong
        (item("test/3", "C", discipline="中医学", difficulty="3"), "答案：C"),
        (item("test/4", "ACE", discipline="药学", difficulty="5"), "答案：ECA"),  # any order of the same letters
        (item("test/5", "B", discipline="药学", difficulty="5"), "我不知道"),  # nothing to read: wrong
    ], 0.6, {"discipline": {"临床医学": 0.5, "中医学": 1.0, "药学": 0.5},
             "difficulty": {"1": 1.0, "3": 0.5, "5": 0.5}}),
    ("medqa-mcmle", [
        (item("1", "A", meta_info="卫生法规"), "答案：A"),
        (item("2", "B", meta_info="卫生法规"), "答案：C"),
        (item("3", "D", meta_info="内科学"), "答案：D"),
        (item("4", "E", meta_info="内科学"), ""),
        (item("5", "C", meta_info="药理学"), "答案：C"),
    ], 0.6, {"meta_info": {"卫生法规": 0.5, "内科学": 0.5, "药理学": 1.0}}),
    ("ceval-medical", [  # macro over subjects: (0.75 + 1.0 + 0.0) / 3, not the 5/8 of items
        (item("physician/0", "A", subject="physician"), "答案：A"),
        (item("physician/1", "B", subject="physician"), "答案：B"),
        (item("physician/2", "C", subject="physician"), "答案：C"),
        (item("physician/3", "D", subject="physician"), "答案：A"),
        (item("clinical_medicine/0", "B", subject="clinical_medicine"), "答案：B"),
        (item("clinical_medicine/1", "C", subject="clinical_medicine"), "答案：C"),
        (item("basic_medicine/0", "D", subject="basic_medicine"), "答案：A"),
        (item("basic_medicine/1", "A", subject="basic_medicine"), ""),
    ], (0.75 + 1.0 + 0.0) / 3, {"subject": {"physician": 0.75, "clinical_medicine": 1.0, "basic_medicine": 0.0}}),
    ("mlecqa", [
        (item("Clinic/q1", "B", subset="Clinic", qtype="A1型题", kind="KD"), "答案：B"),
        (item("Clinic/q2", "C", subset="Clinic", qtype="A2型题", kind="CA"), "答案：D"),
        (item("TCM/q3", "A", subset="TCM", qtype="B1型题", kind="KD"), "答案：A"),
        (item("TCM/q4", "E", subset="TCM", qtype="A3/A4型题", kind="CA"), "答案：E"),
        (item("CWM/q5", "D", subset="CWM", qtype="A1型题", kind="KD"), "答案：C"),
    ], 0.6, {"kind": {"KD": 2 / 3, "CA": 0.5}, "subset": {"Clinic": 0.5, "TCM": 1.0, "CWM": 0.0}}),
    ("nlpec", [
        (item("101", "B", subject="药学专业知识（一）"), "答案：B"),
        (item("102", "E", subject="药学专业知识（一）"), "答案：E"),
        (item("103", "A", subject="药事管理与法规"), "答案：B"),
        (item("104", "C", subject="药事管理与法规"), "答案：C"),
    ], 0.75, {"subject": {"药学专业知识（一）": 1.0, "药事管理与法规": 0.5}}),
    ("cmmlu-medical", [  # macro over subjects: (1 + 1/3) / 2, the micro share is 2/4
        (item("anatomy/0", "A", subject="anatomy"), "答案是：A"),
        (item("virology/0", "B", subject="virology"), "答案是：B"),
        (item("virology/1", "C", subject="virology"), "答案是：A"),
        (item("virology/2", "D", subject="virology"), "答案是：A"),
    ], (1 + 1 / 3) / 2, {"subject": {"anatomy": 1.0, "virology": 1 / 3}}),
]


@pytest.mark.parametrize("name,rows,score,by", CASES, ids=[c[0] for c in CASES])
def test_hand_computed_scores(name, rows, score, by):
    benchmark = get_benchmark(name)
    predictions = [_prediction(it, {"id": it.id, "output": out}, "generate") for it, out in rows]
    got = score_predictions(benchmark, predictions, n_boot=200)
    assert got["score"] == pytest.approx(score)
    assert got["n"] == len(rows)
    for category, cells in by.items():
        assert {k: v["accuracy"] for k, v in got["by"][category].items()} == pytest.approx(cells), category
