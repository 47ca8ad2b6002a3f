"""The run recipe: one YAML that drives `collectivesft run` through every stage.

    name: demo
    fixtures: {rows: 60, seed: 0}       # optional: generate raw data + a CMB eval set in the run folder
    sources: [{name: cmb, input: ...}]  # or {name, hub}; with fixtures, input may be left out
    mix: {...}                          # the mix stage's recipe (source paths are filled in)
    model: {tiny: {arch: qwen2, size: small}}   # or {path: Qwen/Qwen2.5-7B}
    train: {...}                        # TrainConfig without `model` (filled in)
    launch: {config_file: zero2, num_processes: 8}   # optional: train under accelerate launch
    eval: {...}                         # CMB evaluation; compare_base evaluates the base model too

Each stage section is validated by that stage's own config type when the stage runs; this
module validates the shape and the keys that chain the stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from collectivesft.errors import ConfigError


class FixtureSettings(BaseModel):
    """Generate raw fixture files (all sources) and a fixture CMB eval set inside the run folder."""

    model_config = ConfigDict(extra="forbid")
    rows: int = Field(60, gt=0, description="Good rows per source.")
    seed: int = 0
    cmb_test: int = Field(140, gt=0, description="Questions in the fixture CMB-Exam test set.")


class SourceEntry(BaseModel):
    """One source to convert: raw `input` (file/folder/zip) or `hub` id; fixture data when both are absent."""

    model_config = ConfigDict(extra="forbid")
    name: str
    input: Optional[str] = None
    hub: Optional[str] = None
    options: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_location(self) -> "SourceEntry":
        if self.input and self.hub:
            raise ValueError(f"source {self.name!r}: give input or hub, not both")
        return self


class TinyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arch: Literal["qwen2", "llama"] = "qwen2"
    size: str = "small"
    seed: int = 0


class ModelEntry(BaseModel):
    """The base model: a folder or hub id (`path`), or a tiny model built in the run folder."""

    model_config = ConfigDict(extra="forbid")
    path: Optional[str] = None
    tiny: Optional[TinyModel] = None

    @model_validator(mode="after")
    def _one(self) -> "ModelEntry":
        if (self.path is None) == (self.tiny is None):
            raise ValueError("model: give exactly one of path or tiny")
        return self


class LaunchSettings(BaseModel):
    """Run the train stage under `accelerate launch` (several GPUs or machines) instead of in-process."""

    model_config = ConfigDict(extra="forbid")
    config_file: Optional[str] = Field(None, description="Accelerate config: a shipped one by name (zero2 = the "
                                       "paper's DeepSpeed ZeRO-2, zero3, fsdp) or a path to your own.")
    num_processes: int = Field(1, gt=0, description="Processes (GPUs) in total, over all machines.")
    args: list[str] = Field(default_factory=list, description="More `accelerate launch` flags, e.g. "
                            "[--num_machines, '2', --machine_rank, '0', --main_process_ip, 10.0.0.1].")


class RunRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "run"
    fixtures: Optional[FixtureSettings] = None
    sources: list[SourceEntry] = Field(..., min_length=1)
    mix: dict[str, Any] = Field(default_factory=dict)
    model: ModelEntry
    train: dict[str, Any] = Field(default_factory=dict)
    launch: Optional[LaunchSettings] = None
    eval: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _inputs_known(self) -> "RunRecipe":
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"sources: {dup[0]!r} listed twice")
        if self.fixtures is None:
            missing = [s.name for s in self.sources if not s.input and not s.hub]
            if missing:
                raise ValueError(f"sources: {missing[0]!r} needs input or hub (or a fixtures: section)")
            if not self.eval.get("data"):
                raise ValueError("eval.data is required without a fixtures: section")
        if "model" in self.train:
            raise ValueError("train.model: set the base model in the top-level model: section")
        return self


def load_run_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> RunRecipe:
    """Read and validate a run recipe; ConfigError names the file and every bad key."""
    from collectivesft.config import read_yaml_mapping, validate_model

    data = dict(read_yaml_mapping(path, "run recipe"), **(overrides or {}))
    recipe = validate_model(RunRecipe, data, str(path), "recipe")
    from collectivesft.sources.registry import source_names

    known = source_names()
    for entry in recipe.sources:
        if entry.name not in known:
            raise ConfigError(f"{path}: sources: unknown source {entry.name!r} (known: {', '.join(known)})")
    return recipe
