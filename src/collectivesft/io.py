"""File I/O every stage shares: atomic writes that honour the umask, JSON/JSONL read with limits
(jsonlimits), zip members, content digests."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from collectivesft.errors import InputLayoutError, RecordError
from collectivesft.jsonlimits import DEFAULT_LIMITS, JsonLimits, iter_lines, iter_units


def dumps(obj: Any) -> str:
    """One JSONL line, UTF-8 text kept readable (no \\u escapes)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temp file next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the mode open() would, so colleagues can read runs.
        os.fchmod(fd, 0o666 & ~_umask())
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


TMP_SUFFIX = ".tmp"
# atomic_write's temporary names: "." + target name + "." + mkstemp's 8 random characters + ".tmp".
_TMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask sets it too)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(folder: str | os.PathLike) -> int:
    """Give every regular, non-executable file under `folder` the mode the umask says (0644 under
    umask 022): safetensors writes its files 0600, so a saved model would be unreadable to the
    group that reads every other file. Returns how many files were changed."""
    wanted = 0o666 & ~_umask()
    changed = 0
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink():
            mode = path.stat().st_mode & 0o777
            if mode & 0o111 == 0 and mode != wanted:
                os.chmod(path, wanted)
                changed += 1
    return changed


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete temporary files an earlier, killed run left under `folder` (atomic_write's names
    only); return them. Call at the start of a stage, before it writes into `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(f"*{TMP_SUFFIX}") if p.is_file() and _TMP_NAME.match(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


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


def read_jsonl(path: str | os.PathLike, limits: JsonLimits = DEFAULT_LIMITS) -> Iterator[Any]:
    """Yield the rows of a JSONL file, streaming; a row that cannot be read (bad JSON, over a
    limit of jsonlimits) raises RecordError naming file:line and the reason."""
    with open(path, "rb") as fh:
        for unit in iter_lines(fh, limits):
            if unit.problem is not None:
                raise RecordError(f"{path}:{unit.at}: {unit.problem}")
            yield unit.value


@dataclass
class JsonRows:
    """The rows of a file that is one JSON list or JSON Lines, with where each row stands."""

    form: str  # "list" or "lines"
    rows: list[Any]
    places: list[str]  # per row: "row 4" (of a list) or "line 7"


def read_json_table(source: str | os.PathLike | IO[bytes], where: str | None = None,
                    limits: JsonLimits = DEFAULT_LIMITS) -> JsonRows:
    """Every row of a JSON list or of JSON Lines (the content decides, see jsonlimits.sniff),
    read with the limits of jsonlimits. The one reader of model outputs, answer keys and
    submissions: a row that cannot be read is an InputLayoutError naming the file, the line
    (or row) and the reason."""
    if not hasattr(source, "read"):
        where = where or str(source)
        try:
            with open(source, "rb") as fh:
                return read_json_table(fh, where, limits)
        except FileNotFoundError:
            raise InputLayoutError(f"{where}: file not found") from None
    form, units = iter_units(source, limits)
    table = JsonRows(form, [], [])
    for unit in units:
        place = f"row {unit.at + 1}" if form == "list" else f"line {unit.at}"
        if unit.problem is not None:
            raise InputLayoutError(f"{where}: {place}: {unit.problem}")
        table.rows.append(unit.value)
        table.places.append(place)
    return table


def read_json_rows(path: str | os.PathLike) -> list[Any]:
    """The rows of a file that is either one JSON list or JSON lines (both forms circulate for
    model outputs and eval files). Errors are InputLayoutError naming the file (and line)."""
    return read_json_table(path).rows


@contextmanager
def open_zip_member(zf: zipfile.ZipFile, member: str, where: str) -> Iterator[IO[bytes]]:
    """`zf.open(member)`; a member zipfile cannot read (encrypted, a compression method it
    lacks, a corrupt header) is an InputLayoutError naming `where` (archive!member)."""
    try:
        fh = zf.open(member)
    except NotImplementedError as exc:  # e.g. Deflate64, which zip tools use for large files
        raise InputLayoutError(f"{where}: the archive member uses a compression method zipfile cannot read ({exc}); "
                               "extract the archive with another tool and pass the folder") from None
    except RuntimeError as exc:  # zipfile's type for "encrypted" and for a missing bz2/lzma module
        if "encrypted" in str(exc):
            raise InputLayoutError(f"{where}: the archive member is encrypted (a password is needed); "
                                   "extract it yourself and pass the folder") from None
        if "compression" in str(exc).lower():
            raise InputLayoutError(f"{where}: {exc}; extract the archive with another tool and pass the folder") from None
        raise
    except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as exc:
        raise InputLayoutError(f"{where}: truncated or corrupt archive member ({exc})") from None
    with fh:
        yield fh


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (manifests use it to detect changed inputs)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()



def files_digest(paths: Iterable[str | os.PathLike], skip_names: tuple[str, ...] = (),
                 skip_suffixes: tuple[str, ...] = (".tmp",)) -> str:
    """Content digest of files (or every file under folders), independent of where they live."""
    h = hashlib.sha256()
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            if f.name in skip_names or f.suffix in skip_suffixes:
                continue
            rel = f.relative_to(p).as_posix() if p.is_dir() else f.name
            h.update(rel.encode() + b"\0" + file_sha256(f).encode() + b"\n")
    return h.hexdigest()


def folder_checksums(path: str | os.PathLike) -> dict[str, str]:
    """{relative path: sha256} of a file (its name) or of every file under a folder."""
    path = Path(path)
    if path.is_file():
        return {path.name: file_sha256(path)}
    return {p.relative_to(path).as_posix(): file_sha256(p) for p in sorted(path.rglob("*")) if p.is_file()}


def json_digest(obj: Any) -> str:
    """sha256 of a JSON-able object with sorted keys (stage keys, settings digests)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
