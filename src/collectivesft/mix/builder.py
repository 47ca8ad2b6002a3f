"""build_mixture: recipe in, mixture folder out, every input record accounted for.

Two streaming passes over the sources, in recipe order then file order:
1. (scan.py) read each record once: filters -> decontamination -> exact dedup -> MinHash
   signature, in chunks and optionally in worker processes; the ledger keeps a few numbers
   per record. Then near-duplicate clusters over all signatures, then per-source quotas,
   sampling and the validation split (per source, or `split: llamafactory`'s one global
   split), decided on the ledger alone.
2. read again and write the chosen records to every export, plus accounting.jsonl.
Memory grows with the ledger and the signatures, not with the text (split llamafactory holds
the chosen records until pass 2 ends, to write them in LLaMA-Factory's order).
"""

from __future__ import annotations

import json
import random
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from collectivesft.errors import EmptyResultError, InputLayoutError
from collectivesft.mix import ledger as L
from collectivesft.mix.recipe import MixRecipe, SourceSpec
from collectivesft.mix.sampling import first_rows, llamafactory_split, select, source_quotas, split_validation
from collectivesft.mix.scan import Scan, scan_sources
from collectivesft.io import atomic_write, file_sha256, folder_checksums, remove_stale_temps, write_json
from collectivesft.mix.manifest import assemble_manifest, write_contamination



@dataclass
class SourceInput:
    """Where one recipe source's records are, with what the manifest says about them."""

    spec: SourceSpec
    records: Path
    origin: dict[str, Any]
    checksums: dict[str, str] = field(default_factory=dict)
    convert_stats: dict[str, Any] | None = None
    eval_splits: dict[str, Any] | None = None  # what its conversion held out of benchmark splits (held_out.py)
    lo: int = 0  # ledger index range of its records
    hi: int = 0


