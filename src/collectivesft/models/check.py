"""`collectivesft model check MODEL [--recipe R] [--gpu-mem 80GB]`: the preflight before a GPU hour.

In seconds on a CPU for a small model, every way a first training run goes wrong before it
starts: a tokenizer that corrupts text, a chat template that trains the wrong tokens, remote
code that does not run on this transformers, a loss or gradient that is not finite, generations
that do not decode, a saved folder that does not reload, and a fine-tuning setting that does
not fit the GPUs. Each check gives ok / warn / fail with what it saw; `run` calls it before the
train stage and stops on a failure.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

SAMPLE = [
    [{"role": "user", "content": "患者男，45岁，反复上腹痛3年，进食后缓解。最可能的诊断是什么？\nA. 胃溃疡\nB. 十二指肠溃疡\n"
      "C. 胃癌"}, {"role": "assistant", "content": "答案是B。十二指肠溃疡的典型表现是空腹痛，进食后缓解。"}],
    [{"role": "user", "content": "高血压首选什么药？"}, {"role": "assistant", "content": "氨氯地平 (amlodipine)。"},
     {"role": "user", "content": "Any side effects?"}, {"role": "assistant", "content": "Ankle swelling, headache."}],
]
OWN = "the tokenizer's own template"
BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settings:
    """What the checks need from a train recipe (defaults: the model's own template, LoRA-free full FT)."""

    chat_template: str | None = None
    truncation: str | None = None
    cutoff: int = 1024
    finetuning: str = "full"
    lora_r: int = 16
    lora_targets: Any = "all-linear"
    precision: str = "bf16"
    gradient_checkpointing: bool = False
    batch_size: int = 16
    zero_stage: int = 0
    gpus: int = 1

    @classmethod
    def from_train(cls, train: Any, launch: dict[str, Any] | None = None) -> "Settings":
        launch = launch or {}
        stage = {"zero2": 2, "zero3": 3}.get(str(launch.get("config_file") or ""), 0)
        return cls(chat_template=train.chat_template, truncation=train.truncation_rule, cutoff=train.cutoff,
                   finetuning=train.finetuning, lora_r=train.lora.r, lora_targets=train.lora.target_modules,
                   precision="bf16" if train.precision == "auto" else train.precision,
                   gradient_checkpointing=train.gradient_checkpointing, batch_size=train.batch_size,
                   zero_stage=stage, gpus=int(launch.get("num_processes") or 1))


def _run(name: str, fn: Callable[[], Check], results: list[Check]) -> Any:
    """Run one check; an exception is that check's failure, named, and the rest still run."""
    try:
        results.append(fn())
    except Exception as exc:  # noqa: BLE001 - every failure is reported as the check's result
        results.append(Check(name, "fail", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"))
    return results[-1]


def _tokenizer_check(model: str, tokenizer: Any, notes: list[str]) -> Check:
    from collectivesft.models.faithful_tokenizer import PROBE, probe, probe_roundtrip, sentencepiece_file
    from collectivesft.models.loading import base_of

    spm_path = sentencepiece_file(base_of(model)) if Path(base_of(model)).is_dir() else None
    problems = probe(tokenizer, spm_path) if spm_path else probe_roundtrip(tokenizer)
    against = f"the sentencepiece model {spm_path.name}" if spm_path else "its own decoder (round trip)"
    data = {"against": against, "probe_texts": len(PROBE), "mismatches": [str(m) for m in problems],
            "notes": notes}
    if problems:
        return Check("tokenizer", "fail", f"{len(problems)} probe checks fail against {against}; first: "
                     f"{problems[0]}", data)
    rebuilt = [n for n in notes if "rebuilt" in n]
    detail = f"{len(PROBE)} probe texts agree with {against}"
    # A rebuilt tokenizer is right, but the folder as published is not: say so.
    return Check("tokenizer", "warn" if rebuilt else "ok", detail + (f"; {rebuilt[0]}" if rebuilt else ""), data)


def _encoding(settings: Settings):
    """The named template (None: the tokenizer's own) and the truncation rule training would use."""
    from collectivesft.train.templates import get_template

    spec = get_template(settings.chat_template) if settings.chat_template else None
    return spec, settings.truncation or (spec.truncation if spec is not None else "turn")


def _template_check(tokenizer: Any, settings: Settings) -> Check:
    from collectivesft.train.masking import encode_record
    from collectivesft.train.pairs import IGNORE
    from collectivesft.train.templates import apply_template

    apply_template(tokenizer, settings.chat_template)
    spec, truncation = _encoding(settings)
    ids, labels, outcome, _ = encode_record(tokenizer, SAMPLE[1], settings.cutoff, spec, truncation)
    if not ids:
        return Check("chat template", "fail", f"the sample record was dropped: {outcome}")
    shown, trained, run = [], 0, []
    for token, label in zip(ids, labels):
        learn = label != IGNORE
        trained += learn
        if run and run[0] != learn:
            shown.append(("[" + tokenizer.decode(run[1]) + "]") if run[0] else tokenizer.decode(run[1]))
            run = []
        run = [learn, (run[1] if run else []) + [token]]
    if run:
        shown.append(("[" + tokenizer.decode(run[1]) + "]") if run[0] else tokenizer.decode(run[1]))
    text = "".join(shown)
    answers = [m["content"] for m in SAMPLE[1] if m["role"] == "assistant"]
    missing = [a for a in answers if a not in text.replace("[", "").replace("]", "")]
    status = "fail" if (trained == 0 or missing) else "ok"
    detail = (f"{settings.chat_template or OWN}: {trained} of {len(ids)} tokens trained "
              f"([...] = trained)" + (f"; answers lost: {missing}" if missing else ""))
    return Check("chat template", status, detail, {"rendered": text, "tokens": len(ids), "trained": trained})


def _step_check(model: Any, tokenizer: Any, settings: Settings) -> Check:
    import torch

    from collectivesft.train.masking import encode_record

    spec, truncation = _encoding(settings)
    rows = [encode_record(tokenizer, chat, settings.cutoff, spec, truncation)[:2] for chat in SAMPLE]
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows])
    labels = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
    mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
    trained = model
    if settings.finetuning in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model

        trained = get_peft_model(model, LoraConfig(r=settings.lora_r, lora_alpha=2 * settings.lora_r,
                                                   target_modules=settings.lora_targets, task_type="CAUSAL_LM"))
    if settings.gradient_checkpointing:
        trained.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if settings.finetuning != "full":
            trained.enable_input_require_grads()
    trained.train()
    device = model.get_input_embeddings().weight.device
    loss = trained(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
    loss.backward()
    grads = [p.grad for p in trained.parameters() if p.requires_grad and p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([g.float().norm() for g in grads])).item() if grads else float("nan")
    model.zero_grad(set_to_none=True)
    trained.eval()
    if settings.gradient_checkpointing:
        trained.gradient_checkpointing_disable()
    if settings.finetuning in ("lora", "qlora"):
        trained.unload()
    finite = math.isfinite(loss.item()) and math.isfinite(norm)
    mode = settings.finetuning + (" + gradient checkpointing" if settings.gradient_checkpointing else "")
    return Check("forward + backward", "ok" if finite and grads else "fail",
                 f"{mode}: loss {loss.item():.3f}, gradient norm {norm:.3g} over {len(grads)} tensors",
                 {"loss": loss.item(), "grad_norm": norm})


def _generate_check(model: Any, tokenizer: Any) -> Check:
    import torch

    from collectivesft.eval.chat import render_chat

    text = render_chat(tokenizer, SAMPLE[0][:1])
    ids = tokenizer(text, add_special_tokens=not getattr(tokenizer, "chat_template", None),
                    return_tensors="pt").input_ids.to(model.get_input_embeddings().weight.device)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    new = out[0, ids.shape[1]:].tolist()
    decoded = tokenizer.decode(new, skip_special_tokens=True)
    raw = BYTE_TOKEN.findall(decoded)
    status = "fail" if raw else "ok"
    return Check("generate", status, f"{len(new)} tokens: {decoded[:60]!r}"
                 + (f"; undecoded byte tokens {raw[:3]}" if raw else ""), {"text": decoded})


def _roundtrip_check(model: Any, tokenizer: Any, source: str, trust_remote_code: bool) -> Check:
    import torch

    from collectivesft.models.faithful_tokenizer import save_faithful
    from collectivesft.models.loading import load_causal_lm, load_tokenizer

    probe = "高血压首选什么药？ Hello\n\n答案是B"
    with tempfile.TemporaryDirectory(prefix="collectivesft-check-") as folder:
        model.save_pretrained(folder)
        save_faithful(tokenizer, folder, source)
        again_tok = load_tokenizer(folder, trust_remote_code)
        again = load_causal_lm(folder, trust_remote_code, dtype=model.dtype).eval()
        ids = tokenizer(probe).input_ids
        same_ids = again_tok(probe).input_ids == ids
        tensor = torch.tensor([ids], device=model.get_input_embeddings().weight.device)
        with torch.inference_mode():
            diff = (model(input_ids=tensor).logits - again.to(tensor.device)(input_ids=tensor).logits).abs().max().item()
    ok = same_ids and diff <= 1e-5
    return Check("save + reload", "ok" if ok else "fail",
                 f"token ids {'equal' if same_ids else 'DIFFER'}, max |logit diff| {diff:.2g}",
                 {"same_ids": same_ids, "max_abs_diff": diff})


def _memory_check(model: str, settings: Settings, gpu_bytes: int | None) -> Check:
    from collectivesft.models import memory

    config = _config_dict(model)
    shape = memory.model_shape(config)
    # transformers' own models attend with SDPA (no score matrix kept); a model's own code
    # (InternLM2's) runs eager attention unless its config names a fused kernel.
    fused_attention = (not config.get("auto_map")
                       or config.get("attn_implementation") in ("flash_attention_2", "sdpa"))
    kwargs = dict(finetuning=settings.finetuning, precision=settings.precision, zero_stage=settings.zero_stage,
                  gpus=settings.gpus, seq_len=settings.cutoff, micro_batch=settings.batch_size,
                  gradient_checkpointing=settings.gradient_checkpointing, lora_r=settings.lora_r,
                  lora_targets=settings.lora_targets, flash_attention=fused_attention)
    estimate = memory.estimate(shape, **kwargs)
    gib = estimate.total / 2**30
    setting = (f"{settings.finetuning}, {settings.precision}, ZeRO-{settings.zero_stage} x {settings.gpus} GPU, "
               f"seq {settings.cutoff} x batch {settings.batch_size}"
               + (", gradient checkpointing" if settings.gradient_checkpointing else ""))
    data = {"estimate": memory.as_dict(estimate), "settings": kwargs}
    if gpu_bytes is None:
        return Check("GPU memory", "ok", f"{gib:.1f} GiB per GPU ({setting}); pass --gpu-mem to compare", data)
    fits = memory.fits(estimate, gpu_bytes)
    hints = [] if fits else memory.advice(shape, kwargs, gpu_bytes)
    data["advice"] = hints
    verdict = "fits" if fits else "does NOT fit"
    return Check("GPU memory", "ok" if fits else "fail",
                 f"{gib:.1f} GiB per GPU of {gpu_bytes / 2**30:.0f} GiB: {verdict} ({setting})"
                 + (f"; try: {'; '.join(hints[:3])}" if hints else ""), data)


def _config_dict(model: str) -> dict[str, Any]:
    import json

    from collectivesft.models.loading import base_of

    path = Path(base_of(model)) / "config.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(base_of(model), trust_remote_code=True).to_dict()


def preflight(model: str, *, trust_remote_code: bool = False, settings: Settings | None = None,
              gpu_bytes: int | None = None, device: str = "cpu", log: Callable[[str], None] | None = None
              ) -> list[Check]:
    """Every check on `model` with `settings` (a train recipe's); the checks that need the model
    are skipped when it cannot be loaded, and say so."""
    import torch

    from collectivesft.models.loading import load_causal_lm, load_tokenizer

    settings = settings or Settings()
    results: list[Check] = []
    notes: list[str] = []
    tokenizer = model_obj = None
    try:
        tokenizer = load_tokenizer(model, trust_remote_code, log=notes.append)
    except Exception as exc:  # noqa: BLE001 - reported as the tokenizer check's failure
        results.append(Check("tokenizer", "fail", f"cannot load: {type(exc).__name__}: {str(exc)[:600]}"))
    if tokenizer is not None:
        _run("tokenizer", lambda: _tokenizer_check(model, tokenizer, notes), results)
        _run("chat template", lambda: _template_check(tokenizer, settings), results)
        try:
            model_obj = load_causal_lm(model, trust_remote_code, dtype=torch.float32)
            model_obj.to(device)
            if len(tokenizer) > model_obj.get_input_embeddings().weight.shape[0]:
                model_obj.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
            results.append(Check("load", "ok", f"{type(model_obj).__name__}, "
                                 f"{sum(p.numel() for p in model_obj.parameters()):,} parameters"))
        except Exception as exc:  # noqa: BLE001 - reported as the load check's failure
            results.append(Check("load", "fail", f"{type(exc).__name__}: {str(exc)[:600]}"))
    if model_obj is not None:
        _run("forward + backward", lambda: _step_check(model_obj, tokenizer, settings), results)
        _run("generate", lambda: _generate_check(model_obj.eval(), tokenizer), results)
        _run("save + reload", lambda: _roundtrip_check(model_obj, tokenizer, model, trust_remote_code), results)
    else:
        results += [Check(n, "skipped", "needs the model loaded") for n in
                    ("forward + backward", "generate", "save + reload") if tokenizer is not None]
    _run("GPU memory", lambda: _memory_check(model, settings, gpu_bytes), results)
    return results


def failed(results: list[Check]) -> list[Check]:
    return [r for r in results if r.status == "fail"]


def as_json(results: list[Check]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
