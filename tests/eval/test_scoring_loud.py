"""Scoring that never changes a number silently: duplicates, missing/unknown ids, class names,
bootstrap intervals, and cmb-compare's paired difference."""

import json
import subprocess
import sys

import pytest

from collectivesft.eval.cmb.compare import compare_runs
from collectivesft.eval.cmb.scoring import score_cmb

S, M = "单项选择题", "多项选择题"
# The 28 exam classes of the released answer key, by exam type, spelled as the key spells them.
CLASSES = {
    "医师考试": ["规培结业", "执业助理医师", "执业医师", "中级职称", "高级职称"],
    "护理考试": ["护士执业资格", "护师执业资格", "主管护师", "高级护师"],
    "药师考试": ["执业西药师", "执业中药师", "初级药士", "初级药师", "初级中药士", "初级中药师", "主管药师", "主管中药师"],
    "医技考试": ["医技士", "医技师", "主管技师"],
    "专业知识考试": ["基础医学", "临床医学", "预防医学与公共卫生学", "中医学与中药学"],
    "医学考研": ["护理学", "考研政治", "西医综合", "中医综合"],
}


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def key_rows(per_class=10):
    """A key in the released layout: ids 1.., every class `per_class` questions, some multi-answer."""
    rows, i = [], 0
    for exam_type, classes in CLASSES.items():
        for exam_class in classes:
            for j in range(per_class):
                i += 1
                multi = j % 5 == 4
                rows.append({"id": i, "exam_type": exam_type, "exam_class": exam_class, "exam_subject": "-",
                             "question_type": M if multi else S, "answer": "ACD" if multi else "ABCDE"[j % 5]})
    return rows


