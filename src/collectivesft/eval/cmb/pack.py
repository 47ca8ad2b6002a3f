"""Pack questions with answers into CMB's official layout, so `eval cmb --data OUT` runs them.

Input: a JSON list (or JSON lines) of rows in the CMB test file's format plus the answer:
`exam_type`, `exam_class`, `question`, `option` (a dict A..F, or a string holding one),
`answer` (letters), and optionally `exam_subject`, `question_type`, `id`, `explanation`.

    OUT/CMB-Exam/CMB-test/CMB-test-choice-question-merge.json   questions, answers blanked
    OUT/CMB-Exam/CMB-test/CMB-test-choice-answer.json           the answer key
    OUT/CMB-Exam/CMB-val/CMB-val-merge.json                     with val_per_class K: K per class
    OUT/cmb-pack.json                                           what was read, written and refused

Every bad row is reported with its position and reason; nothing is written while any is bad
unless `skip_bad` leaves them out. The result is loaded back with the project's CMB loader and
a submission of the key's own answers is checked as `eval cmb-validate` checks one.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectivesft.benchmarks.cmb.format import (MULTI, QUESTION_TYPES, SINGLE, canonical_answer, id_key,
                                                 normalize_class, option_mapping, parse_option)
from collectivesft.benchmarks.cmb.layout import KEY_FILE, QUESTION_FILES
from collectivesft.benchmarks.cmb.load import load_key, load_questions
from collectivesft.errors import CollectiveSFTError, InputLayoutError
from collectivesft.io import file_sha256, read_json_rows, write_json

REQUIRED = ("exam_type", "exam_class", "question", "option")
MANIFEST = "cmb-pack.json"


@dataclass
class Packed:
    """What a pack read and did: good rows (with their input index), bad rows, notes for the user."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)  # {"index", "row", "reason"}
    notes: list[str] = field(default_factory=list)
    ids_assigned: bool = False


