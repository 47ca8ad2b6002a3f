"""`collectivesft model convert MODEL OUT --to llama`: an InternLM2/2.5 checkpoint as a Llama folder.

InternLM2 is a Llama-architecture decoder under other names: q, k and v fused into one `wqkv`
matrix, grouped per key/value head ([q x heads/kv_heads, k, v] for each kv head), `wo`,
`w1`/`w3`/`w2` for the SwiGLU gate/up/down, `attention_norm`/`ffn_norm`, `tok_embeddings` and
`output`. Its rotary embedding rotates halves, as transformers' Llama does, so the weights need
no permutation, only the split and the new names. The converted folder loads in transformers
(and vLLM, flash-attention, packing) with no remote code.

The conversion is checked at the end: logits of the converted model against the original
(its own code, hence --trust-remote-code) on a probe of token ids; any difference above float
tolerance fails the command and leaves no output folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

from collectivesft.errors import CollectiveSFTError, ConfigError, InputLayoutError

WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")
# InternLM2 name (after model.layers.N.) -> Llama name.
LAYER_NAMES = {"attention.wo": "self_attn.o_proj", "feed_forward.w1": "mlp.gate_proj",
               "feed_forward.w3": "mlp.up_proj", "feed_forward.w2": "mlp.down_proj",
               "attention_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
TOP_NAMES = {"model.tok_embeddings.weight": "model.embed_tokens.weight", "model.norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}


class ConversionMismatchError(CollectiveSFTError):
    """The converted model's logits differ from the original's beyond float tolerance."""


def read_internlm2_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise InputLayoutError(f"{folder}: no config.json (expected an InternLM2 model folder)")
    config = json.loads(path.read_text(encoding="utf-8"))
    kind = config.get("model_type")
    if kind != "internlm2" and "InternLM2ForCausalLM" not in (config.get("architectures") or []):
        raise ConfigError(f"{path}: model_type is {kind!r}; --to llama converts InternLM2 / InternLM2.5 checkpoints "
                          "(model_type internlm2)")
    for key in ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size"):
        if not isinstance(config.get(key), int):
            raise ConfigError(f"{path}: {key} missing or not an integer")
    return config


def llama_config(config: dict[str, Any]):
    """The LlamaConfig with the same shape, rotary settings and special ids."""
    from transformers import LlamaConfig

    heads = config["num_attention_heads"]
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": float(config.get("rope_theta", 10000))}
    scaling = config.get("rope_scaling")
    if isinstance(scaling, dict) and scaling:
        kind = scaling.get("type") or scaling.get("rope_type")
        if kind not in ("dynamic", "linear"):
            raise ConfigError(f"rope_scaling type {kind!r} has no Llama equivalent here (dynamic and linear do)")
        rope = rope | {"rope_type": kind, "factor": float(scaling["factor"])}
    return LlamaConfig(
        vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
        intermediate_size=config["intermediate_size"], num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=heads, num_key_value_heads=config.get("num_key_value_heads") or heads,
        head_dim=config["hidden_size"] // heads, hidden_act=config.get("hidden_act", "silu"),
        max_position_embeddings=config.get("max_position_embeddings", 2048),
        rms_norm_eps=config.get("rms_norm_eps", 1e-6), rope_parameters=rope,
        attention_bias=bool(config.get("bias", False)), mlp_bias=False,
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        bos_token_id=config.get("bos_token_id"), eos_token_id=config.get("eos_token_id"),
        pad_token_id=config.get("pad_token_id"), dtype=config.get("torch_dtype") or config.get("dtype"))


def split_wqkv(tensor, heads: int, kv_heads: int, head_dim: int):
    """InternLM2's fused [q x groups, k, v]-per-kv-head rows as separate q, k and v tensors."""
    groups = heads // kv_heads
    rest = tensor.shape[1:]
    grouped = tensor.reshape(kv_heads, groups + 2, head_dim, *rest)
    q = grouped[:, :groups].reshape(heads * head_dim, *rest)
    k = grouped[:, -2].reshape(kv_heads * head_dim, *rest)
    v = grouped[:, -1].reshape(kv_heads * head_dim, *rest)
    return q.contiguous(), k.contiguous(), v.contiguous()


