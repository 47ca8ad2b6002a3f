"""Suite scoring against hand-computed results (macro vs micro), paired differences, the CMMLU loader."""

from __future__ import annotations

import random
import shutil
import zipfile
from types import SimpleNamespace

import pytest

from collectivesft.benchmarks.base import get_benchmark
from collectivesft.errors import ConfigError, InputLayoutError
from collectivesft.eval.suite.scoring import metric_value, paired_predictions, score_predictions


def bench(metric: str, categories=("subject",)):
    return SimpleNamespace(name="t", title="T", metric=metric, categories=categories)


def pred(i: int, subject: str, correct, answer="A") -> dict:
    return {"id": f"{subject}/{i}", "model_answer": answer, "correct": correct, "groups": {"subject": subject}}


# (name, metric, rows as (subject, correct), expected score, expected micro accuracy)
SCORING = [
    ("macro differs from micro when subjects differ in size", "macro:subject",
     [("a", 1), ("b", 1), ("b", 0), ("b", 0)], (1 + 1 / 3) / 2, 2 / 4),
    ("micro weighs every item alike", "accuracy",
     [("a", 1), ("b", 1), ("b", 0), ("b", 0)], 2 / 4, 2 / 4),
    ("macro over three subjects", "macro:subject",
     [("a", 0), ("a", 1), ("b", 1), ("c", 0), ("c", 0), ("c", 0), ("c", 1)], (0.5 + 1 + 0.25) / 3, 3 / 7),
    ("all wrong", "macro:subject", [("a", 0), ("b", 0)], 0.0, 0.0),
]


@pytest.mark.parametrize("name,metric,rows,score,micro", SCORING, ids=[c[0] for c in SCORING])
def test_score_is_the_benchmarks_metric(name, metric, rows, score, micro):
    preds = [pred(i, s, bool(c)) for i, (s, c) in enumerate(rows)]
    got = score_predictions(bench(metric), preds, n_boot=200)
    assert got["score"] == pytest.approx(score) and got["accuracy"] == pytest.approx(micro)
    assert metric_value(bench(metric), [({"subject": s}, c) for s, c in rows]) == pytest.approx(score)
    assert got["n"] == len(rows) and got["n_correct"] == sum(c for _, c in rows)
    lo, hi = got["ci95"]
    assert lo <= score + 1e-9 and hi >= score - 1e-9
    by = got["by"]["subject"]
    for subject in {s for s, _ in rows}:
        cells = [c for s, c in rows if s == subject]
        assert by[subject]["accuracy"] == pytest.approx(sum(cells) / len(cells)) and by[subject]["n"] == len(cells)


def test_unscored_items_are_counted_and_listed_not_scored():
    preds = [pred(0, "a", True), pred(1, "a", None), pred(2, "b", False)]
    preds[1]["unscored"] = "empty Answer"
    got = score_predictions(bench("macro:subject"), preds, n_boot=100)
    assert got["n"] == 2 and got["n_items"] == 3 and got["score"] == pytest.approx(0.5)
    assert got["unscored"] == [{"id": "a/1", "reason": "empty Answer"}]


def test_paired_difference_in_the_benchmarks_metric():
    a = [pred(0, "a", True), pred(1, "b", False), pred(2, "b", False), pred(3, "b", True)]
    b = [pred(0, "a", True), pred(1, "b", True), pred(2, "b", True), pred(3, "b", True), pred(9, "c", True)]
    got = paired_predictions(bench("macro:subject"), a, b, n_boot=300)
    # a: (1 + 1/3) / 2; b: (1 + 1) / 2; item c/9 is not in a: left out.
    assert got["n"] == 4 and got["a"] == pytest.approx(2 / 3) and got["b"] == pytest.approx(1.0)
    assert got["difference"] == pytest.approx(1 / 3)
    assert got["interval"][0] <= 1 / 3 <= got["interval"][1]
    assert paired_predictions(bench("accuracy"), a, [pred(7, "z", True)]) is None


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        score_predictions(bench("f1"), [pred(0, "a", True)])


@pytest.fixture(scope="module")
def cmmlu_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmmlu")
    return get_benchmark("cmmlu-medical").write_fixture(out, random.Random(0), 21)


def test_cmmlu_reads_the_data_folder_its_parent_and_the_zip(cmmlu_files, tmp_path):
    b = get_benchmark("cmmlu-medical")
    items = b.load(cmmlu_files, "test")
    assert b.load(cmmlu_files.parent, "test") == items
    archive = tmp_path / "cmmlu_v1_0_1.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # the hub zip: dev/ and test/ at its root
        for path in cmmlu_files.rglob("*.csv"):
            zf.write(path, path.relative_to(cmmlu_files).as_posix())
    assert b.load(archive, "test") == items
    subjects = [i.groups["subject"] for i in items]
    assert list(dict.fromkeys(subjects)) == list(b.subjects)  # subject order, file order inside
    assert items[0].id == "anatomy/0" and items[0].groups["subject_name"] == "解剖学"
    assert len(b.load(cmmlu_files, "dev")) == 5 * len(b.subjects)  # the BOM file reads; bmw.csv is ignored
    quoted = next(i for i in items if "选出一项" in i.question)
    assert quoted.question == '下列说法正确的是,"选出一项"' and quoted.answer == "A"


