"""End to end through the CLI on converted fixtures: accounting, reproducibility, exports, filters."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

SOURCES = ["cmb", "cmeddialogue", "discmed", "medmcqa", "medqa", "webmedqa"]


@pytest.fixture()
def fixture_recipe(raw_fixtures, tmp_path):
    """A recipe over real fixture data: some sources converted beforehand, others on the fly."""
    from collectivesft.sources.convert import convert_source

    sources = []
    for k, name in enumerate(SOURCES):
        if k % 2 == 0:
            convert_source(name, tmp_path / "converted" / name, input=raw_fixtures / name)
            sources.append({"name": name, "records": str(tmp_path / "converted" / name)})
        else:
            sources.append({"name": name, "input": str(raw_fixtures / name)})
    sources[0]["stratify_by"] = ["exam_class"]
    recipe = {"seed": 7, "cap": 12, "val_fraction": 0.2, "sources": sources}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path


def _all_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_mix_accounts_for_every_record_and_is_reproducible(fixture_recipe, cli, tmp_path, jsonl):
    result = cli(["data", "mix", fixture_recipe, "--out", tmp_path / "a"])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and "train" in result.output
    out = tmp_path / "a"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))

    # The identity holds per source and overall, and agrees with accounting.jsonl line by line.
    assert manifest["identity_holds"]
    accounting = jsonl(out / "accounting.jsonl")
    for src in manifest["sources"]:
        c = src["counts"]
        dropped = sum(c["filtered"].values()) + c["contaminated"] + c["duplicate"] + c["near_duplicate"] + c["over_cap"]
        assert c["input"] == c["train"] + c["val"] + dropped
        fates = Counter(r["fate"] for r in accounting if r["source"] == src["name"])
        assert fates == {k: v for k, v in {"train": c["train"], "val": c["val"], "dropped": dropped}.items() if v}
        assert c["train"] + c["val"] <= 12
    total_input = sum(len(jsonl(Path(s["origin"]["records"]) / "records.jsonl")) if "records" in s["origin"]
                      else len(jsonl(out / "sources" / s["name"] / "records.jsonl")) for s in manifest["sources"])
    assert len(accounting) == total_input == manifest["totals"]["input"]
    assert all(r["reason"] for r in accounting if r["fate"] == "dropped")
    kept = {r["id"] for r in accounting if r["fate"] in ("train", "val")}
    assert kept == {r["id"] for r in jsonl(out / "train.jsonl") + jsonl(out / "val.jsonl")}

    # The manifest records what went in and with what.
    assert manifest["recipe"]["seed"] == 7 and manifest["seed"] == 7
    assert {"python", "numpy", "datasketch", "pyarrow"} <= set(manifest["versions"])
    assert all(len(v) == 64 for s in manifest["sources"] for v in s["checksums"].values())
    assert manifest["outputs"]["train.jsonl"] == hashlib.sha256((out / "train.jsonl").read_bytes()).hexdigest()
    assert manifest["sources"][0]["strata"]
    for src in manifest["sources"]:
        st, c = src["stages"], src["counts"]
        assert st["input"] >= st["after_filters"] >= st["after_decontamination"] >= st["after_exact_dedup"] \
            >= st["after_near_dedup"] >= st["selected"] == st["train"] + st["val"]
        assert st["after_near_dedup"] - st["selected"] == c["over_cap"]

    # Same recipe + seed + inputs => byte-identical outputs, whatever the output folder.
    assert cli(["data", "mix", fixture_recipe, "--out", tmp_path / "b"]).exit_code == 0
    first, second = _all_files(out), _all_files(tmp_path / "b")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert str(tmp_path / "a") not in (out / "manifest.json").read_text(encoding="utf-8")

    # A different seed changes the sample.
    assert cli(["data", "mix", fixture_recipe, "--out", tmp_path / "c", "--set", "seed=8"]).exit_code == 0
    assert (tmp_path / "c" / "train.jsonl").read_bytes() != (out / "train.jsonl").read_bytes()


def test_exports_follow_their_schemas(fixture_recipe, cli, tmp_path, jsonl):
    import pyarrow.parquet as pq

    assert cli(["data", "mix", fixture_recipe, "--out", tmp_path / "m"]).exit_code == 0
    out = tmp_path / "m"
    train, val = jsonl(out / "train.jsonl"), jsonl(out / "val.jsonl")

    # LLaMA-Factory: dataset_info.json entries point at alpaca files whose sha1 matches.
    info = json.loads((out / "llamafactory" / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"collectivesft_train", "collectivesft_val"}
    for split, rows in (("train", train), ("val", val)):
        entry = info[f"collectivesft_{split}"]
        data_file = out / "llamafactory" / entry["file_name"]
        assert entry["file_sha1"] == hashlib.sha1(data_file.read_bytes()).hexdigest()
        assert entry["formatting"] == "alpaca"
        assert entry["columns"] == {"prompt": "instruction", "query": "input", "response": "output",
                                    "system": "system", "history": "history"}
        alpaca = json.loads(data_file.read_text(encoding="utf-8"))
        assert len(alpaca) == len(rows)
        for row, rec in zip(alpaca, rows):
            assert set(row) == set(entry["columns"].values())
            turns = [m for m in rec["messages"] if m["role"] != "system"]
            assert row["instruction"] == turns[-2]["content"] and row["output"] == turns[-1]["content"]
            assert len(row["history"]) == len(turns) // 2 - 1
            assert all(isinstance(p, list) and len(p) == 2 for p in row["history"])
    multi = [r for r in json.loads((out / "llamafactory" / "train.json").read_text(encoding="utf-8")) if r["history"]]
    assert multi, "fixture dialogues should give multi-turn rows with history"
    assert any(r["system"] for r in json.loads((out / "llamafactory" / "train.json").read_text(encoding="utf-8"))) \
        == any(m["role"] == "system" for r in train for m in r["messages"])

    # ShareGPT and Parquet carry the same records in the same order.
    share = jsonl(out / "sharegpt.jsonl")
    assert [s["id"] for s in share] == [r["id"] for r in train]
    assert all(c["from"] in ("human", "gpt") for s in share for c in s["conversations"])
    table = pq.read_table(out / "parquet" / "train.parquet")
    assert table.num_rows == len(train)
    assert table.column_names == ["id", "source", "task", "lang", "messages", "meta"]
    first = table.slice(0, 1).to_pylist()[0]
    assert first["messages"] == train[0]["messages"] and json.loads(first["meta"]) == train[0]["meta"]
    assert pq.read_table(out / "parquet" / "val.parquet").num_rows == len(val)

    # The report and its plots.
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Per source", "## Decontamination", "## Diversity", "## Plots"):
        assert heading in report
    pngs = sorted((out / "report").glob("*.png"))
    assert {p.name for p in pngs} == {"composition_sources.png", "composition_tasks.png", "drops.png", "lengths.png"}
    assert all(p.read_bytes().startswith(b"\x89PNG") and f"report/{p.name}" in report for p in pngs)
    div = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["diversity"]
    assert 0 < div["source_entropy"]["after"]["normalised"] <= 1
    assert 0 < div["distinct"]["after"]["distinct_2"] <= 1


def test_filters_drop_with_reasons(write_records, mix, jsonl, tmp_path):
    bad = {
        0: ("   ", {"answer": "A"}),  # whitespace-only user turn
        1: ("第一道题目的题干", {"answer": "G"}),  # not A-F
        2: ("第二道题目的题干", {"answer": "C", "options": {"A": "x", "B": "y"}}),  # letter not among options
        3: ("第三道题目的题干", {}),  # no answer
        4: ("短", {"answer": "A"}),  # too short
    }
    folder = write_records("exam", 10, task="mcq",
                           user=lambda i: bad[i][0] if i in bad else f"这是第{i}道正常的考试题目，内容足够长",
                           meta=lambda i: bad[i][1] if i in bad else {"answer": "AB", "options": {"A": "1", "B": "2"}})
    english = write_records("english", 3, lang="en")
    manifest = mix({"val_fraction": 0.0, "filters": {"min_chars": 32, "langs": ["zh"]},
                    "sources": [{"name": "exam", "records": str(folder)}, {"name": "english", "records": str(english), "allow_empty": True}]})
    reasons = {r["id"]: r["reason"] for r in jsonl(tmp_path / "out" / "accounting.jsonl")}
    assert [reasons[f"exam/r{i:05d}"] for i in range(6)] == [
        "filter:empty-turn", "filter:mcq-answer-invalid", "filter:mcq-answer-not-in-options",
        "filter:mcq-answer-missing", "filter:too-short-chars", None]
    assert manifest["sources"][1]["counts"]["filtered"] == {"lang": 3}
    assert manifest["totals"]["filtered"]["empty-turn"] == 1


def test_token_bounds_use_the_named_tokenizer(write_records, mix, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # one token per character
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    folder = write_records("s", 4, user=lambda i: "字" * (10 + 40 * i), assistant=lambda i: "答")
    manifest = mix({"val_fraction": 0.0, "dedup": {"near": False},
                    "filters": {"tokenizer": str(tmp_path / "tok"), "min_tokens": 20, "max_tokens": 100},
                    "sources": [{"name": "s", "records": str(folder)}]})
    assert manifest["sources"][0]["counts"]["filtered"] == {"too-long-tokens": 1, "too-short-tokens": 1}
    assert "transformers" in manifest["versions"]


def test_manifest_lists_exactly_the_files_written(write_records, mix, tmp_path):
    folder = write_records("s", 20)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.txt").write_text("from an earlier run")
    manifest = mix({"sources": [{"name": "s", "records": str(folder)}], "exports": {"parquet": False}})
    on_disk = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert set(manifest["outputs"]) == on_disk - {"stale.txt", "manifest.json"}
    assert not any(name.startswith("parquet/") for name in manifest["outputs"])


@pytest.mark.parametrize("workers", [1, 2])
def test_invalid_record_names_file_and_line(write_records, mix, workers):
    from collectivesft.errors import RecordError

    folder = write_records("s", 5)
    lines = (folder / "records.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace('"role":"assistant"', '"role":"robot"').replace('"role": "assistant"', '"role": "robot"')
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"records\.jsonl:3: .*messages\[1\]"):
        mix({"dedup": {"workers": workers}, "sources": [{"name": "s", "records": str(folder)}]})
