"""C-Eval's published CSVs (the hub's ceval-exam.zip) into Items, and the submission file.

Layout (hkust-nlp/ceval README; samples in LLaMA-Factory's evaluation/ceval): `{dev,val,test}/
{subject}_{split}.csv`, headers dev `id,question,A,B,C,D,answer,explanation`, val
`id,question,A,B,C,D,answer`, test `id,question,A,B,C,D` (no answers). `id` counts from 0 in
each file; an item's id here is "<subject>/<id>", and the submission file keys answers by the
published id again: {subject: {"0": "A", ...}} (the repo's submission_example.json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.benchmarks.base import Item
from collectivesft.benchmarks.published import Skips, csv_rows, find_files, hub_rows, is_local
from collectivesft.errors import InputLayoutError

# English handle -> Chinese name, from hkust-nlp/ceval subject_mapping.json (b677c7b). Veterinary
# medicine (兽医学, filed under STEM there) is left out: it is not human medicine.
SUBJECTS = {"physician": "医师资格", "clinical_medicine": "临床医学", "basic_medicine": "基础医学"}
SPLITS = ("dev", "val", "test")
LETTERS = "ABCD"


def file_name(subject: str, split: str) -> str:
    return f"{split}/{subject}_{split}.csv"


def item_from_row(row: dict[str, Any], subject: str, split: str, place: str, skips: Skips, seen: set[str]) -> Item | None:
    """An Item from one CSV (or hub) row, or None with the reason counted in `skips`."""
    published = str(row.get("id") if row.get("id") is not None else "").strip()
    if not published:
        skips.skip("no id", place)
        return None
    if published in seen:
        skips.skip("id appears twice", place)
        return None
    seen.add(published)
    question = str(row.get("question") or "").strip()
    if not question:
        skips.skip("empty question", place)
        return None
    options = {k: str(row.get(k) if row.get(k) is not None else "").strip() for k in LETTERS}
    options = {k: v for k, v in options.items() if v}
    answer: str | None = str(row.get("answer") or "").strip().upper() or None
    if answer is None and split != "test":
        skips.skip("no answer", place)
        return None
    if answer is not None and (len(answer) != 1 or answer not in options):
        skips.skip("answer is not one of the options A-D", place)
        return None
    if len(options) < 2:
        skips.skip("fewer than two options", place)
        return None
    explanation = str(row.get("explanation") or "").strip() or None
    return Item(id=f"{subject}/{published}", question=question, options=options, answer=answer,
                groups={"subject": subject, "subject_name": SUBJECTS[subject]}, explanation=explanation,
                raw=dict(row))


def _tables(data: str | Path, split: str, layout: str) -> Iterator[tuple[str, Skips, Iterator[tuple[str, Any]]]]:
    if is_local(data):
        # Base names: a subject's file may be passed on its own, outside its split folder.
        names = [Path(file_name(s, split)).name for s in SUBJECTS]
        found = find_files(data, names, layout, single=False)
        if len(found) == 1 and Path(data).is_file():
            pass  # one subject's file passed on its own
        elif len(found) < len(names):
            have = {f.where.replace("\\", "/").rsplit("/", 1)[-1] for f in found}
            lacking = [n for n in names if n not in have]
            raise InputLayoutError(f"{data}: lacks {lacking}; expected {layout}")
        for f in found:
            subject = f.where.rsplit("/", 1)[-1].removesuffix(f"_{split}.csv")
            required = ("id", "question", *LETTERS) + (("answer",) if split != "test" else ())
            yield subject, Skips(f.where), csv_rows(f, required)
        return
    for subject in SUBJECTS:
        where, rows = hub_rows(str(data), subject, split)
        yield subject, Skips(where), ((f"row {i + 1}", r) for i, r in enumerate(rows))


def load(data: str | Path, split: str, layout: str) -> tuple[list[Item], list[Skips]]:
    """The items of `split` for every medical subject, subject by subject in SUBJECTS order."""
    items: list[Item] = []
    all_skips = []
    for subject, skips, rows in _tables(data, split, layout):
        seen: set[str] = set()
        for place, row in rows:
            skips.total += 1
            item = item_from_row(row, subject, split, place, skips, seen)
            if item is not None:
                items.append(item)
        all_skips.append(skips)
    return items, all_skips


def submission(items: list[Item], answers: dict[str, str]) -> dict[str, dict[str, str]]:
    """{subject: {published id: letter}} for C-Eval's site, one entry per item, in item order.

    Every item needs an answer (an empty string stands for "no option extracted"; the site
    scores it wrong): a missing one is an InputLayoutError listing the first few."""
    missing = [item.id for item in items if item.id not in answers]
    if missing:
        raise InputLayoutError(f"C-Eval submission: no answer for {len(missing)} of {len(items)} items "
                               f"(first: {', '.join(missing[:5])})")
    out: dict[str, dict[str, str]] = {}
    for item in items:
        subject, _, published = item.id.partition("/")
        letters = str(answers[item.id] or "").strip().upper()
        if letters and (len(letters) != 1 or letters not in LETTERS):
            raise InputLayoutError(f"C-Eval submission: answer {letters!r} for {item.id} is not one letter A-D")
        out.setdefault(subject, {})[published] = letters
    return out
