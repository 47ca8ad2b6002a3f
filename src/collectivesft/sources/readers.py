"""Readers for raw files as published: plain files, folders, zips; JSON, JSONL, CSV/TSV.

They stream (memory does not grow with the input) and turn unreadable units into `BadRow`s
with file and line, so converters only see rows that parsed.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import IO, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.io import open_zip_member
from collectivesft.jsonlimits import JsonLimits, Unit, has_surrogates, iter_items, iter_lines, sniff
from collectivesft.sources.rows import BadRow, RawRow

SNIPPET = 200
# Raw readers' limits unless a source is given others (--set max_depth=..., see Source.limits).
SOURCE_LIMITS = JsonLimits(hint="raise it with --set {option}=N")
# CSV fields are not bounded: after a field-limit error the csv module resumes mid-field and
# would read the rest of it as rows. (The JSON readers are bounded; see jsonlimits.)
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
    root = path.resolve() if path.is_dir() else None
    for file in candidates:
        rel = file.name if path.is_file() else file.relative_to(path).as_posix()
        is_zip = zipfile.is_zipfile(file) or file.suffix.lower() == ".zip"
        if root is not None and (is_zip or _matches(rel, patterns)):
            _refuse_outside_links(file, rel, root, path)
        if is_zip:
            try:
                zf = zipfile.ZipFile(file)
                names = [n for n in zf.namelist() if not n.endswith("/")]
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputLayoutError(f"{file}: unreadable zip archive ({exc}); expected {layout}") from None
            with zf:
                for inner in sorted(names):
                    if _matches(inner, patterns):
                        found += 1
                        with open_zip_member(zf, inner, f"{file}!{inner}") as fh:
                            yield f"{rel}!{inner}", fh
        elif _matches(rel, patterns):
            found += 1
            with open(file, "rb") as fh:
                yield rel, fh
    if not found:
        where = f"in folder {path}" if path.is_dir() else f"in archive {path}"
        raise InputLayoutError(f"no input files matching {patterns} {where}; expected {layout}")


def _refuse_outside_links(file: Path, rel: str, root: Path, folder: Path) -> None:
    """A symbolic link in an input folder is followed only while it stays inside the folder:
    what a folder holds is what gets converted and checksummed, not files elsewhere."""
    target = file.resolve()
    if target != root and root not in target.parents:
        raise InputLayoutError(f"{folder / rel} is a symbolic link to {target}, outside the input folder {folder}; "
                               "not followed: pass that file itself with --input, or copy it into the folder")


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


def iter_jsonl(name: str, fh: IO[bytes], encoding: str = "utf-8",
               limits: JsonLimits = SOURCE_LIMITS) -> Iterator[RawRow | BadRow]:
    """One RawRow per JSON line (`name:line`; CRLF and BOM tolerated); a line that breaks a
    limit, bad bytes or bad JSON become BadRows (jsonlimits has the rules)."""
    for unit in iter_lines(fh, limits, encoding):
        yield _row(f"{name}:{unit.at}", unit)


def iter_json_list(name: str, fh: IO[bytes], limits: JsonLimits = SOURCE_LIMITS) -> Iterator[RawRow | BadRow]:
    """The items of a top-level JSON array (`name#index`). A broken item is one BadRow and the
    items after it are still read; a file that ends inside the list says after which item."""
    for unit in iter_items(fh, limits):
        yield _row(f"{name}#{unit.at}", unit)


def iter_json_rows(name: str, fh: IO[bytes], encoding: str = "utf-8",
                   limits: JsonLimits = SOURCE_LIMITS) -> Iterator[RawRow | BadRow]:
    """Rows of a JSON list or of JSON Lines, told apart by the content rather than the file name
    (CMID's first release is JSON Lines named .json; MedMCQA copies circulate as JSON lists)."""
    form, stream = sniff(fh)
    if form == "list":
        yield from iter_json_list(name, stream, limits)
    else:
        yield from iter_jsonl(name, stream, encoding, limits)


def _row(where: str, unit: Unit) -> RawRow | BadRow:
    if unit.problem is not None:
        return BadRow(where, unit.problem, snippet(unit.raw))
    return RawRow(where, unit.value)


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
        if has_surrogates(joined):
            yield BadRow(where, f"undecodable bytes (not {encoding})", snippet(joined.encode("utf-8", "surrogateescape")))
            continue
        if len(fields) < len(header):
            row = dict(zip(header, fields))
            absent = [c for c in (required or header) if c not in row]
            if absent:
                yield BadRow(where, f"missing column(s) {absent}", snippet(joined))
                continue
        yield RawRow(where, dict(zip(header, fields)))


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
                raise InputLayoutError(f"{name}: the first row does not look like {title}: it reads {shown!r}; "
                                       f"expected {layout}")
        yield row
