"""Reading benchmarks' published files: finding them in a folder, zip or as the file itself,
CSV and JSON rows with their place, and the count of rows a loader leaves out.

Shared by the benchmarks beyond CMB (cmexam, medqa_mcmle, ceval_medical, mlecqa, nlpec). A
row-level problem is a `Skips` entry (reason, place), reported once per file on stderr and
kept on the benchmark (`Benchmark.skipped`); a file that is empty, unreadable or of another
layout is an InputLayoutError naming it.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.io import open_zip_member
from collectivesft.jsonlimits import DEFAULT_LIMITS, iter_units

# CSV fields are not bounded by the csv module's default (131,072 chars): CMExam's explanations
# are long, and a field-limit error makes the reader resume mid-field.
csv.field_size_limit(sys.maxsize)
PLACES_SHOWN = 5
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")  # places quoted per reason in the stderr report


@dataclass
class Skips:
    """Rows a loader left out of one file, by reason, with where each stood (row 7, line 12);
    `notes` counts rows kept despite a quirk (answer text differs, image attached)."""

    where: str
    total: int = 0  # rows read, kept or not
    reasons: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, place: str) -> None:
        self.reasons.setdefault(reason, []).append(place)

    def note(self, reason: str, place: str) -> None:
        self.notes.setdefault(reason, []).append(place)

    @property
    def skipped(self) -> int:
        return sum(len(p) for p in self.reasons.values())

    def counts(self) -> Counter:
        """reason -> rows left out (notes prefixed 'kept: ')."""
        counts = Counter({r: len(p) for r, p in self.reasons.items()})
        counts.update({f"kept: {r}": len(p) for r, p in self.notes.items()})
        return counts

    def line(self, benchmark: str) -> str | None:
        """The one stderr line saying what was left out and why, or None when nothing was."""
        if not self.reasons and not self.notes:
            return None
        parts = [f"{r} {len(p)} ({_places(p)})" for r, p in self.reasons.items()]
        parts += [f"kept: {r} {len(p)} ({_places(p)})" for r, p in self.notes.items()]
        return (f"{benchmark}: {self.where}: loaded {self.total - self.skipped} of {self.total} rows; "
                f"skipped {self.skipped}: " + "; ".join(parts))

    def report(self, benchmark: str) -> None:
        text = self.line(benchmark)
        # Once per process: a run loads a split again (scoring, the explorer), with the same rows left out.
        if text and text not in _REPORTED:
            _REPORTED.add(text)
            print(f"warning: {text}", file=sys.stderr, flush=True)


_REPORTED: set[str] = set()


def _places(places: list[str]) -> str:
    shown = ", ".join(places[:PLACES_SHOWN])
    return shown + (f", … {len(places) - PLACES_SHOWN} more" if len(places) > PLACES_SHOWN else "")


@dataclass(frozen=True)
class Found:
    """One published file: where it is (path, or archive!member) and its bytes."""

    where: str
    data: bytes


def find_files(data: str | Path, names: list[str], layout: str, single: bool = True) -> list[Found]:
    """The files called `names` (base names, or paths ending so: 'Mainland/test.jsonl') in a
    folder (any depth, the shallowest copy), a zip, or a folder holding zips. `data` may also
    be one of those files itself (its name must end as one of `names` when `single` is False).
    Names not found are absent from the result; none found is an InputLayoutError quoting `layout`."""
    path = Path(data)
    if not path.exists():
        raise InputLayoutError(f"{path} does not exist; expected {layout}")
    found: dict[str, Found] = {}
    if path.is_file() and not (zipfile.is_zipfile(path) or path.suffix.lower() == ".zip"):
        match = next((n for n in names if _ends_as(path.as_posix(), n)), None)
        if match is None and (not single or len(names) != 1):
            raise InputLayoutError(f"{path} is none of {names}; expected {layout}")
        if match is None:  # a renamed file is read, unless its name says it holds another split
            said, wanted = split_word(path.name), split_word(names[0])
            if said and wanted and said != wanted:
                raise InputLayoutError(f"{path}: its name says split {said!r}, not {wanted!r} ({names[0]}); "
                                       f"expected {layout}")
        found[match or names[0]] = Found(str(path), path.read_bytes())
    else:
        archives = [path] if path.is_file() else sorted(p for p in path.rglob("*.zip") if "__MACOSX" not in p.parts)
        for name in names:
            if path.is_dir():
                # Matched on the whole path, so a folder passed by name counts ("Mainland" + "test.jsonl").
                hits = sorted((p for p in path.rglob(Path(name).name) if p.is_file() and "__MACOSX" not in p.parts
                               and _ends_as(p.as_posix(), name)), key=lambda p: (len(p.parts), p))
                if hits:
                    _refuse_outside_link(hits[0], path)
                    found[name] = Found(str(hits[0]), hits[0].read_bytes())
                    continue
            for archive in archives:
                hit = _zip_member(archive, name)
                if hit is not None:
                    found[name] = hit
                    break
    if not found:
        raise InputLayoutError(f"{path}: holds none of {names}; expected {layout}")
    return [found[n] for n in names if n in found]


SPLIT_WORDS = {"train": "train", "dev": "dev", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def split_word(name: str) -> str | None:
    """The split a file name says it holds ('test_with_annotations.csv' -> 'test'), or None."""
    words = re.split(r"[^a-z]+", Path(name).stem.lower())
    return next((SPLIT_WORDS[w] for w in words if w in SPLIT_WORDS), None)


def _refuse_outside_link(file: Path, folder: Path) -> None:
    """A link in a benchmark folder is followed only while it stays inside the folder (as the
    source readers do): what is scored is what the folder holds."""
    root = folder.resolve()
    if root not in file.resolve().parents:
        raise InputLayoutError(f"{file} is a symbolic link to {file.resolve()}, outside {folder}; not followed: "
                               "pass that file itself, or copy it into the folder")


def _ends_as(path: str, name: str) -> bool:
    return path == name or path.endswith("/" + name) or path.endswith("!" + name)


def _zip_member(archive: Path, name: str) -> Found | None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = sorted((m for m in zf.namelist() if _ends_as(m, name) and "__MACOSX" not in m),
                             key=lambda m: (m.count("/"), m))
            if not members:
                return None
            where = f"{archive}!{members[0]}"
            with open_zip_member(zf, members[0], where) as fh:
                return Found(where, fh.read())
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputLayoutError(f"{archive}: unreadable zip archive ({exc})") from None


def decode(found: Found) -> str:
    """The file's text: UTF-8 (a BOM, as Excel writes, removed); anything else names the file."""
    if not found.data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputLayoutError(f"{found.where}: the file is empty")
    try:
        return found.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputLayoutError(f"{found.where}: not UTF-8 (byte {exc.start}: {found.data[exc.start:exc.start + 4]!r}); "
                               "the release is UTF-8: re-download it or convert the file") from None


