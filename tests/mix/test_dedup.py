"""Exact and near-duplicate removal, within and across sources, with a deterministic kept copy."""

from __future__ import annotations

import random

import pytest

from collectivesft.mix.text import normalize_text

from .conftest import random_text


@pytest.mark.parametrize(
    "a, b",
    [
        pytest.param("ABC 123", "ＡＢＣ１２３", id="full-width-letters-and-digits"),
        pytest.param("高血压，首选药物是？", "高血压,首选药物是?", id="chinese-vs-ascii-punctuation"),
        pytest.param("高 血 压\n首选", "高血压　首选", id="spaces-newlines-ideographic-space"),
        pytest.param("Aspirin", "aSPIRIN", id="case"),
        pytest.param("【题干】下列哪项正确", "[题干]下列哪项正确", id="brackets"),
    ],
)
def test_normalisation_folds_perturbations(a, b):
    assert normalize_text(a) == normalize_text(b)


def test_normalisation_keeps_content():
    assert normalize_text("高血压") != normalize_text("低血压")
    assert normalize_text("A. 1") != normalize_text("A. 2")


def _perturb(text: str) -> str:
    return text.replace(",", "，").replace(" ", "  ").replace("A", "Ａ").replace("1", "１")


def test_exact_duplicates_within_and_across_sources(write_records, mix, source_counts, jsonl, tmp_path):
    rng = random.Random(1)
    base = [f"问题{i}, A 1 {random_text(rng)}" for i in range(20)]
    first = write_records("first", 20, user=lambda i: base[i] if i != 7 else base[3])  # 7 repeats 3
    second = write_records("second", 10, user=lambda i: _perturb(base[i]) if i < 4 else random_text(rng))
    manifest = mix({"val_fraction": 0.0, "dedup": {"near": False},
                    "sources": [{"name": "first", "records": str(first)}, {"name": "second", "records": str(second)}]})
    counts = source_counts(manifest)
    assert counts["first"]["duplicate"] == 1 and counts["second"]["duplicate"] == 4
    assert counts["first"]["train"] == 19 and counts["second"]["train"] == 6
    reasons = {r["id"]: r["reason"] for r in jsonl(tmp_path / "out" / "accounting.jsonl")}
    assert reasons["first/r00007"] == "duplicate-of:first/r00003"
    # The earlier source in the recipe keeps its copy.
    assert [reasons[f"second/r{i:05d}"] for i in range(4)] == [f"duplicate-of:first/r{i:05d}" for i in range(4)]


def _near_copy(text: str, rng: random.Random, changes: int = 2) -> str:
    chars = list(text)
    for pos in rng.sample(range(len(chars)), changes):
        chars[pos] = "鑫"
    return "".join(chars)


def test_near_duplicates_across_sources(write_records, mix, source_counts, jsonl, tmp_path):
    rng = random.Random(2)
    long_texts = [random_text(rng, 200) for _ in range(12)]
    a = write_records("a", 12, user=lambda i: long_texts[i])
    b = write_records("b", 12, user=lambda i: _near_copy(long_texts[i], rng) if i < 6 else random_text(rng, 200))
    recipe = {"val_fraction": 0.0, "dedup": {"threshold": 0.7},
              "sources": [{"name": "a", "records": str(a)}, {"name": "b", "records": str(b)}]}
    counts = source_counts(mix(recipe))
    assert counts["a"]["near_duplicate"] == 0 and counts["b"]["near_duplicate"] == 6
    assert counts["b"]["duplicate"] == 0 and counts["b"]["train"] == 6
    reasons = {r["id"]: r["reason"] for r in jsonl(tmp_path / "out" / "accounting.jsonl")}
    assert reasons["b/r00002"] == "near-duplicate-of:a/r00002"

    # Swap the recipe order: now b's copies are kept and a's are the duplicates.
    recipe["sources"].reverse()
    counts = source_counts(mix(recipe, "swapped"))
    assert counts["a"]["near_duplicate"] == 6 and counts["b"]["near_duplicate"] == 0


