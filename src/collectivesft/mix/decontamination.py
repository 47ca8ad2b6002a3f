"""Decontamination: find training records whose user text overlaps evaluation items.

Two steps, as in datatrove: build an index of the character n-grams of every evaluation
item (after the same normalisation dedup uses, so changed punctuation, spaces or
full-width letters do not hide a copy), then look up each training record's n-grams.
A record is contaminated by an item when at least `min_overlap` of the item's distinct
n-grams occur in the record. Lookups are vectorised (sorted arrays + searchsorted); only
records with a hit are examined one by one.

Evaluation items come from the benchmark loaders. CMB data (`eval_data`, `eval_files`) is read by
benchmarks/cmb/load.py: a CMB release folder or zip, one official file (CMB-Exam questions,
CMB-Clin-qa.json) or a hub id gives every test and val question and every CMB-Clin description
and question; a JSON-lines file of unified records (their user text) can be indexed too. Every
other benchmark (`benchmarks: [{name, data}]`) gives its items through `Benchmark.eval_items`.
Each indexed item carries a label (the benchmark's name; "cmb" for CMB data; "records:<file>"
for a records file) so that hits are reported per benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from collectivesft.errors import ConfigError
from collectivesft.io import read_json_rows
from collectivesft.mix.text import ngram_hashes, normalize_text, sorted_unique

CMB_LABEL = "cmb"


def _records_file(path: Path) -> list | None:
    """The rows of a JSON-lines file of unified records, or None when `path` is something else."""
    if path.is_file() and path.suffix == ".jsonl":
        rows = read_json_rows(path)
        if rows and isinstance(rows[0], dict) and "messages" in rows[0]:
            return rows
    return None


def target_label(data: str | Path) -> str:
    """The label hits on a path target are reported under: "cmb", or "records:<file>"."""
    path = Path(data)
    return f"records:{path.name}" if _records_file(path) is not None else CMB_LABEL


def iter_eval_items(data: str | Path) -> Iterator[tuple[str, str, str]]:
    """Yield (item id, text, fallback text) for each evaluation item in `data` (CMB data, or a
    JSON-lines file of unified records).

    `fallback` (question plus options) is used when the text alone is shorter than one n-gram.
    """
    path = Path(data)
    rows = _records_file(path)
    if rows is not None:
        for index, obj in enumerate(rows):
            text = "\n".join(m.get("content", "") for m in obj.get("messages") or [] if m.get("role") == "user")
            yield f"{path.name}#{obj.get('id', index)}", text, text
        return
    from collectivesft.benchmarks.cmb.load import eval_items

    yield from eval_items(data)


def benchmark_data(name: str, data: str | None) -> str:
    """What benchmark `name`'s items are read from: `data` as given, else its default (hub id)."""
    from collectivesft.benchmarks.base import get_benchmark

    benchmark = get_benchmark(name)
    chosen = data or benchmark.default_data()
    if not chosen:
        raise ConfigError(f"decontamination.benchmarks: {name!r} has no hub id, so its files must be given as "
                          f"`data` ({benchmark.layout}){'; ' + benchmark.how_to_get if benchmark.how_to_get else ''}")
    return str(chosen)


def iter_benchmark_items(name: str, data: str) -> Iterator[tuple[str, str, str]]:
    """(item id, text, fallback) of benchmark `name` read from `data` by its loader; every id
    starts with "<name>/" so that ids of different benchmarks never collide."""
    from collectivesft.benchmarks.base import get_benchmark

    for ident, text, fallback in get_benchmark(name).eval_items(data):
        yield (ident if ident.startswith(f"{name}/") else f"{name}/{ident}"), text, fallback


_PRESENCE_MASK = (1 << 22) - 1


@dataclass
class EvalIndex:
    """Sorted n-gram hashes of all evaluation items and, per hash, the items holding it."""

    ngram: int
    item_ids: list[str]
    item_sizes: np.ndarray  # distinct n-grams per item
    hashes: np.ndarray  # sorted unique n-gram hashes
    starts: np.ndarray  # items of hashes[k] are owners[starts[k]:starts[k+1]]
    owners: np.ndarray
    too_short: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Per target: {path, ...} for CMB data and files, {benchmark, data, ...} for a benchmark; both
    # with label, items_indexed, items_too_short.
    per_target: list[dict] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # item id -> label of the target it came from
    # A 2**22-slot presence table over the low hash bits: most training n-grams miss it, so
    # the binary search runs only on the few that may be in the index (measured ~5x faster).
    presence: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def maybe_present(self, hashes: np.ndarray) -> np.ndarray:
        return self.presence[(hashes & np.uint64(_PRESENCE_MASK)).astype(np.int64)]

    def label_of(self, item_id: str) -> str:
        return self.labels.get(item_id, CMB_LABEL)


