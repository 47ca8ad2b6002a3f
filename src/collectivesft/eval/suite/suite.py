"""A suite of benchmarks: each run into OUT/<name>/ by its own `evaluate`, then one table.

OUT/suite.json holds one row per benchmark (its metric, score and 95 % interval, items scored);
OUT/suite.md the same as a table. Entries come from `eval suite --benchmarks a,b --data a=PATH`
or from a run recipe's `eval.benchmarks: [name | {name, data, options}]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectivesft.errors import ConfigError

ENTRY_KEYS = ("name", "data", "options")


@dataclass(frozen=True)
class SuiteEntry:
    """One benchmark of a suite: its registered name, its files (None: the default) and options."""

    name: str
    data: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def parse_entries(value: Any, where: str) -> list[SuiteEntry]:
    """Entries from a recipe's `eval.benchmarks` (a name, or {name, data, options}); names must be
    registered and appear once."""
    from collectivesft.benchmarks.base import benchmark_names

    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: eval.benchmarks must be a non-empty list of names or {{name, data}} mappings")
    known = benchmark_names()
    entries = []
    for i, raw in enumerate(value):
        if isinstance(raw, str):
            raw = {"name": raw}
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise ConfigError(f"{where}: eval.benchmarks.{i}: expected a name or a mapping with a name")
        extra = sorted(set(raw) - set(ENTRY_KEYS))
        if extra:
            raise ConfigError(f"{where}: eval.benchmarks.{i}: unknown key {extra[0]!r} (keys: {', '.join(ENTRY_KEYS)})")
        if raw["name"] not in known:
            raise ConfigError(f"{where}: eval.benchmarks.{i}: unknown benchmark {raw['name']!r} "
                              f"(known: {', '.join(known)})")
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: eval.benchmarks.{i}.options must be a mapping")
        data = raw.get("data")
        entries.append(SuiteEntry(raw["name"], None if data is None else str(data), dict(options)))
    names = [e.name for e in entries]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{where}: eval.benchmarks: {dup[0]!r} listed twice")
    return entries


def entries_from_cli(benchmarks: str, data: list[str] | None) -> list[SuiteEntry]:
    """Entries from `--benchmarks a,b` and repeatable `--data NAME=PATH`."""
    names = [n.strip() for n in benchmarks.split(",") if n.strip()]
    paths: dict[str, str] = {}
    for item in data or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"--data {item!r}: expected NAME=PATH (e.g. cmmlu-medical=~/CMMLU/data)")
        if name.strip() not in names:
            raise ConfigError(f"--data {item!r}: {name.strip()!r} is not in --benchmarks ({', '.join(names)})")
        paths[name.strip()] = path.strip()
    return parse_entries([{"name": n, **({"data": paths[n]} if n in paths else {})} for n in names], "--benchmarks")


def benchmark_config(entry: SuiteEntry, settings: dict[str, Any], where: str):
    """The SuiteBenchmarkConfig of one entry: the shared settings, its data and options."""
    from collectivesft.eval.config import build_config
    from collectivesft.eval.suite.config import SuiteBenchmarkConfig

    from collectivesft.benchmarks.base import get_benchmark

    values = dict(settings, options=entry.options)
    if entry.data is not None:
        values["data"] = entry.data
    config = build_config(SuiteBenchmarkConfig, values, f"{where} ({entry.name})")
    try:
        get_benchmark(entry.name).check_options(config.options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return config


def suite_row(name: str, scores: dict[str, Any], folder: Path | None = None) -> dict[str, Any]:
    """One row of suite.json: the benchmark's facts and its headline score with its interval."""
    from collectivesft.benchmarks.base import get_benchmark

    benchmark = get_benchmark(name)
    score, interval = benchmark.headline(scores)
    n = scores.get("n")
    return {"benchmark": name, "title": benchmark.title, "group": benchmark.group, "metric": benchmark.metric,
            "score": score, "ci95": interval, "n": n if n is not None else scores.get("n_items"),
            "dir": str(folder) if folder else None}


def write_suite_files(out: Path, rows: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """OUT/suite.json and OUT/suite.md for the rows (one per benchmark); return suite.json's content."""
    from collectivesft.io import atomic_write, write_json
    from collectivesft.report.tables import markdown_table

    from collectivesft.eval.suite.scoring import interval_text

    suite = {"model": model, "benchmarks": rows}
    write_json(out / "suite.json", suite)
    table = markdown_table(
        ["benchmark", "group", "metric", "score", "95% interval", "items"],
        [[r["title"] + f" ({r['benchmark']})", r["group"], r["metric"],
          "-" if r["score"] is None else f"{100 * r['score']:.2f}", interval_text(r["ci95"]), r["n"]] for r in rows],
        align="lllrrr")
    with atomic_write(out / "suite.md") as fh:
        fh.write(f"# Benchmark suite: {model}\n\n{table}\n\nEach benchmark's own scores.md is in its folder.\n")
    return suite


def evaluate_suite(entries: list[SuiteEntry], settings: dict[str, Any], out: str | Path,
                   where: str = "command line") -> dict[str, Any]:
    """Run every entry into OUT/<name>/ with the shared `settings` (model, back-end, method...);
    write OUT/suite.json and suite.md; return suite.json's content. Configs are all checked first."""
    from collectivesft.benchmarks.base import get_benchmark

    out = Path(out)
    configs = [(entry, benchmark_config(entry, settings, where)) for entry in entries]
    rows = []
    for entry, config in configs:
        scores = get_benchmark(entry.name).evaluate(config, out / entry.name)
        rows.append(suite_row(entry.name, scores, out / entry.name))
    return write_suite_files(out, rows, str(settings.get("model")))