def row_problems(row: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """A row in the official shape (option a dict, texts as written; answer sorted letters) or the reasons it is bad."""
    if not isinstance(row, dict):
        return None, [f"not an object but {type(row).__name__}"]
    reasons = []
    missing = [k for k in REQUIRED if row.get(k) in (None, "")]
    if missing:
        reasons.append(f"missing {', '.join(missing)}")
    options: dict[str, str] = {}
    if "option" not in missing:
        try:
            options = parse_option(row["option"])
        except ValueError as exc:
            reasons.append(f"option: {exc}")
        else:
            if len(options) < 2:
                reasons.append(f"fewer than two non-empty options ({', '.join(options) or 'none'})")
    answer = str(row.get("answer") if row.get("answer") is not None else "").strip()
    qtype = str(row.get("question_type") or "").strip()
    if not answer:
        reasons.append("no answer")
    elif any(c not in "ABCDEF" for c in answer):
        reasons.append(f"answer {answer!r} is not option letters A-F")
    elif options and not set(answer) <= set(options):
        reasons.append(f"answer {answer!r}: {', '.join(sorted(set(answer) - set(options)))} not among the "
                       f"options ({', '.join(options)})")
    if qtype and qtype not in QUESTION_TYPES:
        reasons.append(f"question_type {qtype!r} is neither {SINGLE} nor {MULTI}")
    elif qtype == SINGLE and len(canonical_answer(answer)) > 1:
        reasons.append(f"a {SINGLE} (single answer) with the answer {answer!r}")
    if reasons:
        return None, reasons
    answer = canonical_answer(answer)
    return {"exam_type": str(row["exam_type"]).strip(), "exam_class": str(row["exam_class"]).strip(),
            "exam_subject": str(row.get("exam_subject") or "").strip(), "question": str(row["question"]),
            "answer": answer, "question_type": qtype or (MULTI if len(answer) > 1 else SINGLE),
            "option": option_mapping(row["option"]), "explanation": str(row.get("explanation") or ""),
            **({"id": row["id"]} if row.get("id") is not None else {})}, []


def _integer_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def check_rows(rows: list[Any]) -> Packed:
    """Sort the input rows into good and bad (with reasons), ids checked or to be assigned."""
    packed = Packed()
    for index, row in enumerate(rows):
        good, reasons = row_problems(row)
        if reasons:
            packed.bad.append({"index": index, "row": index + 1, "reason": "; ".join(reasons)})
        else:
            packed.rows.append((index, good))
    with_id = sum(1 for _, r in packed.rows if "id" in r)
    if packed.rows and not with_id:
        packed.ids_assigned = True
        return packed
    kept, seen = [], {}
    for index, r in packed.rows:
        reason = None
        if "id" not in r:
            reason = f"no id, while {with_id} other row(s) have one (give every row an id, or none)"
        elif _integer_id(r["id"]) is None:
            reason = f"id {r['id']!r} is not an integer (CMB ids are; omit ids to have them numbered 1..N)"
        elif id_key(_integer_id(r["id"])) in seen:
            reason = f"id {r['id']} repeats row {seen[id_key(_integer_id(r['id']))] + 1}"
        if reason:
            packed.bad.append({"index": index, "row": index + 1, "reason": reason})
            continue
        r["id"] = _integer_id(r["id"])
        seen[id_key(r["id"])] = index
        kept.append((index, r))
    packed.rows = kept
    packed.bad.sort(key=lambda b: b["index"])
    return packed


def split_val(rows: list[dict[str, Any]], per_class: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(test, val): the first `per_class` rows of each exam class (file order) go to val."""
    counts: dict[str, int] = {}
    test, val = [], []
    for r in rows:
        c = f"{r['exam_type']}/{normalize_class(r['exam_class'])}"
        counts[c] = counts.get(c, 0) + 1
        (val if counts[c] <= per_class else test).append(r)
    return test, val


def pack(source: str | Path, out: str | Path, val_per_class: int = 0, skip_bad: bool = False) -> dict[str, Any]:
    """Write `source`'s questions into the official layout under `out`; return the manifest.

    Raises InputLayoutError listing the bad rows when any is bad and `skip_bad` is off."""
    source, out = Path(source), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputLayoutError(f"{out}: not an empty folder; pack into a new one (nothing is overwritten)")
    rows = read_json_rows(source)
    if not isinstance(rows, list):
        raise InputLayoutError(f"{source}: expected a JSON list of questions, got {type(rows).__name__}")
    packed = check_rows(rows)
    if packed.bad and not skip_bad:
        lines = [f"row {b['row']} (index {b['index']}): {b['reason']}" for b in packed.bad]
        raise BadRows(f"{source}: {len(packed.bad)} bad row(s) of {len(rows)}; nothing written "
                      "(fix them, or --skip-bad to leave them out)", lines)
    good = [r for _, r in packed.rows]
    test, val = split_val(good, val_per_class)
    if not test:
        raise InputLayoutError(f"{source}: no question left for test ({len(rows)} rows, {len(packed.bad)} bad, "
                               f"{len(val)} to val)")
    if packed.ids_assigned:
        for i, r in enumerate(test, 1):
            r["id"] = i
        packed.notes.append(f"ids: the input has none; assigned 1..{len(test)} to the test questions in file order")
    classes_without_test = sorted({f"{r['exam_type']}/{r['exam_class']}" for r in val} -
                                  {f"{r['exam_type']}/{r['exam_class']}" for r in test})
    if classes_without_test:
        packed.notes.append(f"{len(classes_without_test)} exam class(es) went wholly to val, none in test: "
                            f"{', '.join(classes_without_test[:10])}")
    unsorted = sum(1 for i, r in packed.rows if str(rows[i].get("answer", "")).strip() != r["answer"])
    if unsorted:
        packed.notes.append(f"{unsorted} answer(s) written as sorted letters (e.g. DB as BD): an answer is a set")
    derived = sum(1 for i, _ in packed.rows if not rows[i].get("question_type"))
    if derived:
        packed.notes.append(f"question_type derived from the answer for {derived} row(s): one letter {SINGLE}, "
                            f"several {MULTI}")
    files = {QUESTION_FILES["test"]: [_test_row(r) for r in test], KEY_FILE: [_key_row(r) for r in test]}
    if val_per_class:
        files[QUESTION_FILES["val"]] = [_val_row(r) for r in val]
    for rel, data in files.items():
        write_json(out / rel, data)
    check_packed(out, test, val if val_per_class else None)
    manifest = {"input": str(source), "input_sha256": file_sha256(source), "rows": len(rows),
                "test": len(test), "val": len(val) if val_per_class else None, "val_per_class": val_per_class,
                "ids": "assigned 1..N in file order" if packed.ids_assigned else "from the input",
                "files": {rel: len(data) for rel, data in files.items()},
                "bad_rows": packed.bad, "notes": packed.notes,
                "checked": "loaded back with the CMB loader; a submission of the key's answers passes cmb-validate"}
    write_json(out / MANIFEST, manifest)
    return manifest


class BadRows(InputLayoutError):
    """Rows that cannot be packed: the message sums them up, `lines` names each (row, index, reason)."""

    def __init__(self, message: str, lines: list[str]):
        super().__init__(message)
        self.lines = lines


def _test_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "exam_type": r["exam_type"], "exam_class": r["exam_class"], "exam_subject": r["exam_subject"],
            "question": r["question"], "answer": "", "question_type": r["question_type"], "option": r["option"]}


def _key_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "exam_type": r["exam_type"], "exam_class": r["exam_class"], "exam_subject": r["exam_subject"],
            "question_type": r["question_type"], "answer": r["answer"]}


def _val_row(r: dict[str, Any]) -> dict[str, Any]:
    # As the official val file: no id (the loader numbers rows), the answer and its explanation.
    return {"exam_type": r["exam_type"], "exam_class": r["exam_class"], "exam_subject": r["exam_subject"],
            "question": r["question"], "answer": r["answer"], "explanation": r["explanation"],
            "question_type": r["question_type"], "option": r["option"]}


def check_packed(out: Path, test: list[dict[str, Any]], val: list[dict[str, Any]] | None) -> None:
    """Load `out` back as `eval cmb` will and check it holds what was packed (a failure is a bug here)."""
    from collectivesft.eval.cmb.scoring import validate_submission

    questions = load_questions(out, "test")
    key = load_key(out)
    problems = []
    if [id_key(q.id) for q in questions] != [id_key(r["id"]) for r in test]:
        problems.append("test question ids differ from the packed rows")
    if [id_key(k.id) for k in key] != [id_key(q.id) for q in questions]:
        problems.append("the key's ids differ from the questions'")
    for q, k in zip(questions, key):
        if not k.valid or not set(k.answer) <= set(q.options) or q.answer is not None:
            problems.append(f"id {q.id}: key answer {k.answer!r}, options {sorted(q.options)}, question answer {q.answer!r}")
    if val is not None and len(load_questions(out, "val")) != len(val):
        problems.append("val does not load back whole")
    with tempfile.TemporaryDirectory() as tmp:
        submission = Path(tmp) / "submission.json"
        submission.write_text(json.dumps([{"id": k.id, "model_answer": k.answer} for k in key]), encoding="utf-8")
        report = validate_submission(submission, [q.id for q in questions])
        problems += [f"cmb-validate: {p}" for p in report["problems"]]
    if problems:
        raise CollectiveSFTError(f"{out}: the packed files do not load back as packed: {'; '.join(problems[:5])}")
