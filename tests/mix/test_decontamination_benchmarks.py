"""Decontamination against benchmarks read by their own loaders (`decontamination.benchmarks`):
altered copies of every registered benchmark's evaluated items, planted in training records,
are caught and attributed to that benchmark; hits are reported per benchmark."""

from __future__ import annotations

import json
import random

import pytest
import yaml

from collectivesft.benchmarks.base import benchmark_names, get_benchmark
from collectivesft.errors import ConfigError
from collectivesft.mix.text import normalize_text
from planted_benchmark import PlantedBenchmark, register, wrapped

from .conftest import random_text

NGRAM = 10  # DecontaminationSpec's default
# Every registered benchmark, and the test-only one (so the test runs before any is registered).
EVERY = sorted(set(benchmark_names()) | {PlantedBenchmark.name})


def _planted_items(benchmark, data, k: int = 4) -> list[tuple[str, str]]:
    """(item id, text as indexed) of up to `k` evaluated items, spread over the eval split."""
    items = []
    for ident, text, fallback in benchmark.eval_items(data):
        norm = text if len(normalize_text(text)) >= NGRAM else fallback
        if len(normalize_text(norm)) >= NGRAM:
            items.append((ident, norm))
    in_eval = [it for it in items if f"/{benchmark.eval_split}#" in it[0]] or items
    assert in_eval, f"{benchmark.name}: its fixture gives no item of at least {NGRAM} characters"
    step = max(1, len(in_eval) // k)
    return in_eval[::step][:k]


@pytest.mark.parametrize("name", EVERY)
def test_planted_copies_of_each_benchmarks_items_are_caught(name, monkeypatch, tmp_path, write_records, mix, jsonl):
    if name == PlantedBenchmark.name:
        register(monkeypatch)
    benchmark = get_benchmark(name)
    data = benchmark.write_fixture(tmp_path / "bench", random.Random(0), 12)
    planted = _planted_items(benchmark, data)
    rng = random.Random(1)
    every = 3  # records 0, 3, 6, ... hold a planted copy; the others are unrelated text
    folder = write_records("train", every * len(planted) + 2,
                           user=lambda i: wrapped(planted[i // every][1]) if i % every == 0 and i // every < len(planted)
                           else random_text(rng, 80))
    manifest = mix({"val_fraction": 0.0, "dedup": {"near": False},
                    "decontamination": {"benchmarks": [{"name": name, "data": str(data)}]},
                    "sources": [{"name": "train", "records": str(folder)}]})

    rows = {r["id"]: r for r in jsonl(tmp_path / "out" / "contamination.jsonl")}
    expected = {f"train/r{every * k:05d}" for k in range(len(planted))}
    assert set(rows) == expected, f"{name}: caught {sorted(rows)}, planted {sorted(expected)}"
    prefix = f"{name}/"
    for k, (ident, _text) in enumerate(planted):
        row = rows[f"train/r{every * k:05d}"]
        assert row["benchmark"] == name and row["dropped"] and row["overlap"] >= 0.5
        # Its own item, or one of the same benchmark with the same text (fixtures may repeat a stem).
        assert row["eval_item"].startswith(prefix), row
        if row["eval_item"] != (ident if ident.startswith(prefix) else prefix + ident):
            texts = {i if i.startswith(prefix) else prefix + i: normalize_text(t) for i, t, _ in
                     benchmark.eval_items(data)}
            assert texts[row["eval_item"]] in normalize_text(wrapped(_text)), row
    hits = manifest["decontamination"]["per_benchmark"][name]
    assert hits["records_hit"] == len(planted) and hits["by_source"] == {"train": len(planted)}
    (facts,) = manifest["decontamination"]["benchmarks"]
    assert facts["name"] == name and facts["items_indexed"] == hits["items_indexed"] > 0
    assert manifest["sources"][0]["counts"]["contaminated"] == len(planted)
    assert not any(normalize_text(planted[0][1]) in normalize_text(r["messages"][0]["content"])
                   for r in jsonl(tmp_path / "out" / "train.jsonl"))


def test_hits_are_reported_per_benchmark_in_manifest_report_and_summary(monkeypatch, tmp_path, write_records, cli,
                                                                       jsonl):
    register(monkeypatch, "planted-a")
    register(monkeypatch, "planted-b", leaks_from=("nlpec",))
    data_a = get_benchmark("planted-a").write_fixture(tmp_path / "a", random.Random(1), 6)
    data_b = get_benchmark("planted-b").write_fixture(tmp_path / "b", random.Random(2), 6)
    test_a = json.loads(data_a.read_text(encoding="utf-8"))["test"]
    test_b = json.loads(data_b.read_text(encoding="utf-8"))["test"]
    dev_a = json.loads(data_a.read_text(encoding="utf-8"))["dev"]
    case = "患者，女，45岁，因反复上腹痛两年，加重伴黑便三天入院。查体：血压100/60mmHg，心率102次/分，上腹部压痛。"
    cmb = tmp_path / "CMB-Clin-qa.json"
    cmb.write_text(json.dumps([{"id": 1, "title": "案例一", "description": case, "QA_pairs": [
        {"question": "请给出最可能的诊断及诊断依据", "answer": "消化性溃疡并出血"}]}], ensure_ascii=False), encoding="utf-8")
    rng = random.Random(3)
    one = {0: wrapped(test_a[0]["question"]), 1: wrapped(test_a[1]["question"]), 2: wrapped(test_b[0]["question"]),
           # A few-shot (dev) question is not evaluated: not indexed, so not a hit.
           3: wrapped(dev_a[0]["question"])}
    two = {1: wrapped(test_a[2]["question"]), 2: "我想问：" + wrapped(case)}
    s1 = write_records("s1", 6, user=lambda i: one.get(i) or random_text(rng, 70))
    s2 = write_records("s2", 4, user=lambda i: two.get(i) or random_text(rng, 70))
    recipe = {"val_fraction": 0.0, "report": True,
              "decontamination": {"eval_files": [str(cmb)],
                                  "benchmarks": ["planted-a", {"name": "planted-b", "data": str(data_b)}]},
              "sources": [{"name": "s1", "records": str(s1)}, {"name": "s2", "records": str(s2)}]}
    # planted-a has no hub id: without data it is a loud error naming the key.
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="'planted-a' has no hub id, so its files must be given as `data`"):
        cli(["data", "mix", path, "--out", tmp_path / "bad"])
    recipe["decontamination"]["benchmarks"][0] = {"name": "planted-a", "data": str(data_a)}
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    result = cli(["data", "mix", path, "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    per = manifest["decontamination"]["per_benchmark"]
    assert list(per) == ["cmb", "planted-a", "planted-b"]
    assert {k: (v["records_hit"], v["items_hit"], v["by_source"]) for k, v in per.items()} == {
        "cmb": (1, 1, {"s1": 0, "s2": 1}), "planted-a": (3, 3, {"s1": 2, "s2": 1}),
        "planted-b": (1, 1, {"s1": 1, "s2": 0})}
    assert per["planted-a"]["items_indexed"] == 7 and per["planted-a"]["items_too_short"] == 0
    assert [b["name"] for b in manifest["decontamination"]["benchmarks"]] == ["planted-a", "planted-b"]
    assert manifest["decontamination"]["eval_files"][0]["path"] == str(cmb)
    assert {r["id"]: r["benchmark"] for r in jsonl(tmp_path / "out" / "contamination.jsonl")} == {
        "s1/r00000": "planted-a", "s1/r00001": "planted-a", "s1/r00002": "planted-b", "s2/r00001": "planted-a",
        "s2/r00002": "cmb"}
    assert ("decontamination: training records hit / items indexed, per benchmark: cmb 1/2, planted-a 3/7, "
            "planted-b 1/7; dropped") in result.output
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| planted-a | 7 | 0 | 3 | 3 | s1 2, s2 1 |" in report
    assert f"| planted-b | {data_b} | 7 | 0 |" in report


def test_an_unknown_benchmark_is_a_recipe_error_naming_the_key(tmp_path, write_records, mix):
    folder = write_records("train", 2)
    with pytest.raises(ConfigError, match=r"decontamination\.benchmarks\.0\.name.*unknown benchmark 'no-such'"):
        mix({"decontamination": {"benchmarks": [{"name": "no-such", "data": "x"}]},
             "sources": [{"name": "train", "records": str(folder)}]})
