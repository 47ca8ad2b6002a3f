"""The `search:` section of a run recipe: what `collectivesft mixture search` explores and how.

    search:
      sources: [cmb, cmedqa2, webmedqa]    # the recipe's sources weighed (default: all of them)
      extra:                               # more sources given as files (e.g. general-domain data)
        - {name: general, file: data/alpaca_zh.json, format: alpaca}
      bounds: {general: {max: 0.3}}        # share of the mixture each source may take
      total: 2000                          # records in every mixture (default: the recipe's own mixture size)
      proxies: {count: 24, train: {epochs: 1}, model: {path: Qwen/Qwen2.5-0.5B}}
      target: {split: val, metric: overall_micro}
      regression: {model: linear}
      seeds: [1, 2, 3]                     # training seeds of the validation runs

Every key has its default here, next to the field; unknown keys are errors that name the key
(the run recipe's own checks report them with the other sections' problems).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from collectivesft.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bound(_Strict):
    """The share of the mixture (0..1) a source may take, in the proxies and the recommendation."""

    min: float = Field(0.0, ge=0, le=1)
    max: float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Bound":
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ExtraSource(_Strict):
    """A source outside the registry, from an instruction file: general-domain data, your own set,
    or (fixture world) a planted file of known bad quality."""

    name: str = Field(min_length=1)
    file: Optional[str] = Field(None, description="alpaca JSON/JSONL, ShareGPT JSON/JSONL, or unified records JSONL")
    format: Literal["auto", "alpaca", "sharegpt", "records"] = "auto"
    lang: str = Field("zh", description="the `lang` of its records (alpaca and ShareGPT rows carry none)")
    fixture: Optional[Literal["wrong-facts", "off-topic"]] = Field(
        None, description="instead of file: a planted fixture file (fixtures/planted.py), for demos and tests")
    rows: int = Field(200, gt=0, description="rows of the planted fixture file")

    @model_validator(mode="after")
    def _one_origin(self) -> "ExtraSource":
        if (self.file is None) == (self.fixture is None):
            raise ValueError(f"extra source {self.name!r}: give exactly one of file or fixture")
        return self


class ProxySettings(_Strict):
    """The proxy runs: how many mixtures, and at what scale they are trained."""

    count: int = Field(16, ge=0, description="mixtures sampled from a Dirichlet around the recipe's own shares")
    anchors: bool = Field(True, description="also train the recipe's own shares, uniform, proportional, and each "
                                            "source left out")
    seed: int = Field(0, description="seed of the mixture sampling")
    min_strength: float = Field(0.1, gt=0, description="Dirichlet concentration range (RegMix: 0.1..5): small "
                                                       "gives mixtures dominated by few sources")
    max_strength: float = Field(5.0, gt=0)
    temperature: float = Field(0.5, gt=0, le=1, description="the prior raised to this power before sampling "
                                                            "(flattens a skewed prior; RegMix: 0.5)")
    model: Optional[dict[str, Any]] = Field(None, description="a smaller base model for the proxies: the run "
                                            "recipe's model: mapping ({path: ...} or {tiny: ...})")
    train: dict[str, Any] = Field(default_factory=dict, description="train: keys overridden for the proxies "
                                  "(fewer epochs or max_steps)")
    eval: dict[str, Any] = Field(default_factory=dict, description="eval: keys overridden for the proxies "
                                 "(e.g. a cheaper method or a limit)")
    seeds: list[int] = Field(default_factory=list, description="training seeds per proxy (default: one run with "
                                                               "the recipe's seed)")

    @model_validator(mode="after")
    def _strengths(self) -> "ProxySettings":
        if self.min_strength > self.max_strength:
            raise ValueError("min_strength is above max_strength")
        return self


class TargetSettings(_Strict):
    """What the proxies are scored on: a score of the recipe's evaluation, on its validation split by
    default so that the test questions are not tuned on."""

    split: Literal["val", "test"] = "val"
    metric: str = Field("overall_micro", description="a key of scores.json, dotted into nested ones "
                        "(overall_micro, overall_macro_types, by_type.医师考试), or answer_probability: the "
                        "mean probability of the right option among the options (cloze or loglik; smoother "
                        "than accuracy on a small split)")
    weights: dict[str, float] = Field(default_factory=dict, description="instead of metric: a weighted sum "
                                      "of several scores.json keys")


class RegressionSettings(_Strict):
    """The regression from mixture shares to the target, and how its optimum is found."""

    model: Literal["linear", "boosting"] = Field("linear", description="linear: ridge regression on the shares; "
                                                 "boosting: gradient-boosted trees (needs many proxies)")
    alpha: float = Field(1e-3, ge=0, description="ridge penalty of the linear model")
    folds: int = Field(0, ge=0, description="held-out check: 0 = leave one proxy out, k = k-fold")
    candidates: int = Field(100_000, ge=100, description="mixtures sampled under the bounds and scored by the "
                                                         "regression")
    top_k: int = Field(100, ge=1, description="the recommendation is the mean of the best-predicted candidates "
                                              "(RegMix: averaging the top ones is steadier than the single best)")


class SearchSettings(_Strict):
    sources: list[str] = Field(default_factory=list, description="the recipe's sources weighed (default: all); "
                               "the others get no share")
    extra: list[ExtraSource] = Field(default_factory=list)
    bounds: dict[str, Bound] = Field(default_factory=dict)
    total: Optional[int] = Field(None, gt=0, description="records in every mixture, before the validation split "
                                 "(default: the size of the recipe's own mixture)")
    proxies: ProxySettings = Field(default_factory=ProxySettings)
    target: TargetSettings = Field(default_factory=TargetSettings)
    regression: RegressionSettings = Field(default_factory=RegressionSettings)
    seeds: list[int] = Field(default_factory=list, description="training seeds of the validation runs (default: "
                             "the recipe's own seed, one run each)")
    validate_best: bool = Field(True, alias="validate", description="train the recommendation, the recipe's "
                                "mixture and uniform at full scale and compare them on the test split")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> "SearchSettings":
        names = [e.name for e in self.extra]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"extra: {dup[0]!r} listed twice")
        if sum(b.min for b in self.bounds.values()) > 1:
            raise ValueError("bounds: the minimum shares add up to more than 1")
        return self


def search_settings(section: dict[str, Any], names: list[str], where: str) -> SearchSettings:
    """The validated search section of a run recipe whose sources are `names`; ConfigError naming
    the key and `where` otherwise."""
    from collectivesft.config import validate_model

    settings = validate_model(SearchSettings, section or {}, f"{where} (search:)", "search section")
    unknown = [n for n in settings.sources if n not in names]
    if unknown:
        raise ConfigError(f"{where} (search:): sources: {unknown[0]!r} is not in the recipe's sources "
                          f"({', '.join(names)})")
    clash = [e.name for e in settings.extra if e.name in names]
    if clash:
        raise ConfigError(f"{where} (search:): extra: {clash[0]!r} is already a source of the recipe; name it apart")
    space = (settings.sources or names) + [e.name for e in settings.extra]
    stray = [n for n in settings.bounds if n not in space]
    if stray:
        raise ConfigError(f"{where} (search:): bounds: {stray[0]!r} is not a source of the search "
                          f"({', '.join(space)})")
    if len(space) < 2:
        raise ConfigError(f"{where} (search:): a search needs at least two sources (has {', '.join(space)})")
    return settings
