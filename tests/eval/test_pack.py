"""`eval cmb-pack QUESTIONS.json OUT`: questions with answers become CMB's official layout, which
`eval cmb` and `eval cmb-score` read; every bad row is named by position and reason."""

import json

import pytest

from collectivesft.benchmarks.cmb.layout import KEY_FILE, QUESTION_FILES


def _question(**changes):
    row = {"exam_type": "医师考试", "exam_class": "临床执业医师", "exam_subject": "内科", "question": "首选药物是",
           "question_type": "单项选择题", "option": {"A": "甲", "B": "乙", "C": "丙", "D": "丁"}, "answer": "B"}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


def _write(path, rows):
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def _fixture_with_answers(cmb_data):
    """The eval fixture's test questions with the key's answers put back (one key answer is invalid)."""
    questions = json.loads((cmb_data / QUESTION_FILES["test"]).read_text(encoding="utf-8"))
    key = {k["id"]: k["answer"] for k in json.loads((cmb_data / KEY_FILE).read_text(encoding="utf-8"))}
    return [{**q, "answer": key[q["id"]]} for q in questions]


BAD_ROWS = [
    # (name, row, reason printed)
    ("no-answer", _question(answer=None), "no answer"),
    ("empty-answer", _question(answer=""), "no answer"),
    ("letter-not-an-option", _question(answer="E"), "answer 'E': E not among the options (A, B, C, D)"),
    ("not-letters", _question(answer="无答案"), "answer '无答案' is not option letters A-F"),
    ("missing-fields", _question(exam_class=None, question=None), "missing exam_class, question"),
    ("missing-option", _question(option=None), "missing option"),
    ("one-option", _question(option={"A": "甲", "B": ""}, answer="A"), "fewer than two non-empty options (A)"),
    ("option-not-a-dict", _question(option="A. 甲 B. 乙"), "option: option string is not a dict"),
    ("single-with-two-answers", _question(answer="AC"), "a 单项选择题 (single answer) with the answer 'AC'"),
    ("unknown-question-type", _question(question_type="判断题"), "question_type '判断题' is neither"),
    ("not-an-object", "首选药物是", "not an object but str"),
]


@pytest.mark.parametrize("row, reason", [pytest.param(r, why, id=name) for name, r, why in BAD_ROWS])
def test_a_bad_row_is_named_with_its_index_and_reason(tmp_path, cli, row, reason):
    source = _write(tmp_path / "q.json", [_question(), _question(answer="A"), row, _question()])
    result = cli(["eval", "cmb-pack", source, tmp_path / "out"])
    assert result.exit_code == 1, result.output
    assert f"bad: row 3 (index 2): {reason}" in result.output
    assert "1 bad row(s) of 4; nothing written" in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize("ids, reason", [
    pytest.param([1, 2, 2], "row 3 (index 2): id 2 repeats row 2", id="duplicate-id"),
    pytest.param([1, "x7", 3], "row 2 (index 1): id 'x7' is not an integer", id="id-not-an-integer"),
    pytest.param([1, None, 3], "row 2 (index 1): no id, while 2 other row(s) have one", id="some-ids-missing"),
])
def test_ids_are_checked(tmp_path, cli, ids, reason):
    source = _write(tmp_path / "q.json", [_question(id=i) for i in ids])
    result = cli(["eval", "cmb-pack", source, tmp_path / "out"])
    assert result.exit_code == 1 and f"bad: {reason}" in result.output, result.output


def test_every_bad_row_is_listed_and_skip_bad_packs_the_rest(tmp_path, cli):
    rows = [_question()] + [r for _, r, _ in BAD_ROWS] + [_question(answer="C")]
    source = _write(tmp_path / "q.json", rows)
    refused = cli(["eval", "cmb-pack", source, tmp_path / "out"])
    assert refused.exit_code == 1 and refused.output.count("bad: row ") == len(BAD_ROWS)
    packed = cli(["eval", "cmb-pack", source, tmp_path / "out", "--skip-bad"])
    assert packed.exit_code == 0, packed.output
    assert packed.output.count("left out: row ") == len(BAD_ROWS)
    key = json.loads((tmp_path / "out" / KEY_FILE).read_text(encoding="utf-8"))
    assert [(k["id"], k["answer"]) for k in key] == [(1, "B"), (2, "C")]
    manifest = json.loads((tmp_path / "out/cmb-pack.json").read_text(encoding="utf-8"))
    assert [b["index"] for b in manifest["bad_rows"]] == list(range(1, len(BAD_ROWS) + 1))


