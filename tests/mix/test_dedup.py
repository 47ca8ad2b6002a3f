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


def _bucket_that_hides_a_pair(seed: int = 0):
    """Signatures of three rows sharing band 0: rows 1 and 2 are near duplicates (120 of 128 values
    equal) and share no other band; row 0 is in their band-0 bucket, first, and unlike both."""
    import numpy as np

    from collectivesft.mix.minhash import lsh_params

    bands, rows = lsh_params(0.8, 128)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**32, size=128, dtype=np.uint64).astype(np.uint32)
    first = rng.integers(0, 2**32, size=128, dtype=np.uint64).astype(np.uint32)
    first[:rows] = base[:rows]
    twin = base.copy()
    twin[np.arange(1, bands) * rows] ^= 1  # one value differs in every band but the first
    return np.stack([first, base, twin])


def test_a_bucket_whose_first_record_is_unlike_the_others_still_pairs_them():
    from collectivesft.mix.minhash import near_duplicate_roots

    sigs = _bucket_that_hides_a_pair()
    assert (sigs[1] == sigs[2]).sum() == 120 and (sigs[0] == sigs[1]).sum() < 20
    assert near_duplicate_roots(sigs, 0.8).tolist() == [0, 1, 1]


def test_clusters_equal_all_pairs_verification_of_the_candidates():
    """On records with planted near duplicates, the clusters are those of verifying every pair
    that shares a band (the ground truth the banding allows)."""
    import numpy as np

    from collectivesft.mix.minhash import _band_keys, lsh_params, near_duplicate_roots, signatures

    rng = random.Random(3)
    texts = []
    for _ in range(300):
        text = random_text(rng, 80)
        texts.append(text)
        for _ in range(rng.randint(0, 4)):  # copies with a few characters changed
            chars = list(text)
            for pos in rng.sample(range(len(chars)), rng.randint(1, 6)):
                chars[pos] = random_text(rng, 1)
            texts.append("".join(chars))
    sigs = signatures(texts, 5, 128)
    bands, rows = lsh_params(0.8, 128)
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for k in range(bands):
        keys = _band_keys(np.ascontiguousarray(sigs[:, k * rows:(k + 1) * rows])).tolist()
        buckets: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            buckets.setdefault(key, []).append(i)
        for members in buckets.values():
            for a in members:
                for b in members:
                    if a < b and (sigs[a] == sigs[b]).sum() >= 0.8 * 128:
                        ra, rb = find(a), find(b)
                        parent[max(ra, rb)] = min(ra, rb)
    assert near_duplicate_roots(sigs, 0.8).tolist() == [find(i) for i in range(len(texts))]


def test_a_lower_candidate_threshold_finds_more_pairs_above_the_threshold():
    """Bands tuned for 0.6 propose pairs the 0.8 bands miss; every accepted pair still meets 0.8."""
    import numpy as np

    from collectivesft.mix.minhash import near_duplicate_roots, signatures

    rng = random.Random(5)
    texts = []
    for _ in range(200):
        text = random_text(rng, 100)
        chars = list(text)
        for pos in rng.sample(range(100), 4):  # J about 0.83 for 5-grams: near the threshold
            chars[pos] = random_text(rng, 1)
        texts += [text, "".join(chars)]
    sigs = signatures(texts, 5, 128)
    default = near_duplicate_roots(sigs, 0.8)
    wider = near_duplicate_roots(sigs, 0.8, candidate_threshold=0.6)
    found = lambda roots: int((roots != np.arange(len(roots))).sum())  # noqa: E731
    assert found(wider) > found(default)
    for i in np.flatnonzero(wider != np.arange(len(wider))):
        assert (sigs[i] == sigs[wider[i]]).sum() >= 0.8 * 128
