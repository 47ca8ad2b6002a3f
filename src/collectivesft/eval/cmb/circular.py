"""CircularEval (OpenCompass's idea): ask every question under every rotation of its options.

A question with k options is asked k times; rotation r puts the text of option (i + r) mod k at
letter i and remaps the gold letters (multi-answer sets letter by letter). Each rotation is an
ordinary CMB run: its questions (and key) are written in the official layout under
OUT/rotations/r{r}/ and evaluate_cmb runs on them there, so resume, methods and protocols are the
ordinary ones. The answers are then mapped back to the original letters and reported:

    accuracy under each rotation, circular accuracy (right under every rotation of the question),
    consistency (the same original option(s) chosen under every rotation), each with a 95 % interval.

Files: OUT/circular.json, OUT/circular.md, OUT/circular.jsonl (one row per question).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collectivesft.benchmarks.cmb.format import canonical_answer, id_key, is_valid_answer
from collectivesft.benchmarks.cmb.layout import KEY_FILE, QUESTION_FILES
from collectivesft.benchmarks.cmb.load import KeyRow, Question, load_questions
from collectivesft.errors import ConfigError
from collectivesft.eval.config import CMBEvalConfig
from collectivesft.io import write_json, write_jsonl

__all__ = ["rotate_options", "rotate_answer", "unrotate_answer", "rotated_question", "circular_scores",
           "evaluate_circular"]


def rotate_options(options: dict[str, str], r: int) -> dict[str, str]:
    """Options under rotation r: letter i (in sorted letter order) holds the text of letter (i + r) mod k."""
    letters = sorted(options)
    k = len(letters)
    return {letter: options[letters[(i + r) % k]] for i, letter in enumerate(letters)}


def rotate_answer(answer: str, letters: list[str] | str, r: int) -> str:
    """The gold answer under rotation r (original letter j moves to (j - r) mod k); an answer that is
    not a set of these letters ('无答案', a letter outside the options) is returned unchanged."""
    letters = sorted(letters)
    if not is_valid_answer(answer) or not set(answer) <= set(letters):
        return answer
    k = len(letters)
    return canonical_answer("".join(letters[(letters.index(a) - r) % k] for a in answer))


def unrotate_answer(answer: str, letters: list[str] | str, r: int) -> str:
    """A rotation-r answer in the original letters (the inverse of rotate_answer); letters that are
    not options are dropped (an extraction may yield them), so '' means no option chosen."""
    letters = sorted(letters)
    k = len(letters)
    return canonical_answer("".join(letters[(letters.index(a) + r) % k] for a in str(answer) if a in letters))


def rotated_question(q: Question, r: int) -> dict[str, Any]:
    """The official-format row of `q` under rotation r: same id, options rotated, answer remapped,
    `rotation` recorded (the loader ignores unknown fields)."""
    row = {k: v for k, v in q.raw.items() if k not in ("option", "answer")}
    row.update(id=q.id, option=rotate_options(q.options, r), rotation=r,
               answer=rotate_answer(q.answer, list(q.options), r) if q.answer else "")
    return row


def rotated_key(row: KeyRow, letters: list[str], r: int) -> dict[str, Any]:
    return {"id": row.id, "exam_type": row.exam_type, "exam_class": row.exam_class, "exam_subject": row.exam_subject,
            "question_type": row.question_type, "answer": rotate_answer(row.answer, letters, r)}


def _interval(values: list[float], n_boot: int, seed: int) -> list[float] | None:
    from collectivesft.stats import bootstrap_interval

    return [round(x, 4) for x in bootstrap_interval(values, n_boot=n_boot, seed=seed)] if values else None


def circular_scores(items: list[dict[str, Any]], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Scores from per-question items {id, k, correct: [bool per rotation 0..k-1], chosen: [original-letter
    answer per rotation]}: accuracy per rotation, circular accuracy, consistency, each with a 95 % interval.
    An item missing a rotation's answer counts as wrong and inconsistent under it."""
    n_rot = max((it["k"] for it in items), default=0)
    per_rotation = []
    for r in range(n_rot):
        xs = [float(it["correct"][r]) for it in items if r < it["k"]]
        per_rotation.append({"rotation": r, "n": len(xs), "accuracy": round(sum(xs) / len(xs), 4) if xs else None,
                             "ci95": _interval(xs, n_boot, seed)})
    circular = [float(all(it["correct"][:it["k"]]) and len(it["correct"]) >= it["k"]) for it in items]
    consistent = [float(len(it["chosen"]) >= it["k"] and bool(it["chosen"][0]) and len(set(it["chosen"][:it["k"]])) == 1)
                  for it in items]

    def summary(xs: list[float]) -> dict[str, Any]:
        return {"value": round(sum(xs) / len(xs), 4) if xs else None, "ci95": _interval(xs, n_boot, seed)}

    return {"n": len(items), "rotations": per_rotation, "circular_accuracy": summary(circular),
            "consistency": summary(consistent), "n_boot": n_boot, "interval": "percentile bootstrap over questions"}