def test_the_fixture_round_trips_through_eval_commands(cmb_data, tmp_path, cli):
    """Questions with answers -> official layout -> cmb-score of the key's own answers scores 100 %."""
    rows = _fixture_with_answers(cmb_data)
    for row in rows:
        del row["id"]  # ids are assigned when absent
    source = _write(tmp_path / "q.json", rows)
    result = cli(["eval", "cmb-pack", source, tmp_path / "CMB", "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "left out: row 10 (index 9): answer '无答案' is not option letters A-F" in result.output
    assert "assigned 1..139 to the test questions" in result.output
    questions = json.loads((tmp_path / "CMB" / QUESTION_FILES["test"]).read_text(encoding="utf-8"))
    assert [q["id"] for q in questions] == list(range(1, 140)) and {q["answer"] for q in questions} == {""}
    key = json.loads((tmp_path / "CMB" / KEY_FILE).read_text(encoding="utf-8"))
    assert set(key[0]) == {"id", "exam_type", "exam_class", "exam_subject", "question_type", "answer"}
    submission = _write(tmp_path / "submission.json", [{"id": k["id"], "model_answer": k["answer"]} for k in key])
    assert cli(["eval", "cmb-validate", submission, "--questions", tmp_path / "CMB" / QUESTION_FILES["test"]]).exit_code == 0
    scored = cli(["eval", "cmb-score", "--outputs", submission, "--key", tmp_path / "CMB", "--out", tmp_path / "s",
                  "--protocol", "official"])
    assert scored.exit_code == 0, scored.output
    scores = json.loads((tmp_path / "s/scores.json").read_text())
    assert scores["n"] == 139 and scores["overall_micro"] == 1.0


def test_val_per_class_and_prompts_read_it(cmb_data, tmp_path, cli):
    source = _write(tmp_path / "q.json", _fixture_with_answers(cmb_data)[:9] + _fixture_with_answers(cmb_data)[10:])
    result = cli(["eval", "cmb-pack", source, tmp_path / "CMB", "--val-per-class", 2])
    assert result.exit_code == 0, result.output
    val = json.loads((tmp_path / "CMB" / QUESTION_FILES["val"]).read_text(encoding="utf-8"))
    assert len(val) == 14 and all(v["answer"] and "id" not in v for v in val)  # 7 classes x 2, as the official val
    key = json.loads((tmp_path / "CMB" / KEY_FILE).read_text(encoding="utf-8"))
    # ids kept from the input: 1..14 were each class's first two (the fixture cycles through the 7 classes)
    assert len(key) == 139 - 14 and [k["id"] for k in key][:2] == [15, 16]
    prompts = cli(["eval", "cmb-prompts", "--data", tmp_path / "CMB", "--split", "val", "--out", tmp_path / "p.jsonl"])
    assert prompts.exit_code == 0 and "wrote 14 prompts" in prompts.output


def test_answers_are_sorted_and_question_types_derived(tmp_path, cli):
    source = _write(tmp_path / "q.json", [_question(answer="DB", question_type=None), _question(question_type=None),
                                          _question(option="{'A': '甲', 'B': '乙'}", answer="A")])
    result = cli(["eval", "cmb-pack", source, tmp_path / "CMB"])
    assert result.exit_code == 0, result.output
    assert "1 answer(s) written as sorted letters" in result.output and "derived from the answer for 2" in result.output
    key = json.loads((tmp_path / "CMB" / KEY_FILE).read_text(encoding="utf-8"))
    assert [(k["answer"], k["question_type"]) for k in key] == [("BD", "多项选择题"), ("B", "单项选择题"),
                                                                  ("A", "单项选择题")]
    questions = json.loads((tmp_path / "CMB" / QUESTION_FILES["test"]).read_text(encoding="utf-8"))
    assert questions[2]["option"] == {"A": "甲", "B": "乙"}  # a string holding a dict is written as the dict


def test_an_existing_folder_is_not_overwritten(tmp_path, cli):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/mine.txt").write_text("keep")
    from collectivesft.errors import InputLayoutError

    with pytest.raises(InputLayoutError, match="not an empty folder"):
        cli(["eval", "cmb-pack", _write(tmp_path / "q.json", [_question()]), tmp_path / "out"])
