"""The mix recipe: a typed, validated description of the mixture to build.

Loaded from YAML (a bare mix recipe, or a full run recipe whose `mix:` section is used).
Every key has its default next to it; unknown keys are errors, and every validation error
is re-raised as ConfigError naming the key path (e.g. `sources.2.cap`) and the file.
docs/mix.md is the user-facing reference of these keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collectivesft.errors import ConfigError

STRATEGIES = ("cap", "proportional", "temperature", "uniform", "weights")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(_Strict):
    """One source of the mixture: converted records, or raw files converted on the fly."""

    name: str = Field(min_length=1, description="label of this source in the mixture (unique)")
    records: Optional[str] = Field(None, description="folder holding records.jsonl, or a .jsonl file")
    input: Optional[str] = Field(None, description="raw files as downloaded; converted with `source`")
    hub: Optional[str] = Field(None, description="hub id or local hub-layout folder; converted with `source`")
    source: Optional[str] = Field(None, description="registered converter for input/hub (default: name)")
    options: dict[str, str] = Field(default_factory=dict, description="converter options")
    style: Literal["default", "paper"] = Field("default", description="conversion style for input/hub: default "
                                               "(our records) or paper (the CollectiveSFT scripts' rows)")
    cap: Optional[int] = Field(None, ge=0, description="at most this many records (default: recipe cap)")
    weight: Optional[float] = Field(None, ge=0, description="share under strategy `weights`")
    stratify_by: list[str] = Field(default_factory=list, description="meta keys to sample evenly across")
    val_fraction: Optional[float] = Field(None, ge=0, lt=1, description="validation share (default: recipe's)")
    allow_empty: bool = Field(False, description="build the mixture even if this source contributes no records")

    @field_validator("options", mode="before")
    @classmethod
    def _options_as_text(cls, value):
        from collectivesft.config import options_as_text

        return options_as_text(value)

    @model_validator(mode="after")
    def _one_origin(self) -> "SourceSpec":
        given = [k for k in ("records", "input", "hub") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of records, input or hub (got {given or 'none'})")
        if self.records is not None and (self.source is not None or self.options or self.style != "default"):
            raise ValueError("source/options/style only apply to input or hub (records are already converted)")
        return self

    @property
    def converter(self) -> str:
        return self.source or self.name


class FilterSpec(_Strict):
    """Row filters; a dropped record is counted under `filter:<name>`."""

    drop_empty_turns: bool = True
    min_chars: int = Field(0, ge=0, description="minimum characters over all turns")
    max_chars: Optional[int] = Field(None, ge=1, description="maximum characters over all turns")
    tokenizer: Optional[str] = Field(None, description="Hugging Face tokenizer path for token bounds")
    min_tokens: int = Field(0, ge=0)
    max_tokens: Optional[int] = Field(None, ge=1)
    valid_mcq_answers: bool = True
    langs: Optional[list[str]] = Field(None, description="keep only these `lang` values")

    @model_validator(mode="after")
    def _tokens_need_tokenizer(self) -> "FilterSpec":
        if (self.min_tokens or self.max_tokens) and not self.tokenizer:
            raise ValueError("min_tokens/max_tokens need `tokenizer` (a tokenizer folder or hub id)")
        if self.max_chars is not None and self.max_chars < self.min_chars:
            raise ValueError("max_chars must be >= min_chars")
        return self


class DedupSpec(_Strict):
    """Exact and near-duplicate removal across all sources (earliest copy kept)."""

    exact: bool = True
    near: bool = True
    threshold: float = Field(0.8, gt=0, le=1, description="estimated Jaccard similarity of n-gram sets")
    ngram: int = Field(5, ge=1, le=64, description="characters per shingle")
    num_perm: int = Field(128, ge=16, le=1024)
    candidate_threshold: Optional[float] = Field(
        None, gt=0, le=1, description="similarity the LSH bands are tuned for (default: threshold); lower it to "
                                      "catch more pairs just above threshold, each still verified against threshold")
    text: Literal["user", "all"] = Field("user", description="compare user turns only, or all turns")
    workers: int = Field(1, ge=0, description="processes examining records (parse, filter, decontaminate, MinHash); 0 = one per core")


class BenchmarkTarget(_Strict):
    """A benchmark whose evaluated items decontamination indexes, read by its own loader."""

    name: str = Field(min_length=1, description="registered benchmark (see docs/eval.md)")
    data: Optional[str] = Field(None, description="its files (a folder or file in its published layout) or hub "
                                "id; default: the benchmark's hub id")

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        from collectivesft.benchmarks.base import benchmark_names

        known = benchmark_names()
        if value not in known:
            raise ValueError(f"unknown benchmark {value!r} (known: {', '.join(known) or 'none'})")
        return value


class DecontaminationSpec(_Strict):
    """Drop (or only report) training records overlapping evaluation files and benchmarks."""

    eval_data: list[str] = Field(default_factory=list, description="CMB data read by the benchmark loaders: a "
                                 "release folder or zip, or a hub id (every test/val question and CMB-Clin case)")
    eval_files: list[str] = Field(default_factory=list, description="single files: CMB-Exam question files, "
                                  "CMB-Clin-qa.json, or JSONL of unified records")
    benchmarks: list[BenchmarkTarget] = Field(
        default_factory=list, description="benchmarks ({name, data} or a name) whose evaluated items are indexed "
        "through their loaders; in a run recipe: every benchmark of eval.benchmarks unless set here")
    ngram: int = Field(10, ge=3, le=64, description="characters per n-gram")
    min_overlap: float = Field(0.5, gt=0, le=1, description="share of an eval item's n-grams found in the record")
    action: Optional[Literal["drop", "report"]] = Field(
        None, description="drop or report matches; unset: drop when eval data is given. An explicit drop with "
                          "nothing to index is an error (it would silently remove nothing)")

    @field_validator("benchmarks", mode="before")
    @classmethod
    def _names_as_entries(cls, value):
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _each_benchmark_once(self) -> "DecontaminationSpec":
        names = [b.name for b in self.benchmarks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"benchmarks: {', '.join(dupes)} listed more than once")
        return self

    @property
    def targets(self) -> list[str]:
        """The CMB data and files the index is built from, in order: eval_data, then eval_files
        (benchmarks come after them, from `benchmarks`)."""
        return [*self.eval_data, *self.eval_files]

    @property
    def indexes_anything(self) -> bool:
        return bool(self.targets or self.benchmarks)

    @property
    def drops(self) -> bool:
        return self.action != "report"


class ExportSpec(_Strict):
    llamafactory: bool = True
    sharegpt: bool = True
    parquet: bool = True
    accounting: bool = Field(True, description="accounting.jsonl: one line per input record")


class MixRecipe(_Strict):
    """A whole mixture: sources, how much to take from each, and how to clean it."""

    seed: int = 0
    strategy: Literal["cap", "proportional", "temperature", "uniform", "weights"] = "cap"
    cap: Optional[int] = Field(None, ge=0, description="default per-source cap (none = no cap)")
    total: Optional[int] = Field(None, ge=0, description="mixture size before the validation split")
    alpha: float = Field(0.5, ge=0, le=1, description="temperature exponent: share ~ n**alpha")
    selection: Literal["random", "first"] = "random"
    val_fraction: float = Field(0.1, ge=0, lt=1)
    split: Literal["per_source", "llamafactory"] = Field(
        "per_source", description="per_source: each source holds out its own val_fraction; llamafactory: one "
        "global split of the concatenated selection (sources in recipe order, records in file order) by "
        "datasets' train_test_split(test_size=val_fraction, seed=seed), as LLaMA-Factory's val_size does")
    sources: list[SourceSpec] = Field(min_length=1)
    filters: FilterSpec = Field(default_factory=FilterSpec)
    dedup: DedupSpec = Field(default_factory=DedupSpec)
    decontamination: DecontaminationSpec = Field(default_factory=DecontaminationSpec)
    exports: ExportSpec = Field(default_factory=ExportSpec)
    report: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> "MixRecipe":
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        if self.strategy == "cap" and self.total is not None:
            raise ValueError("`total` needs a sharing strategy (proportional, temperature, uniform, weights); "
                             "strategy cap takes min(cap, available) from each source")
        if self.strategy != "weights":
            weighted = [s.name for s in self.sources if s.weight is not None]
            if weighted:
                raise ValueError(f"`weight` is only used by strategy weights (set on: {', '.join(weighted)})")
        if self.split == "llamafactory":
            own = [s.name for s in self.sources if s.val_fraction is not None]
            if own:
                raise ValueError("split llamafactory holds out val_fraction of the whole mixture; per-source "
                                 f"val_fraction only applies to split per_source (set on: {', '.join(own)})")
        if self.selection == "first":
            stratified = [s.name for s in self.sources if s.stratify_by]
            if stratified:
                raise ValueError("selection first takes rows in file order and cannot stratify "
                                 f"(stratify_by set on: {', '.join(stratified)})")
        return self

    def cap_of(self, spec: SourceSpec) -> int | None:
        return spec.cap if spec.cap is not None else self.cap

    def val_fraction_of(self, spec: SourceSpec) -> float:
        return spec.val_fraction if spec.val_fraction is not None else self.val_fraction


def recipe_from_dict(data: Any, where: str = "<recipe>") -> MixRecipe:
    """Validate a dict as a MixRecipe; errors become ConfigError naming key and `where`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a mix recipe must be a mapping, got {type(data).__name__}")
    from collectivesft.config import validate_model

    return validate_model(MixRecipe, data, where, "mix recipe")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> MixRecipe:
    """Load a mix recipe YAML, or a run recipe's mix section (its sources with their raw origins);
    validate with `key=value` overrides."""
    from collectivesft.config import apply_overrides, read_yaml_mapping
    from collectivesft.pipeline.recipe import is_run_recipe, mix_section

    path = Path(path)
    data: Any = read_yaml_mapping(path, "mix recipe")
    where = str(path)
    if is_run_recipe(data):
        data, where = mix_section(data, None, [], str(path)), f"{path} (section mix)"
    data = apply_overrides(data, overrides)
    return recipe_from_dict(data, where)
