"""Streaming writers for the mixture in the formats people already train from.

- train.jsonl / val.jsonl: unified records (OpenAI-style `messages`);
- llamafactory/{train,val}.json + dataset_info.json: alpaca format with `system` and
  `history` (earlier turns as [user, assistant] pairs), registered with file_sha1 the way
  LLaMA-Factory's dataset_info.json expects;
- sharegpt.jsonl / sharegpt_val.jsonl: {"id", "system", "conversations": [{"from", "value"}]};
- parquet/{train,val}.parquet: id, source, task, lang, messages (list of role/content
  structs), meta (JSON text, since meta keys differ between sources).
Every file is written through io.atomic_write, and rows in a fixed order.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from collectivesft.mix.recipe import ExportSpec
from collectivesft.io import atomic_write, write_json

SPLITS = ("train", "val")
LLAMAFACTORY_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output",
                        "system": "system", "history": "history"}
_PARQUET_BATCH = 5000


def to_alpaca(rec: dict[str, Any]) -> dict[str, Any]:
    """A unified record as one alpaca row: the last exchange, earlier ones in `history`."""
    msgs = rec["messages"]
    system = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
    turns = [m for m in msgs if m["role"] != "system"]
    pairs = [[turns[i]["content"], turns[i + 1]["content"]] for i in range(0, len(turns) - 1, 2)]
    last_user, last_assistant = pairs[-1]
    return {"instruction": last_user, "input": "", "output": last_assistant, "system": system,
            "history": pairs[:-1]}


def to_sharegpt(rec: dict[str, Any]) -> dict[str, Any]:
    msgs = rec["messages"]
    system = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
    roles = {"user": "human", "assistant": "gpt"}
    conv = [{"from": roles[m["role"]], "value": m["content"]} for m in msgs if m["role"] != "system"]
    return {"id": rec["id"], "system": system, "conversations": conv}


def sha1_of(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def parquet_row(rec: dict[str, Any]) -> dict[str, Any]:
    return {"id": rec["id"], "source": rec["source"], "task": rec["task"], "lang": rec["lang"],
            "messages": rec["messages"], "meta": json.dumps(rec["meta"], ensure_ascii=False, sort_keys=True)}


def parquet_table(rows: list[dict[str, Any]]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=_parquet_schema())


class MixtureWriter:
    """Write train/val records to every enabled format at once, in the order they are given.

    Records arrive already encoded (mix/encode.py, in worker processes): a chunk's bytes per
    file (`write_chunk`) or one record's pieces (`write_one`). Parquet row groups hold
    _PARQUET_BATCH rows each, however the rows arrive."""

    def __init__(self, out: Path, exports: ExportSpec):
        self.out = out
        self.exports = exports
        self.stack = ExitStack()
        self.counts = {s: 0 for s in SPLITS}
        self.files: dict[tuple[str, str], Any] = {}
        self.parquet_tables: dict[str, list[Any]] = {s: [] for s in SPLITS}
        self.parquet_rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        self.parquet_writers: dict[str, Any] = {}

    def __enter__(self) -> "MixtureWriter":
        for split in SPLITS:
            self.files["records", split] = self.stack.enter_context(atomic_write(self.out / f"{split}.jsonl", "wb"))
            if self.exports.llamafactory:
                fh = self.stack.enter_context(atomic_write(self.out / "llamafactory" / f"{split}.json", "wb"))
                fh.write(b"[")
                self.files["alpaca", split] = fh
            if self.exports.sharegpt:
                name = "sharegpt.jsonl" if split == "train" else "sharegpt_val.jsonl"
                self.files["sharegpt", split] = self.stack.enter_context(atomic_write(self.out / name, "wb"))
            if self.exports.parquet:
                import pyarrow.parquet as pq

                fh = self.stack.enter_context(atomic_write(self.out / "parquet" / f"{split}.parquet", "wb"))
                writer = pq.ParquetWriter(fh, _parquet_schema(), compression="zstd")
                self.parquet_writers[split] = writer
        return self

    def write_chunk(self, split: str, count: int, records: bytes, alpaca: bytes, sharegpt: bytes,
                    table: Any = None) -> None:
        """Append `count` encoded records: JSON lines, alpaca rows joined by ",\\n", ShareGPT lines."""
        if not count:
            return
        self.files["records", split].write(records)
        if self.exports.llamafactory:
            self.files["alpaca", split].write((b"\n" if self.counts[split] == 0 else b",\n") + alpaca)
        if self.exports.sharegpt:
            self.files["sharegpt", split].write(sharegpt)
        if self.exports.parquet and table is not None:
            self._add_table(split, table)
        self.counts[split] += count

    def write_one(self, split: str, record: bytes, alpaca: bytes, sharegpt: bytes, row: dict[str, Any] | None) -> None:
        """Append one encoded record."""
        self.files["records", split].write(record + b"\n")
        if self.exports.llamafactory:
            self.files["alpaca", split].write((b"\n" if self.counts[split] == 0 else b",\n") + alpaca)
        if self.exports.sharegpt:
            self.files["sharegpt", split].write(sharegpt + b"\n")
        if self.exports.parquet:
            rows = self.parquet_rows[split]
            rows.append(row)
            if len(rows) >= _PARQUET_BATCH:
                self._add_table(split, parquet_table(rows))
                rows.clear()
        self.counts[split] += 1

    def _add_table(self, split: str, table: Any) -> None:
        tables = self.parquet_tables[split]
        tables.append(table)
        pending = sum(t.num_rows for t in tables)
        if pending >= _PARQUET_BATCH:
            import pyarrow as pa

            whole = pa.concat_tables(tables).combine_chunks()
            done = pending - pending % _PARQUET_BATCH
            for lo in range(0, done, _PARQUET_BATCH):
                self.parquet_writers[split].write_table(whole.slice(lo, _PARQUET_BATCH).combine_chunks())
            tables[:] = [whole.slice(done)] if done < pending else []

    def _flush(self, split: str) -> None:
        import pyarrow as pa

        if self.parquet_rows[split]:
            self.parquet_tables[split].append(parquet_table(self.parquet_rows[split]))
            self.parquet_rows[split].clear()
        tables = self.parquet_tables[split]
        if tables and sum(t.num_rows for t in tables):
            self.parquet_writers[split].write_table(pa.concat_tables(tables).combine_chunks())
        tables.clear()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for split in SPLITS:
                if self.exports.llamafactory:
                    self.files["alpaca", split].write(b"\n]\n" if self.counts[split] else b"]\n")
                if self.exports.parquet:
                    self._flush(split)
                    self.parquet_writers[split].close()
        self.stack.__exit__(exc_type, exc, tb)
        if exc_type is None and self.exports.llamafactory:
            self._write_dataset_info()

    def _write_dataset_info(self) -> None:
        folder = self.out / "llamafactory"
        info = {}
        for split in SPLITS:
            info[f"collectivesft_{split}"] = {
                "file_name": f"{split}.json",
                "file_sha1": sha1_of(folder / f"{split}.json"),
                "formatting": "alpaca",
                "columns": dict(LLAMAFACTORY_COLUMNS),
            }
        write_json(folder / "dataset_info.json", info)


def export_paths(exports: ExportSpec) -> list[str]:
    """The files MixtureWriter writes for these settings, relative to the output folder."""
    paths = [f"{split}.jsonl" for split in SPLITS]
    if exports.llamafactory:
        paths += [f"llamafactory/{split}.json" for split in SPLITS] + ["llamafactory/dataset_info.json"]
    if exports.sharegpt:
        paths += ["sharegpt.jsonl", "sharegpt_val.jsonl"]
    if exports.parquet:
        paths += [f"parquet/{split}.parquet" for split in SPLITS]
    return paths


def _parquet_schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([("id", pa.string()), ("source", pa.string()), ("task", pa.string()), ("lang", pa.string()),
                      ("messages", pa.list_(message)), ("meta", pa.string())])
