"""`eval cmb-compare A B`: two scored runs on the same CMB questions, B minus A.

Inputs are predictions.jsonl files (or the folders holding them) written by `eval cmb` or
`eval cmb-score`: rows {id, correct, exam_type, exam_class}. Only questions both runs scored are
compared; ids only one run has are counted and named. The differences of the micro score and of
the mean of exam types get paired bootstrap intervals (questions resampled within each exam
class, both runs' answers together); McNemar's test compares the two runs question by question.
`flipped` lists the questions one run got right and the other wrong, both ways, grouped by exam
class, with both answers and both outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collectivesft import stats
from collectivesft.benchmarks.cmb.format import id_key
from collectivesft.errors import InputLayoutError
from collectivesft.eval.cmb.intervals import paired_intervals
from collectivesft.io import read_jsonl


def _predictions(path: str | Path) -> tuple[Path, dict[str, dict[str, Any]], dict[str, Any]]:
    """(file, {id: scored row}, scores.json next to it or {}) for a predictions file or run folder."""
    path = Path(path)
    file = path / "predictions.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise InputLayoutError(f"{path}: no predictions.jsonl (give a run folder or its predictions.jsonl)")
    rows = {}
    for i, row in enumerate(read_jsonl(file)):
        if "id" not in row or "correct" not in row:
            raise InputLayoutError(f"{file}: row {i + 1} has no 'id'/'correct': score it first with eval cmb-score")
        if row["correct"] is not None:
            rows[id_key(row["id"])] = row
    scores_file = file.parent / "scores.json"
    scores = json.loads(scores_file.read_text(encoding="utf-8")) if scores_file.is_file() else {}
    return file, rows, scores


def compare_predictions(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], n_boot: int = 1000,
                        seed: int = 0) -> dict[str, Any]:
    """Paired comparison of two {id: scored row} maps on their common ids (B minus A)."""
    common = [k for k in a if k in b]
    if not common:
        raise InputLayoutError("the two runs share no scored question ids")
    cells: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for k in common:
        cell = (str(a[k].get("exam_type", "")), str(a[k].get("exam_class", "")))
        xa, xb = cells.setdefault(cell, ([], []))
        xa.append(int(bool(a[k]["correct"])))
        xb.append(int(bool(b[k]["correct"])))
    flat_a = [int(bool(a[k]["correct"])) for k in common]
    flat_b = [int(bool(b[k]["correct"])) for k in common]
    only_a = [k for k in a if k not in b]
    only_b = [k for k in b if k not in a]
    return {"n": len(common), "only_in_a": len(only_a), "only_in_a_ids": only_a[:50],
            "only_in_b": len(only_b), "only_in_b_ids": only_b[:50],
            **paired_intervals(cells, n_boot=n_boot, seed=seed), "mcnemar": stats.mcnemar(flat_a, flat_b)}


def _output(row: dict[str, Any]) -> str:
    if isinstance(row.get("output"), str):
        return row["output"]
    return "\n---\n".join(map(str, row.get("outputs") or []))


def flipped_questions(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Questions whose correctness differs between the runs, both ways ("a_right_b_wrong",
    "a_wrong_b_right"), each {exam class: [{id, exam_type, answer, a/b answer, a/b output}]}."""
    flips: dict[str, dict[str, list[dict[str, Any]]]] = {"a_right_b_wrong": {}, "a_wrong_b_right": {}}
    for k in a:
        if k not in b or bool(a[k]["correct"]) == bool(b[k]["correct"]):
            continue
        way = "a_right_b_wrong" if a[k]["correct"] else "a_wrong_b_right"
        flips[way].setdefault(str(a[k].get("exam_class", "")), []).append({
            "id": a[k]["id"], "exam_type": a[k].get("exam_type", ""), "answer": a[k].get("answer", b[k].get("answer")),
            "a_answer": a[k].get("model_answer", ""), "b_answer": b[k].get("model_answer", ""),
            "a_output": _output(a[k]), "b_output": _output(b[k])})
    return flips


def compare_runs(path_a: str | Path, path_b: str | Path, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """compare_predictions on two runs' files, with their protocols and a warning when they differ."""
    file_a, rows_a, scores_a = _predictions(path_a)
    file_b, rows_b, scores_b = _predictions(path_b)
    result = {"a": str(file_a), "b": str(file_b), "protocol_a": scores_a.get("protocol"),
              "protocol_b": scores_b.get("protocol"), **compare_predictions(rows_a, rows_b, n_boot, seed)}
    warnings = []
    if result["protocol_a"] != result["protocol_b"]:
        warnings.append(f"the runs were scored with different protocols ({result['protocol_a']} vs "
                        f"{result['protocol_b']}): the difference mixes model and protocol")
    if result["only_in_a"] or result["only_in_b"]:
        warnings.append(f"{result['only_in_a']} question(s) only in A and {result['only_in_b']} only in B are left out")
    result["warnings"] = warnings
    result["flipped"] = flipped_questions(rows_a, rows_b)
    return result
