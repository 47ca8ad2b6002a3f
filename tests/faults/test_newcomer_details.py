"""The small places a new user got stuck (issue 22, item 8): each is counted, explained or fixed,
through the CLI on fixture files."""

from __future__ import annotations

import csv
import io
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from fault_checks import run_main


def _convert(source: str, raw: Path, out: Path, monkeypatch, capsys, *extra) -> tuple[int, str, dict]:
    code, _, err = run_main(["data", "convert", source, "--input", raw, "--out", out, *extra], monkeypatch, capsys)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8")) if (out / "stats.json").is_file() else {}
    return code, err, stats


def test_cmedqa2_questions_in_no_candidates_file_are_counted(raw_fixtures, tmp_path, monkeypatch, capsys):
    raw = tmp_path / "cmedqa2"
    shutil.copytree(raw_fixtures / "cmedqa2", raw)
    # Drop the dev candidates: its questions' answers now belong to no split.
    (raw / "dev_candidates.zip").unlink()
    code, err, stats = _convert("cmedqa2", raw, tmp_path / "out", monkeypatch, capsys)
    assert code == 0, err
    records = [json.loads(x) for x in (tmp_path / "out" / "records.jsonl").read_text().splitlines()]
    unsplit = sum("split" not in r["meta"] for r in records)
    assert unsplit > 0
    assert stats["notes"]["question in no train/dev/test candidates file (meta.split left out)"] == unsplit


def test_cmeddialogue_placeholder_asks_are_counted(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "Data_数据" / "IM_内科"
    folder.mkdir(parents=True)
    rows = [("department", "title", "ask", "answer"), ("心内科", "高血压怎么办", "无", "低盐饮食。"),
            ("心内科", "头痛", "头痛三天，怎么办？", "休息。"), ("心内科", "失眠", "失眠", "规律作息。")]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    (folder / "内科5000-33000.csv").write_bytes(text.getvalue().encode("gb18030"))
    code, err, stats = _convert("cmeddialogue", tmp_path / "Data_数据", tmp_path / "out", monkeypatch, capsys)
    assert code == 0, err
    assert stats["notes"]["ask is the placeholder 无: the title is the question"] == 1
    assert stats["notes"]["ask repeats the title: the ask alone is the question"] == 2  # 头痛 and 失眠


def test_paper_style_medqa_names_the_missing_region(raw_fixtures, tmp_path, monkeypatch, capsys):
    raw = tmp_path / "medqa"
    shutil.copytree(raw_fixtures / "medqa", raw)
    for path in raw.rglob("*"):
        if path.is_file() and ("Taiwan" in str(path) or "US" in str(path)):
            path.unlink()
    archives = list(raw.rglob("*.zip"))
    for archive in archives:  # fixtures may be zipped: keep only Mainland members
        with zipfile.ZipFile(archive) as zin:
            members = [(n, zin.read(n)) for n in zin.namelist() if "Taiwan" not in n and "/US/" not in n]
        with zipfile.ZipFile(archive, "w") as zout:
            for name, data in members:
                zout.writestr(name, data)
    code, err, _ = _convert("medqa", raw, tmp_path / "out", monkeypatch, capsys, "--style", "paper")
    assert code == 2 and "Traceback" not in err
    assert "all three regions" in err and "Taiwan is missing" in err and "region=" in err


def test_a_model_from_gguf_is_readable_as_the_umask_says(tmp_path):
    """safetensors writes 0600; every saved model folder honours the umask (0644 under 022)."""
    import os

    from collectivesft.io import honour_umask

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"x")
    os.chmod(folder / "model.safetensors", 0o600)
    (folder / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(folder / "run.sh", 0o700)
    old = os.umask(0o022)
    try:
        assert honour_umask(folder) == 1
    finally:
        os.umask(old)
    assert stat.S_IMODE((folder / "model.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((folder / "run.sh").stat().st_mode) == 0o700


def test_a_trained_model_folder_is_readable_as_the_umask_says(cli, tiny_model, tmp_path):
    from collectivesft.io import write_jsonl

    rows = [{"id": f"t/{i}", "source": "t", "task": "qa", "lang": "zh", "meta": {},
             "messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]} for i in range(4)]
    write_jsonl(tmp_path / "mix" / "train.jsonl", rows)
    args = ["train", "--mixture", tmp_path / "mix", "--out", tmp_path / "run"]
    for kv in (f"model={tiny_model}", "max_steps=1", "validation=false", "cpu_threads=1", "batch_size=2"):
        args += ["--set", kv]
    assert cli(args).exit_code == 0
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "run" / "model").iterdir() if p.is_file()}
    assert modes["model.safetensors"] == 0o644, modes


def test_a_raw_meddialog_text_file_is_explained_not_shown_as_a_bare_number(tmp_path, monkeypatch, capsys):
    raw = tmp_path / "medicaldialogue"
    raw.mkdir()
    (raw / "train_data.json").write_text("37\n", encoding="utf-8")  # what the tester's first row parsed to
    code, err, _ = _convert("medicaldialogue", raw, tmp_path / "out", monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert "does not look like MedDialog: it reads '37'" in err and "expected" in err


def test_a_run_recipe_takes_numeric_converter_options_unquoted(tmp_path):
    import yaml

    from collectivesft.pipeline.recipe import load_run_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "n", "fixtures": {"rows": 5}, "model": {"tiny": {"arch": "qwen2"}},
                                      "sources": [{"name": "cmid", "options": {"max_depth": 128}}]}))
    assert load_run_recipe(recipe).sources[0].options == {"max_depth": "128"}
