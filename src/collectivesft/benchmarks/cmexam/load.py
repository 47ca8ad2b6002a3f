"""CMExam's published CSVs into Items.

Layout (williamliujl/CMExam@fadb22c `data/`): `train.csv`, `val.csv`, `test_with_annotations.csv`
(there is no test.csv), UTF-8, columns `Question, Options, Answer, Explanation`, and on test
the annotation columns `Disease Group, Area of Competency, Clinical Department, Medical
Discipline, Difficulty level`. `Options` is one field of lines "A 感染" (letter, space, text;
the repo's generate_prompt.py splits on newlines, then on the first space). `Answer` is the
letters, several concatenated for multi-answer questions ("ACD"); one answer is NaN (empty in
the CSV), which generate_prompt.py skips. There is no id column: an item's id is its split and
its data row number, stable across runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from collectivesft.benchmarks.base import Item
from collectivesft.benchmarks.published import Skips, canonical, csv_rows, find_files, hub_rows, is_local

FILES = {"train": "train.csv", "val": "val.csv", "test": "test_with_annotations.csv"}
COLUMNS = ("Question", "Options", "Answer")
# Item.groups key -> the test file's annotation column (values kept as published, Chinese),
# the primary first; the file's own column order is COLUMN_ORDER.
ANNOTATIONS = {
    "discipline": "Medical Discipline",
    "competency": "Area of Competency",
    "disease_group": "Disease Group",
    "department": "Clinical Department",
    "difficulty": "Difficulty level",
}
COLUMN_ORDER = ("Disease Group", "Area of Competency", "Clinical Department", "Medical Discipline", "Difficulty level")
# "A 感染", "B.心肌梗死", "C、肺炎": the release uses a space; the others circulate in re-saved copies.
OPTION_LINE = re.compile(r"^([A-H])(?:(?:[ \t\u3000]+|[.．、:：][ \t\u3000]*)(.*))?$")
ANSWER = re.compile(r"^[A-H]+$")


def parse_options(text: str) -> dict[str, str]:
    """{letter: text} from the `Options` field; ValueError naming the first line that is not
    "<letter> <text>" or a letter given twice. Options with empty texts are dropped."""
    options: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if not line:
            continue
        match = OPTION_LINE.match(line)
        if match is None:
            raise ValueError(f"option line {line[:30]!r} does not start with a letter A-H")
        letter, value = match.group(1), (match.group(2) or "").strip()
        if letter in options:
            raise ValueError(f"option {letter} appears twice")
        options[letter] = value
    return {k: v for k, v in options.items() if v}


def item_from_row(row: dict[str, Any], split: str, place: str, skips: Skips) -> Item | None:
    """An Item from one CSV (or hub) row, or None with the reason counted in `skips`."""
    question = str(row.get("Question") or "").strip()
    if not question or question.lower() == "nan":
        skips.skip("empty question", place)
        return None
    try:
        options = _options(row.get("Options"))
    except ValueError as exc:
        skips.skip(f"unreadable Options ({exc})", place)
        return None
    answer = str(row.get("Answer") or "").strip().upper()
    if not answer or answer == "NAN":
        skips.skip("no answer (NaN)", place)
        return None
    if not ANSWER.match(answer):
        skips.skip("answer is not option letters", place)
        return None
    if any(a not in options for a in answer):
        skips.skip("answer names an option that is missing or empty", place)
        return None
    if len(options) < 2:
        skips.skip("fewer than two options", place)
        return None
    letters = canonical(answer)
    groups = {key: _annotation(row.get(column)) for key, column in ANNOTATIONS.items() if column in row}
    explanation = str(row.get("Explanation") or "").strip()
    return Item(id=f"{split}/{place.split()[-1]}", question=question, options=options, answer=letters,
                multi=len(letters) > 1, groups=groups,
                explanation=explanation if explanation and explanation.lower() != "nan" else None, raw=dict(row))


def _options(value: Any) -> dict[str, str]:
    """The Options field of the CSV (text) or of the hub copy fzkuji/CMExam ([{key, value}])."""
    if isinstance(value, list):
        if not all(isinstance(o, dict) and "key" in o and "value" in o for o in value):
            raise ValueError("a list of options must hold {key, value} objects")
        return {str(o["key"]).strip().upper(): str(o["value"] or "").strip() for o in value if str(o["value"] or "").strip()}
    return parse_options(str(value or ""))


def _annotation(value: Any) -> str:
    """An annotation as a group name: blank/NaN -> 'N/A'; difficulty 3.0 -> '3'."""
    text = str(value if value is not None else "").strip()
    if not text or text.lower() == "nan":
        return "N/A"
    if re.fullmatch(r"\d+\.0", text):
        return text[:-2]
    return text


def load(data: str | Path, split: str, layout: str, hub_id: str | None) -> tuple[list[Item], list[Skips]]:
    """The items of `split` from a release folder/zip, one of its CSVs, or the hub copy."""
    if is_local(data):
        found = find_files(data, [FILES[split]], layout)[0]
        skips = Skips(found.where)
        rows = csv_rows(found, COLUMNS)
    else:
        where, hub = hub_rows(str(data), None, {"val": "validation"}.get(split, split))
        skips = Skips(where)
        rows = ((f"row {i + 1}", r) for i, r in enumerate(hub))
    items = []
    for place, row in rows:
        skips.total += 1
        item = item_from_row(row, split, place, skips)
        if item is not None:
            items.append(item)
    return items, [skips]