def build_eval_index(files: Sequence[str | Path], ngram: int,
                     benchmarks: Sequence[tuple[str, str]] = ()) -> EvalIndex:
    """Index the n-grams of every item in `files` (CMB paths or hub ids, records files) and in
    `benchmarks` ((name, data) pairs read by the benchmark's loader); items shorter than one
    n-gram are listed, not indexed."""
    ids: list[str] = []
    texts: list[str] = []
    too_short: list[str] = []
    per_target = []
    labels: dict[str, str] = {}
    targets = [({"path": str(f)}, target_label(f), iter_eval_items(f)) for f in files]
    targets += [({"benchmark": name, "data": str(data)}, name, iter_benchmark_items(name, str(data)))
                for name, data in benchmarks]
    for facts, label, items in targets:
        indexed_before, short_before = len(ids), len(too_short)
        for ident, text, fallback in items:
            norm = normalize_text(text)
            if len(norm) < ngram:
                norm = normalize_text(fallback)
            if len(norm) < ngram:
                too_short.append(ident)
                continue
            ids.append(ident)
            texts.append(norm)
            if label != CMB_LABEL:
                labels.setdefault(ident, label)
        per_target.append({**facts, "label": label, "items_indexed": len(ids) - indexed_before,
                           "items_too_short": len(too_short) - short_before})
    hashes, counts = ngram_hashes(texts, ngram)
    item_of = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    pairs = np.unique(np.stack([hashes, item_of.astype(np.uint64)], axis=1), axis=0) if len(hashes) else \
        np.zeros((0, 2), dtype=np.uint64)
    uniq, starts = np.unique(pairs[:, 0], return_index=True)
    sizes = np.bincount(pairs[:, 1].astype(np.int64), minlength=len(texts))
    presence = np.zeros(_PRESENCE_MASK + 1, dtype=bool)
    presence[(uniq & np.uint64(_PRESENCE_MASK)).astype(np.int64)] = True
    return EvalIndex(ngram, ids, sizes, uniq, np.append(starts, len(pairs)), pairs[:, 1].astype(np.int64),
                     too_short, [str(f) for f in files], per_target, labels, presence)


def contaminations(index: EvalIndex, norm_texts: Sequence[str], min_overlap: float) -> list[tuple[str, float] | None]:
    """For each normalised text: (best matching eval item id, overlap share) or None."""
    result: list[tuple[str, float] | None] = [None] * len(norm_texts)
    if len(index.hashes) == 0 or not norm_texts:
        return result
    hashes, counts = ngram_hashes(norm_texts, index.ngram)
    maybe = np.flatnonzero(index.maybe_present(hashes))
    pos = np.searchsorted(index.hashes, hashes[maybe])
    pos[pos == len(index.hashes)] = 0
    hit = index.hashes[pos] == hashes[maybe]
    if not hit.any():
        return result
    # Distinct (text, n-gram slot) hits, expanded to (text, item) pairs: one row per distinct
    # shared n-gram. Counting those per pair gives each item's overlap with each text.
    rows_of = np.repeat(np.arange(len(norm_texts), dtype=np.int64), counts)[maybe]
    slots = sorted_unique(rows_of[hit] * len(index.hashes) + pos[hit])
    hit_rows, hit_slots = slots // len(index.hashes), slots % len(index.hashes)
    spans = index.starts[hit_slots + 1] - index.starts[hit_slots]
    pair_rows = np.repeat(hit_rows, spans)
    within = np.arange(len(pair_rows)) - np.repeat(np.cumsum(spans) - spans, spans)
    pair_items = index.owners[np.repeat(index.starts[hit_slots], spans) + within]
    n_items = len(index.item_ids)
    keys, found = np.unique(pair_rows * n_items + pair_items, return_counts=True)
    rows, items = keys // n_items, keys % n_items
    share = found / index.item_sizes[items]
    # Best item per text: highest overlap, then the earliest item, so the answer is stable.
    order = np.lexsort((items, -share, rows))
    rows, items, share = rows[order], items[order], share[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    for row, item, value in zip(rows[first].tolist(), items[first].tolist(), share[first].tolist()):
        if value >= min_overlap:
            result[row] = (index.item_ids[item], round(value, 4))
    return result
