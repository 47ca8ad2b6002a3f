"""Caps, every strategy, first-N selection, stratification and the per-source validation split."""

from __future__ import annotations

from collections import Counter

import pytest

from collectivesft.mix.sampling import allocate

SIZES = {"small": 100, "mid": 400, "big": 900}


@pytest.mark.parametrize(
    "limits, shares, total, expected",
    [
        pytest.param([10, 10, 10], [1, 1, 1], 30, [10, 10, 10], id="exact-fit"),
        pytest.param([10, 100, 100], [1, 1, 1], 60, [10, 25, 25], id="full-slot-redistributes"),
        pytest.param([100, 100], [1, 3], 40, [10, 30], id="proportional-shares"),
        pytest.param([5, 5, 5], [1, 1, 1], 100, [5, 5, 5], id="total-above-supply"),
        pytest.param([10, 10, 10], [1, 1, 1], 10, [4, 3, 3], id="largest-remainder-ties-to-first"),
        pytest.param([10, 10], [0, 1], 15, [0, 10], id="zero-share-takes-nothing"),
    ],
)
def test_allocate(limits, shares, total, expected):
    assert allocate(limits, shares, total) == expected


def _recipe(folders, **extra):
    sources = [{"name": name, "records": str(folder)} for name, folder in folders.items()]
    return {"seed": 3, "val_fraction": 0.0, "sources": sources, **extra}


@pytest.fixture()
def three_sources(write_records):
    return {name: write_records(name, n) for name, n in SIZES.items()}


def _selected(manifest, source_counts):
    return {name: c["train"] + c["val"] for name, c in source_counts(manifest).items()}


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param({"strategy": "cap", "cap": 200}, {"small": 100, "mid": 200, "big": 200}, id="cap"),
        pytest.param({"strategy": "proportional", "total": 700}, {"small": 50, "mid": 200, "big": 450},
                     id="proportional-total"),
        pytest.param({"strategy": "proportional"}, {"small": 100, "mid": 400, "big": 900},
                     id="proportional-no-total-takes-all"),
        pytest.param({"strategy": "proportional", "cap": 300}, {"small": 33, "mid": 133, "big": 300},
                     id="proportional-cap-keeps-shares-exact"),
        pytest.param({"strategy": "temperature", "alpha": 0.5, "total": 600}, {"small": 100, "mid": 200, "big": 300},
                     id="temperature-sqrt"),
        pytest.param({"strategy": "temperature", "alpha": 0.0, "total": 300}, {"small": 100, "mid": 100, "big": 100},
                     id="temperature-alpha0-is-uniform"),
        pytest.param({"strategy": "uniform", "total": 600}, {"small": 100, "mid": 250, "big": 250},
                     id="uniform-small-source-runs-out"),
        pytest.param({"strategy": "uniform"}, {"small": 100, "mid": 100, "big": 100},
                     id="uniform-no-total-keeps-exact-shares"),
    ],
)
def test_strategies_give_intended_counts(three_sources, mix, source_counts, settings, expected):
    manifest = mix(_recipe(three_sources, **settings))
    assert _selected(manifest, source_counts) == expected
    assert manifest["identity_holds"]
    over_cap = {name: c["over_cap"] for name, c in source_counts(manifest).items()}
    assert over_cap == {name: SIZES[name] - n for name, n in expected.items()}


def test_explicit_weights(three_sources, mix, source_counts):
    recipe = _recipe(three_sources, strategy="weights", total=600)
    for spec, weight in zip(recipe["sources"], (1, 2, 3)):
        spec["weight"] = weight
    assert _selected(mix(recipe), source_counts) == {"small": 100, "mid": 200, "big": 300}