def csv_rows(found: Found, required: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    """(place 'row N' counted from the first data row, {column: field}) per CSV record; quoted
    fields may hold newlines. A header lacking a `required` column is an InputLayoutError."""
    reader = csv.reader(io.StringIO(decode(found), newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise InputLayoutError(f"{found.where}: no CSV header ({exc or 'empty'})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise InputLayoutError(f"{found.where}: header {header} lacks column(s) {missing}")
    number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputLayoutError(f"{found.where}: malformed CSV after data row {number} ({exc})") from None
        if not fields or all(not f.strip() for f in fields):
            continue
        number += 1
        yield f"row {number}", dict(zip(header, fields + [""] * (len(header) - len(fields))))


def json_rows(found: Found, skips: Skips) -> Iterator[tuple[str, Any]]:
    """(place, value) per row of a JSON list or JSON Lines file; an unreadable row (bad JSON,
    bytes that are not UTF-8, a file cut off inside the list) is a skip with jsonlimits' reason.
    An empty file, or one with no readable row at all, is an InputLayoutError."""
    if not found.data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputLayoutError(f"{found.where}: the file is empty")
    form, units = iter_units(io.BytesIO(found.data), DEFAULT_LIMITS)
    readable = 0
    for unit in units:
        place = f"row {unit.at + 1}" if form == "list" else f"line {unit.at}"
        if unit.problem is not None:
            skips.total += 1
            skips.skip(f"unreadable ({unit.problem.split(':')[0]})", place)
            continue
        readable += 1
        yield place, unit.value
    if not skips.total and not readable:
        raise InputLayoutError(f"{found.where}: holds no rows")
    if not readable:
        raise InputLayoutError(f"{found.where}: no readable row: " + "; ".join(
            f"{reason} ({_places(places)})" for reason, places in skips.reasons.items()))


def hub_rows(hub_id: str, config: str | None, split: str) -> tuple[str, list[dict[str, Any]]]:
    """(where, rows) of a hub dataset split through `datasets.load_dataset` (needs the network
    or the hub cache); any failure is an InputLayoutError naming the id, config and split. A
    missing local path (anything but "owner/name") is reported as such, not sent to the hub."""
    if not HUB_ID.fullmatch(str(hub_id)):
        raise InputLayoutError(f"{hub_id} does not exist here, and is not a hub id (owner/name)")
    try:
        from datasets import load_dataset

        ds = load_dataset(hub_id, config, split=split) if config else load_dataset(hub_id, split=split)
    except Exception as exc:  # hub, network and layout problems all mean: this input is unusable here
        raise InputLayoutError(f"{hub_id!r} is neither a local path nor a loadable hub dataset "
                               f"(config {config!r}, split {split!r}): {exc}") from None
    return f"hub:{hub_id}/{config or ''}/{split}", [dict(r) for r in ds]


def is_local(data: str | Path) -> bool:
    """A path on this machine (folder, file, zip), as opposed to a hub id."""
    return Path(data).exists()


def canonical(letters: str) -> str:
    """'DB' -> 'BD': an answer is a set of letters."""
    return "".join(sorted(set(letters)))


def record(benchmark: Any, split: str, skips: list[Skips]) -> None:
    """Report each file's skips on stderr and keep them on the benchmark instance
    (`benchmark.skipped[split]`: reason -> count, summed over the split's files)."""
    total: Counter = Counter()
    for s in skips:
        s.report(benchmark.name)
        total.update(s.counts())
    if not hasattr(benchmark, "skipped") or not isinstance(benchmark.__dict__.get("skipped"), dict):
        benchmark.skipped = {}
    benchmark.skipped[split] = dict(total)
