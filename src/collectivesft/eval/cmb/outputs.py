"""Model-output files for CMB-Exam scoring: the row forms accepted, duplicate ids, answers per protocol.

A row is `{"id", "output": text}`, `{"id", "outputs": [text, ...]}` (several return
sequences), the official generator's `{"id", "answer_0", "answer_1", ...}`, or a submission's
`{"id", "model_answer"}`. Raw texts win over a stored model_answer: they are re-extracted
with the chosen protocol's rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from collectivesft.benchmarks.cmb.format import canonical_answer, id_key, id_problem
from collectivesft.errors import InputLayoutError
from collectivesft.eval.cmb.extraction import explain_answer, extract_answer
from collectivesft.eval.cmb.official import official_answer
from collectivesft.io import read_json_table

_LETTERS_ONLY = re.compile(r"^[A-F\s,、]*$")
_ANSWER_N = re.compile(r"^answer_(\d+)$")


class DuplicateIdsError(InputLayoutError):
    """An outputs file answers the same id more than once and no --on-duplicate policy was given."""


def read_outputs(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an outputs file (JSONL or a JSON list), each checked for an id (an integer or a
    text) and an answer field; the first bad row stops with its line (or row) and reason."""
    path = Path(path)
    if not path.is_file():
        raise InputLayoutError(f"outputs file not found: {path}")
    table = read_json_table(path)
    for row, place in zip(table.rows, table.places):
        if not isinstance(row, dict) or "id" not in row or output_texts(row) is None and "model_answer" not in row:
            raise InputLayoutError(f"{path}: {place} needs 'id' and one of 'output', 'outputs', "
                                   "'answer_0' or 'model_answer'")
        problem = id_problem(row["id"])
        if problem:
            raise InputLayoutError(f"{path}: {place}: {problem}")
    return table.rows


def output_texts(row: dict[str, Any]) -> list[str] | None:
    """The raw generated texts of a row, in return-sequence order; None for a bare submission row."""
    if isinstance(row.get("outputs"), list):
        return ["" if t is None else str(t) for t in row["outputs"]]
    if "output" in row:
        return ["" if row["output"] is None else str(row["output"])]
    numbered = sorted((int(m.group(1)), k) for k in row if (m := _ANSWER_N.match(k)))
    if numbered:
        return ["" if row[k] is None else str(row[k]) for _, k in numbered]
    return None


def resolve_duplicates(rows: Iterable[dict[str, Any]], on_duplicate: str | None,
                       where: str = "outputs") -> tuple[dict[str, dict[str, Any]], list[str]]:
    """({id: row}, duplicated ids). Without a policy a duplicated id is an error naming the ids;
    `first` or `last` says which row to keep."""
    by_id: dict[str, dict[str, Any]] = {}
    duplicated: dict[str, int] = {}
    for row in rows:
        k = id_key(row["id"])
        if k in by_id:
            duplicated[k] = duplicated.get(k, 1) + 1
            if on_duplicate == "first":
                continue
        by_id[k] = row
    if duplicated and on_duplicate not in ("first", "last"):
        shown = ", ".join(f"{k} (x{n})" for k, n in list(duplicated.items())[:20])
        raise DuplicateIdsError(f"{where}: {len(duplicated)} id(s) answered more than once: {shown}"
                                f"{' ...' if len(duplicated) > 20 else ''}; pass --on-duplicate first|last to choose")
    return by_id, list(duplicated)


def normalize_model_answer(value: Any, question_type: str, options: dict[str, str] | None) -> str:
    """A submitted answer as a sorted letter set; anything but bare letters is read as free text."""
    text = "" if value is None else str(value)
    if _LETTERS_ONLY.match(text):
        return canonical_answer(re.sub(r"[^A-F]", "", text))
    return extract_answer(text, question_type, options)


def model_answer(row: dict[str, Any], protocol: str, question_type: str, options: dict[str, str] | None) -> str:
    """The answer a row gives under `protocol`: official = match_choice + single-answer rule +
    majority vote (a bare model_answer is taken as written); collectivesft = our extraction,
    majority over return sequences, letters sorted."""
    texts = output_texts(row)
    if protocol == "official":
        if texts is not None:
            return official_answer(texts, question_type)
        return "" if row.get("model_answer") is None else str(row["model_answer"])
    if texts is None:
        return normalize_model_answer(row.get("model_answer"), question_type, options)
    votes: dict[str, int] = {}
    for text in texts:
        if answer := extract_answer(text, question_type, options):
            votes[answer] = votes.get(answer, 0) + 1
    return max(votes, key=votes.__getitem__) if votes else ""


def extraction_rule(row: dict[str, Any], method: str, protocol: str, question_type: str,
                    options: dict[str, str] | None) -> str:
    """How a row's answer was read: the extraction rule that fired (or why none did), or the
    scoring method for loglik and cloze rows."""
    if method == "loglik":
        return "loglik: highest likelihood"
    if method == "cloze":
        return "cloze: highest likelihood per character"
    texts = output_texts(row)
    if texts is None:
        return "submitted letters" if row.get("model_answer") else "no answer: nothing submitted"
    if protocol == "official":
        return "official: match_choice" if official_answer(texts, question_type) else "no answer: official match_choice found none"
    if len(texts) > 1:
        return "majority vote over return sequences"
    return explain_answer(texts[0], question_type, options)[1]
