"""A run recipe with eval.benchmarks in the fixture world: each benchmark's fixture files written in the
run folder, every benchmark evaluated for the base and the trained model, the report's suite table."""

from __future__ import annotations

import copy
import json

import pytest

from .test_run import SMALL_RECIPE, write_recipe

SUITE = ["cmb", "cmexam", "medqa-mcmle", "cmmlu-medical", {"name": "cmmlu-general"}]
NAMES = ["cmb", "cmexam", "medqa-mcmle", "cmmlu-medical", "cmmlu-general"]


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    from collectivesft.pipeline.run import run_recipe

    recipe = copy.deepcopy(SMALL_RECIPE)
    recipe["name"] = "suite"
    recipe["eval"] = {"method": "loglik", "limit": 8, "compare_base": True, "benchmarks": SUITE}
    root = tmp_path_factory.mktemp("suite-run")
    path = write_recipe(root / "recipe.yaml", recipe)
    summary = run_recipe(path, root / "run", log=lambda msg: None)
    return root / "run", summary


def test_every_benchmark_is_evaluated_for_both_models(suite_run):
    run, summary = suite_run
    assert set(summary["evals"]) == {"base", "trained"}
    assert (run / "fixtures/benchmarks/cmmlu-medical/data/test/anatomy.csv").is_file()
    assert (run / "fixtures/benchmarks/cmmlu-general/data/dev/agronomy.csv").is_file()
    assert (run / "fixtures/benchmarks/cmexam/fixture.json").is_file()
    for label in ("base", "trained"):
        suite = json.loads((run / "eval" / label / "suite.json").read_text())
        assert [r["benchmark"] for r in suite["benchmarks"]] == NAMES
        for row in suite["benchmarks"]:
            folder = run / "eval" / label / row["benchmark"]
            assert (folder / "stage.json").is_file() and (folder / "scores.json").is_file()
            assert summary["evals"][label][row["benchmark"]]["n"] == row["n"]
        cmb = json.loads((run / "eval" / label / "cmb" / "scores.json").read_text())
        assert cmb["n"] == 8 and suite["benchmarks"][0]["score"] == cmb["overall_macro_types"]


def test_report_shows_the_suite_with_paired_differences_and_retention(suite_run):
    from collectivesft.benchmarks.base import get_benchmark

    run, _ = suite_run
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "Benchmark suite" in md and "trained − base [95% CI]" in md
    for name in NAMES:
        line = next(l for l in md.splitlines() if l.startswith("| ") and f"({name})" in l)
        paired = get_benchmark(name).paired(run / "eval/base" / name, run / "eval/trained" / name)
        assert line.split("|")[-2].strip().startswith(f"{paired['difference']:.3f}")
    assert "Retention (cmmlu-general, general subjects)" in md
    assert "CMB-Exam scores" in md  # the suite's CMB runs feed the CMB section too
    assert "not run" not in md and "never" not in md


def test_rerun_reuses_every_suite_stage(suite_run, tmp_path):
    from collectivesft.pipeline.run import run_recipe

    run, _ = suite_run
    messages: list[str] = []
    run_recipe(run.parent / "recipe.yaml", run, log=messages.append)
    assert not [m for m in messages if "running" in m]
    assert "[eval/trained/cmmlu-general] unchanged, reused" in messages


def test_suite_recipe_errors_name_the_entry(tmp_path):
    from collectivesft.errors import ConfigError
    from collectivesft.pipeline.run import load_checked_recipe

    recipe = copy.deepcopy(SMALL_RECIPE)
    recipe["eval"] = {"benchmarks": ["cmb", {"name": "cmmlu-medical", "options": {"protocol": "official"}}]}
    with pytest.raises(ConfigError, match="cmmlu-medical: takes no options"):
        load_checked_recipe(write_recipe(tmp_path / "a.yaml", recipe), None)
    recipe["eval"] = {"benchmarks": ["cmb", "nope"]}
    with pytest.raises(ConfigError, match="unknown benchmark 'nope'"):
        load_checked_recipe(write_recipe(tmp_path / "b.yaml", recipe), None)
