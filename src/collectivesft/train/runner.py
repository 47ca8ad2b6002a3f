"""Supervised fine-tuning of one model on one mixture with TRL's SFTTrainer.

run_training() reads MIXTURE/train.jsonl (and val.jsonl), encodes records with loss on
assistant turns only (masking.py), trains full / LoRA / QLoRA, and fills the run folder:

OUT/config.yaml        the resolved TrainConfig (plus mixture and output paths)
OUT/metrics.json       data counts, loss curves, final train/val loss, throughput
OUT/loss_curve.png     training and validation loss by optimizer step
OUT/checkpoints/       Trainer checkpoints (what --resume continues from)
OUT/model/             the final model (or LoRA adapter; merged when merge_lora)

The same code runs on one CPU, one GPU, or many processes under `accelerate launch`
(DeepSpeed / FSDP come from the Accelerate config, not from this module).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from collectivesft.errors import CollectiveSFTError, ConfigError, InputLayoutError
from collectivesft.model_ref import check_model_ref
from collectivesft.progress import on_terminal, quiet_libraries
from collectivesft.train.config import TrainConfig

OOM_ADVICE = (
    "out of GPU memory. Try, roughly in this order: a smaller batch_size with a larger grad_accum (same "
    "effective batch), gradient_checkpointing: true, a smaller cutoff, finetuning: lora (or qlora), and for "
    "full fine-tuning of 7B models several GPUs with DeepSpeed ZeRO-2/ZeRO-3 (accelerate launch --config_file "
    "src/collectivesft/train/accelerate_configs/zero3.yaml ...; see docs/train.md)."
)


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint. The Trainer writes trainer_state.json last, so a folder
    without it is one a kill interrupted mid-write: resuming from it would fail."""
    found = [p for p in folder.glob("checkpoint-*")
             if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def _precision(config: TrainConfig, cuda: bool) -> str:
    import torch

    if config.precision == "auto":
        return "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if config.precision == "fp16" and not cuda:
        raise ConfigError("precision: fp16 needs a CUDA GPU; use fp32 or bf16 on CPU")
    return config.precision


def _attention(config: TrainConfig, cuda: bool, packing: bool) -> str | None:
    """The attention kernel: the recipe's, else flash-attention 2 for packing on a GPU when installed."""
    import importlib.util

    if config.attn_implementation:
        return config.attn_implementation
    if cuda and packing and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return None


def _packing(config: TrainConfig, cuda: bool, model) -> bool:
    """Whether to pack: the config's choice, else on GPUs. Packed records are kept apart by
    transformers' own attention (from position_ids); a model's own code does not do that, so
    its records would attend to each other: no packing for it, and a clear refusal if asked."""
    wanted = cuda if config.packing is None else config.packing
    own = type(model).__module__.startswith("transformers_modules")
    if wanted and own and config.packing:
        raise ConfigError(f"packing: true cannot be used with model {config.model!r}: its own code "
                          f"({type(model).__name__}) does not keep packed records apart, so they would attend "
                          "to each other. Set packing: false, or convert it to a native architecture first "
                          "(`collectivesft model convert MODEL OUT --to llama`).")
    return wanted and not own


def _load_model(config: TrainConfig, precision: str, cuda: bool, attention: str | None):
    import torch

    from collectivesft.models.loading import load_causal_lm

    kwargs: dict[str, Any] = {}
    if attention:
        kwargs["attn_implementation"] = attention
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    # Full fine-tuning keeps fp32 master weights (autocast does the half-precision math, or
    # DeepSpeed keeps its own fp32 copy); adapters train on a frozen half-precision base.
    kwargs["dtype"] = half if (config.finetuning != "full" and half is not None) else torch.float32
    if config.finetuning == "qlora":
        if not cuda:
            raise ConfigError("finetuning: qlora needs a CUDA GPU (bitsandbytes 4-bit); use finetuning: lora on CPU")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ConfigError("finetuning: qlora needs bitsandbytes: pip install 'collectivesft[gpu]'") from None
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=half or torch.bfloat16)
    try:
        return load_causal_lm(config.model, config.trust_remote_code, **kwargs)
    except OSError as exc:
        raise InputLayoutError(f"cannot load model {config.model!r}: {exc}") from None


def _peft_config(config: TrainConfig):
    if config.finetuning == "full":
        return None
    from peft import LoraConfig

    return LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules=config.lora.target_modules, task_type="CAUSAL_LM")


