"""The splits a benchmark evaluates, kept out of conversions that feed training.

A benchmark names in `leaks_from` the training sources whose published test split is its
own (MedQA's test files for MedQA-MCMLE; MLEC-QA's and NLPEC's test splits). Such a source's
rows from the benchmark's evaluation split, and from its validation split when it has one,
are *held out*: a conversion for training (the convert stage of `collectivesft run`, the raw
sources of `data mix`) skips them, counted under a `held out: ...` skip reason, listed per
file in stats.json (`eval_splits`) and in a log line. The source option `eval_splits: keep`
converts them anyway, and says so as loudly. A plain `data convert` keeps them by default
(it trains nothing) but prints the same warning.

A row's split is what its file says (`test.jsonl`, `Clinic_test.json`, `hub:<id>/test#3`),
the same rule the sources use for `meta.split`; a renamed file cannot be told apart, which is
why the mix's decontamination checks against every evaluated benchmark as well.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from collectivesft.errors import ConfigError
from collectivesft.sources.readers import split_of_name

OPTION = "eval_splits"
POLICIES = ("exclude", "keep")
# Benchmark and release split names, to one name per role: dev, val and validation are one split.
_CANONICAL = {"train": "train", "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev", "test": "test"}
_POSITION = re.compile(r"[:#]\d+$")


def canonical_split(name: str | None) -> str | None:
    return _CANONICAL.get(str(name).lower()) if name else None


def held_out_splits(source: str) -> dict[str, list[str]]:
    """{split: [benchmarks]}: the splits of `source` that registered benchmarks evaluate or tune on."""
    from collectivesft.benchmarks.base import BENCHMARKS, benchmark_names

    held: dict[str, list[str]] = {}
    for name in benchmark_names():
        cls = BENCHMARKS.get(name)
        if source not in cls.leaks_from:
            continue
        for split in (cls.eval_split, cls.validation_split):
            role = canonical_split(split)
            if role and role != "train" and name not in held.get(role, []):
                held.setdefault(role, []).append(name)
    return dict(sorted(held.items()))


def split_of_row(where: str) -> tuple[str, str | None]:
    """(file, split) of a raw row's location: `questions/Mainland/test.jsonl:3` -> (its file, "test")."""
    file = _POSITION.sub("", where)
    base = file.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    return file, canonical_split(split_of_name(base))


@dataclass
class HeldOut:
    """The held-out splits of one conversion and what happened to their rows."""

    source: str
    splits: dict[str, list[str]]
    policy: str  # exclude | keep
    set_by: str  # "option" (the source's eval_splits) or "default" (the caller's)
    rows: int = 0
    files: Counter = field(default_factory=Counter)

    def reason(self, split: str) -> str:
        return f"held out: {split} split of benchmark {', '.join(self.splits[split])}"

    def filter(self, rows: Iterator, stats: Any) -> Iterator:
        """Pass `rows` through; a row of a held-out split is counted, and with policy exclude
        skipped (read and skipped in `stats`, so read = kept + quarantined + skipped holds)."""
        try:
            for row in rows:
                file, split = split_of_row(row.where)
                if split in self.splits:
                    self.rows += 1
                    self.files[file] += 1
                    if self.policy == "exclude":
                        stats.read += 1
                        stats.skipped[self.reason(split)] += 1
                        continue
                yield row
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "set_by": self.set_by, "held_out": self.splits, "rows": self.rows,
                "files": dict(sorted(self.files.items()))}


def held_out_for(source: str, option: str | None, default: str) -> HeldOut | None:
    """The HeldOut of a conversion of `source` (None when no benchmark evaluates any of its splits);
    `option` is the source's `eval_splits` option, `default` the caller's policy."""
    if option is not None and option not in POLICIES:
        raise ConfigError(f"source {source!r}: option {OPTION}={option!r} not one of {POLICIES}")
    splits = held_out_splits(source)
    if not splits:
        if option is not None:
            raise ConfigError(f"source {source!r}: option {OPTION} applies only to sources whose splits a "
                              "benchmark evaluates (a benchmark's leaks_from); none names this source")
        return None
    return HeldOut(source, splits, option or default, "option" if option is not None else "default")


def held_out_lines(stats: dict[str, Any]) -> list[str]:
    """The lines a conversion's summary and a run's log print about held-out splits (none when
    no row of a held-out split was read)."""
    facts = stats.get(OPTION)
    if not facts or not facts["rows"]:
        return []
    source = stats.get("source", "source")
    splits = "; ".join(f"the {split} split of {', '.join(names)}" for split, names in facts["held_out"].items())
    files = ", ".join(f"{file} ({n})" for file, n in facts["files"].items())
    if facts["policy"] == "exclude":
        return [f"{source}: held out {facts['rows']} rows of benchmark splits, not converted: {files} ({splits}); "
                f"set the source option {OPTION}: keep to convert them"]
    how = "option eval_splits: keep" if facts["set_by"] == "option" else "data convert keeps them unless told " \
          f"--set {OPTION}=exclude"
    return [f"WARNING {source}: {facts['rows']} rows of benchmark splits WERE converted: {files} ({splits}); "
            f"{how}. A model trained on these records must not be scored on those benchmarks"]
