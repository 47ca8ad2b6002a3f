"""Quick estimates: `eval cmb --sample N --seed S` draws a subset stratified by exam class (the same
one for the same seed), says which subset it ran (CLI, scores.md, run.json), forecasts the full
run's time after a warm-up, and the progress lines carry an ETA. No timing is asserted."""

import json
import re
from collections import Counter

import pytest

from collectivesft.errors import ConfigError
from collectivesft.eval.cmb.subset import allocate


@pytest.mark.parametrize("sizes, n, expected", [
    # CMB's test: 28 classes of 400; 100 = 3 each (84) + 16 places by seeded tie-break.
    pytest.param({f"c{i:02}": 400 for i in range(28)}, 100, {"sum": 100, "values": {3, 4}, "count": {4: 16, 3: 12}},
                 id="cmb-28-classes-of-400"),
    pytest.param({"a": 600, "b": 300, "c": 100}, 10, {"exact": {"a": 6, "b": 3, "c": 1}}, id="proportional"),
    pytest.param({"a": 998, "b": 1, "c": 1}, 10, {"exact": {"a": 8, "b": 1, "c": 1}}, id="at-least-one-per-class"),
    pytest.param({"a": 5, "b": 5, "c": 5, "d": 5}, 3, {"sum": 3, "values": {0, 1}}, id="fewer-than-classes"),
    pytest.param({"a": 45, "b": 35, "c": 20}, 7, {"exact": {"a": 3, "b": 3, "c": 1}}, id="largest-remainder"),
    pytest.param({"a": 3, "b": 4}, 100, {"exact": {"a": 3, "b": 4}}, id="more-than-there-are"),
])
def test_allocation_rule(sizes, n, expected):
    taken = allocate(sizes, n, seed=0)
    assert all(0 <= taken[c] <= sizes[c] for c in sizes)
    if "exact" in expected:
        assert taken == expected["exact"]
    else:
        assert sum(taken.values()) == expected["sum"]
        assert set(taken.values()) <= expected["values"]
        if "count" in expected:
            assert dict(Counter(taken.values())) == expected["count"]
    assert allocate(sizes, n, seed=0) == taken  # deterministic


def test_ties_are_broken_by_the_seed():
    sizes = {f"c{i:02}": 400 for i in range(28)}
    draws = {tuple(sorted(c for c, k in allocate(sizes, 100, seed).items() if k == 4)) for seed in range(5)}
    assert len(draws) > 1


def _ids(out):
    return [row["id"] for row in json.loads((out / "submission.json").read_text())]


def _classes(out):
    return Counter(row["exam_class"] for row in map(json.loads, (out / "predictions.jsonl").read_text().splitlines()))


