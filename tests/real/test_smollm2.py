"""A real pretrained model through the public CLI: what must hold for any real model (not accuracy).

SmolLM2-135M-Instruct (Apache-2.0): its own chat template is used, labels cover assistant turns
only, generation stops at its end token, replies never end in a cut character, loss falls on a
tiny repeated set, the LoRA adapter reloads and stops, and served replies equal in-process ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.real

QUESTION = [{"role": "user", "content": "What is the first-line drug for hypertension in this clinic?"}]
ANSWER = "Amlodipine, 5 mg once daily."


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


def test_conversion_report_and_own_template(smollm2):
    report = json.loads((smollm2 / "gguf_conversion.json").read_text())
    assert report["max_abs_logit_diff"] == 0.0 and report["architecture"] == ["LlamaForCausalLM"]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2)
    assert tok.eos_token == "<|im_end|>" and "<|im_start|>" in tok.chat_template


def test_labels_cover_assistant_turns_only(smollm2):
    from transformers import AutoTokenizer

    from collectivesft.train.masking import encode_messages

    tok = AutoTokenizer.from_pretrained(smollm2)
    chat = [*QUESTION, {"role": "assistant", "content": ANSWER}, {"role": "user", "content": "And the dose?"},
            {"role": "assistant", "content": "5 mg."}]
    ids, mask = encode_messages(tok, chat)
    learned = tok.decode([t for t, m in zip(ids, mask) if m])
    assert learned == ANSWER + "<|im_end|>" + "5 mg." + "<|im_end|>"


@pytest.fixture(scope="module")
def base_generate(real_cli, smollm2, cmb, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base-gen")
    real_cli(["eval", "cmb", "--model", smollm2, "--data", cmb, "--limit", 10, "--max-new-tokens", 48,
              "--device", "cpu", "--out", out])
    return out


def test_eval_generate_uses_the_models_template_and_cuts_no_character(base_generate):
    record = json.loads((base_generate / "generation.json").read_text())
    assert record["chat_template"] == "the tokenizer's own"
    assert record["generation_config"]["do_sample"] is False and 2 in record["generation_config"]["eos_token_id"]
    outputs = [r["output"] for r in _rows(base_generate)]
    assert len(outputs) == 10 and all(outputs)
    assert not any(o.endswith("\ufffd") for o in outputs)


@pytest.fixture(scope="module")
def base_loglik(real_cli, smollm2, cmb, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base-loglik")
    real_cli(["eval", "cmb", "--model", smollm2, "--data", cmb, "--limit", 10, "--method", "loglik",
              "--device", "cpu", "--out", out])
    return out


def test_eval_loglik_answers_every_question(base_loglik):
    rows = _rows(base_loglik)
    assert len(rows) == 10 and all(r["model_answer"] for r in rows) and all(r["logprobs"] for r in rows)


@pytest.fixture(scope="module")
def lora_run(real_cli, smollm2, tmp_path_factory) -> tuple[Path, dict]:
    from collectivesft.io import write_jsonl

    work = tmp_path_factory.mktemp("lora")
    rows = [{"id": f"clinic/{i}", "source": "clinic", "task": "qa", "lang": "en", "meta": {},
             "messages": [*QUESTION, {"role": "assistant", "content": ANSWER}]} for i in range(16)]
    write_jsonl(work / "mix" / "train.jsonl", rows)
    sets = ["model=" + str(smollm2), "finetuning=lora", "lora.r=8", "lr=2e-3", "max_steps=6", "batch_size=2",
            "grad_accum=1", "warmup_ratio=0", "logging_steps=1", "validation=false", "cutoff=128", "packing=false"]
    real_cli(["train", *[a for s in sets for a in ("--set", s)], "--mixture", work / "mix", "--out", work / "run"])
    return work / "run", json.loads((work / "run" / "metrics.json").read_text())


def test_lora_loss_falls_and_the_run_folder_keeps_the_end_token(lora_run):
    run, metrics = lora_run
    assert metrics["final"]["last_logged_loss"] < 0.5 * metrics["final"]["first_logged_loss"]
    assert metrics["setup"]["chat_template"] == "the tokenizer's own"
    eos = json.loads((run / "model" / "generation_config.json").read_text())["eos_token_id"]
    assert 2 in ([eos] if isinstance(eos, int) else eos)  # <|im_end|>: the adapter folder keeps it


def test_adapter_reloads_answers_as_trained_and_stops(lora_run, smollm2):
    from collectivesft.eval.backends.registry import get_backend
    from collectivesft.eval.config import InferenceConfig

    adapter = get_backend(InferenceConfig(model=str(lora_run[0] / "model"), device="cpu"))
    reply = adapter.complete([QUESTION], max_new_tokens=40)[0]
    assert reply.text == ANSWER and reply.finish_reason == "stop" and reply.completion_tokens < 40
    base = get_backend(InferenceConfig(model=str(smollm2), device="cpu")).generate([QUESTION], max_new_tokens=40)[0]
    assert base != ANSWER  # the adapter, not the base model, gave that answer


def test_eval_of_the_adapter_differs_from_the_base(real_cli, lora_run, cmb, base_loglik, tmp_path):
    real_cli(["eval", "cmb", "--model", lora_run[0] / "model", "--data", cmb, "--limit", 10, "--method", "loglik",
              "--device", "cpu", "--out", tmp_path])
    assert [r["logprobs"] for r in _rows(tmp_path)] != [r["logprobs"] for r in _rows(base_loglik)]


def test_served_answers_equal_in_process_answers(real_cli, smollm2, cmb, base_generate, tmp_path):
    import httpx

    from collectivesft.eval.backends.registry import get_backend
    from collectivesft.eval.config import InferenceConfig
    from collectivesft.eval.server import start_in_thread

    backend = get_backend(InferenceConfig(model=str(smollm2), device="cpu", batch_size=8))
    server, url = start_in_thread(backend, "smollm2")
    try:
        real_cli(["eval", "cmb", "--backend", "openai", "--base-url", url, "--model", "smollm2", "--data", cmb,
                  "--limit", 10, "--max-new-tokens", 48, "--concurrency", 4, "--out", tmp_path])
        short = httpx.post(url + "/chat/completions", timeout=300, json={
            "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 64}).json()
    finally:
        server.shutdown()
        server.server_close()
    assert [r["output"] for r in _rows(tmp_path)] == [r["output"] for r in _rows(base_generate)]
    assert short["choices"][0]["finish_reason"] == "stop" and short["usage"]["completion_tokens"] < 64


def test_the_tokenizer_probe_passes_a_real_byte_level_tokenizer_unchanged(smollm2):
    """SmolLM2 ships no sentencepiece model: its tokenizer is checked to round-trip the probe and
    kept as loaded (never rebuilt)."""
    from transformers import AutoTokenizer

    from collectivesft.models.faithful_tokenizer import PROBE, faithful_tokenizer, probe_roundtrip

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    assert probe_roundtrip(tokenizer) == []
    assert faithful_tokenizer(tokenizer, smollm2, log=pytest.fail) is tokenizer
    assert all(tokenizer.decode(tokenizer(t, add_special_tokens=False).input_ids) == t for t in PROBE)


def test_model_check_on_a_real_model_says_what_to_change_to_fit_a_24gb_gpu(real_cli, smollm2):
    import json

    from typer.testing import CliRunner

    from collectivesft.cli.main import app

    # LoRA at the default 16 x 1,024 tokens keeps ~30 GiB of activations and 49k-wide logits.
    args = ["model", "check", str(smollm2), "--json", "--gpu-mem", "24GB", "--set", "finetuning=lora"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1
    memory = {c["name"]: c for c in json.loads(refused.stdout)}["GPU memory"]
    assert memory["status"] == "fail" and "gradient_checkpointing: true" in memory["detail"]
    result = real_cli([*args, "--set", "gradient_checkpointing=true"])
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert all(c["status"] == "ok" for c in checks.values()), checks
