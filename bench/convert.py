"""Benchmark `collectivesft data convert` on fixture data: records/s and peak RSS per source.

    python bench/convert.py [--rows 200000] [--sources cmb,medqa] [--seed 0] [--workdir DIR]

For each registered source: write its raw fixture with `rows` good rows (one subprocess), then
convert it in a fresh subprocess so the peak RSS (ru_maxrss of that child) belongs to that one
conversion. Prints one JSON document: per source rows read/written, seconds, records/s
(records written per wall-clock second, and per CPU second of the converting process, which
is steadier on a shared machine), rows/s (raw rows read per second) and peak RSS in MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_RECORDS_PER_S = 20_000

_FIXTURE = """
import json, sys, time
from collectivesft.fixtures.writer import write_fixtures
t = time.perf_counter()
write_fixtures(sys.argv[1], rows=int(sys.argv[2]), seed=int(sys.argv[3]), sources=[sys.argv[4]])
print(json.dumps({"fixture_s": time.perf_counter() - t}))
"""

_CONVERT = """
import json, resource, sys, time
from collectivesft.sources.convert import convert_source
t, cpu = time.perf_counter(), time.process_time()
stats = convert_source(sys.argv[1], sys.argv[3], input=sys.argv[2])
stats["convert_s"] = time.perf_counter() - t
stats["cpu_s"] = time.process_time() - cpu
stats["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(stats, ensure_ascii=False))
"""


def _run(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({' '.join(args)}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_source(name: str, rows: int, seed: int, work: Path) -> dict:
    """Write `name`'s fixture and convert it, each in its own process; return the measurements."""
    raw = work / "raw"
    fixture = _run(_FIXTURE, str(raw), str(rows), str(seed), name)
    stats = _run(_CONVERT, name, str(raw / name), str(work / "out" / name))
    seconds = stats["convert_s"]
    written = stats["kept"]
    return {
        "rows_read": stats["read"],
        "records_written": written,
        "quarantined": stats["quarantined"],
        "skipped": sum(stats["skipped"].values()),
        "fixture_s": round(fixture["fixture_s"], 2),
        "convert_s": round(seconds, 2),
        # CPU seconds of the converting process: steadier than wall time on a shared machine.
        "cpu_s": round(stats["cpu_s"], 2),
        "records_per_s": round(written / seconds) if seconds else None,
        "rows_per_s": round(stats["read"] / seconds) if seconds else None,
        "records_per_cpu_s": round(written / stats["cpu_s"]) if stats["cpu_s"] else None,
        "peak_rss_mib": round(stats["peak_rss_kib"] / 1024, 1),
        "meets_goal": bool(seconds) and written / seconds >= GOAL_RECORDS_PER_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="good fixture rows per source (default 200000)")
    parser.add_argument("--sources", default="", help="comma-separated source names (default: all registered)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep fixtures and outputs here (default: a temp dir)")
    args = parser.parse_args()

    from collectivesft.sources.registry import source_names

    names = [s.strip() for s in args.sources.split(",") if s.strip()] or source_names()
    unknown = sorted(set(names) - set(source_names()))
    if unknown:
        parser.error(f"unknown source(s) {unknown}; known: {', '.join(source_names())}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-convert-"))
    results = {}
    try:
        for name in names:
            results[name] = bench_source(name, args.rows, args.seed, work / name)
            print(f"{name}: {results[name]['records_per_s']} records/s, "
                  f"{results[name]['peak_rss_mib']} MiB", file=sys.stderr)
            if args.workdir is None:
                shutil.rmtree(work / name, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "bench": "convert",
        "rows_per_source": args.rows,
        "seed": args.seed,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "goal_records_per_s": GOAL_RECORDS_PER_S,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sources": results,
        "all_meet_goal": all(r["meets_goal"] for r in results.values()),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