def test_validation_split_is_per_source(three_sources, mix, source_counts, jsonl, tmp_path):
    recipe = _recipe(three_sources, strategy="cap", cap=200, val_fraction=0.1)
    recipe["sources"][2]["val_fraction"] = 0.25
    manifest = mix(recipe)
    counts = source_counts(manifest)
    assert {n: c["val"] for n, c in counts.items()} == {"small": 10, "mid": 20, "big": 50}
    assert {n: c["train"] for n, c in counts.items()} == {"small": 90, "mid": 180, "big": 150}
    val_sources = Counter(r["source"] for r in jsonl(tmp_path / "out" / "val.jsonl"))
    assert val_sources == {"small": 10, "mid": 20, "big": 50}
    train_ids = {r["id"] for r in jsonl(tmp_path / "out" / "train.jsonl")}
    assert not train_ids & {r["id"] for r in jsonl(tmp_path / "out" / "val.jsonl")}


def test_first_n_takes_the_first_rows_in_file_order(three_sources, mix, jsonl, tmp_path):
    manifest = mix(_recipe(three_sources, strategy="cap", cap=7, selection="first"))
    ids = [r["id"] for r in jsonl(tmp_path / "out" / "train.jsonl")]
    assert ids == [f"{name}/r{i:05d}" for name in SIZES for i in range(7)]
    assert manifest["recipe"]["selection"] == "first"


def test_first_n_on_converted_fixture_matches_converter_order(raw_fixtures, mix, jsonl, tmp_path):
    from collectivesft.sources.convert import convert_source

    convert_source("medmcqa", tmp_path / "conv", input=raw_fixtures / "medmcqa")
    recipe = {"cap": 5, "selection": "first", "val_fraction": 0.0,
              "dedup": {"exact": False, "near": False},
              "sources": [{"name": "medmcqa", "input": str(raw_fixtures / "medmcqa")}]}
    mix(recipe)
    converted = [r["id"] for r in jsonl(tmp_path / "conv" / "records.jsonl")]
    assert [r["id"] for r in jsonl(tmp_path / "out" / "train.jsonl")] == converted[:5]


def test_random_selection_differs_from_first_n_and_follows_the_seed(three_sources, mix, jsonl, tmp_path):
    mix(_recipe(three_sources, cap=20, seed=1), "a")
    mix(_recipe(three_sources, cap=20, seed=2), "b")
    a = [r["id"] for r in jsonl(tmp_path / "a" / "train.jsonl")]
    b = [r["id"] for r in jsonl(tmp_path / "b" / "train.jsonl")]
    assert len(a) == len(b) == 60 and a != b
    assert a != [f"{name}/r{i:05d}" for name in SIZES for i in range(20)]


def test_stratification_covers_every_category(write_records, mix, jsonl, tmp_path):
    # 80 / 15 / 5 records in three exam classes: an even 30-record sample takes all 5 of the
    # rare class and splits the rest evenly.
    labels = ["common"] * 80 + ["rare"] * 15 + ["rarest"] * 5
    folder = write_records("cmbish", 100, task="mcq", meta=lambda i: {"exam_class": labels[i], "answer": "A"})
    recipe = {"cap": 30, "seed": 0, "val_fraction": 0.0,
              "sources": [{"name": "cmbish", "records": str(folder), "stratify_by": ["exam_class"]}]}
    manifest = mix(recipe)
    strata = manifest["sources"][0]["strata"]
    assert {k: v["selected"] for k, v in strata.items()} == {"common": 13, "rare": 12, "rarest": 5}
    assert {k: v["available"] for k, v in strata.items()} == {"common": 80, "rare": 15, "rarest": 5}
    written = Counter(r["meta"]["exam_class"] for r in jsonl(tmp_path / "out" / "train.jsonl"))
    assert written == {"common": 13, "rare": 12, "rarest": 5}


def test_missing_stratify_key_is_its_own_stratum(write_records, mix):
    folder = write_records("dlg", 20, meta=lambda i: {"department": "x"} if i < 10 else {})
    manifest = mix({"cap": 4, "val_fraction": 0.0,
                    "sources": [{"name": "dlg", "records": str(folder), "stratify_by": ["department"]}]})
    assert {k: v["selected"] for k, v in manifest["sources"][0]["strata"].items()} == {"(missing)": 2, "x": 2}
