"""Decontamination against CMB-Exam and CMB-Clin files in their official formats."""

from __future__ import annotations

import json
import random

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.mix.text import normalize_text

from .conftest import random_text

EXAM = [
    {"id": 1, "exam_type": "医师考试", "exam_class": "临床执业医师", "exam_subject": "内科学",
     "question": "男性，58岁，反复胸骨后压榨性疼痛3年，每次持续约5分钟，含服硝酸甘油后缓解，最可能的诊断是",
     "option": {"A": "稳定型心绞痛", "B": "急性心肌梗死", "C": "主动脉夹层", "D": "反流性食管炎", "E": "肋软骨炎"},
     "question_type": "单项选择题"},
    {"id": 2, "exam_type": "药师考试", "exam_class": "执业药师", "exam_subject": "药理学",
     "question": "Which of the following drugs (ACE inhibitor) is most likely to cause a dry cough in a 60-year-old patient?",
     # The hub copy stores the options as a string holding the dict.
     "option": "{'A': 'captopril', 'B': 'amlodipine', 'C': 'metoprolol', 'D': 'furosemide'}",
     "question_type": "单项选择题"},
    {"id": 3, "exam_type": "护理考试", "exam_class": "护士执业资格", "exam_subject": "基础护理",
     "question": "下列哪项正确", "option": {"A": "静脉输液速度成人一般为每分钟四十至六十滴", "B": "无菌物品开启后可保存一周"},
     "question_type": "单项选择题"},
]
CLIN = [
    {"id": 1, "title": "案例一",
     "description": "患者，女，45岁，因反复上腹痛两年，加重伴黑便三天入院。查体：血压100/60mmHg，心率102次/分，上腹部压痛。",
     "QA_pairs": [{"question": "请根据患者的病史和查体结果给出最可能的诊断及诊断依据", "answer": "消化性溃疡并出血"}]},
]


def _perturb(text: str) -> str:
    """A copy as a scraper might produce: other punctuation, extra spaces, full-width letters/digits."""
    table = str.maketrans({"，": ",", "、": ",", "：": ":", "?": "？", "(": "（", ")": "）", "3": "３", "5": "５",
                           "A": "Ａ", "C": "Ｃ", "E": "Ｅ"})
    return " ".join(text.translate(table)[i : i + 7] for i in range(0, len(text), 7))


def _mcq_prompt(question: str, options: dict[str, str]) -> str:
    return "以下是中国医学考试的单项选择题，请选出正确答案。\n\n" + question + "\n" + \
        "\n".join(f"{k}. {v}" for k, v in options.items())


@pytest.fixture()
def eval_files(tmp_path):
    exam = tmp_path / "CMB-Exam" / "CMB-test" / "CMB-test-choice-question-merge.json"
    exam.parent.mkdir(parents=True)
    exam.write_text(json.dumps(EXAM, ensure_ascii=False, indent=1), encoding="utf-8")
    clin = tmp_path / "CMB-Clin" / "CMB-Clin-qa.json"
    clin.parent.mkdir(parents=True)
    clin.write_text(json.dumps(CLIN, ensure_ascii=False), encoding="utf-8")
    return [str(exam), str(clin)]


@pytest.fixture()
def contaminated_source(write_records):
    rng = random.Random(5)
    users = {
        0: _mcq_prompt(_perturb(EXAM[0]["question"]), EXAM[0]["option"]),
        1: _perturb(EXAM[1]["question"]).lower(),
        2: "医生你好，" + _perturb(CLIN[0]["description"]) + "请问严重吗？",
        # Shares only the generic stem "下列哪项正确" with item 3: must stay.
        3: _mcq_prompt("关于糖尿病的饮食治疗，下列哪项正确", {"A": "控制总热量", "B": "不吃主食"}),
    }
    return write_records("train", 12, user=lambda i: users.get(i) or random_text(rng, 80))


