"""The run recipe: one YAML that drives `collectivesft run` through every stage.

    name: demo
    fixtures: {rows: 60, seed: 0}       # optional: generate raw data + a CMB eval set in the run folder
    sources: [{name: cmb, input: ...}]  # or {name, hub}; with fixtures, input may be left out
    mix: {...}                          # the mix stage's recipe (source paths are filled in)
    model: {tiny: {arch: qwen2, size: small}}   # or {path: Qwen/Qwen2.5-7B}
    train: {...}                        # TrainConfig without `model` (filled in)
    launch: {config_file: zero2, num_processes: 8}   # optional: train under accelerate launch
    eval: {...}                         # CMB evaluation; compare_base evaluates the base model too;
                                        # benchmarks: [cmb, cmmlu-medical, {name, data}] runs the suite
    search: {...}                       # optional: `collectivesft mixture search` (search_config.py)

This module is the only reader of run recipes: it tells a run recipe from a bare stage config,
and hands each stage its section. Each stage section is validated by that stage's own config
type; this module validates the shape and the keys that chain the stages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collectivesft.errors import ConfigError

SECTIONS = ("mix", "train", "eval")


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
    # default: our records; paper: the CollectiveSFT preprocess scripts' rows (sources/paper/).
    style: Literal["default", "paper"] = "default"
    allow_empty: bool = False  # a conversion keeping no record is accepted (and the mix allows the source empty)

    @field_validator("options", mode="before")
    @classmethod
    def _options_as_text(cls, value):
        from collectivesft.config import options_as_text

        return options_as_text(value)

    @model_validator(mode="after")
    def _one_location(self) -> "SourceEntry":
        if self.input and self.hub:
            raise ValueError(f"source {self.name!r}: give input or hub, not both")
        return self


class TinyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arch: Literal["qwen2", "llama", "internlm2"] = "qwen2"
    size: str = "small"
    seed: int = 0
    remote_code: bool = False  # classes from the folder's own files: needs train.trust_remote_code


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
    preflight: bool = Field(True, description="Run `model check` on the base model with the train settings "
                            "before training, and stop on a failure.")
    eval: dict[str, Any] = Field(default_factory=dict)
    # Read by `collectivesft mixture search` only (pipeline/search_config.py checks it); `run` ignores it.
    search: dict[str, Any] = Field(default_factory=dict)

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
            if not self.eval.get("data") and not self.eval.get("benchmarks"):
                raise ValueError("eval.data is required without a fixtures: section")
        if "model" in self.train:
            raise ValueError("train.model: set the base model in the top-level model: section")
        return self


def is_run_recipe(data: dict[str, Any]) -> bool:
    """A run recipe has a stage section (mix:, train:, eval: mappings), a model: mapping, or
    fixtures:/launch:. Bare stage configs have none: a bare mix recipe's `sources` are its own
    entries, and a bare train or eval config names its model as a string."""
    if any(isinstance(data.get(k), dict) for k in SECTIONS):
        return True
    return isinstance(data.get("model"), dict) or "fixtures" in data or "launch" in data


def load_run_recipe(path: str | Path, overrides: list[str] | None = None) -> RunRecipe:
    """Read and validate a run recipe (with `--set key=value` overrides); ConfigError names the
    file and every bad key."""
    from collectivesft.config import apply_overrides, read_yaml_mapping

    data = apply_overrides(read_yaml_mapping(path, "run recipe"), overrides)
    return recipe_from_mapping(data, f"{path} with overrides" if overrides else str(path))


def recipe_from_mapping(data: dict[str, Any], where: str) -> RunRecipe:
    """Validate a run recipe mapping (read from `where`); unknown source names are errors."""
    from collectivesft.config import validate_model
    from collectivesft.sources.registry import source_names

    recipe = validate_model(RunRecipe, data, where, "recipe")
    known = source_names()
    for entry in recipe.sources:
        if entry.name not in known:
            raise ConfigError(f"{where}: sources: unknown source {entry.name!r} (known: {', '.join(known)})")
    return recipe


def stage_section(path: str | Path, section: str, what: str) -> tuple[dict[str, Any], str]:
    """(config mapping, where) for stage `section` from a bare stage config or a run recipe.

    From a run recipe the train section gets the top-level `model.path` as its model, and the
    eval section gets the train section's `trust_remote_code`.
    """
    from collectivesft.config import read_yaml_mapping

    data = read_yaml_mapping(path, what)
    if not is_run_recipe(data):
        return data, str(path)
    if section not in data:
        if section == "train":
            raise ConfigError(f"{path}: run recipe has no train: section")
        return {}, f"{path} ({section}:)"
    values = data[section]
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the {section}: section must be a mapping")
    model = data.get("model")
    if section == "train" and "model" not in values and isinstance(model, dict) and model.get("path"):
        values = dict(values, model=model["path"])
    return values, f"{path} ({section}:)"


def mix_section(recipe: dict[str, Any], converted: dict[str, str] | None, eval_data: list[str],
                where: str = "recipe", benchmarks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The mix stage's recipe from a run recipe: every top-level source becomes a mix source, as
    `records` (converted: {name: records path}) or with its raw origin (converted None: input /
    hub / options, for a mix stage that converts them itself); `mix.sources` entries, matched by
    name, only add per-source settings (cap, weight, stratify_by, val_fraction); an entry with its
    own `records:` and a name that is no top-level source is mixed as it is (an extra source:
    general-domain data, or converted records of your own). Decontamination defaults to the
    run's CMB eval data and to `benchmarks` (the run's evaluated ones, {name, data}); a mix
    section naming its own `decontamination.benchmarks` keeps them instead."""
    section = json.loads(json.dumps(recipe.get("mix") or {}))  # deep copy
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: mix: must be a mapping")
    own = section.get("sources") or []
    if converted is None and any(isinstance(e, dict) and {"records", "input", "hub"} & set(e) for e in own):
        return section  # a self-contained mix section: its sources say where their records are
    top = recipe.get("sources") or []
    names = [entry.get("name") for entry in top if isinstance(entry, dict)]
    per_source, extra = {}, []
    for i, entry in enumerate(section.pop("sources", []) or []):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"{where}: mix.sources.{i}: expected a mapping with a name")
        if entry["name"] not in names and "records" in entry:
            extra.append(entry)
            continue
        if entry["name"] not in names:
            raise ConfigError(f"{where}: mix.sources: {entry['name']!r} is not in the recipe's sources")
        per_source[entry["name"]] = {k: v for k, v in entry.items() if k != "name"}
    merged = []
    for i, entry in enumerate(top):
        name = entry["name"]
        if converted is not None:
            origin = {"records": converted[name]}
        elif entry.get("input") or entry.get("hub"):
            origin = {k: entry[k] for k in ("input", "hub", "options") if entry.get(k)}
            if entry.get("style", "default") != "default":
                origin["style"] = entry["style"]
        else:
            raise ConfigError(f"{where}: sources.{i} ({name}) has no input or hub: fixture data is made by "
                              "`collectivesft run` and `collectivesft data mix` on the whole run recipe")
        if entry.get("allow_empty"):
            origin["allow_empty"] = True
        merged.append(dict(per_source.get(name, {}), name=name, **origin))
    section["sources"] = merged + extra
    decon = section.setdefault("decontamination", {})
    if isinstance(decon, dict) and not decon.get("eval_files") and not decon.get("eval_data") and eval_data:
        decon["eval_data"] = list(eval_data)
    if isinstance(decon, dict) and "benchmarks" not in decon and benchmarks:
        decon["benchmarks"] = [dict(b) for b in benchmarks]
    return section
