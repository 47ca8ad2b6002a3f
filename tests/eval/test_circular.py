"""CircularEval: rotations and remapping (hand-computed), scoring from crafted answers, one run end to end."""

from __future__ import annotations

import json

import pytest

from collectivesft.benchmarks.cmb.load import question_from_row
from collectivesft.eval.cmb.circular import (circular_scores, rotate_answer, rotate_options, rotated_question,
                                             unrotate_answer)

ABCD = {"A": "a", "B": "b", "C": "c", "D": "d"}
ABCDE = {"A": "a", "B": "b", "C": "c", "D": "d", "E": "e"}


@pytest.mark.parametrize("options, r, expected", [
    pytest.param(ABCD, 0, {"A": "a", "B": "b", "C": "c", "D": "d"}, id="A-D rotation 0 is the identity"),
    pytest.param(ABCD, 1, {"A": "b", "B": "c", "C": "d", "D": "a"}, id="A-D rotation 1 shifts texts up"),
    pytest.param(ABCD, 3, {"A": "d", "B": "a", "C": "b", "D": "c"}, id="A-D rotation 3"),
    pytest.param(ABCDE, 2, {"A": "c", "B": "d", "C": "e", "D": "a", "E": "b"}, id="A-E rotation 2"),
    pytest.param(ABCDE, 4, {"A": "e", "B": "a", "C": "b", "D": "c", "E": "d"}, id="A-E rotation 4"),
])
def test_rotate_options(options, r, expected):
    assert rotate_options(options, r) == expected


@pytest.mark.parametrize("answer, letters, r, expected", [
    pytest.param("A", "ABCD", 0, "A", id="single, rotation 0"),
    pytest.param("A", "ABCD", 1, "D", id="single A-D: A's text moves to D"),
    pytest.param("B", "ABCD", 1, "A", id="single A-D: B's text moves to A"),
    pytest.param("C", "ABCD", 3, "D", id="single A-D rotation 3"),
    pytest.param("AC", "ABCD", 1, "BD", id="multi A-D rotation 1, sorted"),
    pytest.param("AC", "ABCD", 2, "AC", id="multi A-D rotation 2 maps onto itself"),
    pytest.param("E", "ABCDE", 1, "D", id="single A-E rotation 1"),
    pytest.param("A", "ABCDE", 4, "B", id="single A-E rotation 4"),
    pytest.param("BE", "ABCDE", 3, "BD", id="multi A-E rotation 3"),
    pytest.param("ACE", "ABCDE", 1, "BDE", id="multi of three A-E"),
    pytest.param("无答案", "ABCD", 1, "无答案", id="invalid key answer unchanged"),
    pytest.param("E", "ABCD", 1, "E", id="letter outside the options unchanged"),
])
def test_rotate_answer_and_back(answer, letters, r, expected):
    assert rotate_answer(answer, letters, r) == expected
    if expected != answer or r == 0:
        assert unrotate_answer(expected, letters, r) == answer


@pytest.mark.parametrize("options", [ABCD, ABCDE])
def test_rotated_gold_holds_the_same_text(options):
    for gold in ("A", "C", "BD", "AE" if "E" in options else "AD"):
        for r in range(len(options)):
            rotated = rotate_options(options, r)
            assert sorted(rotated[x] for x in rotate_answer(gold, list(options), r)) == sorted(options[x] for x in gold)


def test_unrotate_drops_letters_that_are_not_options():
    assert unrotate_answer("F", "ABCD", 1) == ""
    assert unrotate_answer("", "ABCD", 2) == ""
    assert unrotate_answer("DA", "ABCD", 1) == "AB"


def test_rotated_question_keeps_id_and_records_the_rotation():
    row = {"id": 7, "exam_type": "医师考试", "exam_class": "x", "question": "q", "question_type": "多项选择题",
           "answer": "AC", "option": str(ABCDE)}
    q = question_from_row(row, 0, "test")
    out = rotated_question(q, 2)
    assert out["id"] == 7 and out["rotation"] == 2
    assert out["option"] == {"A": "c", "B": "d", "C": "e", "D": "a", "E": "b"}
    assert out["answer"] == "AD"  # a -> D, c -> A
    assert question_from_row(out, 0, "rotated").options == out["option"]


def _items(questions, pick):
    """Per-question items for circular_scores from a model `pick(options under rotation r) -> letters`."""
    items = []
    for qid, options, gold in questions:
        letters = list(options)
        given = [pick(rotate_options(options, r), options[gold[0]]) for r in range(len(letters))]
        items.append({"id": qid, "k": len(letters), "given": given,
                      "chosen": [unrotate_answer(a, letters, r) for r, a in enumerate(given)],
                      "correct": [a == rotate_answer(gold, letters, r) for r, a in enumerate(given)]})
    return items


QUESTIONS = [(1, ABCD, "A"), (2, ABCD, "C"), (3, ABCD, "D"), (4, ABCD, "B")]


