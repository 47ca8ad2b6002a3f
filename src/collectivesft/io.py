"""File I/O every stage shares: atomic writes that honour the umask, JSON/JSONL, content digests."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from collectivesft.errors import InputLayoutError, RecordError


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
