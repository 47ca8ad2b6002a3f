"""A run's leak checks cover what it evaluates: the mix is decontaminated against every benchmark of
`eval.benchmarks` (fixture files written once into RUN/fixtures/benchmarks/ in a fixtures run),
and a source whose split a benchmark evaluates converts its training split only."""

from __future__ import annotations

import json
import random

from collectivesft.pipeline import stages
from collectivesft.pipeline.benchmark_data import fixture_data
from collectivesft.pipeline.recipe import recipe_from_mapping
from collectivesft.pipeline.runner import Runner
from planted_benchmark import isolate, register


def _read(path):
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def test_the_runs_mix_is_checked_against_every_evaluated_benchmark(monkeypatch, tmp_path):
    from collectivesft.fixtures.writer import write_fixtures
    from collectivesft.sources.convert import convert_source

    isolate(monkeypatch)  # only these (and cmb): what the run evaluates is all that is checked
    register(monkeypatch, "planted-nlpec", leaks_from=("nlpec",), validation_split="dev")
    register(monkeypatch, "planted-a")
    # planted-a's test items are two of the training records the run will make from its NLPEC fixture.
    write_fixtures(tmp_path / "raw", rows=12, seed=0, sources=["nlpec"])
    convert_source("nlpec", tmp_path / "conv", input=tmp_path / "raw" / "nlpec")
    leaked = _read(tmp_path / "conv" / "records.jsonl")[3:5]
    data_a = tmp_path / "a" / "planted.json"
    data_a.parent.mkdir()
    data_a.write_text(json.dumps({"dev": [], "test": [
        {"id": k, "question": r["messages"][0]["content"], "options": {"A": "甲", "B": "乙"}, "answer": "A"}
        for k, r in enumerate(leaked)]}, ensure_ascii=False), encoding="utf-8")

    recipe = recipe_from_mapping({
        "name": "leaks", "fixtures": {"rows": 12, "seed": 0, "cmb_test": 12},
        "sources": [{"name": "nlpec", "options": {"split": "all"}}, {"name": "medqa"}],
        "mix": {"val_fraction": 0.0, "dedup": {"near": False}}, "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
        "eval": {"benchmarks": ["cmb", "planted-nlpec", {"name": "planted-a", "data": str(data_a)}]}}, "test recipe")
    logs: list[str] = []
    runner = Runner(tmp_path / "run", set(), logs.append)
    raw = stages.fixtures_stage(runner, recipe)
    converted = stages.convert_stage(runner, recipe, raw)
    mixture = stages.mix_stage(runner, recipe, raw, converted)

    # The evaluated benchmark without data got fixture files in the run folder, and was indexed.
    fixture = tmp_path / "run" / "fixtures" / "benchmarks" / "planted-nlpec"
    assert json.loads((fixture / "fixture.json").read_text()) == {"benchmark": "planted-nlpec", "seed": 0,
                                                                  "rows": 12, "data": "planted.json"}
    manifest = json.loads((tmp_path / "run" / "mix" / "manifest.json").read_text(encoding="utf-8"))
    decon = manifest["decontamination"]
    assert [(b["name"], b["data"]) for b in decon["benchmarks"]] == [
        ("planted-nlpec", str(fixture / "planted.json")), ("planted-a", str(data_a))]
    from collectivesft.benchmarks.base import get_benchmark

    n_items = len(list(get_benchmark("planted-nlpec").eval_items(fixture / "planted.json")))
    assert decon["benchmarks"][0]["items_indexed"] + decon["benchmarks"][0]["items_too_short"] == n_items >= 13
    (cmb,) = decon["eval_files"]  # CMB stays on the run's CMB data, through eval_data
    assert cmb["path"] == raw["cmb"]
    assert decon["per_benchmark"]["planted-a"]["records_hit"] == 2
    assert decon["per_benchmark"]["planted-a"]["by_source"] == {"nlpec": 2, "medqa": 0}
    assert {r["id"] for r in _read(tmp_path / "run" / "mix" / "contamination.jsonl")
            if r["benchmark"] == "planted-a"} == {r["id"] for r in leaked}
    assert mixture["contamination"]["planted-a"] == 2  # run.json and the `run` summary line show these

    # NLPEC's test and dev splits (planted-nlpec's) were not converted, and the log says so.
    records = _read(tmp_path / "run" / "convert" / "nlpec" / "records.jsonl")
    assert {r["meta"]["split"] for r in records} == {"train"}
    assert any(line.startswith("[convert/nlpec] nlpec: held out ") for line in logs)
    held = manifest["sources"][0]["eval_splits"]  # from convert/nlpec/stats.json
    assert held["policy"] == "exclude" and held["rows"] == sum(held["files"].values()) > 0
    assert "eval_splits" not in manifest["sources"][1]  # no benchmark names medqa here

    # A rerun reuses every stage, the benchmark's fixture files included.
    logs.clear()
    stages.mix_stage(runner, recipe, raw, stages.convert_stage(runner, recipe, stages.fixtures_stage(runner, recipe)))
    assert logs == ["[fixtures] unchanged, reused", "[convert/nlpec] unchanged, reused",
                    "[convert/medqa] unchanged, reused", "[mix] unchanged, reused"]


def test_fixture_data_is_written_once_per_seed_and_rows(monkeypatch, tmp_path):
    register(monkeypatch)
    first = fixture_data("planted-test", tmp_path, seed=3, rows=5)
    assert first == tmp_path / "fixtures" / "benchmarks" / "planted-test" / "planted.json"
    (first.parent / "sentinel").write_text("here")
    assert fixture_data("planted-test", tmp_path, seed=3, rows=5) == first
    assert (first.parent / "sentinel").exists()  # not rewritten
    again = fixture_data("planted-test", tmp_path, seed=3, rows=7)
    assert again == first and not (first.parent / "sentinel").exists()
    assert len(json.loads(again.read_text(encoding="utf-8"))["test"]) == 8
    from collectivesft.benchmarks.base import get_benchmark

    expected = get_benchmark("planted-test").write_fixture(tmp_path / "direct", random.Random(3), 7)
    assert again.read_bytes() == expected.read_bytes()
    assert not [p for p in first.parent.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
