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
from collectivesft.io import atomic_write, dumps, write_json

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


class MixtureWriter:
    """Write train/val records to every enabled format at once, in the order they are given."""

    def __init__(self, out: Path, exports: ExportSpec):
        self.out = out
        self.exports = exports
        self.stack = ExitStack()
        self.counts = {s: 0 for s in SPLITS}
        self.files: dict[tuple[str, str], Any] = {}
        self.parquet_rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        self.parquet_writers: dict[str, Any] = {}

    def __enter__(self) -> "MixtureWriter":
        for split in SPLITS:
            self.files["records", split] = self.stack.enter_context(atomic_write(self.out / f"{split}.jsonl"))
            if self.exports.llamafactory:
                fh = self.stack.enter_context(atomic_write(self.out / "llamafactory" / f"{split}.json"))
                fh.write("[")
                self.files["alpaca", split] = fh
            if self.exports.sharegpt:
                name = "sharegpt.jsonl" if split == "train" else "sharegpt_val.jsonl"
                self.files["sharegpt", split] = self.stack.enter_context(atomic_write(self.out / name))
            if self.exports.parquet:
                import pyarrow.parquet as pq

                fh = self.stack.enter_context(atomic_write(self.out / "parquet" / f"{split}.parquet", "wb"))
                writer = pq.ParquetWriter(fh, _parquet_schema(), compression="zstd")
                self.parquet_writers[split] = writer
        return self

    def write(self, split: str, rec: dict[str, Any]) -> None:
        self.files["records", split].write(dumps(rec) + "\n")
        if self.exports.llamafactory:
            sep = "\n" if self.counts[split] == 0 else ",\n"
            self.files["alpaca", split].write(sep + dumps(to_alpaca(rec)))
        if self.exports.sharegpt:
            self.files["sharegpt", split].write(dumps(to_sharegpt(rec)) + "\n")
        if self.exports.parquet:
            rows = self.parquet_rows[split]
            rows.append({"id": rec["id"], "source": rec["source"], "task": rec["task"], "lang": rec["lang"],
                         "messages": rec["messages"], "meta": json.dumps(rec["meta"], ensure_ascii=False,
                                                                          sort_keys=True)})
            if len(rows) >= _PARQUET_BATCH:
                self._flush(split)
        self.counts[split] += 1

    def _flush(self, split: str) -> None:
        import pyarrow as pa

        rows = self.parquet_rows[split]
        if rows:
            self.parquet_writers[split].write_table(pa.Table.from_pylist(rows, schema=_parquet_schema()))
            rows.clear()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for split in SPLITS:
                if self.exports.llamafactory:
                    self.files["alpaca", split].write("\n]\n" if self.counts[split] else "]\n")
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
