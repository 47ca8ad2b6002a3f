"""`collectivesft model from-gguf`: a GGUF file of the tiny model converts back to a Hugging Face
folder with the original logits, tokenizer and chat template, although transformers itself
refuses to save a GGUF-loaded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("gguf")  # the optional extra; part of the test extra, so CI runs these


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model, tmp_path_factory) -> Path:
    from collectivesft.fixtures.gguf_model import write_tiny_gguf

    return write_tiny_gguf(tiny_model, tmp_path_factory.mktemp("gguf") / "tiny-F32.gguf")


def test_transformers_alone_refuses_to_save_a_gguf_model(tiny_gguf, tmp_path):
    """Why from-gguf exists: if this starts passing, the workaround in models/gguf.py can go."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_gguf.parent, gguf_file=tiny_gguf.name)
    with pytest.raises(ValueError, match="not serializable"):
        model.save_pretrained(tmp_path / "direct")


def test_from_gguf_gives_back_the_original_model(cli, tiny_model, tiny_gguf, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "hf"
    result = cli(["model", "from-gguf", tiny_gguf, out])
    assert "reloaded logits match" in result.output
    report = json.loads((out / "gguf_conversion.json").read_text())
    assert report["max_abs_logit_diff"] == 0.0 and report["architecture"] == ["Qwen2ForCausalLM"]
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    original, converted = AutoTokenizer.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(out)
    text = "以下是中国医学考试的单项选择题。答案是AC"
    assert converted(text).input_ids == original(text).input_ids
    assert converted.chat_template == original.chat_template and converted.eos_token == "<|im_end|>"
    ids = original(text, return_tensors="pt")
    with torch.inference_mode():
        want = AutoModelForCausalLM.from_pretrained(tiny_model)(**ids).logits
        got = AutoModelForCausalLM.from_pretrained(out)(**ids).logits
    assert torch.equal(got, want)


def test_from_gguf_refuses_a_full_folder_and_a_missing_file(cli, tiny_gguf, tmp_path):
    from collectivesft.errors import ConfigError, InputLayoutError
    from collectivesft.models.gguf import convert_gguf

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        convert_gguf(tiny_gguf, tmp_path / "full")
    with pytest.raises(InputLayoutError, match="GGUF file not found"):
        convert_gguf(tmp_path / "missing.gguf", tmp_path / "out")
