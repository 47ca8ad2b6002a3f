"""Read CMMLU's published files into Items: data/{dev,test}/{subject}.csv, the release zip, or the hub.

Layout (haonan-li/CMMLU, checked on all 134 files of the release): UTF-8 CSV, header
`,Question,A,B,C,D,Answer` (the first column, unnamed, is pandas' 0..n-1 index), Answer one of
A-D, every option filled. `data` may be the data/ folder, its parent (a clone of the
repository), the release zip (cmmlu_v1_0_1.zip on the hub: dev/ and test/ at its root), or the
hub id haonan-li/cmmlu (read with `datasets`, one config per subject).

A re-saved copy may carry a UTF-8 byte-order mark (read as UTF-8-SIG). A row whose Answer is
empty or not one of A-D is kept as an unscored item (answer None, `raw["problem"]` saying why):
the runner counts and lists it instead of scoring it or dropping it unseen. A row with the wrong
number of fields, or a file with another header, stops the load with the file and line.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable

from collectivesft.benchmarks.base import Item
from collectivesft.benchmarks.cmmlu.subjects import SUBJECTS
from collectivesft.errors import InputLayoutError

HUB_ID = "haonan-li/cmmlu"
HEADER = ["", "Question", "A", "B", "C", "D", "Answer"]
LETTERS = "ABCD"
LAYOUT = ("data/{dev,test}/{subject}.csv (CSV with header ',Question,A,B,C,D,Answer'), the data/ folder or "
          "its parent, the release zip, or the hub id haonan-li/cmmlu")


def _rows(text: str, where: str) -> Iterable[tuple[int, list[str]]]:
    """(line, fields) of a CMMLU CSV's data rows after checking its header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputLayoutError(f"{where}: empty file; expected the header {','.join(HEADER)}") from None
    if [h.strip() for h in header] != HEADER:
        raise InputLayoutError(f"{where}: line 1: header {','.join(header)!r}; expected {','.join(HEADER)!r}")
    for fields in reader:
        if not fields:
            continue
        if len(fields) != len(HEADER):
            raise InputLayoutError(f"{where}: line {reader.line_num}: {len(fields)} fields; expected {len(HEADER)} "
                                   f"({','.join(HEADER)})")
        yield reader.line_num, fields


def item_from_row(subject: str, row: dict[str, Any], index: Any) -> Item:
    """One Item from a row with keys Question, A-D, Answer (a CSV row or a hub row)."""
    name, category = SUBJECTS[subject]
    answer = str(row.get("Answer") or "").strip()
    problem = None
    if not answer:
        problem = "empty Answer"
    elif answer not in LETTERS:
        problem = f"Answer {answer!r} is not one of A-D"
    options = {k: str(row[k]) for k in LETTERS if str(row.get(k) or "").strip()}
    return Item(id=f"{subject}/{index}", question=str(row["Question"]), options=options,
                answer=None if problem else answer,
                groups={"subject": subject, "subject_name": name, "category": category},
                raw=dict(row, **({"problem": problem} if problem else {})))


def parse_csv(text: str, subject: str, where: str) -> list[Item]:
    """Items of one subject's CSV text."""
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark from a spreadsheet re-save
    items = []
    for line, fields in _rows(text, where):
        row = dict(zip(HEADER[1:], fields[1:]))
        if not row["Question"].strip():
            raise InputLayoutError(f"{where}: line {line}: empty Question")
        items.append(item_from_row(subject, row, fields[0].strip() or line - 2))
    return items


def _zip_members(path: Path) -> dict[str, str]:
    """'{split}/{subject}.csv' -> member name, for members under any prefix (data/, cmmlu/)."""
    pattern = re.compile(r"(?:^|/)((?:dev|test)/[^/]+\.csv)$")
    with zipfile.ZipFile(path) as zf:
        return {m.group(1): name for name in zf.namelist() if (m := pattern.search(name))}


def _local_root(data: Path) -> Path | None:
    """The folder holding dev/ and test/: `data` itself or its data/ sub-folder."""
    for root in (data, data / "data"):
        if (root / "test").is_dir() or (root / "dev").is_dir():
            return root
    return None


def load_subjects(data: str | Path, split: str, subjects: Iterable[str]) -> list[Item]:
    """Items of `split` for `subjects`, in the given subject order and file order."""
    subjects = list(subjects)
    path = Path(str(data)).expanduser()
    if path.is_file() and zipfile.is_zipfile(path):
        members = _zip_members(path)
        missing = [s for s in subjects if f"{split}/{s}.csv" not in members]
        _check_missing(missing, f"{path} ({split}/)")
        items: list[Item] = []
        with zipfile.ZipFile(path) as zf:
            for s in subjects:
                member = members[f"{split}/{s}.csv"]
                items += parse_csv(zf.read(member).decode("utf-8"), s, f"{path}:{member}")
        return items
    if path.exists():
        root = _local_root(path) if path.is_dir() else None
        if root is None:
            raise InputLayoutError(f"{path}: not a CMMLU release; expected {LAYOUT}")
        missing = [s for s in subjects if not (root / split / f"{s}.csv").is_file()]
        _check_missing(missing, str(root / split))
        items = []
        for s in subjects:
            file = root / split / f"{s}.csv"
            items += parse_csv(file.read_text(encoding="utf-8"), s, str(file))
        return items
    return _hub_items(str(data), split, subjects)


def _check_missing(missing: list[str], where: str) -> None:
    if missing:
        shown = ", ".join(f"{s}.csv" for s in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise InputLayoutError(f"{where}: {len(missing)} subject file(s) missing: {shown}; expected {LAYOUT}")


def _hub_items(hub_id: str, split: str, subjects: list[str]) -> list[Item]:
    """Items from the hub dataset (one config per subject, columns Question, A-D, Answer)."""
    from collectivesft.model_ref import is_hub_id

    if not is_hub_id(hub_id):
        raise InputLayoutError(f"{hub_id!r}: no such file or folder, and not a hub id; expected {LAYOUT}")
    items: list[Item] = []
    for s in subjects:
        try:
            from datasets import load_dataset

            rows = load_dataset(hub_id, s, split=split)
        except Exception as exc:  # network, missing config, script refused: all mean this input is unusable
            raise InputLayoutError(f"{hub_id!r} ({s}, {split}) could not be loaded from the hub: {exc}; "
                                   f"download the release and pass its folder or zip ({LAYOUT})") from None
        items += [item_from_row(s, dict(r), i) for i, r in enumerate(rows)]
    return items
