"""CMB-Exam scoring (the contract other tools rely on) and submission validation.

Per protocol (eval/cmb/protocol.py): official = match_choice answers compared with the key's
exact string, as score.py; collectivesft = our extraction and letter-set comparison. Both: a key
id with no prediction is wrong; accuracy per exam class, reported under the key's own class
names; an exam type's score is the mean of its classes' accuracies (score.py's aggregation);
`overall_macro_types` is the mean over types (score.py computes no overall; this is the
leaderboard-style average), `overall_micro` the fraction of all scored questions; both with
95 % bootstrap intervals. Key rows whose answer is not ^[A-F]+$ are excluded and reported.
collectivesft also merges classes the key spells both with 与 and with 和 (official: kept apart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from collectivesft.benchmarks.cmb.format import canonical_answer, id_key, is_valid_answer, normalize_class
from collectivesft.benchmarks.cmb.load import KeyRow, Question, load_key, load_questions
from collectivesft.errors import EmptyResultError, InputLayoutError
from collectivesft.eval.cmb import protocol as protocols
from collectivesft.eval.cmb.intervals import score_intervals
from collectivesft.eval.cmb.outputs import (extraction_rule, model_answer, output_texts, read_outputs,
                                            resolve_duplicates)
from collectivesft.io import read_json_table

TEST_IDS = range(1, 11201)


def answers_from_outputs(rows: Iterable[dict[str, Any]], key: list[KeyRow], questions: list[Question] | None = None,
                         protocol: str = protocols.DEFAULT, on_duplicate: str | None = None,
                         where: str = "outputs") -> tuple[dict[str, dict[str, Any]], list[str]]:
    """({id: {"model_answer", "output"/"outputs"?}}, duplicated ids): each row's answer under
    `protocol`; a duplicated id is an error unless `on_duplicate` is first or last."""
    by_id, duplicated = resolve_duplicates(rows, on_duplicate, where)
    # The question file's type wins (official extract_ans reads the row's own question_type).
    qtype = {id_key(k.id): k.question_type for k in key}
    qtype.update({id_key(q.id): q.question_type for q in questions or []})
    options = {id_key(q.id): q.options for q in questions or []}
    answers: dict[str, dict[str, Any]] = {}
    for k, row in by_id.items():
        entry: dict[str, Any] = {"model_answer": model_answer(row, protocol, qtype.get(k, ""), options.get(k))}
        texts = output_texts(row)
        if texts is not None:
            entry.update({"output": texts[0]} if len(texts) == 1 else {"outputs": texts})
        entry["extraction"] = extraction_rule(row, "generate", protocol, qtype.get(k, ""), options.get(k))
        if "cut_off" in row or "finish_reason" in row:
            entry["cut_off"] = bool(row.get("cut_off")) or row.get("finish_reason") == "length"
        if "prompt" in row:
            entry["prompt"] = row["prompt"]
        answers[k] = entry
    return answers, duplicated


def _class_names(key: list[KeyRow], protocol: str) -> dict[tuple[str, str], str]:
    """(type, class as spelled in a key row) -> the name it is reported under: the key's own
    spelling; collectivesft folds 与/和 variants into the first spelling the key uses."""
    names: dict[tuple[str, str], str] = {}
    first: dict[tuple[str, str], str] = {}
    for row in key:
        spelled = (row.exam_type, row.exam_class)
        if protocol == "official":
            names[spelled] = row.exam_class
        else:
            names[spelled] = first.setdefault((row.exam_type, normalize_class(row.exam_class)), row.exam_class)
    return names


def score_answers(answers: dict[str, dict[str, Any]], key: list[KeyRow], protocol: str = protocols.DEFAULT,
                  n_boot: int | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(scores, predictions) for model answers against the key under `protocol`."""
    protocols.check_protocol(protocol)
    names = _class_names(key, protocol)
    cells: dict[tuple[str, str], list[int]] = {}
    subjects: dict[str, list[int]] = {}
    predictions, invalid = [], []
    n_answered = 0
    for row in key:
        got = answers.get(id_key(row.id), {})
        answer = got.get("model_answer", "")
        exam_class = names[(row.exam_type, row.exam_class)]
        pred: dict[str, Any] = {"id": row.id, "model_answer": answer, "exam_type": row.exam_type,
                                "exam_class": exam_class, "question_type": row.question_type}
        if not row.valid:
            invalid.append(row.id)
            pred["correct"] = None
        else:
            correct = protocols.is_correct(answer, row.answer, protocol)
            pred["correct"] = correct
            pred["answer"] = row.answer if protocol == "official" else canonical_answer(row.answer)
            cells.setdefault((row.exam_type, exam_class), []).append(int(correct))
            subjects.setdefault(row.exam_subject or "-", []).append(int(correct))
            n_answered += bool(answer)
        pred.update({k: got[k] for k in ("output", "outputs", "prompt", "extraction", "cut_off") if k in got})
        predictions.append(pred)
    by_class: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for (exam_type, exam_class), xs in cells.items():
        by_class.setdefault(exam_type, {})[exam_class] = sum(xs) / len(xs)
        counts.setdefault(exam_type, {})[exam_class] = {"correct": sum(xs), "n": len(xs)}
    by_type = {t: sum(accs.values()) / len(accs) for t, accs in by_class.items()}
    n = sum(len(xs) for xs in cells.values())
    n_correct = sum(sum(xs) for xs in cells.values())
    key_ids = {id_key(r.id) for r in key}
    missing = [r.id for r in key if r.valid and id_key(r.id) not in answers]
    scores = {
        **protocols.describe(protocol),
        "overall_micro": n_correct / n if n else 0.0,
        "overall_macro_types": sum(by_type.values()) / len(by_type) if by_type else 0.0,
        "by_type": by_type,
        "by_class": by_class,
        "by_subject": {s: sum(v) / len(v) for s, v in sorted(subjects.items())},
        "counts": counts,
        "ci95": score_intervals(cells, **({"n_boot": n_boot} if n_boot else {})),
        "n": n,
        "n_answered": n_answered,
        "n_correct": n_correct,
        "missing": len(missing),
        "missing_ids": missing,
        "unknown_ids": sorted((a for a in answers if a not in key_ids), key=_id_order),
        "key_invalid": len(invalid),
        "key_invalid_ids": invalid,
    }
    return scores, predictions


