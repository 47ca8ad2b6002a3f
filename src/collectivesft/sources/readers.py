"""Readers for raw files as published: plain files, folders, zips; JSON, JSONL, CSV/TSV.

They stream (memory does not grow with the input) and turn unreadable units into `BadRow`s
with file and line, so converters only see rows that parsed.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import IO, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.sources.rows import BadRow, RawRow

SNIPPET = 200
csv.field_size_limit(sys.maxsize)


def snippet(text: str | bytes) -> str:
    """A short, printable excerpt of a raw row for the quarantine file."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text[:SNIPPET]


def iter_members(path: Path, patterns: list[str], layout: str,
                 any_name: bool = True) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield (name, binary stream) for every file under `path` whose relative path matches a glob.

    `path` may be a file, a folder, a zip, or a folder holding zips (releases like cMedQA2
    ship zipped CSVs): zip members are matched by their inner path. A plain file named on the
    command line is read whatever its name (users rename files; the content decides), unless
    `any_name` is False. Raises InputLayoutError quoting `layout` when nothing matches or an
    archive is unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise InputLayoutError(f"input {path} does not exist; expected {layout}")
    if any_name and is_plain_file(path):
        with open(path, "rb") as fh:
            yield path.name, fh
        return
    found = 0
    candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in candidates:
        rel = file.name if path.is_file() else file.relative_to(path).as_posix()
        if zipfile.is_zipfile(file) or file.suffix.lower() == ".zip":
            try:
                zf = zipfile.ZipFile(file)
                names = [n for n in zf.namelist() if not n.endswith("/")]
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputLayoutError(f"{file}: unreadable zip archive ({exc}); expected {layout}") from None
            with zf:
                for inner in sorted(names):
                    if _matches(inner, patterns):
                        found += 1
                        try:
                            with zf.open(inner) as fh:
                                yield f"{rel}!{inner}", fh
                        except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as exc:
                            raise InputLayoutError(f"{file}!{inner}: truncated or corrupt archive member ({exc})") from None
        elif _matches(rel, patterns):
            found += 1
            with open(file, "rb") as fh:
                yield rel, fh
    if not found:
        where = f"in folder {path}" if path.is_dir() else f"in archive {path}"
        raise InputLayoutError(f"no input files matching {patterns} {where}; expected {layout}")


def is_plain_file(path: Path) -> bool:
    """A file that is not a zip archive (a zip is searched like a folder)."""
    path = Path(path)
    return path.is_file() and not (zipfile.is_zipfile(path) or path.suffix.lower() == ".zip")


SPLIT_WORDS = (("train", "train"), ("validat", "validation"), ("valid", "validation"), ("dev", "dev"),
               ("test", "test"))


def split_of_name(name: str) -> str | None:
    """The split a file's name says it holds (train_data.json -> train), or None."""
    base = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
    for word, split in SPLIT_WORDS:
        if word in base:
            return split
    return None


def _matches(rel: str, patterns: list[str]) -> bool:
    base = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(base, p) for p in patterns)


def iter_jsonl(name: str, fh: IO[bytes], encoding: str = "utf-8") -> Iterator[RawRow | BadRow]:
    """One RawRow per JSON line (CRLF and BOM tolerated); bad bytes or bad JSON become BadRows."""
    for lineno, raw in enumerate(fh, 1):
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        if not raw.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError:
            yield BadRow(where, f"undecodable bytes (not {encoding})", snippet(raw))
            continue
        try:
            yield RawRow(where, json.loads(line))
        except json.JSONDecodeError as exc:
            yield BadRow(where, f"invalid JSON ({exc.msg})", snippet(line))


def iter_json_list(name: str, fh: IO[bytes]) -> Iterator[RawRow | BadRow]:
    """Stream the items of a top-level JSON array (`name#index`). A file that breaks mid-way
    yields every item before the break and one BadRow saying where it broke."""
    import ijson

    head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    stream = replay(head, fh) if head else fh
    index = -1
    try:
        for index, item in enumerate(ijson.items(stream, "item", use_float=True)):
            yield RawRow(f"{name}#{index}", item)
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:160]  # yajl's message spans lines with a caret drawing
        where = "before its first item" if index < 0 else f"after item {index}"
        if isinstance(exc, UnicodeDecodeError) or "invalid bytes in UTF8" in detail:
            reason = f"undecodable bytes (not utf-8): file breaks {where}"
        else:
            reason = f"invalid JSON: file breaks {where} ({detail})"
        yield BadRow(f"{name}#{index + 1}", reason, "")


