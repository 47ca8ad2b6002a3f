"""InternLM2's layout and 4.x-era code (the stand-in in fixtures/internlm2_model.py) through every
stage: eval (three methods), train (full and LoRA with gradient checkpointing and the paper's
template), evaluation and plain reload of the trained folder, serve, model check, convert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from internlm2_chain import BYTE_TOKEN, PAPER, eval_cmb, reload_plain, serve_reply, sets, train, write_mixture


@pytest.fixture(scope="module")
def internlm2(tmp_path_factory) -> Path:
    from collectivesft.fixtures.internlm2_model import build_internlm2

    return build_internlm2(tmp_path_factory.mktemp("internlm2") / "standin")


@pytest.fixture(scope="module")
def cmb_small(tmp_path_factory) -> Path:
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    return write_cmb_eval(tmp_path_factory.mktemp("cmb") / "CMB", n_test=28, seed=0)


@pytest.fixture(scope="module")
def cli():
    from typer.testing import CliRunner

    from collectivesft.cli.main import app

    runner = CliRunner()
    return lambda args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(cli, internlm2, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("internlm2-runs")
    mixture = write_mixture(root / "mix")
    out = {}
    for mode in ("full", "lora"):
        train(cli, internlm2, mixture, root / mode, mode)
        out[mode] = root / mode / "model"
    return out


def test_the_stand_in_breaks_on_plain_transformers_as_internlms_code_does(internlm2, monkeypatch):
    import sys

    import transformers
    from transformers import AutoModelForCausalLM

    # Another test in this process may have installed the compatibility layer: take it away here.
    monkeypatch.delitem(sys.modules, "transformers.modeling_attn_mask_utils", raising=False)
    monkeypatch.delattr(transformers, "modeling_attn_mask_utils", raising=False)

    with pytest.raises(ModuleNotFoundError, match="modeling_attn_mask_utils"):
        AutoModelForCausalLM.from_pretrained(internlm2, trust_remote_code=True)


def test_loaded_rotary_buffers_are_computed_not_uninitialised_memory(internlm2):
    """transformers 5 builds on the meta device and leaves non-persistent buffers empty (garbage)."""
    import torch

    from collectivesft.models.loading import load_causal_lm

    model = load_causal_lm(internlm2, True, dtype=torch.float32)
    config = json.loads((internlm2 / "config.json").read_text())
    dim = config["hidden_size"] // config["num_attention_heads"]
    expected = 1.0 / (config["rope_theta"] ** (torch.arange(0, dim, 2).float() / dim))
    buffers = [b for name, b in model.named_buffers() if name.endswith("inv_freq")]
    assert len(buffers) == config["num_hidden_layers"]
    for buffer in buffers:
        assert torch.allclose(buffer, expected)


def test_cached_generation_equals_uncached_argmax(internlm2):
    import torch

    from collectivesft.models.loading import load_causal_lm

    model = load_causal_lm(internlm2, True, dtype=torch.float32).eval()
    prompt = torch.tensor([[1, 50, 60, 70, 80]])
    out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=5,
                         do_sample=False)
    first = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
    assert first.logits.shape[1] == 1 and type(first.past_key_values).__name__ == "DynamicCache"
    full = model(input_ids=out, use_cache=False).logits[0, prompt.shape[1] - 1:-1].argmax(-1)
    assert full.tolist() == out[0, prompt.shape[1]:].tolist()


@pytest.mark.parametrize("method", ["generate", "loglik", "cloze"])
def test_eval_runs_every_method(cli, internlm2, cmb_small, tmp_path, method):
    rows = eval_cmb(cli, internlm2, cmb_small, tmp_path / method, method)
    if method == "generate":
        assert all(r["output"] for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["full", "lora"])
def test_trained_folder_evaluates_and_reloads_with_plain_transformers(cli, runs, cmb_small, tmp_path, mode):
    eval_cmb(cli, runs[mode], cmb_small, tmp_path / "eval", "generate")
    reload_plain(runs[mode])


def test_serve_answers_as_in_process(internlm2):
    served, in_process = serve_reply(internlm2)
    assert served == in_process and not BYTE_TOKEN.search(served)


def test_packing_is_refused_for_a_model_that_cannot_keep_records_apart(cli, internlm2, tmp_path):
    mixture = write_mixture(tmp_path / "mix")
    result = cli(["train", *sets([f"model={internlm2}", "trust_remote_code=true", "packing=true", "max_steps=1",
                                  "cpu_threads=1", "chat_template=intern2-llamafactory-0.8", "cutoff=128"]),
                  "--mixture", mixture, "--out", tmp_path / "run"])
    assert result.exit_code != 0
    assert "does not keep packed records apart" in str(result.exception)


def test_model_check_on_the_paper_recipe_prints_every_check(cli, internlm2):
    result = cli(["model", "check", internlm2, "--recipe", PAPER, "--gpu-mem", "80GB",
                  "--set", "cpu_threads=1"])
    assert result.exit_code == 0, result.output
    for name in ("tokenizer", "chat template", "load", "forward + backward", "generate", "save + reload",
                 "GPU memory"):
        assert name in result.output
    assert "full + gradient checkpointing" in result.output and "ZeRO-2 x 8 GPU" in result.output
    assert "[" in result.output.split("what the loss trains")[1]  # the trained span is marked
    as_json = json.loads(cli(["model", "check", internlm2, "--trust-remote-code", "--json"]).stdout)
    assert {c["name"]: c["status"] for c in as_json}["forward + backward"] == "ok"


def test_model_check_fails_a_model_that_cannot_load(cli, internlm2, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(internlm2, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    result = cli(["model", "check", broken, "--trust-remote-code"])
    assert result.exit_code == 1
    assert "load" in result.output and "fail" in result.output


def test_convert_to_llama_matches_the_original_logits_and_needs_no_remote_code(cli, internlm2, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "llama"
    refused = cli(["model", "convert", internlm2, out, "--to", "llama"])
    assert refused.exit_code != 0 and "--trust-remote-code" in str(refused.exception) and not out.exists()
    result = cli(["model", "convert", internlm2, out, "--to", "llama", "--trust-remote-code"])
    assert result.exit_code == 0, result.output
    assert "logits match the original's" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama" and "auto_map" not in config
    model = AutoModelForCausalLM.from_pretrained(out)  # no trust_remote_code
    assert type(model).__name__ == "LlamaForCausalLM"
    reload_plain(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template and tokenizer("x").input_ids[0] == tokenizer.bos_token_id == 1
    assert model(torch.tensor([[1, 5, 6]])).logits.isfinite().all()


def test_convert_fails_loudly_when_the_logits_differ(cli, internlm2, tmp_path, monkeypatch):
    from collectivesft.models import convert

    original = convert.split_wqkv

    def swapped(tensor, heads, kv_heads, head_dim):  # k and v exchanged: a plausible bug
        q, k, v = original(tensor, heads, kv_heads, head_dim)
        return q, v, k

    monkeypatch.setattr(convert, "split_wqkv", swapped)
    out = tmp_path / "llama"
    result = cli(["model", "convert", internlm2, out, "--to", "llama", "--trust-remote-code"])
    assert isinstance(result.exception, convert.ConversionMismatchError)
    assert not out.exists() and not (tmp_path / "llama.partial").exists()


@pytest.mark.parametrize("missing, pip_name, load", [
    ("google.protobuf", "protobuf", "tokenizer"),
    ("sentencepiece", "sentencepiece", "tokenizer"),
    ("einops", "einops", "model"),
])
def test_a_missing_optional_dependency_is_named_with_the_extra(internlm2, tmp_path, monkeypatch, missing, pip_name,
                                                               load):
    """Not transformers' "tiktoken is required" (what a missing protobuf gives there)."""
    import importlib.util
    import shutil

    from collectivesft.errors import ConfigError
    from collectivesft.models import loading

    folder = tmp_path / "m"
    shutil.copytree(internlm2, folder)
    modeling = folder / "modeling_internlm2.py"
    modeling.write_text("import einops  # as InternLM's file does\n" + modeling.read_text(encoding="utf-8"),
                        encoding="utf-8")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    with pytest.raises(ConfigError, match=rf"needs {pip_name}.*pip install 'collectivesft\[internlm\]'"):
        (loading.load_tokenizer if load == "tokenizer" else loading.load_causal_lm)(folder, True)


def test_a_folder_saved_with_the_corrupt_tokenizer_loads_again_from_its_sentencepiece_model(internlm2, tmp_path):
    """What earlier versions saved after training InternLM2 (the bare BPE's tokenizer.json under the
    remote fast class) loads again, faithfully, while tokenizer.model is beside it."""
    import shutil

    import sentencepiece
    from transformers import AutoTokenizer

    from collectivesft.models.loading import load_tokenizer

    folder = tmp_path / "saved"
    shutil.copytree(internlm2, folder)
    AutoTokenizer.from_pretrained(internlm2, trust_remote_code=True).save_pretrained(folder)
    notes: list[str] = []
    tokenizer = load_tokenizer(folder, True, log=notes.append)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    text = "Hello world, 你好！\n\n第二行"
    assert tokenizer(text, add_special_tokens=False).input_ids == sp.encode(text)
    assert notes and "rebuilt from" in notes[0]
