"""Write small hand-written raw files (plain, encoded, JSON, JSON lines, zip members) for source tests."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any


def encode(content: Any) -> bytes:
    """text, (encoding, text), ("json", object) or ("jsonl", [objects]) -> the file's bytes."""
    if isinstance(content, str):
        return content.encode("utf-8")
    kind, value = content
    if kind == "json":
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    if kind == "jsonl":
        return "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in value).encode("utf-8")
    return value.encode(kind)


def write_raw(root: Path, files: dict[str, Any]) -> None:
    """Write {relative path: content} under root; "a.zip!b" is member b of archive a.zip."""
    for rel, content in files.items():
        data = encode(content)
        if "!" in rel:
            archive, member = rel.split("!")
            (root / archive).parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(root / archive, "a") as zf:
                zf.writestr(member, data)
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