def test_always_a_is_never_circularly_right_nor_consistent():
    scores = circular_scores(_items(QUESTIONS, lambda options, right: "A"), n_boot=200)
    assert scores["circular_accuracy"]["value"] == 0.0
    assert scores["consistency"]["value"] == 0.0
    # Always "A": right exactly under the rotation that brings the gold text to A.
    assert [r["accuracy"] for r in scores["rotations"]] == [0.25, 0.25, 0.25, 0.25]


def test_always_the_right_text_is_circularly_right_and_consistent():
    def pick(options, right):
        return next(letter for letter, text in options.items() if text == right)

    scores = circular_scores(_items(QUESTIONS, pick), n_boot=200)
    assert scores["circular_accuracy"] == {"value": 1.0, "ci95": [1.0, 1.0]}
    assert scores["consistency"]["value"] == 1.0
    assert all(r["accuracy"] == 1.0 and r["n"] == 4 for r in scores["rotations"])


def test_same_wrong_text_is_consistent_but_not_right():
    scores = circular_scores(_items([(1, ABCD, "A")], lambda options, right: next(l for l, t in options.items()
                                                                                  if t == "b")), n_boot=50)
    assert scores["consistency"]["value"] == 1.0 and scores["circular_accuracy"]["value"] == 0.0


def test_mixed_option_counts_and_multi_answers():
    items = [
        {"id": 1, "k": 4, "correct": [True] * 4, "chosen": ["AC"] * 4},
        {"id": 2, "k": 5, "correct": [True, True, True, True, False], "chosen": ["B"] * 4 + ["C"]},
        {"id": 3, "k": 5, "correct": [False] * 5, "chosen": [""] * 5},  # never answered: not consistent
    ]
    scores = circular_scores(items, n_boot=100)
    assert [r["n"] for r in scores["rotations"]] == [3, 3, 3, 3, 2]
    assert scores["rotations"][4]["accuracy"] == 0.0
    assert scores["circular_accuracy"]["value"] == round(1 / 3, 4)
    assert scores["consistency"]["value"] == round(1 / 3, 4)
    low, high = scores["circular_accuracy"]["ci95"]
    assert 0 <= low <= 1 / 3 <= high <= 1


def test_end_to_end_loglik_on_the_fixture(tmp_path, tiny_model, cli):
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    data = write_cmb_eval(tmp_path / "cmb", n_test=12)
    out = tmp_path / "run"
    result = cli(["eval", "cmb", "--model", tiny_model, "--data", data, "--out", out, "--method", "loglik",
                  "--limit", 5, "--circular", "--device", "cpu", "--batch-size", 4])
    assert result.exit_code == 0, result.output
    assert "circular accuracy" in result.output and "consistency" in result.output
    scores = json.loads((out / "circular.json").read_text())
    items = [json.loads(line) for line in (out / "circular.jsonl").read_text().splitlines()]
    originals = {q["id"]: q for q in json.loads((data / "CMB-Exam/CMB-test/CMB-test-choice-question-merge.json")
                                               .read_text())[:5]}
    assert scores["n"] == len(items) == 5
    assert len(next(it for it in items if it["id"] == 4)["answer"]) == 2  # the fixture's id 4 is multi-answer
    ks = [it["k"] for it in items]
    assert len(scores["rotations"]) == max(ks)
    for r, row in enumerate(scores["rotations"]):
        assert row["n"] == sum(k > r for k in ks)
        # The per-rotation accuracy is the ordinary run's micro accuracy in that rotation's folder.
        ordinary = json.loads((out / "rotations" / f"r{r}" / "scores.json").read_text())
        assert row["accuracy"] == pytest.approx(ordinary["overall_micro"], abs=1e-4)
        rotated = json.loads((out / "rotations" / f"r{r}" / "data/CMB-Exam/CMB-test/"
                                                           "CMB-test-choice-question-merge.json").read_text())
        for q in rotated:
            assert q["rotation"] == r
            options = question_from_row({**originals[q["id"]]}, 0, "x").options
            assert q["option"] == rotate_options(options, r)
    for it in items:
        assert it["chosen"] == [unrotate_answer(a, "ABCDE"[:it["k"]], r) for r, a in enumerate(it["given"])]
    circular = sum(all(it["correct"]) for it in items) / len(items)
    consistent = sum(len(set(it["chosen"])) == 1 and bool(it["chosen"][0]) for it in items) / len(items)
    assert scores["circular_accuracy"]["value"] == round(circular, 4)
    assert scores["consistency"]["value"] == round(consistent, 4)
    assert (out / "circular.md").read_text().startswith("# CircularEval")
    # A second run resumes every rotation: nothing is asked again, the same scores come out.
    again = cli(["eval", "cmb", "--model", tiny_model, "--data", data, "--out", out, "--method", "loglik",
                 "--limit", 5, "--circular", "--device", "cpu", "--batch-size", 4])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "circular.json").read_text()) == scores
