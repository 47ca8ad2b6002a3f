"""A model is taken the way users type it: a train run folder (its model/), the adapter itself, or
--model BASE --adapter ADAPTER (LLaMA-Factory's adapter_name_or_path); a folder that is none of
these says what it found and what it expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def lora_run(tiny_model, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from collectivesft.cli.main import app
    from collectivesft.io import write_jsonl

    root = tmp_path_factory.mktemp("lora")
    rows = [{"id": f"t/{i}", "source": "t", "task": "mcq", "lang": "zh", "meta": {},
             "messages": [{"role": "user", "content": "高血压首选什么药？"}, {"role": "assistant", "content": "答案是A"}]}
            for i in range(8)]
    write_jsonl(root / "mix" / "train.jsonl", rows)
    args = ["train", "--mixture", root / "mix", "--out", root / "run"]
    for kv in (f"model={tiny_model}", "finetuning=lora", "max_steps=1", "batch_size=4", "grad_accum=1",
               "validation=false", "cpu_threads=1", "cutoff=128", "warmup_ratio=0.0"):
        args += ["--set", kv]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return root / "run"


@pytest.fixture(scope="module")
def cmb_small(tmp_path_factory) -> Path:
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    return write_cmb_eval(tmp_path_factory.mktemp("cmb") / "CMB", n_test=28, seed=0)


def _eval(cli, out: Path, cmb: Path, *model_args) -> list[str]:
    result = cli(["eval", "cmb", *model_args, "--data", cmb, "--limit", 3, "--out", out, "--device", "cpu",
                  "--method", "generate", "--max-new-tokens", 6])
    assert result.exit_code == 0, result.output
    return [json.loads(line)["output"] for line in (out / "predictions.jsonl").read_text().splitlines()]


def test_a_train_run_folder_adapter_and_base_plus_adapter_answer_alike(cli, lora_run, tiny_model, cmb_small,
                                                                        tmp_path):
    by_folder = _eval(cli, tmp_path / "a", cmb_small, "--model", lora_run / "model")
    by_run = _eval(cli, tmp_path / "b", cmb_small, "--model", lora_run)
    by_base = _eval(cli, tmp_path / "c", cmb_small, "--model", tiny_model, "--adapter", lora_run)
    assert by_folder == by_run == by_base
    config = json.loads((tmp_path / "c" / "run.json").read_text())["config"]
    assert config["model"] == str(tiny_model) and config["adapter"] == str(lora_run / "model")


def test_a_folder_that_is_no_model_says_what_it_found_and_what_it_expected(lora_run, cmb_small, tmp_path,
                                                                             monkeypatch, capsys):
    from fault_checks import run_main

    code, _, err = run_main(["eval", "cmb", "--model", lora_run.parent, "--data", cmb_small, "--out",
                             tmp_path / "x", "--device", "cpu"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert "found mix/, run/" in err and "a train run folder" in err and "adapter_config.json" in err