def _run(cli, tiny_model, cmb_data, out, *options):
    result = cli(["eval", "cmb", "--model", tiny_model, "--data", cmb_data, "--method", "loglik", "--device", "cpu",
                  "--out", out, *options])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def sampled(cmb_data, tiny_model, tmp_path_factory):
    """`eval cmb --sample 20 --seed 3` on the fixture (140 questions, 7 classes of 20), with progress on every batch."""
    from typer.testing import CliRunner

    from collectivesft.cli.main import app

    out = tmp_path_factory.mktemp("sample") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLLECTIVESFT_PROGRESS_SECONDS", "0")
        result = CliRunner().invoke(app, [str(a) for a in ("eval", "cmb", "--model", tiny_model, "--data", cmb_data,
                                                            "--method", "loglik", "--device", "cpu", "--sample", 20,
                                                            "--seed", 3, "--batch-size", 8, "--out", out)],
                                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_sample_is_stratified_by_exam_class(sampled):
    out, _ = sampled
    counts = _classes(out)
    assert sum(counts.values()) == 20 and len(counts) == 7  # every class drawn
    assert sorted(counts.values()) == [2, 3, 3, 3, 3, 3, 3]  # 20 * 20/140 = 2.86 each: 6 x 3 and 1 x 2
    ids = _ids(out)
    assert ids == sorted(ids) and ids != list(range(1, 21))  # file order, not the first 20


def test_sample_is_recorded_and_said(sampled):
    out, output = sampled
    run = json.loads((out / "run.json").read_text())
    subset = run["subset"]
    assert subset["kind"] == "sample" and subset["n"] == 20 and subset["of"] == 140 and subset["seed"] == 3
    assert sum(subset["allocation"].values()) == 20 and run["config"]["sample"] == 20
    said = "20 of 140 questions, sampled (stratified by exam class, seed 3)"
    assert said in output
    assert said in (out / "scores.md").read_text()
    assert json.loads((out / "scores.json").read_text())["subset"] == subset


def test_same_seed_same_sample_other_seed_other_sample(sampled, cli, tiny_model, cmb_data, tmp_path):
    out, _ = sampled
    _run(cli, tiny_model, cmb_data, tmp_path / "again", "--sample", 20, "--seed", 3)
    _run(cli, tiny_model, cmb_data, tmp_path / "other", "--sample", 20, "--seed", 4)
    assert _ids(tmp_path / "again") == _ids(out)
    assert _ids(tmp_path / "other") != _ids(out)


def test_a_sample_smaller_than_the_classes_takes_one_from_each_of_n(cli, tiny_model, cmb_data, tmp_path):
    _run(cli, tiny_model, cmb_data, tmp_path / "r", "--sample", 5)
    counts = _classes(tmp_path / "r")
    assert len(counts) == 5 and set(counts.values()) == {1}


def test_limit_says_the_first_n(cli, tiny_model, cmb_data, tmp_path):
    output = _run(cli, tiny_model, cmb_data, tmp_path / "r", "--limit", 6)
    assert "6 of 140 questions (the first 6)" in output
    assert "6 of 140 questions (the first 6)" in (tmp_path / "r/scores.md").read_text()
    assert json.loads((tmp_path / "r/run.json").read_text())["subset"] == {"kind": "first", "n": 6, "of": 140}


def test_limit_and_sample_together_are_refused(cli, tiny_model, cmb_data, tmp_path):
    with pytest.raises(ConfigError, match="limit and sample"):
        cli(["eval", "cmb", "--model", tiny_model, "--data", cmb_data, "--limit", 5, "--sample", 5,
             "--out", tmp_path / "r"])


# "cost: about 0.09 s/question here (0.054 CPU s/question, 16 timed): the remaining 4 questions of this
# run ≈ 0 s; all 140 questions ≈ 12 s"
DURATION = r"\d+(\.\d)? (s|min|h|days)"
FORECAST = re.compile(rf"^cost: about [\d.]+ s/question here \([\d.]+ CPU s/question, (\d+) timed\): "
                      rf"the remaining (\d+) questions of this run ≈ {DURATION}; all 140 questions ≈ {DURATION}$")


def test_forecast_after_warm_up(sampled):
    out, output = sampled
    lines = [line for line in output.splitlines() if line.startswith("cost:")]
    assert len(lines) == 1, output
    match = FORECAST.match(lines[0])
    assert match, lines[0]
    timed, remaining = int(match[1]), int(match[2])
    assert timed == 16 and remaining == 4  # the first batch reaching 10 questions (batch 8: after 16)
    estimate = json.loads((out / "run.json").read_text())["estimate"]
    assert estimate["timed_questions"] == 16 and estimate["split_questions"] == 140
    assert estimate["seconds_per_question"] > 0 and estimate["split_seconds"] >= estimate["remaining_seconds"]


def test_a_run_shorter_than_the_warm_up_forecasts_at_its_end(cli, tiny_model, cmb_data, tmp_path):
    output = _run(cli, tiny_model, cmb_data, tmp_path / "r", "--sample", 4)
    line = next(line for line in output.splitlines() if line.startswith("cost:"))
    assert "4 timed" in line and "remaining" not in line and "all 140 questions ≈" in line


def test_progress_lines_carry_an_eta(sampled):
    _, output = sampled
    progress = [line for line in output.splitlines() if line.startswith("CMB loglik:")]
    assert re.fullmatch(rf"CMB loglik: 8/20 q \(\d+ s, ETA {DURATION}\)", progress[0]), progress
    assert progress[-1].startswith("CMB loglik: 20/20 q") and "ETA" not in progress[-1]
    assert len(progress) == len(set(progress))  # the last count is said once
