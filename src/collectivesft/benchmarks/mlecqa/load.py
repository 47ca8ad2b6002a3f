"""MLEC-QA's published JSON files into Items (the layout sources/mlecqa.py converts).

Layout (Judenpech/MLEC-QA@6909128 README, code/control_methods.py): `<Subset>_{train,dev,test}.json`
for Subset in Clinic, Stomatology, PublicHealth, TCM, CWM; each file one JSON array of {qid,
qtype (A1型题, A2型题, A3/A4型题, B1型题), qtext, qimage (a path when the question has an image or
a table), options {A..E} (fewer real ones are padded with ""), answer (a letter string, as
control_methods.py compares it; a one-letter list is read too)}. The official evaluation splits accuracy into KD (knowledge:
A1 and B1 questions) and CA (case analysis: all others), besides the total, per subset file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from collectivesft.benchmarks.base import Item
from collectivesft.benchmarks.published import Skips, find_files, json_rows
from collectivesft.errors import InputLayoutError
from collectivesft.sources.mlecqa import SPLITS, SUBSET_ZH, SUBSETS

LETTER = re.compile(r"^[A-E]$")


def kind_of(qtype: str) -> str:
    """KD for A1/B1 questions, CA for every other type: control_methods.py's `eval` rule
    ('A1' in qtype or 'B1' in qtype)."""
    return "KD" if "A1" in qtype or "B1" in qtype else "CA"


def item_from_row(row: Any, subset: str, place: str, skips: Skips, seen: set[str]) -> Item | None:
    """An Item from one array element, or None with the reason counted in `skips`."""
    if not isinstance(row, dict):
        skips.skip("row is not a JSON object", place)
        return None
    qid = str(row.get("qid") or "").strip() or place.replace(" ", "")
    if qid in seen:
        skips.skip("qid appears twice", place)
        return None
    seen.add(qid)
    question = str(row.get("qtext") or "").strip()
    image = row.get("qimage")
    if not question:
        skips.skip("image-only question (no qtext)" if image else "empty question", place)
        return None
    options = row.get("options")
    if not isinstance(options, dict):
        skips.skip("options is not an object of letter -> text", place)
        return None
    options = {str(k).strip().upper(): str(v).strip() for k, v in options.items() if v is not None and str(v).strip()}
    answer = row.get("answer")
    if isinstance(answer, list):  # ["B"]: how the README's format block reads to some
        answer = "".join(str(a) for a in answer)
    answer = str(answer or "").strip().upper()
    if not answer:
        skips.skip("empty answer", place)
        return None
    if not LETTER.match(answer) or answer not in options:
        skips.skip("answer is not one of the options", place)
        return None
    if len(options) < 2:
        skips.skip("fewer than two options", place)
        return None
    if image:
        skips.note("question refers to an image (qimage)", place)
    qtype = str(row.get("qtype") or "").strip()
    return Item(id=f"{subset}/{qid}", question=question, options=options, answer=answer,
                groups={"subset": subset, "qtype": qtype or "N/A", "kind": kind_of(qtype),
                        "subset_name": SUBSET_ZH[subset]}, raw=dict(row))


def load(data: str | Path, split: str, layout: str) -> tuple[list[Item], list[Skips]]:
    """The items of `split` for the five subsets (in SUBSETS order) from a folder, zip, or one file."""
    names = [f"{s}_{split}.json" for s in SUBSETS]
    found = find_files(data, names, layout, single=False)
    if len(found) < len(names) and not Path(data).is_file():
        have = {f.where.rsplit("/", 1)[-1].rsplit("!", 1)[-1] for f in found}
        raise InputLayoutError(f"{data}: lacks {[n for n in names if n not in have]}; expected {layout}")
    items: list[Item] = []
    all_skips = []
    for f in found:
        subset = f.where.rsplit("/", 1)[-1].rsplit("!", 1)[-1].removesuffix(f"_{split}.json")
        skips = Skips(f.where)
        seen: set[str] = set()
        for n, (place, row) in enumerate(json_rows(f, skips)):
            if n == 0 and not (isinstance(row, dict) and any(k in row for k in ("qtext", "qid", "qtype"))):
                raise InputLayoutError(f"{f.where}: the first row is not an MLEC-QA question "
                                       f"(keys {sorted(row)[:6] if isinstance(row, dict) else type(row).__name__}); "
                                       f"expected {layout}")
            skips.total += 1
            item = item_from_row(row, subset, place, skips, seen)
            if item is not None:
                items.append(item)
        all_skips.append(skips)
    return items, all_skips


