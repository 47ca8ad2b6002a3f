"""The mixture's manifest: what was taken from where, with checksums, counts and the recipe.

Also contamination.jsonl, the list of training records that matched an evaluation item.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from collectivesft.io import atomic_write, dumps, file_sha256
from collectivesft.mix import ledger as L
from collectivesft.mix.recipe import MixRecipe
from collectivesft.mix.scan import Scan


def assemble_manifest(recipe: MixRecipe, sources: list, ledger: L.Ledger, scan: Scan, sampling: dict[str, Any],
                      near_info: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
    """The manifest dict (without `outputs`, which the builder adds once every file is written)."""
    from collectivesft.mix.diversity import diversity_summary

    per_source = []
    for src in sources:
        counts = ledger.counts(src.lo, src.hi)
        contaminated = [i for i in range(src.lo, src.hi) if i in ledger.contaminated_by]
        entry = {"name": src.spec.name, "origin": src.origin, "checksums": src.checksums,
                 "counts": counts, "stages": L.stage_counts(counts), "identity_holds": L.identity_holds(counts),
                 "contamination_matches": len(contaminated), **sampling[src.spec.name]}
        if src.convert_stats is not None:
            entry["convert"] = src.convert_stats
        if src.eval_splits is not None:
            entry["eval_splits"] = src.eval_splits
        per_source.append(entry)
    totals = _sum_counts([s["counts"] for s in per_source])
    matched: dict[str, int] = {}
    for item, _share in ledger.contaminated_by.values():
        matched[item] = matched.get(item, 0) + 1
    manifest: dict[str, Any] = {
        "kind": "collectivesft.mix",
        "recipe": recipe.model_dump(mode="json"),
        "seed": recipe.seed,
        "versions": _versions(recipe),
        "identity": "input = train + val + sum(filtered) + contaminated + duplicate + near_duplicate + over_cap",
        "identity_holds": L.identity_holds(totals) and all(s["identity_holds"] for s in per_source),
        "totals": totals,
        "stages": L.stage_counts(totals),
        "sources": per_source,
        "near_dedup": near_info,
        "decontamination": {
            "eval_files": _eval_files_facts(scan),
            "benchmarks": _benchmark_facts(scan),
            "per_benchmark": per_benchmark_hits(scan, sources, ledger),
            "action": "drop" if recipe.decontamination.drops else "report",
            "matches_per_source": {s["name"]: s["contamination_matches"] for s in per_source},
            "matched_items": dict(sorted(matched.items())),
        },
        "diversity": diversity_summary(ledger, [s.spec.name for s in sources], written["distinct"]),
    }
    return manifest


def _versions(recipe: MixRecipe) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["collectivesft", "datasketch", "numpy", "pyarrow", "pydantic", "pyyaml", "matplotlib"]
    if recipe.filters.tokenizer:
        names += ["transformers", "tokenizers"]
    found = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _eval_files_facts(scan: Scan) -> list[dict[str, Any]]:
    """What decontamination indexed, per CMB target, with a content digest (a hub id is named, not hashed)."""
    if scan.eval_index is None:
        return []
    facts = []
    for entry in scan.eval_index.per_target:
        if "path" in entry:
            facts.append({k: v for k, v in entry.items() if k != "label"} | {"sha256": _digest(entry["path"])})
    return facts


def _digest(data: str) -> str:
    """Content digest of a local file or folder; a hub id is named, not hashed."""
    from collectivesft.io import files_digest

    path = Path(data)
    digest = file_sha256(path) if path.is_file() else files_digest([path]) if path.is_dir() else None
    return digest or "(hub dataset)"


def _benchmark_facts(scan: Scan) -> list[dict[str, Any]]:
    """What decontamination indexed per benchmark of `decontamination.benchmarks`."""
    if scan.eval_index is None:
        return []
    return [{"name": e["benchmark"], "data": e["data"], "items_indexed": e["items_indexed"],
             "items_too_short": e["items_too_short"], "sha256": _digest(e["data"])}
            for e in scan.eval_index.per_target if "benchmark" in e]


def per_benchmark_hits(scan: Scan, sources: list, ledger: L.Ledger) -> dict[str, dict[str, Any]]:
    """Per benchmark (label: a benchmark name, "cmb" for CMB data, "records:<file>"): items indexed and
    too short over its targets, training records hit (each record counts for its best-matching
    item only), distinct items hit, and records hit per source (every source listed)."""
    index = scan.eval_index
    if index is None:
        return {}
    result: dict[str, dict[str, Any]] = {}
    for entry in index.per_target:
        row = result.setdefault(entry["label"], {"items_indexed": 0, "items_too_short": 0, "records_hit": 0,
                                                 "items_hit": 0, "by_source": {s.spec.name: 0 for s in sources}})
        row["items_indexed"] += entry["items_indexed"]
        row["items_too_short"] += entry["items_too_short"]
    items: dict[str, set[str]] = {}
    for i, (item, _share) in ledger.contaminated_by.items():
        label = index.label_of(item)
        row = result[label]
        row["records_hit"] += 1
        row["by_source"][sources[ledger.entry[i]].spec.name] += 1
        items.setdefault(label, set()).add(item)
    for label, hit in items.items():
        result[label]["items_hit"] = len(hit)
    return result


def _sum_counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"input": 0, "filtered": {}}
    for row in rows:
        for key, value in row.items():
            if key == "filtered":
                for reason, n in value.items():
                    total["filtered"][reason] = total["filtered"].get(reason, 0) + n
            else:
                total[key] = total.get(key, 0) + value
    total["filtered"] = dict(sorted(total["filtered"].items()))
    return total


def write_contamination(out: Path, sources: list, ledger: L.Ledger, scan: Scan | None = None) -> None:
    """contamination.jsonl: every training record that matched an eval item, with the overlap and
    the benchmark the item belongs to."""
    index = scan.eval_index if scan is not None else None
    with atomic_write(out / "contamination.jsonl") as fh:
        for i in sorted(ledger.contaminated_by):
            src = sources[ledger.entry[i]]
            hit = ledger.contaminated_by[i]
            row = {"source": src.spec.name, "id": ledger.ids[i], "eval_item": hit[0], "overlap": hit[1],
                   "dropped": ledger.fate[i] == L.CONTAMINATED}
            if index is not None:
                row["benchmark"] = index.label_of(hit[0])
            fh.write(dumps(row) + "\n")

