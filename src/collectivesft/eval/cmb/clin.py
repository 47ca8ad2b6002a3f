"""CMB-Clin: each clinical case as one conversation, scored by ROUGE-L / BLEU (optionally an LLM judge).

The first user turn holds the case description and the first question; later questions follow
as new turns, with the model's own previous answers kept in context. Answers are appended per
question to outputs.partial.jsonl, so a killed run resumes inside a case.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from collectivesft.errors import InputLayoutError
from collectivesft.benchmarks.cmb.format import id_key
from collectivesft.benchmarks.cmb.load import ClinCase, load_clin
from collectivesft.eval.resume import PartialWriter, check_fingerprint, read_partial, say_resumed
from collectivesft.eval.config import ClinEvalConfig, InferenceConfig
from collectivesft.eval.metrics import corpus_bleu, rouge_l, sentence_bleu
from collectivesft.io import atomic_write, read_jsonl, write_json, write_jsonl

PARTIAL = "outputs.partial.jsonl"
_FINGERPRINT = ("model", "backend", "data", "system", "max_new_tokens", "temperature")

__all__ = ["ClinEvalConfig", "evaluate_clin", "score_clin", "case_chat"]


def case_chat(case: ClinCase, answers: list[str], system: str | None = None) -> list[dict[str, str]]:
    """The conversation up to question len(answers): description + Q1, A1, Q2, ... (our wording)."""
    chat: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    for k in range(len(answers) + 1):
        question = case.qa[k][0]
        if k == 0:
            question = f"下面是一位患者的病历资料：\n{case.description}\n\n请根据病历回答：{question}"
        chat.append({"role": "user", "content": question})
        if k < len(answers):
            chat.append({"role": "assistant", "content": answers[k]})
    return chat


def _row_key(case_id: Any, k: int) -> str:
    return f"{id_key(case_id)}#{k}"


def evaluate_clin(config: ClinEvalConfig, out: str | Path, judge: InferenceConfig | None = None) -> dict[str, Any]:
    """Run `config.model` on CMB-Clin into `out` (outputs.jsonl) and score it; return the scores."""
    from collectivesft.progress import progress

    from collectivesft.eval.backends.registry import get_backend

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = load_clin(config.data)[: config.limit or None]
    partial = out / PARTIAL
    check_fingerprint(out, config, _FINGERPRINT, PARTIAL)
    done = {_row_key(r["id"], r["question_index"]): r for r in read_partial(partial)}
    total = sum(len(c.qa) for c in cases)
    say_resumed(len(done), total, partial)
    backend = None
    writer = PartialWriter(partial)
    try:
        with progress(total, "CMB-Clin", "answer", len(done)) as bar:
            while True:
                # The next unanswered question of every case, one turn per case per round.
                todo = []
                for case in cases:
                    answers = []
                    for k in range(len(case.qa)):
                        row = done.get(_row_key(case.id, k))
                        if row is None:
                            todo.append((case, k, answers))
                            break
                        answers.append(row["output"])
                if not todo:
                    break
                backend = backend or get_backend(config)
                for start in range(0, len(todo), config.batch_size):
                    chunk = todo[start:start + config.batch_size]
                    chats = [case_chat(c, a, config.system) for c, _, a in chunk]
                    outputs = backend.generate(chats, max_new_tokens=config.max_new_tokens, temperature=config.temperature)
                    for (case, k, _), text in zip(chunk, outputs):
                        row = {"id": case.id, "question_index": k, "question": case.qa[k][0], "output": text}
                        writer.append(row)
                        done[_row_key(case.id, k)] = row
                        bar.update(1)
    finally:
        writer.close()
        if backend is not None:
            backend.close()
    rows = [done[_row_key(c.id, k)] for c in cases for k in range(len(c.qa))]
    write_jsonl(out / "outputs.jsonl", rows)
    write_json(out / "run.json", {"fingerprint": {k: getattr(config, k) for k in _FINGERPRINT},
                                  "config": config.model_dump(), "status": "done", "n_answers": len(rows)})
    return score_clin(out / "outputs.jsonl", config.data, out, judge=judge, cases=cases)


JUDGE_PROMPT = (
    "你是一名资深临床医生，请评价下面这份针对病例问题的回答。\n"
    "病例问题：{question}\n参考答案：{reference}\n待评回答：{answer}\n\n"
    "请从医学准确性、完整性和与参考答案的一致性综合打分，满分10分。只输出一个1到10之间的整数。"
)


def judge_scores(judge: InferenceConfig, items: list[tuple[str, str, str]]) -> list[int | None]:
    """1-10 scores from an LLM judge for (question, reference, answer) items; None if unreadable."""
    from collectivesft.eval.backends.registry import get_backend

    backend = get_backend(judge)
    try:
        chats = [[{"role": "user", "content": JUDGE_PROMPT.format(question=q, reference=r, answer=a)}] for q, r, a in items]
        replies = backend.generate(chats, max_new_tokens=16, temperature=0.0)
    finally:
        backend.close()
    scores: list[int | None] = []
    for reply in replies:
        match = re.search(r"(?<!\d)(10|[1-9])(?!\d)", reply or "")
        scores.append(int(match.group(1)) if match else None)
    return scores


def score_clin(outputs_path: str | Path, data: str | Path, out: str | Path, judge: InferenceConfig | None = None,
               cases: list[ClinCase] | None = None) -> dict[str, Any]:
    """ROUGE-L and BLEU (character level) per answer, per case and overall; writes scores.json,
    scored.jsonl and scores.md into `out`. A missing answer scores 0."""
    out = Path(out)
    cases = cases if cases is not None else load_clin(data)
    outputs: dict[str, str] = {}
    for i, row in enumerate(read_jsonl(outputs_path)):
        if "id" not in row or "question_index" not in row or "output" not in row:
            raise InputLayoutError(f"{outputs_path}: row {i + 1} needs 'id', 'question_index' and 'output'")
        outputs[_row_key(row["id"], int(row["question_index"]))] = str(row["output"] or "")
    scored, hyps, refs, items = [], [], [], []
    missing = 0
    for case in cases:
        for k, (question, reference) in enumerate(case.qa):
            key = _row_key(case.id, k)
            hyp = outputs.get(key)
            missing += hyp is None
            hyp = hyp or ""
            scored.append({"id": case.id, "question_index": k, "rouge_l": rouge_l(hyp, reference),
                           "bleu": sentence_bleu(hyp, reference), "output": hyp, "reference": reference})
            hyps.append(hyp)
            refs.append(reference)
            items.append((question, reference, hyp))
    if judge is not None:
        for row, s in zip(scored, judge_scores(judge, items)):
            row["judge"] = s
    by_case: dict[str, dict[str, Any]] = {}
    for case in cases:
        rows = [r for r in scored if id_key(r["id"]) == id_key(case.id)]
        entry = {"title": case.title, "n": len(rows),
                 "rouge_l": sum(r["rouge_l"] for r in rows) / len(rows) if rows else 0.0,
                 "bleu": sum(r["bleu"] for r in rows) / len(rows) if rows else 0.0}
        judged = [r["judge"] for r in rows if r.get("judge") is not None]
        if judge is not None:
            entry["judge"] = sum(judged) / len(judged) if judged else None
        by_case[id_key(case.id)] = entry
    n_cases = len(by_case) or 1
    scores: dict[str, Any] = {
        "rouge_l": sum(c["rouge_l"] for c in by_case.values()) / n_cases,
        "bleu": sum(c["bleu"] for c in by_case.values()) / n_cases,
        "rouge_l_per_answer": sum(r["rouge_l"] for r in scored) / len(scored) if scored else 0.0,
        "corpus_bleu": corpus_bleu(hyps, refs),
        "n_cases": len(by_case), "n_answers": len(scored), "n_missing": missing,
        "tokenization": "characters (whitespace and punctuation removed)",
        "by_case": by_case,
    }
    if judge is not None:
        judged = [r["judge"] for r in scored if r.get("judge") is not None]
        scores["judge"] = sum(judged) / len(judged) if judged else None
        scores["judge_unreadable"] = sum(1 for r in scored if r.get("judge") is None)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "scores.json", scores)
    write_jsonl(out / "scored.jsonl", scored)
    lines = ["# CMB-Clin scores", "", f"- cases: {scores['n_cases']}, answers: {scores['n_answers']} "
             f"(missing: {missing})", f"- ROUGE-L (mean of cases): {100 * scores['rouge_l']:.2f}",
             f"- BLEU-4 (mean of cases): {100 * scores['bleu']:.2f}; corpus BLEU-4: {100 * scores['corpus_bleu']:.2f}", "",
             "| case | title | answers | ROUGE-L | BLEU |", "|---|---|---:|---:|---:|"]
    lines += [f"| {cid} | {c['title']} | {c['n']} | {100 * c['rouge_l']:.2f} | {100 * c['bleu']:.2f} |" for cid, c in by_case.items()]
    with atomic_write(out / "scores.md") as fh:
        fh.write("\n".join(lines) + "\n")
    return scores