def _encode_split(path: Path, tokenizer, config: TrainConfig, limit: int | None):
    from datasets import Dataset

    from collectivesft.records import read_records
    from collectivesft.train.masking import check_encoded, encode_records

    def records():
        for n, rec in enumerate(read_records(path)):
            if limit is not None and n >= limit:
                return
            yield rec

    columns, stats = encode_records(records(), tokenizer, config.cutoff,
                                    progress=f"encoding {path.name}" if _is_main_process() else None,
                                    template=config.chat_template, truncation=config.truncation_rule)
    if stats.records == 0 and path.name == "val.jsonl":
        # A mixture built without a validation share: train on, without validation loss.
        warnings.warn(f"{path} holds no records: training without validation loss")
        return None, stats
    check_encoded(stats, config.cutoff, str(path))
    return Dataset.from_dict(columns), stats


def _sft_config(config: TrainConfig, checkpoints: Path, precision: str, packing: bool, has_val: bool, cuda: bool):
    from trl import SFTConfig

    per_epoch = "steps" if config.eval_steps else "epoch"
    return SFTConfig(
        output_dir=str(checkpoints),
        learning_rate=config.lr,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        adam_beta2=config.adam_beta2,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size or config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        activation_checkpointing=config.gradient_checkpointing,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy=per_epoch if has_val else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps" if config.save_steps else "epoch",
        save_steps=config.save_steps or 500,
        save_total_limit=config.save_total_limit,
        dataloader_num_workers=config.num_workers,
        report_to=config.report_to or "none",
        run_name=checkpoints.parent.name,
        logging_nan_inf_filter=False,  # a NaN is an error (guard.py), never averaged away
        disable_tqdm=not on_terminal(),  # in a log, the Trainer prints one line per logging step instead
        # On CPU this also makes torchrun / accelerate processes join one gloo group (multi-CPU DDP).
        use_cpu=not cuda,
        max_length=config.cutoff,
        packing=packing,
        packing_strategy="bfd",
        padding_free=packing,
        eval_packing=packing,
        assistant_only_loss=False,  # labels already carry the assistant-only mask
        completion_only_loss=False,
        dataset_num_proc=None,
    )


def _cpu_trainer_class():
    """SFTTrainer computing the loss with the model's own LM head and cross-entropy.

    TRL always routes the loss through a chunked fused LM-head kernel that also computes
    entropy and top-1 accuracy in fp32 over the whole vocabulary: it saves GPU memory on
    150k-token vocabularies, but on CPU it is most of a small model's step time (measured:
    ~70 % on the tiny model). The loss is the same token-averaged NLL either way. In training
    the head runs on the target positions only where the model allows (labelled_loss.py).
    """
    from transformers import Trainer
    from trl import SFTTrainer

    from collectivesft.train.labelled_loss import labelled_loss, supports

    class CpuSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # Not under DDP (gradients sync through its forward), not when outputs are wanted (evaluation).
            if (not return_outputs and model.training and "labels" in inputs and self.label_smoother is None
                    and self.accelerator.unwrap_model(model) is model and supports(model)):
                return labelled_loss(model, inputs, num_items_in_batch if self.model_accepts_loss_kwargs else None)
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return CpuSFTTrainer


def _eos_list(eos) -> list[int]:
    return [eos] if isinstance(eos, int) else list(eos or [])


def _final_eval(trainer) -> dict:
    """The validation metrics at the last step: reused when that step already evaluated (a full
    evaluation costs minutes on a real model), else computed now."""
    last = next((e for e in reversed(trainer.state.log_history) if "eval_loss" in e), None)
    if last is not None and last.get("step") == trainer.state.global_step:
        return {k: v for k, v in last.items() if k.startswith("eval_")}
    return trainer.evaluate()