def iter_json_rows(name: str, fh: IO[bytes], encoding: str = "utf-8") -> Iterator[RawRow | BadRow]:
    """Rows of a JSON list or of JSON Lines, told apart by the content rather than the file name
    (CMID's first release is JSON Lines named .json; MedMCQA copies circulate as JSON lists)."""
    head = fh.read(_SNIFF_BYTES)
    stream = replay(head, fh)
    if _is_json_list(head):
        yield from iter_json_list(name, stream)
    else:
        yield from iter_jsonl(name, stream, encoding)


_SNIFF_BYTES = 1 << 16


def _is_json_list(head: bytes) -> bool:
    """True when `head` starts a JSON list: "[" first, and not a first line that is a whole JSON
    value followed by more lines (JSON Lines whose rows are lists, as MedDialog's can be)."""
    text = head[len(codecs.BOM_UTF8):] if head.startswith(codecs.BOM_UTF8) else head
    text = text.lstrip()
    if not text.startswith(b"["):
        return False
    first, newline, rest = text.partition(b"\n")
    if not newline or not rest.strip():
        return True
    try:
        json.loads(first)
    except ValueError:  # also UnicodeDecodeError: a list whose first line is only part of it
        return True
    return False


def replay(head: bytes, fh: IO[bytes]) -> IO[bytes]:
    """A buffered stream giving `head` (bytes already read to sniff the file) and then the rest of `fh`."""
    return io.BufferedReader(_Replay(head, fh))


class _Replay(io.RawIOBase):
    def __init__(self, head: bytes, fh: IO[bytes]):
        self._head, self._fh = head, fh

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._fh.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def iter_csv(
    name: str,
    fh: IO[bytes],
    encoding: str = "utf-8",
    delimiter: str = ",",
    required: tuple[str, ...] = (),
    header: list[str] | None = None,
) -> Iterator[RawRow | BadRow]:
    """One RawRow (a dict) per CSV record; quoted fields may hold newlines (`name:line`).

    Bytes that do not decode are kept as surrogates while parsing so only the affected
    row becomes a BadRow, not the whole file. A row missing a `required` column is a BadRow.
    """
    text = io.TextIOWrapper(fh, encoding=encoding, errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    if header is None:
        try:
            header = [h.strip().lstrip("\ufeff") for h in next(reader)]
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRow(f"{name}:1", f"unreadable CSV header ({exc})", "")
            return
        missing = [c for c in required if c not in header]
        if missing:
            raise InputLayoutError(f"{name}: header {header} lacks column(s) {missing}")
    start = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRow(f"{name}:{start}", f"malformed CSV ({exc})", "")
            start = reader.line_num + 1
            continue
        where = f"{name}:{start}"
        start = reader.line_num + 1
        if not fields or all(not f.strip() for f in fields):
            continue
        joined = delimiter.join(fields)
        if _has_surrogates(joined):
            yield BadRow(where, f"undecodable bytes (not {encoding})", snippet(joined.encode("utf-8", "surrogateescape")))
            continue
        if len(fields) < len(header):
            row = dict(zip(header, fields))
            absent = [c for c in (required or header) if c not in row]
            if absent:
                yield BadRow(where, f"missing column(s) {absent}", snippet(joined))
                continue
        yield RawRow(where, dict(zip(header, fields)))


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def iter_hub_rows(hub_id: str, split: str | None = None, name: str | None = None) -> Iterator[RawRow | BadRow]:
    """Rows of `datasets.load_dataset(hub_id)` (hub id or local folder in hub layout), streamed.

    Every split is read unless `split` is given; `where` is `hub:<id>/<split>#<index>`.
    """
    import datasets

    try:
        ds = datasets.load_dataset(hub_id, name, streaming=True) if name else datasets.load_dataset(hub_id, streaming=True)
    except Exception as exc:  # datasets raises many types; report them as a layout problem
        raise InputLayoutError(f"could not load {hub_id!r} with datasets.load_dataset: {exc}") from exc
    splits = [split] if split else list(ds.keys())
    for sp in splits:
        for index, row in enumerate(ds[sp]):
            yield RawRow(f"hub:{hub_id}/{sp}#{index}", dict(row))


def checked_rows(rows: Iterator[RawRow | BadRow], name: str, looks_right, title: str,
                 layout: str) -> Iterator[RawRow | BadRow]:
    """Pass rows through, but a first row of another dataset's shape makes the input unusable
    (InputLayoutError naming `layout`) instead of a pile of quarantined rows.

    `looks_right(data) -> bool` judges the first parsed row; None skips the check. Archive
    members that break mid-read are handled once, in convert.convert_source.
    """
    first = looks_right is not None
    for row in rows:
        if first and isinstance(row, RawRow):
            first = False
            if not looks_right(row.data):
                shown = snippet(json.dumps(row.data, ensure_ascii=False))[:80]
                raise InputLayoutError(f"{name}: the first row does not look like {title} ({shown}); expected {layout}")
        yield row
