"""Held-out splits: a conversion for training skips the splits a benchmark evaluates (its
`leaks_from` names the source), counts and logs them; `eval_splits: keep` converts them, loudly."""

from __future__ import annotations

import json

import pytest
import yaml

from collectivesft.benchmarks.base import BENCHMARKS, benchmark_names
from collectivesft.errors import ConfigError
from collectivesft.sources.held_out import canonical_split, held_out_splits, split_of_row
from planted_benchmark import isolate, register

TEST_REASON = "held out: test split of benchmark planted-nlpec"
DEV_REASON = "held out: dev split of benchmark planted-nlpec"
# Every registered benchmark with the training source it names in leaks_from.
LEAKING = [(b, s) for b in benchmark_names() for s in BENCHMARKS.get(b).leaks_from]


@pytest.fixture()
def only_planted(monkeypatch):
    """The mechanism tests see only the benchmarks they register: the real ones would change
    their expected values (the parametrized test below covers those)."""
    isolate(monkeypatch)


@pytest.mark.parametrize("where, expect", [
    ("NLPEC_public_data/test.json:3", ("NLPEC_public_data/test.json", "test")),
    ("nlpec.zip!NLPEC_public_data/dev.json:12", ("nlpec.zip!NLPEC_public_data/dev.json", "dev")),
    ("Clinic_test.json#4", ("Clinic_test.json", "test")),
    ("data_clean/questions/Mainland/train.jsonl:9", ("data_clean/questions/Mainland/train.jsonl", "train")),
    ("hub:bigbio/med_qa/Mainland/dev#0", ("hub:bigbio/med_qa/Mainland/dev", "dev")),
    ("hub:someone/medqa/validation#7", ("hub:someone/medqa/validation", "dev")),
    ("US/4_options/phrases_no_exclude_test.jsonl:1", ("US/4_options/phrases_no_exclude_test.jsonl", "test")),
    ("questions.jsonl:1", ("questions.jsonl", None)),
])
def test_a_rows_split_is_what_its_file_says(where, expect):
    assert split_of_row(where) == expect


@pytest.mark.parametrize("benchmark, source", LEAKING)
def test_each_source_a_benchmark_names_converts_without_its_scored_splits(benchmark, source, raw_fixtures, tmp_path):
    from collectivesft.sources.convert import convert_source
    from collectivesft.sources.registry import source_class

    cls = BENCHMARKS.get(benchmark)
    scored = {canonical_split(s) for s in (cls.eval_split, cls.validation_split) if s}
    options = {"split": "all"} if "all" in (getattr(source_class(source).options.get("split"), "choices", None) or ()) else {}
    stats = convert_source(source, tmp_path / "o", input=raw_fixtures / source, options=options,
                           eval_splits="exclude", allow_empty=True)
    records = [json.loads(line) for line in (tmp_path / "o" / "records.jsonl").open(encoding="utf-8")]
    assert not {canonical_split(r["meta"].get("split")) for r in records} & scored
    held = stats["eval_splits"]
    assert all(benchmark in held["held_out"][split] for split in scored) and held["rows"] > 0


def test_held_out_splits_come_from_the_benchmarks_naming_the_source(only_planted, monkeypatch):
    assert held_out_splits("nlpec") == {}
    register(monkeypatch, "planted-nlpec", leaks_from=("nlpec",), validation_split="dev")
    register(monkeypatch, "planted-other", leaks_from=("nlpec", "mlecqa"), eval_split="test", validation_split="val")
    register(monkeypatch, "planted-mlecqa", leaks_from=("mlecqa",))
    assert held_out_splits("nlpec") == {"dev": ["planted-nlpec", "planted-other"],
                                        "test": ["planted-nlpec", "planted-other"]}
    assert held_out_splits("mlecqa") == {"dev": ["planted-other"], "test": ["planted-mlecqa", "planted-other"]}
    assert held_out_splits("medqa") == {}


def _mix(tmp_path, raw_fixtures, options, out="out", report=False):
    from collectivesft.pipeline.run import mix_recipe_file

    recipe = tmp_path / f"{out}.yaml"
    recipe.write_text(yaml.safe_dump({"report": report, "val_fraction": 0.0, "sources": [
        {"name": "nlpec", "input": str(raw_fixtures / "nlpec"), "options": options}]}), encoding="utf-8")
    logs: list[str] = []
    manifest, folder = mix_recipe_file(recipe, tmp_path / out, log=logs.append)
    records = [json.loads(line) for line in (folder / "sources" / "nlpec" / "records.jsonl").open(encoding="utf-8")]
    return manifest, records, logs


