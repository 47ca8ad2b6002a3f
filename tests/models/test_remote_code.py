"""A model that ships its own code goes through train, eval (generate, loglik), serve and run
only when trust_remote_code is given, and is refused with a clear message otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from collectivesft.errors import ConfigError

QUICK = ["--set", "cutoff=128", "--set", "batch_size=8", "--set", "grad_accum=1", "--set", "logging_steps=1",
         "--set", "warmup_ratio=0.0", "--set", "cpu_threads=1", "--set", "validation=false"]


@pytest.fixture(scope="module")
def cmb_small(tmp_path_factory) -> Path:
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    return write_cmb_eval(tmp_path_factory.mktemp("cmb") / "CMB", n_test=28, seed=0)


@pytest.fixture(scope="module")
def mixture(tmp_path_factory) -> Path:
    from collectivesft.io import write_jsonl

    out = tmp_path_factory.mktemp("mix")
    rows = [{"id": f"t/{i}", "source": "t", "task": "mcq", "lang": "zh", "meta": {},
             "messages": [{"role": "user", "content": "高血压首选什么药？"}, {"role": "assistant", "content": "答案是A"}]}
            for i in range(16)]
    write_jsonl(out / "train.jsonl", rows)
    return out


@pytest.fixture(scope="module")
def remote_lora(cli, remote_model, mixture, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("remote-lora") / "run"
    result = cli(["train", "--set", f"model={remote_model}", "--set", "trust_remote_code=true", "--set",
                  "finetuning=lora", "--set", "max_steps=2", *QUICK, "--mixture", mixture, "--out", out])
    assert result.exit_code == 0, result.output
    return out / "model"


@pytest.fixture(scope="module")
def cli():
    from typer.testing import CliRunner

    from collectivesft.cli.main import app

    runner = CliRunner()
    return lambda args: runner.invoke(app, [str(a) for a in args])


def test_the_factory_model_needs_its_own_code(remote_model):
    from transformers import AutoModelForCausalLM

    config = json.loads((remote_model / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_tinyremote.TinyRemoteForCausalLM"
    with pytest.raises(ValueError, match="custom code"):
        AutoModelForCausalLM.from_pretrained(remote_model)
    model = AutoModelForCausalLM.from_pretrained(remote_model, trust_remote_code=True)
    assert type(model).__name__ == "TinyRemoteForCausalLM"


def test_eval_refuses_it_without_the_flag_and_says_which_flag(cli, remote_model, cmb_small, tmp_path):
    result = cli(["eval", "cmb", "--model", remote_model, "--data", cmb_small, "--limit", 2, "--out", tmp_path,
                  "--device", "cpu"])
    assert result.exit_code != 0
    assert "ships its own code" in str(result.exception) and "--trust-remote-code" in str(result.exception)
    assert not (tmp_path / "predictions.jsonl").exists()


def test_train_refuses_it_without_trust_remote_code(cli, remote_model, mixture, tmp_path):
    result = cli(["train", "--set", f"model={remote_model}", "--set", "max_steps=1", *QUICK,
                  "--mixture", mixture, "--out", tmp_path / "run"])
    assert isinstance(result.exception, ConfigError) and "trust_remote_code: true" in str(result.exception)


@pytest.mark.parametrize("method", ["generate", "loglik"])
def test_eval_of_the_trained_adapter_with_the_flag(cli, remote_lora, cmb_small, tmp_path, method):
    # The adapter's base model is the remote-code folder: refused without the flag too.
    refused = cli(["eval", "cmb", "--model", remote_lora, "--data", cmb_small, "--limit", 3, "--out",
                   tmp_path / "no", "--device", "cpu", "--method", method])
    assert "ships its own code" in str(refused.exception)
    result = cli(["eval", "cmb", "--model", remote_lora, "--data", cmb_small, "--limit", 3, "--out", tmp_path / "ok",
                  "--device", "cpu", "--method", method, "--max-new-tokens", 6, "--trust-remote-code"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "ok" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert json.loads((tmp_path / "ok" / "run.json").read_text())["config"]["trust_remote_code"] is True


def test_serve_loads_it_only_with_the_flag(remote_model):
    from collectivesft.eval.backends.registry import get_backend
    from collectivesft.eval.config import InferenceConfig
    from collectivesft.eval.server import start_in_thread

    with pytest.raises(ConfigError, match="ships its own code"):
        get_backend(InferenceConfig(model=str(remote_model), device="cpu"))
    backend = get_backend(InferenceConfig(model=str(remote_model), device="cpu", trust_remote_code=True))
    server, url = start_in_thread(backend, "remote")
    try:
        reply = httpx.post(url + "/chat/completions", json={"messages": [{"role": "user", "content": "你好"}],
                                                            "max_tokens": 3}, timeout=60).json()
    finally:
        server.shutdown()
        server.server_close()
    assert reply["choices"][0]["message"]["content"] == backend.generate([[{"role": "user", "content": "你好"}]], 3)[0]


REMOTE_RECIPE = {
    "name": "remote",
    "fixtures": {"rows": 8, "seed": 0, "cmb_test": 14},
    "sources": [{"name": "cmb"}],
    "mix": {"strategy": "cap", "cap": 10, "seed": 0, "val_fraction": 0.0},
    "model": {"tiny": {"arch": "qwen2", "size": "tiny", "remote_code": True}},
    "train": {"lr": 1e-3, "max_steps": 1, "batch_size": 4, "grad_accum": 1, "cutoff": 128, "packing": False,
              "logging_steps": 1, "validation": False, "cpu_threads": 1, "finetuning": "lora"},
    "eval": {"method": "loglik", "limit": 4, "compare_base": True},
}


@pytest.mark.slow
def test_run_recipe_carries_the_trainers_trust_to_the_eval_stages(tmp_path):
    import yaml

    from collectivesft.pipeline.run import run_recipe

    recipe = dict(REMOTE_RECIPE, train=dict(REMOTE_RECIPE["train"], trust_remote_code=True))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    summary = run_recipe(path, tmp_path / "run", log=lambda msg: None)
    assert set(summary["evals"]) == {"base", "trained"}
    for label in ("base", "trained"):
        run = json.loads((tmp_path / "run" / "eval" / label / "run.json").read_text())
        assert run["config"]["trust_remote_code"] is True and run["n_questions"] == 4

    refused = tmp_path / "refused.yaml"
    refused.write_text(yaml.safe_dump(REMOTE_RECIPE), encoding="utf-8")
    with pytest.raises(ConfigError, match="ships its own code"):
        run_recipe(refused, tmp_path / "run2", log=lambda msg: None)