def _records_file(path: str, name: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "records.jsonl"
    if not p.is_file():
        raise InputLayoutError(f"source {name!r}: records {p} not found (expected a folder holding "
                               "records.jsonl from `collectivesft data convert`, or a .jsonl file)")
    return p


def prepare_sources(recipe: MixRecipe, converted: dict[str, Path] | None = None) -> list[SourceInput]:
    """Locate each source's records: `records` as given; a raw (input/hub) source in the folder
    `converted[name]` its conversion wrote (records.jsonl + stats.json)."""
    prepared = []
    for spec in recipe.sources:
        if spec.records is not None:
            path = _records_file(spec.records, spec.name)
            prepared.append(SourceInput(spec, path, {"records": spec.records},
                                        {"records.jsonl": file_sha256(path)},
                                        eval_splits=_conversion_eval_splits(path)))
            continue
        if spec.name not in (converted or {}):
            raise InputLayoutError(f"source {spec.name!r} is raw input ({spec.input or spec.hub}); convert it first "
                                   "(`collectivesft data mix` does, or give `records:`)")
        folder = Path(converted[spec.name])
        records = _records_file(str(folder), spec.name)
        stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
        origin = {"source": spec.converter, "options": dict(sorted(spec.options.items()))}
        if spec.style != "default":
            origin["style"] = spec.style
        checksums = {}
        if spec.input is not None:
            origin["input"] = spec.input
            checksums = {f"input/{k}": v for k, v in folder_checksums(Path(spec.input)).items()}
        else:
            origin["hub"] = spec.hub
        stats = {k: v for k, v in stats.items() if k not in ("input",)}
        checksums["records.jsonl"] = file_sha256(records)
        prepared.append(SourceInput(spec, records, origin, checksums, stats, stats.get("eval_splits")))
    return prepared


def _conversion_eval_splits(records: Path) -> dict[str, Any] | None:
    """The held-out splits facts of the conversion that wrote `records` (its stats.json beside it), if any."""
    stats = records.parent / "stats.json"
    if records.name != "records.jsonl" or not stats.is_file():
        return None
    try:
        facts = json.loads(stats.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return facts.get("eval_splits") if isinstance(facts, dict) else None


def _progress(total: int | None, desc: str):
    from collectivesft.progress import progress

    return progress(total, desc, "rec")


def mark_near_duplicates(recipe: MixRecipe, scan: Scan, ledger: L.Ledger) -> dict[str, Any]:
    """Cluster the signatures; every record but the earliest of a cluster becomes a near duplicate."""
    from collectivesft.mix.minhash import lsh_params, near_duplicate_roots

    info: dict[str, Any] = {"compared": len(scan.signature_rows)}
    if not recipe.dedup.near:
        return info
    bands, rows = lsh_params(recipe.dedup.candidate_threshold or recipe.dedup.threshold, recipe.dedup.num_perm)
    info.update(bands=bands, rows_per_band=rows)
    if not scan.signature_rows:
        return info
    # One array of all signatures, filled chunk by chunk while the chunks are let go (a plain
    # concatenate held both copies: 2 x 4 bytes x num_perm per record at the peak).
    parts = scan.signatures
    sigs = np.empty((sum(len(p) for p in parts), recipe.dedup.num_perm), dtype=np.uint32)
    at = 0
    for k in range(len(parts)):
        sigs[at : at + len(parts[k])] = parts[k]
        at += len(parts[k])
        parts[k] = None
    scan.signatures = []
    roots = near_duplicate_roots(sigs, recipe.dedup.threshold, recipe.dedup.candidate_threshold)
    del sigs
    rows_idx = scan.signature_rows
    for i in np.flatnonzero(roots != np.arange(len(roots))).tolist():
        ledger.drop(rows_idx[i], L.NEAR_DUPLICATE, rows_idx[int(roots[i])])
    return info


def choose(recipe: MixRecipe, sources: list[SourceInput], ledger: L.Ledger) -> tuple[dict[str, Any], list[int] | None]:
    """Quotas, sampling and the validation split; returns per-source sampling facts and, for
    split llamafactory, the ledger indices in the order LLaMA-Factory returns them (train, then val)."""
    candidates = [ledger.candidates(e, s.lo, s.hi) for e, s in enumerate(sources)]
    quotas = source_quotas(recipe, [len(c) for c in candidates])
    facts = {}
    selected: list[int] = []  # recipe order, then file order: LLaMA-Factory's concatenation
    for src, cands, quota in zip(sources, candidates, quotas):
        name = src.spec.name
        rng = random.Random(f"{recipe.seed}:{name}")
        labels = [ledger.stratum[i] for i in cands] if src.spec.stratify_by else None
        rows = [ledger.row[i] for i in cands]
        paper_rows = recipe.selection == "first" and bool(cands) and min(rows) >= 0
        if paper_rows:
            # --style paper records know their row in the paper's file: "first N" counts file rows.
            limit = recipe.cap_of(src.spec) if recipe.strategy == "cap" else quota
            chosen = first_rows(cands, rows, limit)
        else:
            chosen = select(cands, quota, recipe.selection, rng, labels)
        selected += chosen
        val: set[int] = set()
        if recipe.split == "per_source":
            val = split_validation(chosen, recipe.val_fraction_of(src.spec),
                                   random.Random(f"{recipe.seed}:{name}:val"))
        chosen_set = set(chosen)
        for i in cands:
            if i not in chosen_set:
                ledger.drop(i, L.OVER_CAP)
            else:
                ledger.fate[i] = L.VAL if i in val else L.TRAIN
        entry_facts: dict[str, Any] = {"available": len(cands), "quota": quota}
        if paper_rows:
            entry_facts["selected_by"] = "paper_row"
        if src.spec.stratify_by:
            strata: dict[str, dict[str, int]] = {}
            for i in cands:
                label = ledger.stratum_labels[ledger.stratum[i]][1]
                row = strata.setdefault(label, {"available": 0, "selected": 0})
                row["available"] += 1
                row["selected"] += i in chosen_set
            entry_facts["strata"] = dict(sorted(strata.items()))
        facts[name] = entry_facts
    if recipe.split == "per_source":
        return facts, None
    train, val = llamafactory_split(len(selected), recipe.val_fraction, recipe.seed)
    for pos in val:
        ledger.fate[selected[pos]] = L.VAL
    return facts, [selected[pos] for pos in train + val]


def check_contributions(sources: list[SourceInput], ledger: L.Ledger) -> None:
    """Stop before writing anything when a source gives no records (unless the recipe allows it for
    that source, or asked for none with cap/weight 0) or when the whole mixture would be empty."""
    total = 0
    for src in sources:
        counts = ledger.counts(src.lo, src.hi)
        given = counts["train"] + counts["val"]
        total += given
        if given or src.spec.allow_empty or src.spec.cap == 0 or src.spec.weight == 0:
            continue
        raise EmptyResultError(f"mix source {src.spec.name!r} contributes no records ({_why_none(counts)}); "
                               "fix its input or the filters, or set `allow_empty: true` on it in the recipe")
    if total == 0:
        raise EmptyResultError("the mixture would hold no records: " + "; ".join(
            f"{s.spec.name}: {_why_none(ledger.counts(s.lo, s.hi))}" for s in sources))


def _why_none(counts: dict[str, Any]) -> str:
    if counts["input"] == 0:
        return "its records file is empty"
    drops = {f"filter:{k}": v for k, v in counts["filtered"].items()}
    drops.update({k: counts[k] for k in ("contaminated", "duplicate", "near_duplicate", "over_cap") if counts[k]})
    top = sorted(drops.items(), key=lambda kv: -kv[1])[:3]
    return f"{counts['input']} input, dropped as " + ", ".join(f"{k} {v}" for k, v in top)


def _jobs(sources: list[SourceInput], ledger: L.Ledger, scan: Scan, stride: int, max_after: int,
          hold: bool) -> Iterator[Any]:
    """Pass-2 jobs: the chunks pass 1 read, with the ledger's decisions about their records."""
    from collectivesft.mix.chunks import file_size
    from collectivesft.mix.encode import EncodeJob

    sizes = {}
    for src in sources:
        sizes[str(src.records)] = file_size(src.records)
    lo = 0
    chosen = 0
    for chunk, n in zip(scan.chunks, scan.chunk_records):
        src = sources[chunk.entry]
        if file_size(src.records) != sizes[str(src.records)] or lo + n > src.hi:
            raise InputLayoutError(f"{src.records} changed while the mixture was being built; rerun")
        fates = bytes(ledger.fate[lo : lo + n])
        yield EncodeJob(chunk, lo, lo - src.lo, src.spec.name, ledger.ids[lo : lo + n], fates,
                        ledger.reasons(lo, lo + n), stride, max(0, max_after - chosen), hold, str(src.records))
        chosen += fates.count(L.TRAIN) + fates.count(L.VAL)
        lo += n


def write_outputs(recipe: MixRecipe, sources: list[SourceInput], ledger: L.Ledger, out: Path, scan: Scan,
                  order: list[int] | None = None) -> dict[str, Any]:
    """Pass 2: write the chosen records to every export and one accounting line per input record.

    Worker processes read the chunks pass 1 read and encode them (mix/encode.py); this process
    appends their bytes in chunk order. Records go out in file order, or in `order` (ledger
    indices) when given: then each chosen record's encoded pieces are held until pass 2 ends."""
    from collectivesft.mix.diversity import DistinctCounter
    from collectivesft.mix.encode import encode_chunk, init_encoder
    from collectivesft.mix.exports import SPLITS, MixtureWriter
    from collectivesft.mix.scan import worker_count
    from collectivesft.mix.workers import OrderedPool

    distinct = DistinctCounter()
    distinct_before = DistinctCounter()
    stride = max(1, -(-len(ledger) // distinct_before.max_records))
    held: dict[int, tuple] = {}
    with ExitStack() as stack:
        writer = stack.enter_context(MixtureWriter(out, recipe.exports))
        accounting = stack.enter_context(atomic_write(out / "accounting.jsonl", "wb")) if recipe.exports.accounting \
            else None
        bar = stack.enter_context(_progress(len(ledger), "mix: write"))
        pool = stack.enter_context(OrderedPool(encode_chunk, worker_count(recipe), init_encoder, (recipe.exports,)))

        def take(done: list) -> None:
            for encoded in done:
                distinct_before.extend(encoded.distinct_before)
                distinct.extend(encoded.distinct_after)
                for split in SPLITS:
                    writer.write_chunk(split, encoded.chosen[split], encoded.records[split], encoded.alpaca[split],
                                       encoded.sharegpt[split], encoded.parquet.get(split))
                for idx, *pieces in encoded.held:
                    held[idx] = pieces
                if accounting is not None:
                    accounting.write(encoded.accounting)
                bar.update(encoded.count)

        for job in _jobs(sources, ledger, scan, stride, distinct.max_records, order is not None):
            take(pool.submit(job))
        take(pool.finish())
        for idx in order or []:
            writer.write_one(ledger.reason(idx)[0], *held.pop(idx))
    return {"distinct": {"before": distinct_before.result(), "after": distinct.result()}}


def build_mixture(recipe: MixRecipe, out: Path, converted: dict[str, Path] | None = None,
                  timings: dict[str, float] | None = None) -> dict[str, Any]:
    """Build the mixture described by `recipe` into folder `out`; return the manifest.

    `converted` names the folders holding the conversions of the recipe's raw (input/hub) sources.
    Same recipe + seed + inputs => byte-identical files (no timestamps or output paths inside).
    `timings`, if given, receives seconds per step (for bench/mix.py; never written to files).
    """
    from collectivesft.mix.exports import export_paths
    from collectivesft.mix.report import write_report

    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # what a killed earlier run left (tens of MB to gigabytes)
    sources = prepare_sources(recipe, converted)
    lap("prepare_sources")
    ledger = L.Ledger()
    with _progress(None, "mix: scan") as bar:
        scan = scan_sources(recipe, sources, ledger, bar)
    lap("scan_filter_decontaminate_exact_minhash")
    near_info = mark_near_duplicates(recipe, scan, ledger)
    lap("near_duplicate_clusters")
    sampling, order = choose(recipe, sources, ledger)
    check_contributions(sources, ledger)
    lap("sample_and_split")
    written = write_outputs(recipe, sources, ledger, out, scan, order)
    lap("write_exports_and_accounting")

    manifest = assemble_manifest(recipe, sources, ledger, scan, sampling, near_info, written)
    write_contamination(out, sources, ledger, scan)
    written_files = export_paths(recipe.exports) + ["contamination.jsonl"]
    if recipe.exports.accounting:
        written_files.append("accounting.jsonl")
    for src in sources:
        if src.convert_stats is not None and src.records.parent.parent == out / "sources":
            written_files += [f"sources/{src.spec.name}/{f}" for f in ("records.jsonl", "quarantine.jsonl", "stats.json")]
    if recipe.report:
        written_files += write_report(out, manifest, ledger, sources)
    lap("report")
    # Only what this run wrote: files left in `out` by an earlier run are not vouched for.
    manifest["outputs"] = {p: file_sha256(out / p) for p in sorted(written_files)}
    write_json(out / "manifest.json", manifest)
    lap("manifest")
    return manifest


