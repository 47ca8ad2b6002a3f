"""CMB-Exam scoring (the contract other tools rely on) and submission validation.

A question is right when the model's sorted letter set equals the key's; a key id with no
prediction is wrong; accuracy per exam class; an exam type's score is the mean of its
classes' accuracies (the official aggregation); `overall_macro_types` is the mean over types,
`overall_micro` the fraction of all scored questions. Key rows whose answer is not
^[A-F]+$ are excluded and reported by id. Class names differing only by 和/与 are one class.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from collectivesft.errors import InputLayoutError
from collectivesft.io import read_json_rows
from collectivesft.benchmarks.cmb.format import canonical_answer, id_key, is_valid_answer, normalize_class
from collectivesft.benchmarks.cmb.load import KeyRow, Question, load_key, load_questions
from collectivesft.eval.cmb.extraction import extract_answer

TEST_IDS = range(1, 11201)
_LETTERS_ONLY = re.compile(r"^[A-F\s,、]*$")


def read_outputs(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a model-output file: JSONL {"id", "output"} / {"id", "model_answer"}, or a
    submission JSON list of {"id", "model_answer"}."""
    path = Path(path)
    if not path.is_file():
        raise InputLayoutError(f"outputs file not found: {path}")
    rows = read_json_rows(path)
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "id" not in row or not ("output" in row or "model_answer" in row):
            raise InputLayoutError(f"{path}: row {i + 1} needs 'id' and 'output' or 'model_answer'")
    return rows


def normalize_model_answer(value: Any, question_type: str, options: dict[str, str] | None) -> str:
    """A submitted answer as a sorted letter set; anything but bare letters is read as free text."""
    text = "" if value is None else str(value)
    if _LETTERS_ONLY.match(text):
        return canonical_answer(re.sub(r"[^A-F]", "", text))
    return extract_answer(text, question_type, options)


def answers_from_outputs(rows: Iterable[dict[str, Any]], key: list[KeyRow],
                         questions: list[Question] | None = None) -> dict[str, dict[str, Any]]:
    """{id: {"model_answer", "output"?}} with free-text outputs run through extraction."""
    qtype = {id_key(k.id): k.question_type for k in key}
    options = {id_key(q.id): q.options for q in questions or []}
    answers: dict[str, dict[str, Any]] = {}
    for row in rows:
        k = id_key(row["id"])
        if "output" in row:
            ans = extract_answer(str(row["output"] or ""), qtype.get(k, ""), options.get(k))
            answers[k] = {"model_answer": ans, "output": row["output"]}
        else:
            answers[k] = {"model_answer": normalize_model_answer(row["model_answer"], qtype.get(k, ""), options.get(k))}
    return answers


def score_answers(answers: dict[str, dict[str, Any]], key: list[KeyRow]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(scores, predictions) for model answers against the key, with the official aggregation."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    subjects: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    predictions, invalid = [], []
    n = n_answered = n_correct = 0
    for row in key:
        got = answers.get(id_key(row.id), {})
        model_answer = got.get("model_answer", "")
        pred = {"id": row.id, "model_answer": model_answer}
        if not row.valid:
            invalid.append(row.id)
            pred["correct"] = None
        else:
            gold = canonical_answer(row.answer)
            correct = bool(model_answer) and model_answer == gold
            pred["correct"] = correct
            pred["answer"] = gold
            cell = counts[row.exam_type][normalize_class(row.exam_class)]
            cell[0] += correct
            cell[1] += 1
            subjects[row.exam_subject or "-"][0] += correct
            subjects[row.exam_subject or "-"][1] += 1
            n += 1
            n_correct += correct
            n_answered += bool(model_answer)
        if "output" in got:
            pred["output"] = got["output"]
        predictions.append(pred)
    by_class = {t: {c: v[0] / v[1] for c, v in sorted(classes.items())} for t, classes in sorted(counts.items())}
    by_type = {t: sum(accs.values()) / len(accs) for t, accs in by_class.items()}
    key_ids = {id_key(r.id) for r in key}
    scores = {
        "overall_micro": n_correct / n if n else 0.0,
        "overall_macro_types": sum(by_type.values()) / len(by_type) if by_type else 0.0,
        "by_type": by_type,
        "by_class": by_class,
        "by_subject": {s: v[0] / v[1] for s, v in sorted(subjects.items())},
        "counts": {t: {c: {"correct": v[0], "n": v[1]} for c, v in sorted(cl.items())} for t, cl in sorted(counts.items())},
        "n": n,
        "n_answered": n_answered,
        "n_correct": n_correct,
        "missing": sum(1 for r in key if r.valid and id_key(r.id) not in answers),
        "extra_ids": sorted((a for a in answers if a not in key_ids), key=_id_order),
        "key_invalid": len(invalid),
        "key_invalid_ids": invalid,
    }
    return scores, predictions


def _id_order(value: Any) -> tuple[int, Any]:
    text = id_key(value)
    return (0, int(text)) if text.isdigit() else (1, text)


def score_cmb(outputs_path: str | Path, key_path: str | Path, out: str | Path,
              questions_path: str | Path | None = None) -> dict[str, Any]:
    """Score an output file against the official key; write predictions.jsonl, scores.json,
    scores.md and the by-type chart into `out`; return the scores."""
    from collectivesft.eval.cmb.summary import write_score_files

    key = load_key(key_path)
    questions = load_questions(questions_path, "test") if questions_path else None
    answers = answers_from_outputs(read_outputs(outputs_path), key, questions)
    scores, predictions = score_answers(answers, key)
    write_score_files(Path(out), scores, predictions)
    return scores


def _ranges(ids: list[int]) -> str:
    """[1,2,3,7] -> '1-3, 7' (a readable list of missing ids)."""
    parts, start, prev = [], None, None
    for i in sorted(ids):
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = i
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else str(start))
    return ", ".join(parts)


