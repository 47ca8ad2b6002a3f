"""The benchmarks a run evaluates (`eval.benchmarks`) and where each one's files are.

Entries are a name or `{name, data}`. A benchmark without `data` is read from fixture files in
a fixtures run (written once per run folder by `fixture_data`, the same files for evaluation
and for decontamination), else from its default data (its hub id). CMB is evaluated on
`eval.data` (or the fixture CMB set) and decontaminated through the mix's `eval_data`, as
before; a `cmb` entry only adds a target when it names other data.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

from collectivesft.errors import ConfigError

FIXTURE_MARKER = "fixture.json"


def fixture_data(benchmark: Any, run_dir: str | Path, seed: int, rows: int, folder: str | Path | None = None) -> Path:
    """Fixture files of `benchmark` (a Benchmark or its name) in RUN/fixtures/benchmarks/<name>/ (or `folder`),
    written by its `write_fixture(folder, random.Random(seed), rows)` unless that folder already
    holds them for the same seed and rows; returns what its `load` takes as data.

    Written into a temporary folder and renamed, so a killed run never leaves half a fixture."""
    if isinstance(benchmark, str):
        from collectivesft.benchmarks.base import get_benchmark

        benchmark = get_benchmark(benchmark)
    folder = Path(folder) if folder is not None else Path(run_dir) / "fixtures" / "benchmarks" / benchmark.name
    wanted = {"benchmark": benchmark.name, "seed": seed, "rows": rows}
    marker = folder / FIXTURE_MARKER
    if marker.is_file():
        facts = json.loads(marker.read_text(encoding="utf-8"))
        if {k: facts.get(k) for k in wanted} == wanted and (folder / facts["data"]).exists():
            return folder / facts["data"]
    tmp = folder.with_name(f".{benchmark.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    data = Path(benchmark.write_fixture(tmp, random.Random(seed), rows))
    try:
        rel = data.resolve().relative_to(tmp.resolve())
    except ValueError:
        raise ConfigError(f"benchmark {benchmark.name!r}: write_fixture returned {data}, outside the folder "
                          f"{tmp} it was given") from None
    (tmp / FIXTURE_MARKER).write_text(json.dumps({**wanted, "data": rel.as_posix()}), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder / rel


def eval_benchmark_entries(eval_section: dict[str, Any], where: str = "recipe") -> list[dict[str, Any]]:
    """`eval.benchmarks` as [{name, data?}] (a name string is {name}); [] when absent."""
    raw = eval_section.get("benchmarks") if isinstance(eval_section, dict) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: eval.benchmarks must be a list of names or {{name, data}} mappings")
    entries = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{where}: eval.benchmarks.{i}: expected a benchmark name or {{name, data}}")
        entries.append({k: entry[k] for k in ("name", "data") if entry.get(k) is not None})
    return entries


def decontamination_benchmarks(eval_section: dict[str, Any], cmb_data: str | None, run_dir: str | Path | None,
                               fixtures: Any | None, where: str = "recipe",
                               fixture_paths: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The `decontamination.benchmarks` a run's mix gets by default: every evaluated benchmark with
    its data (given, the run's fixture files, or left out for the benchmark's default), except CMB
    on the data it is already decontaminated against. `run_dir` None (recipe checks before a run)
    names the fixture data without writing it."""
    targets = []
    for entry in eval_benchmark_entries(eval_section, where):
        name, data = entry["name"], entry.get("data")
        if name == "cmb" and (data is None or data == cmb_data):
            continue
        if data is None and fixture_paths and name in fixture_paths:
            data = fixture_paths[name]  # the files the fixtures stage wrote, which the eval stage reads too
        if data is None and fixtures is not None:
            data = "<fixture data>" if run_dir is None else str(fixture_data(name, run_dir, fixtures.seed,
                                                                             fixtures.rows))
        targets.append({"name": name, **({"data": str(data)} if data is not None else {})})
    return targets
