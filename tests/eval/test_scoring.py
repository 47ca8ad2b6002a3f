"""Scoring against hand-computed results, key validation, submission validation (API and CLI)."""

import json

import pytest

from collectivesft.benchmarks.cmb.load import load_questions
from collectivesft.eval.cmb.scoring import score_cmb, validate_submission

S, M = "单项选择题", "多项选择题"
KEY = [  # id, exam_type, exam_class, question_type, answer
    (1, "医师考试", "临床执业医师", S, "A"),
    (2, "医师考试", "临床执业医师", S, "B"),
    (3, "医师考试", "中医执业医师", M, "AC"),
    (4, "医师考试", "中医执业医师", S, "D"),
    (5, "护理考试", "护士执业资格", S, "C"),
    (6, "护理考试", "护士执业资格", M, "BDE"),
    (7, "护理考试", "基础知识与专业实践", S, "B"),
    (8, "护理考试", "基础知识和专业实践", S, "D"),  # same class, spelled with 和
    (9, "护理考试", "护士执业资格", S, "无"),  # invalid key row
    (10, "护理考试", "护士执业资格", S, "A"),
]
OUTPUTS = {1: "答案是A", 2: "答案是C", 3: "答案是CA", 5: "Answer: C", 6: "答案：B、D", 7: "答案是B", 8: "C",
           9: "答案是A", 10: "正确答案为A。"}


def write_key(path):
    rows = [{"id": i, "exam_type": t, "exam_class": c, "exam_subject": "内科", "question_type": q, "answer": a}
            for i, t, c, q, a in KEY]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def check_hand_computed(scores):
    assert scores["by_class"]["医师考试"] == {"中医执业医师": 0.5, "临床执业医师": 0.5}
    # 与 and 和 spellings are one class, reported under the spelling the key uses first
    assert scores["by_class"]["护理考试"] == pytest.approx({"护士执业资格": 2 / 3, "基础知识与专业实践": 0.5})
    assert scores["by_type"] == pytest.approx({"医师考试": 0.5, "护理考试": 7 / 12})
    assert scores["overall_macro_types"] == pytest.approx(13 / 24)
    assert scores["overall_micro"] == pytest.approx(5 / 9)
    assert (scores["n"], scores["n_answered"], scores["missing"]) == (9, 8, 1)
    assert scores["key_invalid"] == 1 and scores["key_invalid_ids"] == [9]


def test_free_text_outputs_score_as_computed_by_hand(tmp_path, cli):
    key = write_key(tmp_path / "key.json")
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("".join(json.dumps({"id": i, "output": o}, ensure_ascii=False) + "\n" for i, o in OUTPUTS.items()))
    result = cli(["eval", "cmb-score", "--outputs", outputs, "--key", key, "--out", tmp_path / "scored"])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "scored/scores.json").read_text())
    check_hand_computed(scores)
    preds = {p["id"]: p for p in map(json.loads, (tmp_path / "scored/predictions.jsonl").read_text().splitlines())}
    assert preds[3] == {"id": 3, "model_answer": "AC", "correct": True, "answer": "AC", "output": "答案是CA",
                        "exam_type": "医师考试", "exam_class": "中医执业医师", "question_type": M,
                        "extraction": "answer statement"}
    assert preds[4]["model_answer"] == "" and preds[4]["correct"] is False
    assert preds[9]["correct"] is None
    assert (tmp_path / "scored/scores.md").read_text().count("|") > 10
    assert (tmp_path / "scored/scores_by_type.png").read_bytes()[:4] == b"\x89PNG"


def test_submission_list_scores_the_same(tmp_path):
    key = write_key(tmp_path / "key.json")
    answers = {1: "A", 2: "C", 3: "CA", 5: "C", 6: "BD", 7: "B", 8: "C", 9: "A", 10: "A"}
    sub = tmp_path / "submission.json"
    sub.write_text(json.dumps([{"id": i, "model_answer": a} for i, a in answers.items()]))
    check_hand_computed(score_cmb(sub, key, tmp_path / "out"))


def test_option_text_answers_count_when_questions_are_given(cmb_data, tmp_path):
    questions = load_questions(cmb_data, "test")
    key = json.loads((cmb_data / "CMB-Exam/CMB-test/CMB-test-choice-answer.json").read_text())
    gold = {r["id"]: r["answer"] for r in key}
    rows = []
    for q in questions:
        if q.multi or q.id == 10:
            continue
        rows.append({"id": q.id, "output": f"答案是{q.options[gold[q.id]]}"})
    outputs = tmp_path / "o.jsonl"
    outputs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    qfile = cmb_data / "CMB-Exam/CMB-test/CMB-test-choice-question-merge.json"
    with_text = score_cmb(outputs, cmb_data / "CMB-Exam/CMB-test/CMB-test-choice-answer.json", tmp_path / "a", qfile)
    without = score_cmb(outputs, cmb_data / "CMB-Exam/CMB-test/CMB-test-choice-answer.json", tmp_path / "b")
    assert with_text["n_correct"] == len(rows) and without["n_correct"] < len(rows)
    assert with_text["key_invalid_ids"] == [10]


def test_submission_validation(tmp_path, cmb_data, cli):
    qfile = cmb_data / "CMB-Exam/CMB-test/CMB-test-choice-question-merge.json"
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"id": i, "model_answer": "A"} for i in range(1, 141)]))
    result = cli(["eval", "cmb-validate", good, "--questions", qfile])
    assert result.exit_code == 0 and "valid (140 answers)" in result.output

    report = validate_submission(good)  # against the real 1..11200
    assert not report["ok"] and any("11060 missing id(s): 141-11200" in p for p in report["problems"])

    rows = [{"id": i, "model_answer": "A"} for i in range(1, 141) if i not in (5, 6, 7)]
    rows += [{"id": 8, "model_answer": "B"}, {"id": "9", "model_answer": "C"}, {"id": 11, "model_answer": "AG"},
             {"id": 12, "model_answer": "CA"}, {"model_answer": "A"}]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(rows))
    result = cli(["eval", "cmb-validate", bad, "--questions", qfile])
    assert result.exit_code == 1
    for needle in ("3 missing id(s): 5-7", "4 duplicated id(s): [8, '9', 11, 12]", "'9' is not an integer",
                   "not letters A-F", "'AG'", "lack 'id' or 'model_answer'", "not sorted"):
        assert needle in result.output, needle


def test_broken_submission_file_is_reported(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    report = validate_submission(path)
    assert not report["ok"] and "not valid UTF-8 JSON" in report["problems"][0]


def test_scores_markdown_keeps_chinese_exam_types_with_an_english_gloss():
    from collectivesft.eval.cmb.summary import scores_markdown

    scores = {"n": 2, "n_answered": 2, "missing": 0, "overall_micro": 1.0, "overall_macro_types": 1.0,
              "by_type": {"医师考试": 1.0, "某新考试": 1.0},
              "by_class": {"医师考试": {"临床执业医师": 1.0}, "某新考试": {"新类": 1.0}},
              "counts": {"医师考试": {"临床执业医师": {"correct": 1, "n": 1}}, "某新考试": {"新类": {"correct": 1, "n": 1}}}}
    md = scores_markdown(scores)
    assert "| 医师考试 | Physician | 100.00 |" in md
    assert "| 某新考试 | - | 100.00 |" in md  # an unknown type keeps its name, with no gloss
    assert "| 医师考试 | 临床执业医师 | 1 | 1 | 100.00 |" in md
