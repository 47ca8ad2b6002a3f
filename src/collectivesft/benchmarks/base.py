"""What every multiple-choice benchmark beyond CMB declares: its facts, its items, its prompt.

A benchmark is data, not a code path: a `Benchmark` subclass holds class attributes (where
its files come from, which categories it reports, the prompt wording, its metric) and two
methods, `load` (the published files into `Item`s) and `write_fixture` (files in the same
layout, with realistic breakage, for tests and the demo world). The suite runner
(eval/suite/), decontamination and the report read benchmarks only through this interface.

Registered by name (`@register`), one subpackage per benchmark under benchmarks/; CMB keeps
its own protocols and runner (eval/cmb/) and is reached through the `cmb` entry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

from collectivesft.registry import Registry


@dataclass(frozen=True)
class Item:
    """One question of a benchmark.

    `answer` is the sorted letter string ("B", "ACD") or None when the split publishes none;
    `groups` holds the item's value for each of the benchmark's `categories` (subject,
    annotation dimensions); `raw` is the row as published, for official renderings.
    """

    id: str  # unique within the benchmark and split, stable across runs ("anatomy/12")
    question: str
    options: dict[str, str]  # letter -> text, in published order; empty texts dropped
    answer: str | None
    multi: bool = False
    groups: dict[str, str] = field(default_factory=dict)
    explanation: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def text_for_overlap(self) -> tuple[str, str]:
        """(text, fallback) decontamination indexes: the stem, and stem plus options when the
        stem is shorter than one n-gram."""
        options = "\n".join(f"{k}. {v}" for k, v in self.options.items())
        return self.question, self.question + "\n" + options


@dataclass(frozen=True)
class Prompt:
    """How an item is asked: `header` once (before shots), `item` per question, `answer` after it.

    Placeholders: header {subject} (the item's `subject_name` group, else the benchmark
    title); item {question} and {options} (lines "A. text" joined by newlines, or
    `option_line` per option). `answer_prefix` ends the item text and starts the scored
    continuation for loglik ("答案：" + letter).
    """

    header: str
    item: str
    answer_prefix: str
    option_line: str = "{letter}. {text}"
    multi_header: str | None = None  # header for multi-answer items, when it differs


class Benchmark:
    """Base class of a registered benchmark; subclasses set the class attributes and `load`."""

    name: ClassVar[str]  # registry name, e.g. "cmmlu-medical"
    title: ClassVar[str]  # human name, e.g. "CMMLU (medical subjects)"
    homepage: ClassVar[str]
    hub_id: ClassVar[str | None] = None
    license: ClassVar[str] = ""
    layout: ClassVar[str]  # the files `load` expects, quoted in layout errors
    how_to_get: ClassVar[str] = ""  # one sentence for docs and errors: where the files come from
    splits: ClassVar[tuple[str, ...]]  # splits `load` can read
    eval_split: ClassVar[str] = "test"  # the split scored by default
    validation_split: ClassVar[str | None] = None  # a split to tune on (mixture search), if any
    shots_split: ClassVar[str | None] = None  # where few-shot examples come from, if any
    categories: ClassVar[tuple[str, ...]] = ()  # keys of Item.groups reported, the first is primary
    metric: ClassVar[str] = "accuracy"  # "accuracy" (micro over items) or "macro:<group>" (mean over groups)
    multi_answer: ClassVar[bool] = False  # whether any item may have several answers
    prompt: ClassVar[Prompt]
    group: ClassVar[str] = "medical"  # "medical", or "general" for retention benchmarks
    leaks_from: ClassVar[tuple[str, ...]] = ()  # training sources whose test split is this benchmark's

    def load(self, data: str | Path, split: str) -> list[Item]:
        """Every item of `split` from `data` (a folder or file in the published layout, or the
        hub id). Raises InputLayoutError naming the file and row when the layout is not met."""
        raise NotImplementedError

    def write_fixture(self, out: str | Path, rng: random.Random, rows: int) -> Path:
        """Write files in the published layout (about `rows` items per split, a few broken rows
        where the real files have them) under `out`; return what `load` takes as `data`."""
        raise NotImplementedError

    def submission(self, items: list[Item], answers: dict[str, str]) -> Any | None:
        """The file a leaderboard takes for a split without published answers (item id -> the
        model's letters), or None when the benchmark has no submission format."""
        return None

    def evaluate(self, config: Any, out: str | Path) -> dict[str, Any]:
        """Run the model of `config` (eval/suite's SuiteBenchmarkConfig) on this benchmark into `out`;
        the shared suite runner unless a benchmark has its own (CMB keeps eval/cmb's runner)."""
        from collectivesft.eval.suite.runner import evaluate_benchmark

        return evaluate_benchmark(self, config, out)

    def check_options(self, options: dict[str, Any]) -> None:
        """Raise ConfigError for entries of a suite config's `options` this benchmark does not take
        (none, unless a benchmark with settings of its own overrides this)."""
        if options:
            from collectivesft.errors import ConfigError

            raise ConfigError(f"{self.name}: takes no options (got {', '.join(sorted(options))})")

    def headline(self, scores: dict[str, Any]) -> tuple[float | None, list[float] | None]:
        """(score, 95 % interval) a suite table shows for this benchmark's scores.json (the
        benchmark's own metric); the shared runner's `score` and `ci95` unless overridden."""
        return scores.get("score"), scores.get("ci95")

    def paired(self, a: str | Path, b: str | Path) -> dict[str, Any] | None:
        """B minus A on the same items from two eval folders of this benchmark: {"a", "b",
        "difference", "interval", "n"} in the benchmark's own metric, or None when either run
        has no per-item correctness (no answer key)."""
        from collectivesft.eval.suite.scoring import paired_folders

        return paired_folders(self, a, b)

    def default_data(self) -> str | None:
        """What `data` is when none is given: the hub id, if there is one."""
        return self.hub_id

    def eval_items(self, data: str | Path) -> Iterator[tuple[str, str, str]]:
        """(item id, text, fallback) of every item a score is read from (the eval split, the
        validation split and test): what decontamination indexes. Training and few-shot splits
        are left out: a source's own training split is not a leak."""
        scored = {self.eval_split, self.validation_split, "test"}
        for split in self.splits:
            if split not in scored:
                continue
            for item in self.load(data, split):
                text, fallback = item.text_for_overlap()
                yield f"{self.name}/{split}#{item.id}", text, fallback


BENCHMARKS: Registry[Benchmark] = Registry("benchmark", "collectivesft.benchmarks")


def register(cls: type[Benchmark]) -> type[Benchmark]:
    """Class decorator: make `cls` reachable as `get_benchmark(cls.name)`."""
    return BENCHMARKS.add(cls.name, cls)


def get_benchmark(name: str) -> Benchmark:
    """An instance of the benchmark registered as `name` (ConfigError listing the known ones)."""
    return BENCHMARKS.get(name)()


def benchmark_names() -> list[str]:
    return BENCHMARKS.names()
