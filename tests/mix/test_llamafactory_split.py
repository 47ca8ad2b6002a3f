"""`split: llamafactory`: the paper's mixture, LLaMA-Factory v0.8.3's `max_samples` + `val_size`.

The expected rows were produced by LLaMA-Factory itself (v0.8.3, datasets 2.20.0; `get_dataset`
with max_samples, val_size 0.1 and its default seed 42, run outside the repository) on alpaca
files of the same sizes; they are pinned here as ids and digests.
"""

from __future__ import annotations

import hashlib

import pytest

from collectivesft.errors import ConfigError

PAPER_MIX = {"seed": 42, "strategy": "cap", "selection": "first", "val_fraction": 0.1, "split": "llamafactory",
             "filters": {"drop_empty_turns": False, "valid_mcq_answers": False},
             "dedup": {"exact": False, "near": False},
             "exports": {"llamafactory": False, "sharegpt": False, "parquet": False, "accounting": False}}


def ids(path) -> list[str]:
    import json

    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def digest(rows: list[str]) -> str:
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def test_four_files_first_eight_rows_then_one_global_split(write_records, mix, tmp_path):
    sizes = {"a": 12, "b": 10, "c": 5, "d": 6}
    sources = [{"name": n, "records": str(write_records(n, k))} for n, k in sizes.items()]
    manifest = mix(dict(PAPER_MIX, cap=8, sources=sources))
    # LLaMA-Factory: rows 7, 19 and 22 of the 27-row concatenation (a0-7, b0-7, c0-4, d0-5).
    assert ids(tmp_path / "out" / "val.jsonl") == ["a/r00007", "c/r00003", "d/r00001"]
    train = ids(tmp_path / "out" / "train.jsonl")
    assert len(train) == 24 and train[:4] == ["d/r00000", "c/r00001", "a/r00005", "b/r00007"]
    assert {s["name"]: s["counts"]["over_cap"] for s in manifest["sources"]} == {"a": 4, "b": 2, "c": 0, "d": 0}
    assert manifest["identity_holds"]


def test_paper_scale_selection_equals_llamafactory_row_for_row(write_records, mix, tmp_path):
    sizes = {"s1": 1200, "s2": 300, "s3": 1000, "s4": 50, "s5": 2000}
    sources = [{"name": n, "records": str(write_records(n, k, user=lambda i: f"row {i}"))} for n, k in sizes.items()]
    mix(dict(PAPER_MIX, cap=1000, sources=sources))
    # LLaMA-Factory's validation rows were s1:510, s4:26, s3:698, s2:220, ... (335 rows) and its
    # train rows s3:981, s1:519, s1:310, s3:332, ... (3,015 rows), in this order.
    val = ids(tmp_path / "out" / "val.jsonl")
    train = ids(tmp_path / "out" / "train.jsonl")
    assert val[:4] == ["s1/r00510", "s4/r00026", "s3/r00698", "s2/r00220"]
    assert train[:4] == ["s3/r00981", "s1/r00519", "s1/r00310", "s3/r00332"]
    assert (len(val), digest([_plain(r) for r in val])) == (335, "650a2628c6d46a85")
    assert (len(train), digest([_plain(r) for r in train])) == (3015, "82126479a35cd8cb")


def _plain(rid: str) -> str:
    """"s1/r00510" -> "s1/510", the row naming of the pinned digests."""
    source, row = rid.split("/r")
    return f"{source}/{int(row)}"


def test_per_source_val_fraction_is_refused_with_the_global_split(write_records, mix):
    sources = [{"name": "a", "records": str(write_records("a", 5)), "val_fraction": 0.2}]
    with pytest.raises(ConfigError, match="per-source val_fraction only applies to split per_source"):
        mix(dict(PAPER_MIX, sources=sources))


def test_too_few_records_for_the_split_says_so(write_records, mix):
    with pytest.raises(ConfigError, match="split llamafactory: val_fraction 0.1 of 1 records"):
        mix(dict(PAPER_MIX, sources=[{"name": "a", "records": str(write_records("a", 1))}]))


def test_paper_rows_llamafactory_drops_still_count_towards_max_samples(write_records, mix, tmp_path):
    # A --style paper source whose paper file had rows 3 and 4 without an answer: no records,
    # but LLaMA-Factory's max_samples 5 takes file rows 0-4, i.e. three records.
    rows = [0, 1, 2, 5, 6, 7]
    source = {"name": "a", "records": str(write_records("a", 6, meta=lambda i: {"paper_row": rows[i]}))}
    manifest = mix(dict(PAPER_MIX, cap=5, val_fraction=0.0, sources=[source]))
    assert ids(tmp_path / "out" / "train.jsonl") == ["a/r00000", "a/r00001", "a/r00002"]
    assert manifest["sources"][0]["selected_by"] == "paper_row" and manifest["sources"][0]["counts"]["over_cap"] == 3
