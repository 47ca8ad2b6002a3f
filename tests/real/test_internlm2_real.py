"""InternLM2.5's own modeling and configuration code (from the pinned xtuner wheel) at tiny size,
through every stage: eval (three methods), train (full and LoRA, gradient checkpointing, the paper's
template), evaluation and plain reload of the trained folder, serve, model check, convert to Llama,
and the paper recipe end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from internlm2_chain import BYTE_TOKEN, PAPER, eval_cmb, reload_plain, serve_reply, train, write_mixture

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def cli():
    from typer.testing import CliRunner

    from collectivesft.cli.main import app

    runner = CliRunner()
    return lambda args: runner.invoke(app, [str(a) for a in args])


def test_the_real_code_is_internlms_and_breaks_on_plain_transformers(internlm2_real, monkeypatch):
    import sys

    import transformers
    from transformers import AutoModelForCausalLM

    # Another test in this process may have installed the compatibility layer: take it away here.
    monkeypatch.delitem(sys.modules, "transformers.modeling_attn_mask_utils", raising=False)
    monkeypatch.delattr(transformers, "modeling_attn_mask_utils", raising=False)

    with pytest.raises(ModuleNotFoundError, match="modeling_attn_mask_utils"):
        AutoModelForCausalLM.from_pretrained(internlm2_real, trust_remote_code=True)


def test_the_real_code_and_the_stand_in_compute_the_same_logits(internlm2_real, internlm2_code, tmp_path):
    """Same weights (same seed), InternLM's code against ours: the stand-in is faithful."""
    import torch

    from collectivesft.fixtures.internlm2_model import build_internlm2
    from collectivesft.models.loading import load_causal_lm

    standin = build_internlm2(tmp_path / "standin")
    ids = torch.tensor([[1, 50, 60, 70, 80, 90, 100]])
    real = load_causal_lm(internlm2_real, True, dtype=torch.float32)(input_ids=ids).logits
    ours = load_causal_lm(standin, True, dtype=torch.float32)(input_ids=ids).logits
    assert torch.allclose(real, ours, atol=1e-5)


@pytest.mark.parametrize("method", ["generate", "loglik", "cloze"])
def test_eval_runs_every_method(cli, internlm2_real, cmb, tmp_path, method):
    eval_cmb(cli, internlm2_real, cmb, tmp_path / method, method)


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_train_evaluate_and_reload_the_trained_folder(cli, internlm2_real, cmb, tmp_path, mode):
    train(cli, internlm2_real, write_mixture(tmp_path / "mix"), tmp_path / "run", mode)
    eval_cmb(cli, tmp_path / "run" / "model", cmb, tmp_path / "eval", "generate")
    reload_plain(tmp_path / "run" / "model")


def test_serve(internlm2_real):
    served, in_process = serve_reply(internlm2_real)
    assert served == in_process and not BYTE_TOKEN.search(served)


def test_model_check_on_the_paper_recipe(cli, internlm2_real):
    result = cli(["model", "check", internlm2_real, "--recipe", PAPER, "--gpu-mem", "80GB", "--json"])
    assert result.exit_code == 0, result.output
    statuses = {c["name"]: c["status"] for c in json.loads(result.stdout)}
    assert statuses["forward + backward"] == statuses["save + reload"] == statuses["generate"] == "ok"


def test_convert_to_llama_matches_the_real_codes_logits(cli, internlm2_real, tmp_path):
    result = cli(["model", "convert", internlm2_real, tmp_path / "llama", "--to", "llama", "--trust-remote-code"])
    assert result.exit_code == 0, result.output
    assert "logits match the original's" in result.output
    reload_plain(tmp_path / "llama")


def test_the_paper_recipe_runs_end_to_end_on_the_real_code(internlm2_real, tmp_path):
    """recipes/paper-internlm2_5-7b.yaml with the base model, sizes and steps overridden, nothing else."""
    from collectivesft.pipeline.run import run_recipe

    recipe = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    recipe["fixtures"] = {"rows": 10, "seed": 0, "cmb_test": 12}
    recipe["sources"] = [{"name": s["name"], "style": s["style"]} for s in recipe["sources"]]
    recipe["model"] = {"path": str(internlm2_real)}
    del recipe["launch"], recipe["eval"]["data"]
    recipe["train"].update(max_steps=2, batch_size=4, precision="fp32", cutoff=96, cpu_threads=1)
    recipe["eval"].update(limit=4, max_new_tokens=8)
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    summary = run_recipe(path, tmp_path / "run", log=lambda msg: None)
    assert set(summary["evals"]) == {"trained"}
    predictions = (tmp_path / "run" / "eval" / "trained" / "predictions.jsonl").read_text(encoding="utf-8")
    assert predictions and not BYTE_TOKEN.search(predictions)
    metrics = json.loads((tmp_path / "run" / "train" / "metrics.json").read_text(encoding="utf-8"))
    assert all(p["loss"] == p["loss"] for p in metrics["train_curve"])  # no NaN
