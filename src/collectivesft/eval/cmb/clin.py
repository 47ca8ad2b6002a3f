"""CMB-Clin: each clinical case as one conversation, scored by ROUGE-L / BLEU and optionally by
the official CMB judge (eval/cmb/judge.py).

Two ways to hold the conversation, labelled in every output: `reference` history (the official
workers: earlier turns carry the reference solutions, so every question is asked independently
of the model's earlier answers) or `model` history (our default: the model's own answers). The
official protocol's first turn is the README's `以下是一位病人的病例：\n{description}\n{question}`.
Answers are appended per question to outputs.partial.jsonl, so a killed run resumes inside a case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectivesft.errors import ConfigError, InputLayoutError
from collectivesft.benchmarks.cmb.format import id_key
from collectivesft.benchmarks.cmb.load import ClinCase, load_clin
from collectivesft.eval.cmb.official import CLIN_FIRST_TURN
from collectivesft.eval.resume import PartialWriter, check_fingerprint, read_partial, say_resumed
from collectivesft.eval.config import ClinEvalConfig, InferenceConfig
from collectivesft.eval.metrics import corpus_bleu, rouge_l, sentence_bleu
from collectivesft.io import atomic_write, read_jsonl, write_json, write_jsonl

PARTIAL = "outputs.partial.jsonl"
_FINGERPRINT = ("model", "backend", "data", "protocol", "history", "system", "max_new_tokens", "temperature")

__all__ = ["ClinEvalConfig", "evaluate_clin", "score_clin", "case_chat"]


def first_turn(case: ClinCase, protocol: str) -> str:
    """The first user turn: the case description and the first question."""
    if protocol == "official":
        return CLIN_FIRST_TURN.format(description=case.description, question=case.qa[0][0])
    return f"下面是一位患者的病历资料：\n{case.description}\n\n请根据病历回答：{case.qa[0][0]}"


def case_chat(case: ClinCase, answers: list[str], system: str | None = None,
              protocol: str = "collectivesft") -> list[dict[str, str]]:
    """The conversation up to question len(answers): first turn, A1, Q2, A2, ... where the
    answers are the history (reference solutions or the model's own)."""
    chat: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    for k in range(len(answers) + 1):
        chat.append({"role": "user", "content": first_turn(case, protocol) if k == 0 else case.qa[k][0]})
        if k < len(answers):
            chat.append({"role": "assistant", "content": answers[k]})
    return chat


def history_answers(case: ClinCase, k: int, history: str, outputs: dict[str, str]) -> list[str] | None:
    """The assistant turns before question k: references, or the model's answers (None when one is missing)."""
    if history == "reference":
        return [ref for _, ref in case.qa[:k]]
    answers = [outputs.get(_row_key(case.id, j)) for j in range(k)]
    return None if any(a is None for a in answers) else answers


def _row_key(case_id: Any, k: int) -> str:
    return f"{id_key(case_id)}#{k}"


def evaluate_clin(config: ClinEvalConfig, out: str | Path, judge: InferenceConfig | None = None) -> dict[str, Any]:
    """Run `config.model` on CMB-Clin into `out` (outputs.jsonl) and score it; return the scores."""
    from collectivesft.progress import progress

    from collectivesft.eval.backends.registry import get_backend

    if config.data_parallel > 1:  # a case is a conversation whose turns depend on each other: not sharded yet
        raise ConfigError("data_parallel applies to eval cmb (and eval suite); CMB-Clin runs in one process")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = load_clin(config.data)[: config.limit or None]
    partial = out / PARTIAL
    config = config.model_copy(update={"history": config.history_mode()})
    check_fingerprint(out, config, _FINGERPRINT, PARTIAL)
    done = {_row_key(r["id"], r["question_index"]): r for r in read_partial(partial)}
    total = sum(len(c.qa) for c in cases)
    say_resumed(len(done), total, partial)
    backend = None
    writer = PartialWriter(partial)
    try:
        with progress(total, "CMB-Clin", "answer", len(done)) as bar:
            while True:
                # Every question whose history is known: all of them with reference history,
                # the next one of each case with the model's own.
                outputs = {k: r["output"] for k, r in done.items()}
                todo = []
                for case in cases:
                    for k in range(len(case.qa)):
                        if _row_key(case.id, k) in done:
                            continue
                        answers = history_answers(case, k, config.history, outputs)
                        if answers is not None:
                            todo.append((case, k, answers))
                        if config.history == "model":
                            break
                if not todo:
                    break
                backend = backend or get_backend(config)
                for start in range(0, len(todo), config.batch_size):
                    chunk = todo[start:start + config.batch_size]
                    chats = [case_chat(c, a, config.system, config.protocol) for c, _, a in chunk]
                    outputs = backend.generate(chats, max_new_tokens=config.max_new_tokens, temperature=config.temperature)
                    for (case, k, _), text in zip(chunk, outputs):
                        row = {"id": case.id, "question_index": k, "question": case.qa[k][0], "output": text,
                               "protocol": config.protocol, "history": config.history}
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
    return score_clin(out / "outputs.jsonl", config.data, out, judge=judge, cases=cases, history=config.history)


def score_clin(outputs_path: str | Path, data: str | Path, out: str | Path, judge: InferenceConfig | None = None,
               cases: list[ClinCase] | None = None, history: str | None = None) -> dict[str, Any]:
    """ROUGE-L and BLEU (character level) per answer, per case and overall, and with `judge` the
    official judge's four 1-5 ratings; writes scores.json, scored.jsonl and scores.md into `out`.
    A missing answer scores 0. `history` (default: what the outputs rows record, else model)
    says which conversation the judge is shown."""
    from collectivesft.eval.cmb.judge import history_text, judge_answers, summarize

    out = Path(out)
    cases = cases if cases is not None else load_clin(data)
    outputs: dict[str, str] = {}
    recorded, protocols = set(), set()
    for i, row in enumerate(read_jsonl(outputs_path)):
        if "id" not in row or "question_index" not in row or "output" not in row:
            raise InputLayoutError(f"{outputs_path}: row {i + 1} needs 'id', 'question_index' and 'output'")
        outputs[_row_key(row["id"], int(row["question_index"]))] = str(row["output"] or "")
        recorded.add(row.get("history", "model"))
        protocols.add(row.get("protocol", "collectivesft"))
    if history is None:
        if len(recorded) > 1:
            raise InputLayoutError(f"{outputs_path}: rows mix histories {sorted(recorded)}; pass --history")
        history = recorded.pop() if recorded else "model"
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
            before = history_answers(case, k, history, outputs) or [outputs.get(_row_key(case.id, j), "")
                                                                     for j in range(k)]
            items.append((case.description, history_text([(case.qa[j][0], a) for j, a in enumerate(before)]),
                          question, reference, hyp))
    if judge is not None:
        for row, (reply, verdict) in zip(scored, judge_answers(judge, items)):
            row["judge"] = verdict
            row["judge_reply"] = reply
    by_case: dict[str, dict[str, Any]] = {}
    for case in cases:
        rows = [r for r in scored if id_key(r["id"]) == id_key(case.id)]
        entry = {"title": case.title, "n": len(rows),
                 "rouge_l": sum(r["rouge_l"] for r in rows) / len(rows) if rows else 0.0,
                 "bleu": sum(r["bleu"] for r in rows) / len(rows) if rows else 0.0}
        if judge is not None:
            entry["judge"] = summarize([r["judge"] for r in rows])["criteria"]
        by_case[id_key(case.id)] = entry
    n_cases = len(by_case) or 1
    scores: dict[str, Any] = {
        "rouge_l": sum(c["rouge_l"] for c in by_case.values()) / n_cases,
        "bleu": sum(c["bleu"] for c in by_case.values()) / n_cases,
        "rouge_l_per_answer": sum(r["rouge_l"] for r in scored) / len(scored) if scored else 0.0,
        "corpus_bleu": corpus_bleu(hyps, refs),
        "n_cases": len(by_case), "n_answers": len(scored), "n_missing": missing, "history": history,
        "protocol": protocols.pop() if len(protocols) == 1 else sorted(protocols) or "collectivesft",
        "tokenization": "characters (whitespace and punctuation removed)",
        "by_case": by_case,
    }
    if judge is not None:
        scores["judge"] = {**summarize([r["judge"] for r in scored]), "model": judge.model}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "scores.json", scores)
    write_jsonl(out / "scored.jsonl", scored)
    lines = ["# CMB-Clin scores", "", f"- cases: {scores['n_cases']}, answers: {scores['n_answers']} "
             f"(missing: {missing})", f"- ROUGE-L (mean of cases): {100 * scores['rouge_l']:.2f}",
             f"- BLEU-4 (mean of cases): {100 * scores['bleu']:.2f}; corpus BLEU-4: {100 * scores['corpus_bleu']:.2f}",
             f"- conversation history: {history} answers"]
    if judge is not None:
        j = scores["judge"]
        lines.append(f"- judge {j['model']} (official prompt, 1-5): " + ", ".join(
            f"{c} {v:.2f}" if v is not None else f"{c} -" for c, v in j["criteria"].items())
            + f"; unparseable verdicts: {j['n_unparseable']} of {len(scored)}")
    lines += ["",
             "| case | title | answers | ROUGE-L | BLEU |", "|---|---|---:|---:|---:|"]
    lines += [f"| {cid} | {c['title']} | {c['n']} | {100 * c['rouge_l']:.2f} | {100 * c['bleu']:.2f} |" for cid, c in by_case.items()]
    with atomic_write(out / "scores.md") as fh:
        fh.write("\n".join(lines) + "\n")
    return scores
