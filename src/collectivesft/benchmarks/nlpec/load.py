"""NLPEC's published files into Items (the layout sources/nlpec.py converts).

Layout: `NLPEC_public_data/{train,dev,test}.json`, JSON lines despite the suffix, each
{questionType, questionId, questionText, backgroundText, option [texts], answer ["2", ...]
(1-based option numbers as strings), context [evidence per option], subject,
questionImg/optionImg}. The paper's test split holds the 2015-2019 exam questions with the
multi-answer ones excluded; a multi-answer row found here is left out and counted, so the
benchmark is single-answer, as the paper scores it. A question needing an image is left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectivesft.benchmarks.base import Item
from collectivesft.benchmarks.published import Skips, find_files, json_rows
from collectivesft.errors import InputLayoutError

SPLITS = ("train", "dev", "test")
LETTERS = "ABCDEFGHIJ"


def item_from_row(row: Any, place: str, skips: Skips, seen: set[str]) -> Item | None:
    """An Item from one JSON line, or None with the reason counted in `skips`."""
    if not isinstance(row, dict):
        skips.skip("row is not a JSON object", place)
        return None
    qid = str(row.get("questionId") if row.get("questionId") not in (None, "") else place.replace(" ", ""))
    if qid in seen:
        skips.skip("questionId appears twice", place)
        return None
    seen.add(qid)
    texts = row.get("option")
    if not isinstance(texts, list) or not 2 <= len(texts) <= len(LETTERS):
        skips.skip("option is not a list of 2-10 option texts", place)
        return None
    answers = row.get("answer")
    answers = [answers] if isinstance(answers, (str, int)) else answers
    if not isinstance(answers, list) or not [a for a in answers if str(a).strip()]:
        skips.skip("empty answer", place)
        return None
    numbers = {str(a).strip() for a in answers if str(a).strip()}
    if not all(n.isdigit() and 1 <= int(n) <= len(texts) for n in numbers):
        skips.skip("answer is not an option number", place)
        return None
    if len(numbers) > 1:
        skips.skip("multi-answer question (excluded, as in the paper)", place)
        return None
    if row.get("questionImg") or row.get("optionImg"):
        skips.skip("question needs an image", place)
        return None
    question = str(row.get("questionText") or "").strip()
    if not question:
        skips.skip("empty question", place)
        return None
    background = str(row.get("backgroundText") or "").strip()
    options = {LETTERS[i]: str(t).strip() for i, t in enumerate(texts) if t is not None and str(t).strip()}
    answer = LETTERS[int(numbers.pop()) - 1]
    if answer not in options:
        skips.skip("answer names an empty option", place)
        return None
    return Item(id=qid, question=f"{background}\n{question}" if background else question, options=options,
                answer=answer, groups={"subject": str(row.get("subject") or "N/A").strip() or "N/A",
                                       "qtype": str(row.get("questionType") or "N/A").strip() or "N/A"},
                raw=dict(row))


def load(data: str | Path, split: str, layout: str) -> tuple[list[Item], list[Skips]]:
    """The items of `split` from NLPEC_public_data (folder, zip) or the file itself."""
    path = Path(data)
    try:
        found = find_files(data, [f"NLPEC_public_data/{split}.json"], layout)[0]
    except InputLayoutError:
        if not path.exists():
            raise
        found = find_files(data, [f"{split}.json"], layout)[0]  # the folder renamed
    skips = Skips(found.where)
    items: list[Item] = []
    seen: set[str] = set()
    for n, (place, row) in enumerate(json_rows(found, skips)):
        if n == 0 and not (isinstance(row, dict) and any(k in row for k in ("questionText", "option", "context"))):
            raise InputLayoutError(f"{found.where}: the first row is not an NLPEC question; expected {layout}")
        skips.total += 1
        item = item_from_row(row, place, skips, seen)
        if item is not None:
            items.append(item)
    return items, [skips]
