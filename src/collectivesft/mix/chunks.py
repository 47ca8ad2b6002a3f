"""A records file cut into byte ranges that worker processes read themselves.

The main process only seeks: it never reads, decodes or ships the records' text, so both
passes of the mix scale with the workers. A range ends just after a b"\\n"; the lines in it
are those `open(path, encoding="utf-8")` iterates (universal newlines: "\\r\\n" and a lone
"\\r" end a line too), and a line is blank when `line.strip()` is empty, exactly as the
text-mode reading it replaces decided.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

@dataclass(frozen=True)
class Chunk:
    entry: int  # the recipe source's position
    path: str
    start: int  # byte range [start, end)
    end: int


def byte_chunks(entry: int, path: str | os.PathLike, size: int) -> list[Chunk]:
    """Ranges of about `size` bytes covering the file, each ending after a newline."""
    total = os.path.getsize(path)
    chunks = []
    start = 0
    with open(path, "rb") as fh:
        while start < total:
            fh.seek(min(start + size, total))
            if fh.tell() < total:
                fh.readline()  # to the end of the line the cut fell in
            end = fh.tell()
            chunks.append(Chunk(entry, str(path), start, end))
            start = end
    return chunks


def _physical_lines(data: bytes) -> list[bytes]:
    if b"\r" not in data:
        return data.splitlines(keepends=True) if data else []
    # Universal newlines: "\r\n" and a lone "\r" end a line, as text mode reads them.
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").splitlines(keepends=True)


def _blank(line: bytes) -> bool:
    stripped = line.strip()
    if not stripped:
        return True
    if stripped[:1] == b"{" or stripped[0] < 0x80 and stripped[0] not in b"\x1c\x1d\x1e\x1f\x85":
        return False
    # Unicode whitespace (e.g. U+3000) counts as blank in text mode's str.strip().
    return not line.decode("utf-8", "replace").strip()


def read_lines(chunk: Chunk) -> tuple[list[int], list[bytes]]:
    """(line numbers within the chunk, 1-based; raw lines) of the chunk's non-blank lines."""
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        data = fh.read(chunk.end - chunk.start)
    numbers, lines = [], []
    for number, line in enumerate(_physical_lines(data), 1):
        if not _blank(line):
            numbers.append(number)
            lines.append(line)
    return numbers, lines


def lines_before(chunk: Chunk) -> int:
    """Physical lines of the file before the chunk (for error messages naming a file line)."""
    if chunk.start == 0:
        return 0
    with open(chunk.path, "rb") as fh:
        return len(_physical_lines(fh.read(chunk.start)))


def file_size(path: str | os.PathLike) -> int:
    return Path(path).stat().st_size