def run_training(config: TrainConfig, mixture_dir: str | Path, out_dir: str | Path, resume: bool = False) -> dict:
    """Fine-tune `config.model` on the mixture in `mixture_dir`; write the run folder `out_dir`
    and return its metrics (also written to OUT/metrics.json)."""
    mixture_dir, out_dir = Path(mixture_dir), Path(out_dir)
    train_path, val_path = mixture_dir / "train.jsonl", mixture_dir / "val.jsonl"
    if not train_path.is_file():
        raise InputLayoutError(f"mixture file not found: {train_path} (build it with `collectivesft data mix`)")
    if config.validation and not val_path.is_file():
        raise InputLayoutError(f"mixture file not found: {val_path} (or set validation: false)")
    checkpoints = out_dir / "checkpoints"
    last = _last_checkpoint(checkpoints) if checkpoints.is_dir() else None
    if resume and last is None:
        raise ConfigError(f"--resume: no checkpoint-* folder under {checkpoints}")
    if not resume and last is not None:
        raise ConfigError(f"{out_dir} already holds checkpoints ({last.name}); pass --resume to continue "
                          "or choose another output folder")

    import torch
    from trl import SFTTrainer

    from collectivesft.train.templates import apply_template, get_template

    cuda = torch.cuda.is_available()
    if config.cpu_threads and not cuda:
        torch.set_num_threads(config.cpu_threads)
    precision = _precision(config, cuda)
    peft_config = _peft_config(config)  # before loading: fail on a bad LoRA setting early
    if config.report_to:
        from collectivesft.train.tracking import check_trackers

        check_trackers(config.report_to)

    check_model_ref(config.model)
    quiet_libraries()
    from collectivesft.models.loading import load_tokenizer

    try:
        tokenizer = load_tokenizer(config.model, config.trust_remote_code, log=print if _is_main_process() else None)
    except OSError as exc:
        raise InputLayoutError(f"cannot load the tokenizer of model {config.model!r}: {exc}") from None
    added = apply_template(tokenizer, config.chat_template)
    train_ds, train_stats = _encode_split(train_path, tokenizer, config, config.max_records)
    val_ds, val_stats = (_encode_split(val_path, tokenizer, config, None) if config.validation else (None, None))

    attention = _attention(config, cuda, cuda if config.packing is None else config.packing)
    model = _load_model(config, precision, cuda, attention)
    packing = _packing(config, cuda, model)
    if added or len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    if config.chat_template:
        end = tokenizer.convert_tokens_to_ids(get_template(config.chat_template).end_of_turn)
        eos = _eos_list(model.generation_config.eos_token_id)
        model.generation_config.eos_token_id = eos + [end] if end not in eos else eos
    model.config.use_cache = False  # a KV cache would hide packed-sequence boundaries from the mask

    collator = None
    restore_attention = None
    # With variable-length flash kernels: TRL's flattened padding-free packing. Otherwise
    # (CPU, or SDPA on a GPU, whose dense mask over a flattened batch grows with its square)
    # packed rows kept apart (see packing.py); TRL then only sees ready rows.
    trl_packing = packing and cuda and bool(attention) and attention.startswith("flash_attention")
    if packing and not trl_packing:
        from collectivesft.train.packing import RowPackingCollator, pack_rows, row_length_for

        row_length = row_length_for([len(ids) for ids in train_ds["input_ids"]], config.cutoff, config.pack_length)
        train_ds = pack_rows(train_ds, row_length, seed=config.seed)
        if val_ds is not None:
            val_ds = pack_rows(val_ds, max(row_length, row_length_for(
                [len(ids) for ids in val_ds["input_ids"]], config.cutoff, config.pack_length)), seed=config.seed)
        collator = RowPackingCollator(pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                                      else tokenizer.eos_token_id)
        if attention is None:  # not over a kernel the recipe named (sdpa, eager, ...)
            from collectivesft.train.segment_attention import register

            restore_attention = model.config._attn_implementation or "sdpa"
            model.set_attn_implementation(register())

    from collectivesft.train.guard import guarded

    trainer_cls = guarded(SFTTrainer if cuda else _cpu_trainer_class())
    trainer = trainer_cls(
        model=model,
        args=_sft_config(config, checkpoints, precision, trl_packing, val_ds is not None, cuda),
        data_collator=collator,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    from collectivesft.train.totals import carried_from, totals_callback, whole_run

    carried = carried_from(last if resume else None)
    totals = totals_callback(carried)
    trainer.add_callback(totals)
    if config.report_to:
        from collectivesft.train.tracking import point_tensorboard_at

        point_tensorboard_at(trainer, out_dir)
    try:
        result = trainer.train(resume_from_checkpoint=str(last) if resume else None)
    except torch.OutOfMemoryError as exc:
        raise CollectiveSFTError(f"{OOM_ADVICE} ({str(exc).splitlines()[0]})") from None
    run = whole_run(result, trainer.state, carried, totals)
    final_eval = _final_eval(trainer) if val_ds is not None else {}
    if restore_attention is not None:  # the saved model and any later use attend as loaded
        model.set_attn_implementation(restore_attention)

    from collectivesft.models.loading import base_of
    from collectivesft.train.run_folder import save_final_model, summarize, write_run_folder

    packing_mode = "padding-free" if trl_packing else ("rows" if packing else "none")
    used = "packed_sdpa" if restore_attention is not None else attention
    metrics = summarize(trainer, run, final_eval, train_stats, val_stats, packing_mode, precision, used)
    save_final_model(trainer, tokenizer, out_dir / "model", merge=config.merge_lora, source=base_of(config.model))
    metrics["model_dir"] = str(out_dir / "model")
    # Which template shaped the training text: a named one, or the tokenizer's own (the model's).
    metrics["setup"]["chat_template"] = config.chat_template or "the tokenizer's own"
    metrics["setup"]["generation_eos_token_ids"] = _eos_list(model.generation_config.eos_token_id)
    if trainer.is_world_process_zero():
        resolved = config.model_dump(mode="json") | {"mixture": str(mixture_dir), "output_dir": str(out_dir)}
        write_run_folder(out_dir, resolved, metrics)
    return metrics