def renamed(name: str, tensor, config: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The Llama (name, tensor) pairs for one InternLM2 parameter."""
    if name in TOP_NAMES:
        yield TOP_NAMES[name], tensor
        return
    prefix, _, rest = name.partition(".layers.")
    index, _, local = rest.partition(".")
    if prefix != "model" or not index.isdigit():
        raise ConfigError(f"unexpected parameter {name!r} in an InternLM2 checkpoint")
    head = f"model.layers.{index}."
    module, _, kind = local.rpartition(".")
    if module == "attention.wqkv":
        heads = config["num_attention_heads"]
        kv = config.get("num_key_value_heads") or heads
        q, k, v = split_wqkv(tensor, heads, kv, config["hidden_size"] // heads)
        yield from ((f"{head}self_attn.{p}_proj.{kind}", t) for p, t in (("q", q), ("k", k), ("v", v)))
    elif module in LAYER_NAMES:
        yield f"{head}{LAYER_NAMES[module]}.{kind}", tensor
    elif module.endswith("rotary_emb"):
        return  # computed, not a weight
    else:
        raise ConfigError(f"unexpected parameter {name!r} in an InternLM2 checkpoint")


def _weight_files(folder: Path) -> list[Path]:
    found = sorted(p for pattern in WEIGHT_FILES for p in folder.glob(pattern))
    safetensors = [p for p in found if p.suffix == ".safetensors"]
    files = safetensors or found
    if not files:
        raise InputLayoutError(f"{folder}: no *.safetensors or pytorch_model*.bin weights")
    return files


def _tensors(path: Path) -> Iterator[tuple[str, Any]]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                yield name, handle.get_tensor(name)
        return
    import torch

    yield from torch.load(str(path), map_location="cpu", weights_only=True).items()


def convert_weights(source: Path, out: Path, config: dict[str, Any], log: Callable[[str], None]) -> int:
    """Rewrite every weight file of `source` as a Llama-named safetensors shard in `out`
    (one output shard per input file, so memory stays at one shard); returns the tensor count."""
    from safetensors.torch import save_file

    files = _weight_files(source)
    index: dict[str, str] = {}
    total = 0
    for n, path in enumerate(files, 1):
        shard = f"model-{n:05d}-of-{len(files):05d}.safetensors" if len(files) > 1 else "model.safetensors"
        tensors = {}
        for name, tensor in _tensors(path):
            for new_name, new_tensor in renamed(name, tensor, config):
                tensors[new_name] = new_tensor.contiguous()
                index[new_name] = shard
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        save_file(tensors, str(out / shard), metadata={"format": "pt"})
        log(f"converted {path.name} -> {shard} ({len(tensors)} tensors)")
    if len(files) > 1:
        (out / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": dict(sorted(index.items()))}, indent=2) + "\n",
            encoding="utf-8")
    return len(index)


def _write_tokenizer(source: Path, out: Path) -> None:
    """The fast tokenizer rebuilt from the sentencepiece model and tokenizer_config.json (special and
    chat tokens, bos, chat template): no remote class, tokenizer.model kept beside it."""
    from collectivesft.models.faithful_tokenizer import probe, rebuild_tokenizer, save_faithful, sentencepiece_file

    spm_path = sentencepiece_file(source)
    if spm_path is None:
        raise InputLayoutError(f"{source}: no sentencepiece tokenizer.model (InternLM2 ships one)")
    tokenizer = rebuild_tokenizer(spm_path)
    problems = probe(tokenizer, spm_path)
    if problems:
        raise ConversionMismatchError(f"the rebuilt tokenizer differs from {spm_path.name}: {problems[0]}")
    save_faithful(tokenizer, out, source)


def compare_logits(original: Path, converted: Path, probe: list[list[int]], tolerance: float) -> dict[str, Any]:
    """Max absolute logit difference between the original (its own code) and the converted model."""
    import torch
    from transformers import AutoModelForCausalLM

    from collectivesft.models.loading import load_causal_lm

    reference = load_causal_lm(original, True, dtype=torch.float32).eval()
    candidate = AutoModelForCausalLM.from_pretrained(str(converted), dtype=torch.float32).eval()
    worst, scale, same_argmax = 0.0, 0.0, True
    with torch.inference_mode():
        for ids in probe:
            tensor = torch.tensor([ids])
            a = reference(input_ids=tensor, use_cache=False).logits.float()
            b = candidate(input_ids=tensor, use_cache=False).logits.float()
            worst = max(worst, (a - b).abs().max().item())
            scale = max(scale, a.abs().max().item())
            same_argmax &= bool(torch.equal(a.argmax(-1), b.argmax(-1)))
    return {"max_abs_diff": worst, "max_abs_logit": scale, "tolerance": tolerance * max(1.0, scale),
            "same_argmax": same_argmax, "ok": worst <= tolerance * max(1.0, scale) and same_argmax,
            "probe_rows": len(probe), "probe_tokens": sum(len(p) for p in probe)}


def convert_to_llama(model: str | Path, out: str | Path, *, trust_remote_code: bool = False, check: bool = True,
                     tolerance: float = 1e-4, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write `model` (an InternLM2 folder) to `out` as a Llama folder, checked against the original."""
    source, out = Path(model), Path(out)
    if not source.is_dir():
        raise InputLayoutError(f"{source}: not a folder (download the model first, e.g. huggingface-cli download)")
    if out.exists():
        raise ConfigError(f"{out} already exists; choose a new output folder")
    if check and not trust_remote_code:
        raise ConfigError("the check runs the original model's own code: pass --trust-remote-code, or --no-check "
                          "to convert without comparing logits")
    config = read_internlm2_config(source)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        llama = llama_config(config)
        llama.save_pretrained(partial)
        count = convert_weights(source, partial, config, log)
        if (source / "generation_config.json").is_file():
            shutil.copyfile(source / "generation_config.json", partial / "generation_config.json")
        _write_tokenizer(source, partial)
        summary: dict[str, Any] = {"source": str(source), "out": str(out), "to": "llama", "tensors": count,
                                   "checked": check}
        if check:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(partial))
            probe = [tokenizer(text).input_ids for text in PROBE_TEXTS]
            summary["logits"] = compare_logits(source, partial, probe, tolerance)
            if not summary["logits"]["ok"]:
                raise ConversionMismatchError(
                    f"converted logits differ from the original's: max |diff| {summary['logits']['max_abs_diff']:.3g} "
                    f"(tolerance {summary['logits']['tolerance']:.3g}), same argmax: "
                    f"{summary['logits']['same_argmax']}; nothing written to {out}")
        from collectivesft.io import honour_umask

        honour_umask(partial)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return summary


PROBE_TEXTS = ["Hello world, this is a probe.", "患者男，45岁，反复上腹痛3年。最可能的诊断是什么？",
               "问：高血压首选什么药？\n答：", "A. 阿莫西林\nB. 氨氯地平\nC. 二甲双胍\n答案是"]