def test_cmmlu_broken_answers_become_unscored_items(cmmlu_files):
    broken = {i.id: i.raw["problem"] for i in get_benchmark("cmmlu-medical").load(cmmlu_files, "test") if i.answer is None}
    assert sorted(broken.values()) == ["Answer 'E' is not one of A-D", "empty Answer"]


BAD_LAYOUTS = [
    ("wrong header", "Question,A,B,C,D,Answer\n题,甲,乙,丙,丁,A\n", "header"),
    ("a row with a missing field", ",Question,A,B,C,D,Answer\n0,题,甲,乙,丙,A\n", "line 2: 6 fields"),
    ("an empty question", ",Question,A,B,C,D,Answer\n0,,甲,乙,丙,丁,A\n", "line 2: empty Question"),
]


@pytest.mark.parametrize("name,text,message", BAD_LAYOUTS, ids=[c[0] for c in BAD_LAYOUTS])
def test_cmmlu_layout_errors_name_the_file_and_line(cmmlu_files, tmp_path, name, text, message):
    copy = tmp_path / "data"
    shutil.copytree(cmmlu_files, copy)
    (copy / "test" / "genetics.csv").write_text(text, encoding="utf-8")
    with pytest.raises(InputLayoutError, match=message) as err:
        get_benchmark("cmmlu-medical").load(copy, "test")
    assert "genetics.csv" in str(err.value)


def test_cmmlu_missing_subject_files_are_named(cmmlu_files, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(cmmlu_files, copy)
    (copy / "test" / "virology.csv").unlink()
    with pytest.raises(InputLayoutError, match="virology.csv"):
        get_benchmark("cmmlu-medical").load(copy, "test")
    with pytest.raises(InputLayoutError, match="missing"):
        get_benchmark("cmmlu-general").load(cmmlu_files, "test")  # general subjects are not in this folder


def test_cmmlu_groups_are_apollos_medical_set_and_the_rest():
    from collectivesft.benchmarks.cmmlu.subjects import MEDICAL_OUTSIDE_APOLLO, SUBJECTS

    medical, general = get_benchmark("cmmlu-medical"), get_benchmark("cmmlu-general")
    assert len(medical.subjects) == 7 and len(general.subjects) == 58
    assert not set(medical.subjects) & set(general.subjects)
    assert set(medical.subjects) | set(general.subjects) | set(MEDICAL_OUTSIDE_APOLLO) == set(SUBJECTS)
    assert (medical.group, general.group, medical.metric) == ("medical", "general", "macro:subject")


def test_suite_entries_are_checked():
    from collectivesft.eval.suite.suite import entries_from_cli, parse_entries

    entries = entries_from_cli("cmb, cmmlu-medical", ["cmmlu-medical=/x/data"])
    assert [(e.name, e.data) for e in entries] == [("cmb", None), ("cmmlu-medical", "/x/data")]
    for value, message in (([{"name": "nope"}], "unknown benchmark"), (["cmb", "cmb"], "listed twice"),
                           ([{"name": "cmb", "path": "x"}], "unknown key 'path'"), ([], "non-empty list")):
        with pytest.raises(ConfigError, match=message):
            parse_entries(value, "recipe")
    with pytest.raises(ConfigError, match="NAME=PATH"):
        entries_from_cli("cmb", ["cmb"])
    with pytest.raises(ConfigError, match="not in --benchmarks"):
        entries_from_cli("cmb", ["cmmlu-medical=/x"])


def test_many_subjects_of_one_item_still_get_an_interval():
    """A run with one item per subject (a small sample, a fixture): resampling each subject within
    itself never varies, which gave [x, x]; those subjects are pooled, the point value unchanged."""
    rows = [(f"s{k}", k % 3 == 0) for k in range(30)] + [("big", 1), ("big", 0)]
    preds = [pred(i, s, bool(c)) for i, (s, c) in enumerate(rows)]
    expected = (sum(c for s, c in rows if s != "big") + 0.5) / 31
    got = score_predictions(bench("macro:subject"), preds, n_boot=400)
    assert got["score"] == pytest.approx(expected)
    lo, hi = got["ci95"]
    assert hi - lo > 0.1 and lo <= expected <= hi
    assert "30 groups of one item" in got["interval_method"]
    other = [pred(i, s, not c) for i, (s, c) in enumerate(rows)]
    paired = paired_predictions(bench("macro:subject"), preds, other, n_boot=400)
    assert paired["a"] == pytest.approx(expected) and paired["interval"][1] - paired["interval"][0] > 0.1
