"""The training recipe: a typed TrainConfig loaded from YAML plus `key=value` overrides.

Defaults are the CollectiveSFT paper's (full fine-tuning, lr 2e-5, 3 epochs, cosine,
warm-up 5 %, per-device batch 16 x grad-accum 2, cutoff 1,024, bf16 where the hardware
has it). A YAML file may be a bare TrainConfig or a full run recipe whose `train:`
section is one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from collectivesft.config import validate_model
from collectivesft.errors import ConfigError


class LoraSettings(BaseModel):
    """LoRA adapter shape (used when finetuning is lora or qlora)."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, gt=0, description="Adapter rank.")
    alpha: int = Field(32, gt=0, description="Scaling numerator (lora_alpha).")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or all-linear (every linear layer but the head).")


class TrainConfig(BaseModel):
    """Everything `collectivesft train` needs besides the mixture and output folders."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., description="Model folder or hub id (e.g. internlm/internlm2_5-7b).")
    trust_remote_code: bool = Field(False, description="Allow the model's own code (InternLM2 needs it).")
    chat_template: Optional[str] = Field(
        None, description="Named template (chatml, qwen, intern2, intern2-llamafactory-0.8, llama3) to use "
        "instead of the tokenizer's own; required for base models that ship without one.")
    mixture: Optional[str] = Field(None, description="Mixture folder with train.jsonl / val.jsonl "
                                   "(the CLI's --mixture wins).")
    output_dir: Optional[str] = Field(None, description="Run folder (the CLI's --out wins).")

    finetuning: Literal["full", "lora", "qlora"] = "full"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    merge_lora: bool = Field(False, description="Save the final model with LoRA weights merged into the base.")

    lr: float = Field(2e-5, gt=0, description="Peak learning rate.")
    epochs: float = Field(3.0, gt=0)
    max_steps: Optional[int] = Field(None, gt=0, description="Stop after this many optimizer steps (wins over epochs).")
    scheduler: str = Field("cosine", description="transformers lr_scheduler_type.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    adam_beta2: float = Field(0.999, gt=0, lt=1, description="AdamW's second-moment decay (transformers' "
                              "adam_beta2); 0.95 steadies short runs at a high learning rate.")
    batch_size: int = Field(16, gt=0, description="Per-device micro-batch size (records, or packed rows).")
    grad_accum: int = Field(2, gt=0, description="Gradient-accumulation steps per optimizer step.")
    cutoff: int = Field(1024, gt=1, description="Maximum tokens per record (and per packed row).")
    truncation: Optional[Literal["turn", "infer_seqlen"]] = Field(
        None, description="Cutoff rule: turn (keep whole turns; drop a record whose prompt alone is too long) "
        "or infer_seqlen (LLaMA-Factory's: trim each turn's prompt and answer, drop later turns). None: the "
        "chat template's own (infer_seqlen for intern2-llamafactory-0.8, turn otherwise).")
    packing: Optional[bool] = Field(
        None, description="Pack records padding-free with per-record position ids (no attention across "
        "records). None: on when a GPU is present.")
    pack_length: Optional[int] = Field(
        None, gt=1, description="Tokens per packed row on the row-packing path (CPU, or SDPA on a GPU). None: "
        "the cutoff (rows filled to the cutoff, as LLaMA-Factory's neat_packing). A smaller value packs "
        "shorter rows, never shorter than the longest record: more optimizer steps per epoch.")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: bf16 on a GPU that supports it, else fp32.")
    gradient_checkpointing: bool = False
    attn_implementation: Optional[str] = Field(None, description="e.g. sdpa, flash_attention_2, eager.")
    seed: int = 42

    validation: bool = Field(True, description="Compute validation loss on the mixture's val.jsonl.")
    eval_batch_size: Optional[int] = Field(None, gt=0, description="Per-device batch for validation loss "
                                           "(None: batch_size).")
    eval_steps: Optional[int] = Field(None, gt=0, description="Evaluate every N steps (None: once per epoch).")
    save_steps: Optional[int] = Field(None, gt=0, description="Checkpoint every N steps (None: once per epoch).")
    save_total_limit: Optional[int] = Field(2, gt=0, description="Keep at most this many checkpoints.")
    logging_steps: int = Field(5, gt=0)
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")
    report_to: list[str] = Field(default_factory=list, description="Experiment trackers that get the training "
                                 "metrics: tensorboard (RUN/tensorboard), wandb, mlflow, swanlab, trackio "
                                 "(transformers' integrations; each needs its package).")
    cpu_threads: Optional[int] = Field(
        None, gt=0, description="torch threads per process on CPU (None: torch's default). 1 is fastest when "
        "other processes share the cores (tests under xdist, several ranks per machine).")
    max_records: Optional[int] = Field(None, gt=0, description="Use only the first N training records (smoke runs).")

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.finetuning == "full" and self.merge_lora:
            raise ValueError("merge_lora applies to finetuning: lora or qlora only")
        if self.chat_template is not None:
            from collectivesft.train.templates import TEMPLATES, template_names

            if self.chat_template not in TEMPLATES:
                raise ValueError(f"chat_template: unknown template {self.chat_template!r}; known: "
                                 f"{', '.join(template_names())}")
        return self

    @property
    def truncation_rule(self) -> str:
        """The truncation rule in force: the recipe's, else the chat template's default."""
        if self.truncation is not None:
            return self.truncation
        if self.chat_template is not None:
            from collectivesft.train.templates import get_template

            return get_template(self.chat_template).truncation
        return "turn"


ACCELERATE_CONFIGS = ("zero2", "zero3", "fsdp")


def accelerate_config_path(name: str) -> Path:
    """The shipped Accelerate config `name` (zero2 = the paper's DeepSpeed ZeRO-2, zero3, fsdp)."""
    if name not in ACCELERATE_CONFIGS:
        raise ConfigError(f"unknown accelerate config {name!r}; shipped: {', '.join(ACCELERATE_CONFIGS)}")
    return Path(__file__).with_name("accelerate_configs") / f"{name}.yaml"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` laid over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def config_from_dict(data: dict[str, Any], where: str = "<config>") -> TrainConfig:
    """Validate `data` as a TrainConfig; ConfigError naming every bad key and `where` otherwise."""

    return validate_model(TrainConfig, data, where, "train config")


def load_config(path: str | Path | None, overrides: list[str] | dict[str, Any] | None = None) -> TrainConfig:
    """Read a TrainConfig from YAML (bare, or the `train:` section of a run recipe), apply
    overrides, validate. `path` None means overrides only (they must then name the model)."""

    data: dict[str, Any] = {}
    where = "<overrides>"
    if path is not None:
        from collectivesft.pipeline.recipe import stage_section

        data, where = stage_section(path, "train", "train recipe")
    if isinstance(overrides, dict):
        data = _merge(data, overrides)
    elif overrides:
        from collectivesft.config import apply_overrides

        data = apply_overrides(json.loads(json.dumps(data)), overrides)  # a copy: never edit the loaded YAML
    if overrides:
        where = f"{where} with overrides" if path is not None else "overrides"
    return config_from_dict(data, where)
