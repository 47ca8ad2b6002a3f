"""GGUF checkpoints to Hugging Face folders: de-quantised weights, tokenizer, chat template.

transformers reads a GGUF file (`gguf_file=`, needs the `gguf` package) into a model whose
weights are already de-quantised, but it still marks the model as gguf-quantised and
refuses `save_pretrained` ("quantized with gguf and is not serializable"). The weights are
therefore moved into a fresh model built from the same config minus its quantization entry,
saved, reloaded, and the reloaded logits compared with the GGUF model's.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from collectivesft.errors import ConfigError, InputLayoutError

# A fixed mixed-script prompt for the logits check (Chinese as in CMB, plus Latin and digits).
CHECK_TEXT = "以下是中国医学考试的单项选择题。高血压的首选药物是？A. 氨氯地平 B. 阿莫西林 答案是A 1234 hypertension"


def _require_gguf() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise ConfigError("reading GGUF files needs the optional package gguf: "
                          "pip install 'collectivesft[gguf]' (or pip install gguf)") from None


def _serializable_copy(model):
    """The same weights in a model built from the config without `quantization_config`."""
    import torch
    from transformers import AutoModelForCausalLM

    values = model.config.to_dict()
    values.pop("quantization_config", None)
    config = type(model.config).from_dict(values)
    with torch.device("meta"):  # no second allocation: the loaded tensors are assigned, not copied
        fresh = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    fresh.load_state_dict(model.state_dict(), strict=True, assign=True)
    fresh.tie_weights()
    fresh.generation_config = model.generation_config
    return fresh


def _logits(model, tokenizer):
    import torch

    ids = tokenizer(CHECK_TEXT, return_tensors="pt")
    with torch.inference_mode():
        return model(**ids).logits.float()


def convert_gguf(gguf_path: str | Path, out: str | Path, dtype: str = "float32") -> dict[str, Any]:
    """Write the GGUF checkpoint `gguf_path` as a Hugging Face folder `out` (weights de-quantised to
    `dtype`, tokenizer with its chat template); reload it and compare logits. Returns the report
    also written to OUT/gguf_conversion.json; ConfigError when the reload does not give the same logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from collectivesft.io import file_sha256, write_json

    gguf_path, out = Path(gguf_path), Path(out)
    if not gguf_path.is_file():
        raise InputLayoutError(f"GGUF file not found: {gguf_path}")
    if dtype not in ("float32", "bfloat16", "float16"):
        raise ConfigError(f"dtype {dtype!r} is not one of float32, bfloat16, float16")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new folder")
    _require_gguf()
    where = {"pretrained_model_name_or_path": str(gguf_path.parent), "gguf_file": gguf_path.name}
    try:
        tokenizer = AutoTokenizer.from_pretrained(**where)
        model = AutoModelForCausalLM.from_pretrained(**where, dtype=getattr(torch, dtype))
    except (ValueError, KeyError, OSError) as exc:
        raise InputLayoutError(f"{gguf_path}: transformers cannot read this GGUF file ({type(exc).__name__}: {exc})") from None
    model.eval()
    expected = _logits(model, tokenizer)
    # Written beside the target and renamed when complete: a killed run leaves no half folder at OUT.
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    fresh = _serializable_copy(model)
    fresh.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    from collectivesft.io import honour_umask

    honour_umask(partial)
    del model, fresh
    if out.exists():
        out.rmdir()
    partial.rename(out)
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=getattr(torch, dtype)).eval()
    got = _logits(reloaded, AutoTokenizer.from_pretrained(out))
    diff = (got - expected).abs().max().item() if got.shape == expected.shape else float("inf")
    report = {
        "gguf": str(gguf_path), "gguf_sha256": file_sha256(gguf_path), "out": str(out), "dtype": dtype,
        "architecture": reloaded.config.architectures, "parameters": sum(p.numel() for p in reloaded.parameters()),
        "chat_template": bool(getattr(tokenizer, "chat_template", None)), "eos_token": tokenizer.eos_token,
        "check_tokens": int(expected.shape[1]), "max_abs_logit_diff": diff,
    }
    write_json(out / "gguf_conversion.json", report)
    if diff != 0.0:
        raise ConfigError(f"{out}: the saved model's logits differ from the GGUF model's (max |diff| {diff:g}); "
                          "the conversion is not faithful")
    return report
