"""Pass 2 of the mix, worker side: one chunk of a records file re-read and encoded for every export.

The main process sends a chunk's byte range with what the ledger decided about its records
(fates, accounting reasons, ids); a worker reads the lines, parses the chosen ones and returns
the bytes each file gets (JSON lines, LLaMA-Factory fragments, ShareGPT lines, a parquet table,
accounting lines) plus the normalised texts distinct-n samples. The main process only appends
bytes, in chunk order, so the files are exactly what writing record by record gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectivesft.errors import InputLayoutError
from collectivesft.mix import ledger as L
from collectivesft.mix.chunks import Chunk, read_lines
from collectivesft.mix.exports import SPLITS, parquet_row, parquet_table, to_alpaca, to_sharegpt
from collectivesft.mix.fastjson import dumps_bytes, dumps_strings, loads_line
from collectivesft.mix.recipe import ExportSpec
from collectivesft.mix.text import normalize_many

_FATE_NAMES = {code: ("dropped" if code not in (L.TRAIN, L.VAL) else name) for code, name in L.FATES.items()}
_FATE_NAMES[L.CANDIDATE] = "dropped"


@dataclass
class EncodeJob:
    chunk: Chunk
    lo: int  # ledger index of the chunk's first record
    offset: int  # records of the same source before the chunk
    source: str
    ids: list[str]
    fates: bytes
    reasons: list[str | None]
    stride: int  # distinct-n "before" samples ledger indices divisible by stride
    after_quota: int  # distinct-n "after" wants the first this many chosen records
    hold: bool  # return each chosen record's pieces (written later in another order)
    path: str  # the records file as the recipe names it (for errors)


@dataclass
class Encoded:
    """What one chunk gives each output: per split, the bytes of every text export and a parquet table."""

    # Per split: JSON lines (newline-terminated), alpaca rows joined by ",\n", ShareGPT lines.
    # Built in bytearrays: orjson's results carry a 4 KiB allocation each, so a list of them
    # held a worker's memory at hundreds of MB.
    records: dict[str, bytearray] = field(default_factory=lambda: {s: bytearray() for s in SPLITS})
    alpaca: dict[str, bytearray] = field(default_factory=lambda: {s: bytearray() for s in SPLITS})
    sharegpt: dict[str, bytearray] = field(default_factory=lambda: {s: bytearray() for s in SPLITS})
    chosen: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SPLITS})
    parquet: dict[str, Any] = field(default_factory=dict)  # split -> pyarrow Table of its rows
    held: list[tuple[int, bytes, bytes, bytes, dict[str, Any] | None]] = field(default_factory=list)
    accounting: bytearray = field(default_factory=bytearray)
    count: int = 0  # records in the chunk
    distinct_before: list[str] = field(default_factory=list)
    distinct_after: list[str] = field(default_factory=list)


_SETTINGS: dict[str, Any] = {}


def init_encoder(exports: ExportSpec) -> None:
    _SETTINGS.clear()
    _SETTINGS["exports"] = exports


def encode_chunk(job: EncodeJob) -> Encoded:
    """Read one chunk again and encode its chosen records for every export (runs in a worker)."""
    exports: ExportSpec = _SETTINGS["exports"]
    _, lines = read_lines(job.chunk)
    if len(lines) != len(job.ids):
        raise InputLayoutError(f"{job.path} changed while the mixture was being built; rerun")
    out = Encoded(count=len(lines))
    before, after = [], []
    accounting = out.accounting
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for pos, line in enumerate(lines):
        idx = job.lo + pos
        fate = job.fates[pos]
        chosen = fate == L.TRAIN or fate == L.VAL
        sampled = idx % job.stride == 0
        if exports.accounting:
            accounting += dumps_strings({"source": job.source, "id": job.ids[pos], "fate": _FATE_NAMES[fate],
                                         "reason": job.reasons[pos]})
            accounting += b"\n"
        if not (chosen or sampled):
            continue
        rec = loads_line(line)
        if rec.get("id") != job.ids[pos]:
            raise InputLayoutError(f"{job.path} changed while the mixture was being built "
                                   f"(record {job.offset + pos + 1}); rerun")
        if sampled:
            before.append(rec)
        if not chosen:
            continue
        if len(after) < job.after_quota:
            after.append(rec)
        split = "train" if fate == L.TRAIN else "val"
        line_bytes = dumps_bytes(rec)
        alpaca = dumps_strings(to_alpaca(rec)) if exports.llamafactory else b""
        sharegpt = dumps_strings(to_sharegpt(rec)) if exports.sharegpt else b""
        row = parquet_row(rec) if exports.parquet else None
        if job.hold:  # (copies: exact-size objects)
            out.held.append((idx, bytes(bytearray(line_bytes)), bytes(bytearray(alpaca)), bytes(bytearray(sharegpt)),
                             row))
            continue
        out.records[split] += line_bytes
        out.records[split] += b"\n"
        if exports.llamafactory:
            if out.chosen[split]:
                out.alpaca[split] += b",\n"
            out.alpaca[split] += alpaca
        if exports.sharegpt:
            out.sharegpt[split] += sharegpt
            out.sharegpt[split] += b"\n"
        out.chosen[split] += 1
        if row is not None:
            rows[split].append(row)
    for split in SPLITS:
        if rows[split]:
            out.parquet[split] = parquet_table(rows[split])
    out.distinct_before = _all_turns(before)
    out.distinct_after = _all_turns(after)
    return out


def _all_turns(recs: list[dict[str, Any]]) -> list[str]:
    return normalize_many(["\n".join(m["content"] for m in rec["messages"]) for rec in recs])
