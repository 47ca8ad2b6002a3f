"""Typed evaluation settings shared by the CMB-Exam and CMB-Clin runners and the back-ends.

Loaded from a bare YAML config or a full recipe's `eval:` section; unknown keys and bad
values raise ConfigError naming the key and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collectivesft.config import validate_model


class InferenceConfig(BaseModel):
    """Which model, through which back-end, with which decoding settings."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., description="Model folder or hub id (hf/vllm); model name for openai. A train run "
                       "folder means the model it saved (RUN/model).")
    adapter: Optional[str] = Field(None, description="hf/vllm: a LoRA adapter folder (or its train run folder) "
                                   "applied to `model` as the base (LLaMA-Factory's adapter_name_or_path).")
    backend: str = Field("hf", description="Inference back-end: hf | vllm | openai.")
    trust_remote_code: bool = Field(False, description="hf/vllm: allow the model's own code (auto_map; "
                                    "InternLM2 needs it). Off unless asked.")
    batch_size: int = Field(8, ge=1, description="Questions per batch (hf/vllm rows per forward pass).")
    max_new_tokens: int = Field(512, ge=1, description="Generation budget (the official CMB setting is 512).")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy, as the official evaluation.")
    system: Optional[str] = Field(None, description="Optional system prompt.")
    device: str = Field("auto", description="hf: cpu, cuda, cuda:1 or auto (all GPUs, the model sharded "
                        "over them with device_map=auto; else CPU).")
    dtype: str = Field("auto", description="hf/vllm: auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16.")
    base_url: Optional[str] = Field(None, description="openai: endpoint base URL (default $OPENAI_BASE_URL).")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the key.")
    concurrency: int = Field(8, ge=1, description="openai: parallel requests.")
    max_retries: int = Field(5, ge=0, description="openai: retries with exponential back-off.")
    timeout_s: float = Field(120.0, gt=0, description="openai: per-request timeout.")
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs per model.")
    data_parallel: int = Field(1, ge=1, description="eval cmb / eval suite: processes, each with its own model copy "
                               "(hf: shard i on cuda:i), answering the questions' batches in turn; the same "
                               "scores as one process (docs/eval.md, Data-parallel evaluation). Not a setting "
                               "of the answers, so a run may resume with another N.")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vllm: fraction of GPU memory.")
    threads: Optional[int] = Field(None, ge=1, description="hf on CPU: torch threads. None: the usable physical "
                                   "cores less the load average's other processes, at least 1 (eval/threads.py).")


    @field_validator("model", "adapter")
    @classmethod
    def _run_folder_means_its_model(cls, value: Optional[str]) -> Optional[str]:
        from collectivesft.model_ref import resolve_model

        return resolve_model(value) if value else value


class CMBEvalConfig(InferenceConfig):
    """`collectivesft eval cmb`: CMB-Exam on one split."""

    data: str = Field("FreedomIntelligence/CMB", description="Hub id, or a local folder/zip with the official files.")
    split: Literal["test", "val"] = "test"
    key: Optional[str] = Field(None, description="Answer key JSON; default: the key inside `data` (test) or val's answers.")
    protocol: Literal["collectivesft", "official"] = Field(
        "collectivesft", description="collectivesft (our prompt, robust extraction, letter sets) or official "
        "(the CMB scripts' prompt, few-shot, match_choice and exact comparison).")
    method: Literal["generate", "loglik", "cloze"] = Field(
        "generate", description="generate: free answer + extraction; loglik: likelihood of the answer letters; "
                                "cloze: likelihood of each option's text after the question, per character.")
    shots: int = Field(0, ge=0, description="Few-shot examples from val, same exam class.")
    cot: Optional[bool] = Field(None, description="Ask for an analysis before the answer (generate only); "
                                "default: on for the official protocol (as generate_answers.sh), off otherwise.")
    fewshot_seed: int = Field(42, description="official: seed of the few-shot draws (random.Random(seed).sample).")
    limit: Optional[int] = Field(None, ge=1, description="Only the first N questions.")
    sample: Optional[int] = Field(None, ge=1, description="A random subset of N questions stratified by exam class "
                                  "(proportional, at least one per class when N allows; eval/cmb/subset.py).")
    sample_seed: int = Field(0, description="Seed of `sample`: the same seed draws the same questions.")
    circular: bool = Field(False, description="CircularEval: ask every question under every rotation of its options "
                           "(OUT/rotations/r{k}/); report per-rotation, circular accuracy and consistency.")

    def use_cot(self) -> bool:
        """The CoT setting in force: the explicit one, else the protocol's default."""
        return self.cot if self.cot is not None else self.protocol == "official"


class ClinEvalConfig(InferenceConfig):
    """`collectivesft eval cmb-clin`: CMB-Clin cases as multi-turn conversations."""

    data: str = Field("FreedomIntelligence/CMB", description="CMB-Clin-qa.json, a release folder/zip, or the hub id.")
    limit: Optional[int] = Field(None, ge=1, description="Only the first N cases.")
    protocol: Literal["collectivesft", "official"] = Field(
        "collectivesft", description="official: the README's first turn and reference answers as history; "
        "collectivesft: our first turn and the model's own answers.")
    history: Optional[Literal["reference", "model"]] = Field(
        None, description="Earlier turns' assistant answers: reference solutions (teacher-forced, the official "
        "workers) or the model's own; default: reference for official, model for collectivesft.")

    def history_mode(self) -> str:
        """The history setting in force: the explicit one, else the protocol's default."""
        return self.history or ("reference" if self.protocol == "official" else "model")


C = TypeVar("C", bound=BaseModel)


def build_config(cls: type[C], values: dict[str, Any], where: str = "command line") -> C:
    """Validate `values` into `cls`; errors name the key and where it came from."""
    return validate_model(cls, values, where, cls.__name__)


def load_config(cls: type[C], path: str | Path | None, overrides: dict[str, Any], section: str = "eval",
                sets: list[str] | None = None) -> C:
    """A config from YAML (bare, or a full recipe whose `section` is used), then the named
    command-line options (`overrides`, None = not given), then `--set key=value` items."""
    values: dict[str, Any] = {}
    where = "command line"
    if path is not None:
        from collectivesft.pipeline.recipe import stage_section

        data, where = stage_section(path, section, "eval config")
        values.update(data)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if sets:
        from collectivesft.config import apply_overrides

        apply_overrides(values, sets)
    return build_config(cls, values, where)
