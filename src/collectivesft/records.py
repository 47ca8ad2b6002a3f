"""The unified record: validation, construction and atomic JSONL I/O.

Every stage reads and writes records as JSONL, one object per line:
{"id", "source", "task", "lang", "messages": [{"role", "content"}...], "meta": {...}}.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from collectivesft.errors import RecordError

ROLES = ("system", "user", "assistant")
TASKS = ("mcq", "qa", "dialogue", "intent", "ner", "other")
RECORD_KEYS = ("id", "source", "task", "lang", "messages", "meta")


def make_record(
    id: str,
    source: str,
    task: str,
    lang: str,
    messages: list[dict[str, str]],
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a record with keys in the canonical order (keeps JSONL output byte-stable)."""
    return {"id": id, "source": source, "task": task, "lang": lang, "messages": messages, "meta": meta or {}}


def record_problems(rec: Any) -> list[str]:
    """Return every way `rec` breaks the record contract (empty list = valid)."""
    if not isinstance(rec, dict):
        return [f"record must be an object, got {type(rec).__name__}"]
    problems = [f"missing key {k!r}" for k in RECORD_KEYS if k not in rec]
    for key in ("id", "source", "lang"):
        if key in rec and (not isinstance(rec[key], str) or not rec[key]):
            problems.append(f"{key!r} must be a non-empty string")
    if "id" in rec and isinstance(rec.get("id"), str) and isinstance(rec.get("source"), str):
        if not rec["id"].startswith(rec["source"] + "/"):
            problems.append(f"id {rec['id']!r} must start with '{rec['source']}/'")
    if "task" in rec and rec["task"] not in TASKS:
        problems.append(f"task {rec['task']!r} not one of {TASKS}")
    if "meta" in rec and not isinstance(rec["meta"], dict):
        problems.append("'meta' must be an object")
    msgs = rec.get("messages")
    if "messages" in rec:
        if not isinstance(msgs, list) or not msgs:
            problems.append("'messages' must be a non-empty list")
        else:
            for i, m in enumerate(msgs):
                if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                    problems.append(f"messages[{i}] must be {{role: system|user|assistant, content: str}}")
            roles = [m.get("role") for m in msgs if isinstance(m, dict)]
            body = roles[1:] if roles and roles[0] == "system" else roles
            if "system" in body:
                problems.append("a system message may only come first")
            if not body or body[-1] != "assistant":
                problems.append("the last message must be from the assistant")
            if any(a == b for a, b in zip(body, body[1:])):
                problems.append("user and assistant turns must alternate")
            if body and body[0] != "user":
                problems.append("the first non-system message must be from the user")
    return problems


def validate_record(rec: Any) -> dict[str, Any]:
    """Return `rec` unchanged or raise RecordError listing every problem."""
    problems = record_problems(rec)
    if problems:
        rid = rec.get("id") if isinstance(rec, dict) else None
        raise RecordError(f"invalid record {rid!r}: " + "; ".join(problems))
    return rec


def dumps(obj: Any) -> str:
    """One JSONL line, UTF-8 text kept readable (no \\u escapes)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temp file next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding, newline=None if "b" in mode else "\n") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    """Atomically write rows as JSONL; return how many were written."""
    n = 0
    with atomic_write(path) as fh:
        for row in rows:
            fh.write(dumps(row))
            fh.write("\n")
            n += 1
    return n


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Atomically write one JSON document (sorted keys are the caller's choice)."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=indent)
        fh.write("\n")


def read_jsonl(path: str | os.PathLike, strict: bool = True) -> Iterator[dict[str, Any]]:
    """Yield objects from a JSONL file, streaming. strict: a bad line raises RecordError naming file:line."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                if strict:
                    raise RecordError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None


def read_json_rows(path: str | os.PathLike) -> list[Any]:
    """The rows of a file that is either one JSON list or JSON lines (both forms circulate for
    model outputs and eval files). Errors are InputLayoutError naming the file (and line)."""
    from collectivesft.errors import InputLayoutError

    text = Path(path).read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputLayoutError(f"{path}: not valid JSON ({exc})") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputLayoutError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return rows


def read_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield validated unified records from JSONL; the first invalid one raises with file:line."""
    for lineno, rec in enumerate(read_jsonl(path), 1):
        problems = record_problems(rec)
        if problems:
            raise RecordError(f"{path}: record {lineno}: " + "; ".join(problems))
        yield rec


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (manifests use it to detect changed inputs)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def user_text(rec: dict[str, Any]) -> str:
    """All user turns of a record joined by newlines (what dedup and decontamination compare)."""
    return "\n".join(m["content"] for m in rec["messages"] if m["role"] == "user")


def assistant_text(rec: dict[str, Any]) -> str:
    """All assistant turns joined by newlines."""
    return "\n".join(m["content"] for m in rec["messages"] if m["role"] == "assistant")
