"""Shared checks for source tests: convert, read the outputs back, assert the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collectivesft.records import record_problems
from collectivesft.sources.convert import convert_source


def convert_checked(source: str, out: Path, **kwargs: Any) -> tuple[dict, list[dict], list[dict]]:
    """(stats, records, quarantine) of converting with `convert_source(source, out, **kwargs)`,
    after checking the accounting identity, that every record is valid and that ids are unique."""
    kwargs.setdefault("allow_empty", True)  # quirk tables convert single rows that may all be dropped
    stats = convert_source(source, out, **kwargs)
    records = [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    quarantine = [json.loads(x) for x in (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    assert all(not record_problems(r) for r in records)
    assert len({r["id"] for r in records}) == len(records)
    return stats, records, quarantine
