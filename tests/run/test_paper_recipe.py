"""The shipped paper recipe runs offline: fixtures for the raw data, a tiny InternLM2-layout model
with 4.x-era code of its own and a sentencepiece tokenizer (fixtures/internlm2_model.py) standing
in for InternLM2.5-7B, gradient checkpointing on as shipped, every other setting as shipped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

PAPER = Path(__file__).parents[2] / "recipes" / "paper-internlm2_5-7b.yaml"
MAX_SAMPLES = 6


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    from collectivesft.pipeline.run import run_recipe

    recipe = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    root = tmp_path_factory.mktemp("paper")
    recipe["fixtures"] = {"rows": 10, "seed": 0, "cmb_test": 12}
    recipe["sources"] = [{"name": s["name"], "style": s["style"]} for s in recipe["sources"]]
    recipe["model"] = {"tiny": {"arch": "internlm2", "size": "tiny", "remote_code": True}}
    recipe["mix"]["cap"] = MAX_SAMPLES  # so max_samples cuts the fixture files
    del recipe["launch"], recipe["eval"]["data"]
    # A CPU-sized run: two steps, fp32, a cutoff short enough for infer_seqlen to cut records.
    recipe["train"].update(max_steps=2, batch_size=4, precision="fp32", cutoff=96, cpu_threads=1)
    recipe["eval"].update(method="loglik", limit=4)
    path = root / "paper.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    summary = run_recipe(path, root / "run", log=lambda msg: None)
    return root / "run", recipe, summary


@pytest.mark.slow
def test_paper_recipe_runs_offline_end_to_end(paper_run):
    run, recipe, summary = paper_run
    assert set(summary["evals"]) == {"trained"} and (run / "report.md").is_file()
    config = yaml.safe_load((run / "train" / "config.yaml").read_text(encoding="utf-8"))
    assert {k: config[k] for k in ("chat_template", "truncation", "packing", "trust_remote_code")} == {
        "chat_template": "intern2-llamafactory-0.8", "truncation": "infer_seqlen", "packing": False,
        "trust_remote_code": True}
    metrics = json.loads((run / "train" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["setup"]["per_device_eval_batch_size"] == 1 and metrics["setup"]["packing_mode"] == "none"
    assert metrics["data"]["train"]["truncated_per_turn"] > 0 and metrics["data"]["train"]["dropped"] == {}
    assert all(math.isfinite(p["loss"]) for p in metrics["train_curve"])
    checks = json.loads((run / "check" / "check.json").read_text(encoding="utf-8"))
    assert {c["name"]: c["status"] for c in checks}["forward + backward"] == "ok"


@pytest.mark.slow
def test_paper_mixture_is_first_rows_then_one_global_split(paper_run):
    run, recipe, _ = paper_run
    concatenation = []
    for name in [s["name"] for s in recipe["sources"]]:
        records = _jsonl(run / "convert" / name / "records.jsonl")
        assert records and all(r["id"].startswith(f"{name}/paper-") for r in records), name
        # max_samples counts rows of the paper's file (meta.paper_row), as LLaMA-Factory does.
        concatenation += [r["id"] for r in records if r["meta"]["paper_row"] < MAX_SAMPLES]
    # datasets' train_test_split(test_size=0.1, seed=42): a PCG64 permutation, the first
    # ceil(0.1 n) rows for validation, the rest for training, in permuted order.
    n = len(concatenation)
    order = np.random.default_rng(42).permutation(n)
    n_val = math.ceil(0.1 * n)
    val = [r["id"] for r in _jsonl(run / "mix" / "val.jsonl")]
    train = [r["id"] for r in _jsonl(run / "mix" / "train.jsonl")]
    assert val == [concatenation[i] for i in order[:n_val]]
    assert train == [concatenation[i] for i in order[n_val:]]


@pytest.mark.slow
def test_trained_model_keeps_llamafactorys_intern2_prompt_and_stops_at_eos(paper_run):
    from transformers import AutoTokenizer, GenerationConfig

    run, _, _ = paper_run
    tok = AutoTokenizer.from_pretrained(run / "train" / "model")
    prompt = tok.apply_chat_template([{"role": "user", "content": "问题"}], tokenize=False, add_generation_prompt=True)
    assert prompt == "<s><|im_start|>user\n问题<|im_end|>\n<|im_start|>assistant\n"
    eos = GenerationConfig.from_pretrained(run / "train" / "model").eos_token_id
    assert tok.convert_tokens_to_ids("</s>") in eos and tok.convert_tokens_to_ids("<|im_end|>") in eos