def _id_order(value: Any) -> tuple[int, Any]:
    text = id_key(value)
    return (0, int(text)) if text.isdigit() else (1, text)


def score_cmb(outputs_path: str | Path, key_path: str | Path, out: str | Path,
              questions_path: str | Path | None = None, protocol: str = protocols.DEFAULT,
              on_duplicate: str | None = None) -> dict[str, Any]:
    """Score an output file against the official key under `protocol`; write predictions.jsonl,
    scores.json, scores.md and the by-type chart into `out`; return the scores."""
    from collectivesft.eval.cmb.summary import write_score_files

    protocols.check_protocol(protocol)
    key = load_key(key_path)
    if not any(row.valid for row in key):
        held = f"none of its {len(key)} rows has a valid answer (^[A-F]+$)" if key else "the answer key has no rows"
        raise EmptyResultError(f"{key_path}: {held}: nothing to score against")
    questions = load_questions(questions_path, "test") if questions_path else None
    rows = read_outputs(outputs_path)
    if not rows:
        raise EmptyResultError(f"{outputs_path}: no rows (an empty file?): nothing to score")
    answers, duplicated = answers_from_outputs(rows, key, questions, protocol, on_duplicate, str(outputs_path))
    # A score of nothing is not a score: outputs for another question set would read as 0 %.
    key_ids = [id_key(row.id) for row in key]
    if not set(key_ids) & set(answers):
        raise EmptyResultError(f"none of the {len(answers)} id(s) in {outputs_path} is in the key {key_path} "
                               f"(outputs: {', '.join(list(answers)[:3])}; key: {', '.join(key_ids[:3])}): "
                               "nothing to score")
    scores, predictions = score_answers(answers, key, protocol)
    if duplicated:
        scores["duplicates"] = {"kept": on_duplicate, "n": len(duplicated), "ids": duplicated}
    write_score_files(Path(out), scores, predictions, _run_settings(Path(outputs_path)))
    return scores


def _run_settings(outputs_path: Path) -> dict[str, Any] | None:
    """The settings of the run that wrote the outputs (its run.json next to them), when there is one."""
    import json

    run = outputs_path.parent / "run.json"
    try:
        recorded = json.loads(run.read_text(encoding="utf-8")) if run.is_file() else None
    except (OSError, ValueError):
        return None  # a foreign or broken run.json: the settings stay unknown (reported as such)
    settings = recorded.get("fingerprint") if isinstance(recorded, dict) else None
    return settings if isinstance(settings, dict) else None


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
    if not path.is_file():
        return {"ok": False, "n": 0, "problems": [f"{path}: file not found"], "warnings": []}
    try:
        table = read_json_table(path)  # the reader cmb-score uses: same forms, same row errors
    except InputLayoutError as exc:
        return {"ok": False, "n": 0, "problems": [f"not valid UTF-8 JSON: {exc}"], "warnings": []}
    data = table.rows
    if not data:
        problems.append(f"{path}: holds no rows")
    elif table.form == "lines":
        problems.append(f"{path} is JSON Lines; the leaderboard takes one JSON list of {{id, model_answer}} "
                        "(eval cmb writes submission.json in that form)")
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
