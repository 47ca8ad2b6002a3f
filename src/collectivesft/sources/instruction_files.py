"""Instruction files of any origin (general-domain data, a user's own set) as unified records.

Not a registered source (those are the paper's public datasets): `collectivesft mixture search`
reads its extra sources with it, such as the general-domain file whose share against the medical
sources the search weighs. Three formats, as the SFT ecosystem writes them:

- alpaca: a JSON list (or JSON lines) of {instruction, input?, output, system?, history?}, history
  being [[user, assistant], ...] turns before this one (LLaMA-Factory's alpaca columns);
- sharegpt: a JSON list (or JSON lines) of {conversations: [{from: human|gpt|system, value}], system?}
  (the `messages` list of {role, content} is read too);
- records: JSON lines of unified records (records.py), kept as they are but re-labelled with the
  name they are mixed under.

A row that does not fit its format is counted by reason in stats.json, never dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from collectivesft.errors import ConfigError, InputLayoutError
from collectivesft.io import write_json, write_jsonl
from collectivesft.records import make_record, record_problems

FORMATS = ("auto", "alpaca", "sharegpt", "records")
_FROM = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def _rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, row) from a JSON list or JSON lines file."""
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputLayoutError(f"{path}: not a JSON list ({exc})") from None
        for i, row in enumerate(data):
            yield f"{path.name}#{i}", row
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield f"{path.name}:{lineno}", json.loads(line)
            except json.JSONDecodeError:
                yield f"{path.name}:{lineno}", None


def detect_format(row: Any) -> str:
    """The format a first row is written in; InputLayoutError when it is none of them."""
    if isinstance(row, dict):
        if "messages" in row and "source" in row and "id" in row:
            return "records"
        if "conversations" in row or "messages" in row:
            return "sharegpt"
        if "instruction" in row and "output" in row:
            return "alpaca"
    raise InputLayoutError("first row is no alpaca {instruction, output}, ShareGPT {conversations} or unified "
                           f"record {{id, source, messages}}: {str(row)[:120]!r}")


def _alpaca(row: dict[str, Any]) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": row["system"]}] if str(row.get("system") or "").strip() else []
    for pair in row.get("history") or []:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError("history is not a list of [user, assistant] pairs")
        messages += [{"role": "user", "content": str(pair[0])}, {"role": "assistant", "content": str(pair[1])}]
    prompt = "\n".join(p for p in (str(row.get("instruction") or ""), str(row.get("input") or "")) if p.strip())
    return messages + [{"role": "user", "content": prompt}, {"role": "assistant", "content": str(row.get("output") or "")}]


def _sharegpt(row: dict[str, Any]) -> list[dict[str, str]]:
    turns = row.get("conversations") if "conversations" in row else row.get("messages")
    if not isinstance(turns, list):
        raise ValueError("conversations is not a list")
    messages = [{"role": "system", "content": row["system"]}] if str(row.get("system") or "").strip() else []
    for turn in turns:
        if not isinstance(turn, dict):
            raise ValueError("a turn is not an object")
        role = _FROM.get(str(turn.get("from", turn.get("role", ""))).lower())
        if role is None:
            raise ValueError(f"unknown speaker {turn.get('from', turn.get('role'))!r}")
        messages.append({"role": role, "content": str(turn.get("value", turn.get("content", "")))})
    return messages


def convert_instruction_file(path: str | Path, out: str | Path, name: str, fmt: str = "auto",
                             lang: str = "zh") -> dict[str, Any]:
    """Write out/records.jsonl (records named `name`/<row>) and out/stats.json from an instruction
    file; return the stats {read, kept, dropped: {reason: n}, format}."""
    if fmt not in FORMATS:
        raise ConfigError(f"instruction file format {fmt!r}: expected one of {', '.join(FORMATS)}")
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise InputLayoutError(f"instruction file {path} not found")
    rows = list(_rows(path))
    if not rows:
        raise InputLayoutError(f"{path}: no rows")
    if fmt == "auto":
        fmt = detect_format(next((r for _, r in rows if r is not None), None))
    dropped: Counter[str] = Counter()
    records = []
    for i, (where, row) in enumerate(rows):
        if not isinstance(row, dict):
            dropped["not a JSON object"] += 1
            continue
        try:
            if fmt == "records":
                rec = dict(row, id=f"{name}/{row.get('id')}", source=name)
            else:
                messages = (_alpaca if fmt == "alpaca" else _sharegpt)(row)
                rec = make_record(f"{name}/{i}", name, "qa" if len(messages) <= 3 else "dialogue", lang,
                                  messages, {"row": where})
        except ValueError as exc:
            dropped[str(exc)] += 1
            continue
        problems = record_problems(rec)
        if problems or any(not m["content"].strip() for m in rec["messages"]):
            dropped[problems[0] if problems else "empty turn"] += 1
            continue
        records.append(rec)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "records.jsonl", records)
    stats = {"file": str(path), "format": fmt, "read": len(rows), "kept": len(records),
             "dropped": dict(sorted(dropped.items()))}
    write_json(out / "stats.json", stats)
    if not records:
        raise InputLayoutError(f"{path}: no row could be read as {fmt} ({dict(dropped)})")
    return stats