def validate_submission(path: str | Path, expected_ids: Iterable[Any] = TEST_IDS) -> dict[str, Any]:
    """Check a leaderboard submission: a JSON list of {id, model_answer}, ids exactly the
    expected ones (1..11200 for CMB-test), answers bare sorted letters A-F.

    Returns {"ok", "n", "problems": [...], "warnings": [...]}; never raises on bad content.
    """
    path = Path(path)
    problems: list[str] = []
    warnings: list[str] = []
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return {"ok": False, "n": 0, "problems": [f"{path}: file not found"], "warnings": []}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"ok": False, "n": 0, "problems": [f"{path}: not valid UTF-8 JSON ({exc})"], "warnings": []}
    if not isinstance(data, list):
        return {"ok": False, "n": 0, "problems": [f"{path}: must be a JSON list of {{id, model_answer}}"], "warnings": []}
    expected = {id_key(i): i for i in expected_ids}
    seen: dict[str, int] = {}
    bad_answers, unsorted, bad_ids, dupes, bad_rows = [], [], [], [], []
    for index, row in enumerate(data):
        if not isinstance(row, dict) or "id" not in row or "model_answer" not in row:
            bad_rows.append(index + 1)
            continue
        extra = set(row) - {"id", "model_answer"}
        if extra and len(warnings) < 1:
            warnings.append(f"row {index + 1} has extra keys {sorted(extra)} (ignored by the leaderboard)")
        if not isinstance(row["id"], int) or isinstance(row["id"], bool):
            bad_ids.append(f"row {index + 1}: id {row['id']!r} is not an integer")
        k = id_key(row["id"])
        if k in seen:
            dupes.append(row["id"])
        seen[k] = index
        if k not in expected:
            bad_ids.append(f"row {index + 1}: id {row['id']!r} is not an expected id")
        answer = row["model_answer"]
        if not isinstance(answer, str) or not (answer == "" or is_valid_answer(answer)):
            bad_answers.append(f"id {row['id']}: {answer!r}")
        elif answer != canonical_answer(answer):
            unsorted.append(f"id {row['id']}: {answer!r}")
    if bad_rows:
        problems.append(f"{len(bad_rows)} row(s) lack 'id' or 'model_answer' (rows {_ranges(bad_rows)[:200]})")
    if bad_ids:
        problems.append(f"{len(bad_ids)} bad id(s): " + "; ".join(bad_ids[:10]))
    if dupes:
        problems.append(f"{len(dupes)} duplicated id(s): {dupes[:20]}")
    missing = [expected[k] for k in expected if k not in seen]
    if missing:
        ints = [m for m in missing if isinstance(m, int)]
        shown = _ranges(ints) if len(ints) == len(missing) else ", ".join(map(str, missing[:20]))
        problems.append(f"{len(missing)} missing id(s): {shown[:300]}")
    if bad_answers:
        problems.append(f"{len(bad_answers)} model_answer(s) are not letters A-F: " + "; ".join(bad_answers[:10]))
    if unsorted:
        warnings.append(f"{len(unsorted)} answer(s) not sorted or with repeated letters (the official scorer "
                        "compares strings exactly): " + "; ".join(unsorted[:10]))
    empty = sum(1 for r in data if isinstance(r, dict) and r.get("model_answer") == "")
    if empty:
        warnings.append(f"{empty} empty answer(s) (scored wrong)")
    return {"ok": not problems, "n": len(data), "problems": problems, "warnings": warnings}
