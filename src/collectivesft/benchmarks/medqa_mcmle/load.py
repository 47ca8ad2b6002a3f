"""MedQA's Mainland files into Items.

Layout (jind11/MedQA README: the Google-Drive data_clean.zip; bigbio/med_qa reads the same):
`data_clean/questions/Mainland/{train,dev,test}.jsonl` (five options A-E) and
`.../Mainland/4_options/{train,dev,test}.jsonl` (the same questions with four), one JSON object
per line: question, options {letter: text}, answer (the option's text), answer_idx (its letter),
meta_info. No id field: an item's id is its line number in the file.

The answer is given twice. answer_idx is what the dataset's own code scores; `answer` is
checked against options[answer_idx] (whitespace ignored). When the text names no option,
answer_idx is kept and the row counted; when it names another option the two disagree about
which option is right, and the row is left out and counted (scoring it either way would be a
guess). An empty answer_idx is recovered from the text when that names exactly one option.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from collectivesft.benchmarks.base import Item
from collectivesft.benchmarks.published import Skips, find_files, hub_rows, is_local, json_rows

SPLITS = ("train", "dev", "test")
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
LETTER = re.compile(r"^[A-E]$")
_SPACE = re.compile(r"\s+")


def _same(a: str, b: str) -> bool:
    return _SPACE.sub("", a) == _SPACE.sub("", b)


def options_of(raw: Any) -> dict[str, str] | None:
    """{letter: text} from the release's dict or bigbio's [{key, value}] list; None otherwise."""
    if isinstance(raw, dict):
        pairs = raw.items()
    elif isinstance(raw, list) and all(isinstance(o, dict) and "key" in o and "value" in o for o in raw):
        pairs = ((o["key"], o["value"]) for o in raw)
    else:
        return None
    return {str(k).strip().upper(): str(v if v is not None else "").strip() for k, v in pairs}


def item_from_row(row: Any, place: str, skips: Skips) -> Item | None:
    """An Item from one JSONL (or hub) row, or None with the reason counted in `skips`."""
    if not isinstance(row, dict):
        skips.skip("row is not a JSON object", place)
        return None
    options = options_of(row.get("options"))
    if options is None:
        skips.skip("options is not an object of letter -> text", place)
        return None
    options = {k: v for k, v in options.items() if v}
    question = str(row.get("question") or "").strip()
    if not question:
        skips.skip("empty question", place)
        return None
    letter = str(row.get("answer_idx") or "").strip().upper()
    text = str(row.get("answer") or "").strip()
    named = [k for k, v in options.items() if text and _same(v, text)]
    if not letter:
        if len(named) != 1:
            skips.skip("no answer_idx and the answer text names no single option", place)
            return None
        letter = named[0]
        skips.note("answer_idx recovered from the answer text", place)
    if not LETTER.match(letter) or letter not in options:
        skips.skip("answer_idx is not one of the options", place)
        return None
    if text and not _same(text, options[letter]):
        if named:
            skips.skip("answer text names another option than answer_idx", place)
            return None
        skips.note("answer text matches no option (answer_idx kept)", place)
    if len(options) < 2:
        skips.skip("fewer than two options", place)
        return None
    meta = str(row.get("meta_info") or "").strip()
    return Item(id=place.split()[-1], question=question, options=options, answer=letter,
                groups={"meta_info": meta or "N/A"}, raw=dict(row))


def _rows(data: str | Path, split: str, variant: str, layout: str,
          hub: tuple[str, str | None]) -> tuple[Skips, Iterator[tuple[str, Any]]]:
    if is_local(data):
        name = f"Mainland/{variant}{split}.jsonl"
        found = find_files(data, [name], layout)[0]
        skips = Skips(found.where)
        return skips, json_rows(found, skips)
    where, rows = hub_rows(hub[0], hub[1], HUB_SPLITS[split])
    return Skips(where), ((f"row {i + 1}", r) for i, r in enumerate(rows))


def load(data: str | Path, split: str, variant: str, layout: str,
         hub: tuple[str, str | None]) -> tuple[list[Item], list[Skips]]:
    """The items of `split` (train/dev/test) of the 5-option files (`variant` '') or of
    4_options ('4_options/') from data_clean (folder, zip, the file) or the hub."""
    skips, rows = _rows(data, split, variant, layout, hub)
    items: list[Item] = []
    for place, row in rows:
        skips.total += 1
        item = item_from_row(row, place, skips)
        if item is not None:
            items.append(item)
    return items, [skips]