@pytest.fixture()
def key_file(tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key_rows(), ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("protocol", ["official", "collectivesft"])
def test_real_key_layout_keeps_class_names_and_type_is_mean_of_classes(tmp_path, key_file, protocol):
    key = key_rows()
    # Right on the first k questions of the c-th class: every class gets a different accuracy.
    answers, seen = [], {}
    for row in key:
        c = seen.setdefault((row["exam_type"], row["exam_class"]), [len(seen) % 10, 0])
        answers.append({"id": row["id"], "model_answer": row["answer"] if c[1] < c[0] else "F"})
        c[1] += 1
    sub = tmp_path / "sub.json"
    sub.write_text(json.dumps(answers), encoding="utf-8")
    scores = score_cmb(sub, key_file, tmp_path / "out", protocol=protocol)
    assert {t: list(c) for t, c in scores["by_class"].items()} == CLASSES
    for exam_type, classes in scores["by_class"].items():
        assert scores["by_type"][exam_type] == pytest.approx(sum(classes.values()) / len(classes))
    assert scores["overall_macro_types"] == pytest.approx(sum(scores["by_type"].values()) / 6)
    assert scores["by_class"]["专业知识考试"]["中医学与中药学"] == pytest.approx(3 / 10)  # the 24th class: 23 % 10 right


def test_duplicate_ids_exit_non_zero_naming_them(tmp_path, key_file):
    outputs = write_rows(tmp_path / "o.jsonl", [{"id": 1, "output": "答案是A"}, {"id": 2, "output": "答案是B"},
                                                 {"id": 1, "output": "答案是C"}, {"id": 7, "output": "A"}, {"id": 7, "output": "B"}])
    args = [sys.executable, "-m", "collectivesft", "eval", "cmb-score", "--outputs", str(outputs), "--key", str(key_file),
            "--out", str(tmp_path / "s")]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode != 0
    assert "2 id(s) answered more than once: 1 (x2), 7 (x2)" in done.stderr and "--on-duplicate" in done.stderr
    assert not (tmp_path / "s/scores.json").exists()


@pytest.mark.parametrize("policy,expected", [("first", "A"), ("last", "C")])
def test_on_duplicate_says_which_row_is_kept(tmp_path, key_file, cli, policy, expected):
    outputs = write_rows(tmp_path / "o.jsonl", [{"id": 1, "output": "答案是A"}, {"id": 1, "output": "答案是C"}])
    result = cli(["eval", "cmb-score", "--outputs", outputs, "--key", key_file, "--out", tmp_path / "s",
                  "--on-duplicate", policy])
    assert result.exit_code == 0, result.output
    assert f"duplicated: 1 id(s) (kept the {policy} row), first: 1" in result.output
    first = json.loads((tmp_path / "s/predictions.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["model_answer"] == expected
    assert json.loads((tmp_path / "s/scores.json").read_text())["duplicates"] == {"kept": policy, "n": 1, "ids": ["1"]}


def test_missing_and_unknown_ids_are_on_the_console(tmp_path, key_file, cli):
    n = len(key_rows())
    rows = [{"id": i, "output": "答案是A"} for i in range(3, n + 1)] + [{"id": 9001, "output": "A"}, {"id": "x7", "output": "B"}]
    result = cli(["eval", "cmb-score", "--outputs", write_rows(tmp_path / "o.jsonl", rows), "--key", key_file,
                  "--out", tmp_path / "s"])
    assert result.exit_code == 0, result.output
    assert "missing: 2 id(s), first: 1, 2" in result.output
    assert "unknown (not in the key): 2 id(s), first: 9001, x7" in result.output
    scores = json.loads((tmp_path / "s/scores.json").read_text())
    assert scores["missing_ids"] == [1, 2] and scores["unknown_ids"] == ["9001", "x7"]


def test_scores_carry_95_percent_intervals_around_the_estimate(tmp_path, key_file):
    key = key_rows()
    sub = tmp_path / "sub.json"
    sub.write_text(json.dumps([{"id": r["id"], "model_answer": r["answer"] if r["id"] % 3 else "F"} for r in key]))
    scores = score_cmb(sub, key_file, tmp_path / "out")
    ci = scores["ci95"]
    assert ci["level"] == 0.95 and "within each exam class" in ci["method"]
    for name in ("overall_micro", "overall_macro_types"):
        low, high = ci[name]
        assert low < scores[name] < high and high - low < 0.2
    assert set(ci["by_type"]) == set(CLASSES)
    # A type answered all right has a degenerate interval at 1.
    sub.write_text(json.dumps([{"id": r["id"], "model_answer": r["answer"] if r["exam_type"] == "医技考试" or r["id"] % 3
                                else "F"} for r in key]))
    assert score_cmb(sub, key_file, tmp_path / "out2")["ci95"]["by_type"]["医技考试"] == [1.0, 1.0]


def test_cmb_compare_paired_difference_and_mcnemar(tmp_path, key_file, cli):
    key = key_rows()
    base = {r["id"]: (r["answer"] if r["id"] % 2 else "F") for r in key}
    improved = dict(base)
    flipped = [i for i in base if i % 2 == 0][:20]  # B gets 20 more questions right, loses none
    for i in flipped:
        improved[i] = next(r["answer"] for r in key if r["id"] == i)
    for name, answers in (("a", base), ("b", improved)):
        (tmp_path / f"{name}.json").write_text(json.dumps([{"id": i, "model_answer": a} for i, a in answers.items()]))
        score_cmb(tmp_path / f"{name}.json", key_file, tmp_path / name)
    result = compare_runs(tmp_path / "a", tmp_path / "b")
    assert result["n"] == len(key) and result["only_in_a"] == result["only_in_b"] == 0
    assert result["overall_micro"]["difference"] == pytest.approx(20 / len(key))
    low, high = result["overall_micro"]["interval"]
    assert 0 < low <= 20 / len(key) <= high
    assert result["mcnemar"]["b01"] == 20 and result["mcnemar"]["b10"] == 0
    assert result["mcnemar"]["p_value"] == pytest.approx(2 / 2 ** 20)
    out = cli(["eval", "cmb-compare", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "cmp.json"])
    assert out.exit_code == 0, out.output
    assert "McNemar: A right & B wrong 0, A wrong & B right 20" in out.output
    assert json.loads((tmp_path / "cmp.json").read_text())["protocol_a"] == "collectivesft"


def test_cmb_compare_warns_about_different_protocols_and_unshared_ids(tmp_path, key_file):
    key = key_rows()
    (tmp_path / "a.json").write_text(json.dumps([{"id": r["id"], "model_answer": r["answer"]} for r in key]))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"id": r["id"], "output": "答案是A"}) + "\n" for r in key[:-5]))
    score_cmb(tmp_path / "a.json", key_file, tmp_path / "a")
    score_cmb(tmp_path / "b.jsonl", key_file, tmp_path / "b", protocol="official")
    result = compare_runs(tmp_path / "a" / "predictions.jsonl", tmp_path / "b")
    assert result["n"] == len(key)  # missing answers are scored (wrong) in B, so all ids are shared
    assert any("different protocols" in w for w in result["warnings"])