def test_training_conversion_skips_benchmark_splits_and_says_so(only_planted, monkeypatch, tmp_path, raw_fixtures):
    register(monkeypatch, "planted-nlpec", leaks_from=("nlpec",), validation_split="dev")
    manifest, records, logs = _mix(tmp_path, raw_fixtures, {"split": "all"}, report=True)
    assert {r["meta"]["split"] for r in records} == {"train"}
    facts = manifest["sources"][0]["convert"]
    held = facts["eval_splits"]
    assert manifest["sources"][0]["eval_splits"] == held
    assert held["policy"] == "exclude" and held["set_by"] == "default"
    assert held["held_out"] == {"dev": ["planted-nlpec"], "test": ["planted-nlpec"]}
    assert set(held["files"]) == {"NLPEC_public_data/dev.json", "NLPEC_public_data/test.json"}
    assert held["rows"] == sum(held["files"].values()) == facts["skipped"][TEST_REASON] + facts["skipped"][DEV_REASON]
    assert facts["read"] == facts["kept"] + facts["quarantined"] + sum(facts["skipped"].values())
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert (f"| nlpec | dev (planted-nlpec); test (planted-nlpec) | exclude | {held['rows']} | "
            "NLPEC_public_data/dev.json, NLPEC_public_data/test.json |") in report
    (line,) = [entry for entry in logs if "held out" in entry]
    assert line.startswith(f"[nlpec] nlpec: held out {held['rows']} rows of benchmark splits, not converted: ")
    assert "the test split of planted-nlpec" in line and "eval_splits: keep" in line

    # The opt-out converts them, as loudly; the train rows are the same either way.
    manifest, kept, logs = _mix(tmp_path, raw_fixtures, {"split": "all", "eval_splits": "keep"}, out="keep")
    assert {r["meta"]["split"] for r in kept} == {"train", "dev", "test"}
    assert [r["id"] for r in kept if r["meta"]["split"] == "train"] == [r["id"] for r in records]
    held_keep = manifest["sources"][0]["convert"]["eval_splits"]
    assert held_keep["policy"] == "keep" and held_keep["set_by"] == "option" and held_keep["rows"] == held["rows"]
    (line,) = [entry for entry in logs if "WARNING" in entry]
    assert f"{held['rows']} rows of benchmark splits WERE converted" in line and "option eval_splits: keep" in line


def test_a_test_file_given_directly_is_held_out_whatever_the_split_option(only_planted, monkeypatch, tmp_path, raw_fixtures):
    register(monkeypatch, "planted-nlpec", leaks_from=("nlpec",))
    from collectivesft.sources.convert import convert_source

    test_file = raw_fixtures / "nlpec" / "NLPEC_public_data" / "test.json"
    stats = convert_source("nlpec", tmp_path / "o", input=test_file, eval_splits="exclude", allow_empty=True)
    assert stats["kept"] == 0 and stats["eval_splits"]["files"] == {"test.json": stats["read"]} and stats["read"] > 0
    # Validation is not held out when no benchmark tunes on it.
    dev = convert_source("nlpec", tmp_path / "d", input=test_file.with_name("dev.json"), eval_splits="exclude")
    assert dev["kept"] > 0 and dev["eval_splits"]["rows"] == 0


def test_data_convert_keeps_them_by_default_with_a_warning(only_planted, monkeypatch, tmp_path, raw_fixtures, cli):
    register(monkeypatch, "planted-nlpec", leaks_from=("nlpec",))
    result = cli(["data", "convert", "nlpec", "--input", raw_fixtures / "nlpec", "--out", tmp_path / "a",
                  "--set", "split=all"])
    assert result.exit_code == 0, result.output
    assert "WARNING nlpec:" in result.output and "NLPEC_public_data/test.json" in result.output
    assert "--set eval_splits=exclude" in result.output
    result = cli(["data", "convert", "nlpec", "--input", raw_fixtures / "nlpec", "--out", tmp_path / "b",
                  "--set", "split=all", "--set", "eval_splits=exclude"])
    assert result.exit_code == 0, result.output
    assert f"skipped" in result.output and TEST_REASON in result.output and "WARNING" not in result.output
    records = [json.loads(line) for line in (tmp_path / "b" / "records.jsonl").open(encoding="utf-8")]
    assert {r["meta"]["split"] for r in records} == {"train", "dev"}


def test_eval_splits_option_is_checked(only_planted, monkeypatch, tmp_path, raw_fixtures):
    from collectivesft.sources.convert import convert_source

    with pytest.raises(ConfigError, match="option eval_splits applies only to sources whose splits a benchmark"):
        convert_source("nlpec", tmp_path / "o", input=raw_fixtures / "nlpec", options={"eval_splits": "keep"})
    register(monkeypatch, "planted-nlpec", leaks_from=("nlpec",))
    with pytest.raises(ConfigError, match=r"option eval_splits='drop' not one of \('exclude', 'keep'\)"):
        convert_source("nlpec", tmp_path / "o", input=raw_fixtures / "nlpec", options={"eval_splits": "drop"})
