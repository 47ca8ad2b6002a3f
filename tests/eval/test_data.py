"""Loading CMB's official files: both `option` forms, zips, keys, CMB-Clin's two reference keys."""

import json
import zipfile

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.benchmarks.cmb.load import load_clin, load_key, load_questions, question_options as parse_option


def test_option_as_dict_and_as_string_holding_a_dict_load_the_same(cmb_data):
    raw = json.loads((cmb_data / "CMB-Exam/CMB-test/CMB-test-choice-question-merge.json").read_text())
    assert any(isinstance(r["option"], str) for r in raw) and any(isinstance(r["option"], dict) for r in raw)
    questions = load_questions(cmb_data, "test")
    assert len(questions) == 140 and [q.id for q in questions] == list(range(1, 141))
    for row, q in zip(raw, questions):
        assert isinstance(q.options, dict) and set(q.options) <= set("ABCDEF")
        if isinstance(row["option"], dict):
            assert q.options == row["option"]
    assert {q.question_type for q in questions} == {"单项选择题", "多项选择题"}
    assert all(q.answer is None for q in questions)  # the test question file carries no answers


@pytest.mark.parametrize("value,expected", [
    ({"A": "甲", "B": "乙", "E": ""}, {"A": "甲", "B": "乙"}),
    ("{'A': '甲', 'B': \"乙's\"}", {"A": "甲", "B": "乙's"}),
    ('{"A": "甲", "B": "乙"}', {"A": "甲", "B": "乙"}),
])
def test_parse_option_forms(value, expected):
    assert parse_option(value, "here") == expected


@pytest.mark.parametrize("value", ["__import__('os').system('true')", "['A', 'B']", "{'Z': 1, 'A': 2}", 5])
def test_parse_option_refuses_non_dicts_without_evaluating(value):
    with pytest.raises(InputLayoutError, match="here"):
        parse_option(value, "here")


def test_val_has_answers_and_explanations_and_zip_input_works(cmb_data, tmp_path):
    val = load_questions(cmb_data, "val")
    assert val and all(q.answer and q.explanation for q in val)
    archive = tmp_path / "CMB.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in cmb_data.rglob("*.json"):
            zf.write(path, "data/" + str(path.relative_to(cmb_data)))
    assert [q.question for q in load_questions(archive, "test")] == [q.question for q in load_questions(cmb_data, "test")]
    assert len(load_key(archive)) == 140


def test_key_keeps_invalid_rows_for_reporting(cmb_data):
    key = load_key(cmb_data / "CMB-Exam/CMB-test/CMB-test-choice-answer.json")
    invalid = [k.id for k in key if not k.valid]
    assert invalid == [10]


def test_clin_accepts_answer_and_solution_keys(cmb_data):
    cases = load_clin(cmb_data / "CMB-Clin/CMB-Clin-qa.json")
    raw = json.loads((cmb_data / "CMB-Clin/CMB-Clin-qa.json").read_text())
    assert "solution" in raw[0]["QA_pairs"][0] and "answer" in raw[1]["QA_pairs"][0]
    assert all(ref for c in cases for _, ref in c.qa)


def test_missing_layout_is_a_clear_error(tmp_path):
    with pytest.raises(InputLayoutError, match="CMB-test-choice-question-merge.json"):
        load_questions(tmp_path, "test")