def test_perturbed_copies_of_eval_items_are_removed(eval_files, contaminated_source, mix, jsonl, tmp_path):
    manifest = mix({"val_fraction": 0.0, "report": True, "decontamination": {"eval_files": eval_files},
                    "sources": [{"name": "train", "records": str(contaminated_source)}]})
    counts = manifest["sources"][0]["counts"]
    assert counts["contaminated"] == 3 and counts["train"] == 9
    reasons = {r["id"]: r["reason"] for r in jsonl(tmp_path / "out" / "accounting.jsonl")}
    assert reasons["train/r00000"] == "contaminated-by:CMB-test-choice-question-merge.json#1"
    assert reasons["train/r00001"] == "contaminated-by:CMB-test-choice-question-merge.json#2"
    assert reasons["train/r00002"] == "contaminated-by:CMB-Clin-qa.json#1"
    assert reasons["train/r00003"] is None
    decon = manifest["decontamination"]
    assert decon["matches_per_source"] == {"train": 3}
    assert decon["matched_items"] == {"CMB-Clin-qa.json#1": 1, "CMB-test-choice-question-merge.json#1": 1,
                                      "CMB-test-choice-question-merge.json#2": 1}
    # Item 3's question is shorter than one n-gram: it is checked with its options instead.
    exam_facts = decon["eval_files"][0]
    assert exam_facts["items_indexed"] == 3 and exam_facts["items_too_short"] == 0
    rows = jsonl(tmp_path / "out" / "contamination.jsonl")
    assert [r["eval_item"] for r in rows][0] == "CMB-test-choice-question-merge.json#1"
    assert all(r["dropped"] and r["overlap"] >= 0.5 for r in rows)
    assert "Decontamination" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_report_action_keeps_records_but_shows_the_overlap(eval_files, contaminated_source, mix, jsonl, tmp_path):
    manifest = mix({"val_fraction": 0.0, "decontamination": {"eval_files": eval_files, "action": "report"},
                    "sources": [{"name": "train", "records": str(contaminated_source)}]})
    assert manifest["sources"][0]["counts"]["contaminated"] == 0
    assert manifest["sources"][0]["counts"]["train"] == 12
    assert manifest["decontamination"]["matches_per_source"] == {"train": 3}
    assert [r["dropped"] for r in jsonl(tmp_path / "out" / "contamination.jsonl")] == [False] * 3


def test_cmb_train_vs_test_overlap_on_fixtures(raw_fixtures, mix, jsonl, tmp_path):
    # The paper trained on CMB-train and tested on CMB-test without an overlap check. Build a
    # CMB-test file holding perturbed copies of three train questions and see them caught.
    from collectivesft.sources.convert import convert_source

    convert_source("cmb", tmp_path / "conv", input=raw_fixtures / "cmb")
    records = jsonl(tmp_path / "conv" / "records.jsonl")
    # The converter's prompt is "instruction\n\nquestion\n\noptions".
    leaked = [{"question": r["messages"][0]["content"].split("\n\n")[1], "option": r["meta"]["options"],
               "exam_type": r["meta"]["exam_type"], "question_type": "单项选择题"} for r in records[:12:5]]
    test = [dict(row, id=k + 1, question=_perturb(row["question"]) + "（　）") for k, row in enumerate(leaked)]
    test_file = tmp_path / "CMB-test-choice-question-merge.json"
    test_file.write_text(json.dumps(test, ensure_ascii=False), encoding="utf-8")
    manifest = mix({"val_fraction": 0.0, "decontamination": {"eval_files": [str(test_file)], "ngram": 8},
                    "dedup": {"exact": False, "near": False},
                    "sources": [{"name": "cmb", "input": str(raw_fixtures / "cmb")}]})
    assert sorted(manifest["decontamination"]["matched_items"]) == [
        f"CMB-test-choice-question-merge.json#{k}" for k in (1, 2, 3)]
    leaked_norm = {normalize_text(row["question"]) for row in leaked}
    for rec in jsonl(tmp_path / "out" / "train.jsonl"):
        assert not any(q in normalize_text(rec["messages"][0]["content"]) for q in leaked_norm), rec["id"]
    assert manifest["sources"][0]["counts"]["contaminated"] >= 3


def test_answer_key_is_not_an_eval_question_file(tmp_path, write_records, mix):
    key = tmp_path / "CMB-test-choice-answer.json"
    key.write_text(json.dumps([{"id": 1, "exam_type": "医师考试", "answer": "A"}]), encoding="utf-8")
    folder = write_records("train", 3)
    with pytest.raises(InputLayoutError, match="answer key has no question text"):
        mix({"decontamination": {"eval_files": [str(key)]}, "sources": [{"name": "train", "records": str(folder)}]})
