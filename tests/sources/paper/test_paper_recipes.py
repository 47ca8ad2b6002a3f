"""`style: paper` on a source entry: a bare mix recipe and a run recipe convert that source the paper's way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from raw_files import write_raw

CMB_ROWS = [{"exam_type": "医师考试", "exam_class": "执业医师", "exam_subject": "内科学", "question": f"第{i}题",
             "answer": "A", "question_type": "单项选择题", "option": {"A": f"甲{i}", "B": f"乙{i}"}} for i in range(6)]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _write(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path


def test_mix_recipe_source_style_paper_converts_the_papers_way(tmp_path, cli):
    write_raw(tmp_path / "raw", {"CMB-train-merge.json": ("json", CMB_ROWS)})
    source = {"name": "cmb", "input": str(tmp_path / "raw"), "style": "paper"}
    recipe = _write(tmp_path / "mix.yaml", {"seed": 0, "val_fraction": 0.0, "sources": [source],
                                            "dedup": {"near": False}})
    result = cli(["data", "mix", recipe, "--out", tmp_path / "mix"])
    assert result.exit_code == 0, result.output
    records = _jsonl(tmp_path / "mix" / "train.jsonl")
    # MCQ paper records carry answer and options in meta, so the mix's answer check keeps them.
    assert len(records) == 6 and all(r["id"].startswith("cmb/paper-") for r in records)
    assert all(r["messages"][0]["content"].startswith("该问题源自医师考试") for r in records)
    stats = json.loads((tmp_path / "mix" / "sources" / "cmb" / "stats.json").read_text(encoding="utf-8"))
    manifest = json.loads((tmp_path / "mix" / "manifest.json").read_text(encoding="utf-8"))
    assert stats["style"] == "paper" and manifest["sources"][0]["origin"]["style"] == "paper"


def test_style_does_not_apply_to_converted_records(tmp_path):
    from collectivesft.errors import ConfigError
    from collectivesft.mix.recipe import recipe_from_dict

    with pytest.raises(ConfigError, match="style only apply to input or hub"):
        recipe_from_dict({"sources": [{"name": "cmb", "records": str(tmp_path), "style": "paper"}]}, "test")


def test_run_recipe_source_style_reaches_the_convert_stage(tmp_path, cli):
    recipe = _write(tmp_path / "run.yaml", {
        "name": "paper-style", "fixtures": {"rows": 6, "seed": 0, "cmb_test": 12},
        "sources": [{"name": "medmcqa", "style": "paper"}, {"name": "medqa"}],
        "mix": {"strategy": "cap", "cap": 50, "seed": 0, "val_fraction": 0.0, "dedup": {"near": False}},
        "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
        "train": {"max_steps": 1}, "eval": {"split": "test", "method": "loglik", "limit": 2}})
    result = cli(["data", "mix", recipe, "--out", tmp_path / "run"])
    assert result.exit_code == 0, result.output
    paper = _jsonl(tmp_path / "run" / "convert" / "medmcqa" / "records.jsonl")
    assert paper and all(r["id"].startswith("medmcqa/paper-") and r["meta"]["style"] == "paper" for r in paper)
    assert all(r["messages"][0]["content"].startswith("This is a question about ") for r in paper)
    ours = _jsonl(tmp_path / "run" / "convert" / "medqa" / "records.jsonl")
    assert ours and not any(r["id"].startswith("medqa/paper-") for r in ours)
    mixed = {r["id"] for r in _jsonl(tmp_path / "run" / "mix" / "train.jsonl")}
    assert {r["id"] for r in paper} <= mixed