def _write_rotation(folder: Path, split: str, rows: list[dict[str, Any]], key: list[dict[str, Any]],
                    val_rows: list[dict[str, Any]] | None) -> None:
    files = {QUESTION_FILES[split]: rows}
    if split == "test":
        files[KEY_FILE] = key
        if val_rows is not None:  # the few-shot pool, as published
            files[QUESTION_FILES["val"]] = val_rows
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _markdown(scores: dict[str, Any]) -> str:
    def pct(x: Any) -> str:
        return "" if x is None else f"{100 * x:.1f}"

    def ci(bounds: Any) -> str:
        return f"{pct(bounds[0])}-{pct(bounds[1])}" if bounds else ""

    lines = ["# CircularEval (every rotation of the options)", "",
             f"{scores['n']} questions; protocol {scores['protocol']}, method {scores['method']}.", "",
             "| measure | n | % | 95% interval |", "|---|---:|---:|---|"]
    for row in scores["rotations"]:
        lines.append(f"| accuracy, rotation {row['rotation']} | {row['n']} | {pct(row['accuracy'])} | {ci(row['ci95'])} |")
    for name, label in (("circular_accuracy", "circular accuracy (right under all rotations)"),
                        ("consistency", "consistency (same original option under all rotations)")):
        lines.append(f"| {label} | {scores['n']} | {pct(scores[name]['value'])} | {ci(scores[name]['ci95'])} |")
    return "\n".join(lines) + "\n"


def evaluate_circular(config: CMBEvalConfig, out: str | Path, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Evaluate `config` under every option rotation into `out` (one ordinary run per rotation under
    OUT/rotations/r{r}/); write circular.json, circular.md, circular.jsonl; return the scores."""
    from collectivesft.eval.cmb import subset as subsets
    from collectivesft.eval.cmb.protocol import is_correct
    from collectivesft.eval.cmb.runner import evaluate_cmb, resolve_key

    if config.limit and config.sample:
        raise ConfigError("limit and sample both cut the questions (the first N, or a stratified random N): give one")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    questions = load_questions(config.data, config.split)
    # The cut is made once, on the original questions, so every rotation asks the same ones.
    chosen, subset = subsets.choose(questions, config.limit, config.sample, config.sample_seed)
    questions = [questions[i] for i in chosen]
    key = resolve_key(config, questions)
    if not key:
        raise ConfigError(f"circular evaluation scores against the answer key: none found for {config.data} "
                          f"split {config.split} (give --key)")
    wanted = {id_key(q.id): q for q in questions}
    key = [row for row in key if id_key(row.id) in wanted and row.valid]
    if not key:
        raise ConfigError("circular evaluation: no chosen question has a valid answer in the key")
    by_id = {id_key(row.id): row for row in key}
    val_rows = None
    if config.split == "test" and config.shots:
        val_rows = [{**q.raw, "option": q.options} for q in load_questions(config.data, "val")]
    n_rot = max(len(q.options) for q in questions)
    answers: list[dict[str, str]] = []
    for r in range(n_rot):
        folder = out / "rotations" / f"r{r}"
        asked = [q for q in questions if r < len(q.options)]
        _write_rotation(folder / "data", config.split, [rotated_question(q, r) for q in asked],
                        [rotated_key(by_id[id_key(q.id)], list(q.options), r) for q in asked if id_key(q.id) in by_id],
                        val_rows)
        inner = config.model_copy(update={"data": str(folder / "data"), "key": None, "limit": None, "sample": None,
                                          "circular": False})
        evaluate_cmb(inner, folder)
        submission = json.loads((folder / "submission.json").read_text(encoding="utf-8"))
        answers.append({id_key(row["id"]): str(row.get("model_answer") or "") for row in submission})
    items = []
    for q in questions:
        k = id_key(q.id)
        if k not in by_id:
            continue
        letters = list(q.options)
        gold = by_id[k].answer
        given = [answers[r].get(k, "") for r in range(len(letters))]
        items.append({"id": q.id, "k": len(letters), "answer": canonical_answer(gold), "given": given,
                      "chosen": [unrotate_answer(a, letters, r) for r, a in enumerate(given)],
                      "correct": [is_correct(a, rotate_answer(gold, letters, r), config.protocol)
                                  for r, a in enumerate(given)]})
    scores = circular_scores(items, n_boot, seed)
    scores.update(protocol=config.protocol, method=config.method, subset=subset.to_json())
    write_jsonl(out / "circular.jsonl", items)
    write_json(out / "circular.json", scores)
    (out / "circular.md").write_text(_markdown(scores), encoding="utf-8")
    return scores
