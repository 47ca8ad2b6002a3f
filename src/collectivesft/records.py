"""The unified record: construction, validation and reading.

Every stage reads and writes records as JSONL, one object per line:
{"id", "source", "task", "lang", "messages": [{"role", "content"}...], "meta": {...}}.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from collectivesft.errors import RecordError
from collectivesft.io import read_jsonl

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


def read_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield validated unified records from JSONL; the first invalid one raises with file:line."""
    for lineno, rec in enumerate(read_jsonl(path), 1):
        problems = record_problems(rec)
        if problems:
            raise RecordError(f"{path}: record {lineno}: " + "; ".join(problems))
        yield rec


def user_text(rec: dict[str, Any]) -> str:
    """All user turns of a record joined by newlines (what dedup and decontamination compare)."""
    return "\n".join(m["content"] for m in rec["messages"] if m["role"] == "user")


def assistant_text(rec: dict[str, Any]) -> str:
    """All assistant turns joined by newlines."""
    return "\n".join(m["content"] for m in rec["messages"] if m["role"] == "assistant")