def test_near_duplicates_within_a_source_keep_the_first(write_records, mix, jsonl, tmp_path):
    rng = random.Random(3)
    base = random_text(rng, 300)
    texts = [base] + [_near_copy(base, rng, 3) for _ in range(4)] + [random_text(rng, 300) for _ in range(5)]
    folder = write_records("s", 10, user=lambda i: texts[i])
    manifest = mix({"val_fraction": 0.0, "sources": [{"name": "s", "records": str(folder)}]})
    assert manifest["totals"]["near_duplicate"] == 4
    kept = [r["id"] for r in jsonl(tmp_path / "out" / "train.jsonl")]
    assert kept[0] == "s/r00000" and len(kept) == 6


def test_dissimilar_texts_survive_and_dedup_can_be_disabled(write_records, mix, source_counts):
    rng = random.Random(4)
    shared = random_text(rng, 40)
    # Same opening, different bodies: Jaccard well below the threshold.
    folder = write_records("s", 10, user=lambda i: shared + random_text(rng, 160))
    assert source_counts(mix({"val_fraction": 0.0, "sources": [{"name": "s", "records": str(folder)}]}))["s"]["train"] == 10
    copies = write_records("c", 5, user=lambda i: shared)
    off = {"val_fraction": 0.0, "dedup": {"exact": False, "near": False},
           "sources": [{"name": "c", "records": str(copies)}]}
    assert source_counts(mix(off, "off"))["c"]["train"] == 5


def test_fixture_data_dedup_is_consistent(raw_fixtures, mix, jsonl, tmp_path):
    # Real converter output: cMedQA2 has several answers per question, so deduplicating on
    # the user text keeps one record per question.
    manifest = mix({"val_fraction": 0.0, "sources": [{"name": "cmedqa2", "input": str(raw_fixtures / "cmedqa2")}]})
    train = jsonl(tmp_path / "out" / "train.jsonl")
    questions = [normalize_text(next(m["content"] for m in r["messages"] if m["role"] == "user")) for r in train]
    assert len(questions) == len(set(questions))
    c = manifest["sources"][0]["counts"]
    assert c["input"] == manifest["sources"][0]["convert"]["kept"]
    assert c["train"] + c["duplicate"] + c["near_duplicate"] + sum(c["filtered"].values()) == c["input"]


def test_parallel_minhash_gives_the_same_mixture(write_records, mix, tmp_path, monkeypatch):
    from collectivesft.mix import scan

    monkeypatch.setattr(scan, "CHUNK", 50)  # many chunks, so the worker pool really interleaves
    rng = random.Random(6)
    texts = [random_text(rng, 120) for _ in range(150)]
    folder = write_records("s", 400, user=lambda i: texts[i % 150] if i % 3 else _near_copy(texts[i % 150], rng))
    recipe = {"val_fraction": 0.1, "cap": 100, "sources": [{"name": "s", "records": str(folder)}]}
    one = mix(dict(recipe, dedup={"workers": 1}), "one")
    two = mix(dict(recipe, dedup={"workers": 2}), "two")
    assert one["totals"] == two["totals"] and one["totals"]["near_duplicate"] > 0
    for name in ("train.jsonl", "val.jsonl", "accounting.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


@pytest.mark.parametrize("changes", [0, 3, 10, 30, 80])
def test_minhash_estimates_jaccard(changes):
    from collectivesft.mix.minhash import signatures

    rng = random.Random(changes)
    base = random_text(rng, 300)
    other = _near_copy(base, rng, changes) if changes else base
    grams = [{t[i : i + 5] for i in range(len(t) - 4)} for t in (base, other)]
    true = len(grams[0] & grams[1]) / len(grams[0] | grams[1])
    sig = signatures([base, other], ngram=5, num_perm=256)
    estimate = float((sig[0] == sig[1]).mean())
    assert abs(estimate - true) < 0.1, (estimate, true)
