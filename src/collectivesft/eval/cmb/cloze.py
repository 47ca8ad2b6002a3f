"""Cloze scoring: the log-likelihood of each option's *text* after the question, per character.

As lm-evaluation-harness scores MMLU-style tasks for base models (`acc_norm`): the prompt is
the question alone (no option list, no instruction), each option's text is the continuation,
and the option with the highest log-likelihood divided by its length in characters wins, so
an option is not penalised for being written with more tokens. A multi-answer question
(多项选择题: two or more right options) takes every option scoring above the mean of its
options, and at least the best two.
"""

from __future__ import annotations

from typing import Any

from collectivesft.benchmarks.cmb.load import Question


def cloze_chat(q: Question, shots: list[Question] = (), system: str | None = None) -> list[dict[str, str]]:
    """The chat each option's text continues: shots as question / right options' text, then the question."""
    chat: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    for s in shots:
        right = "；".join(s.options[k] for k in s.answer if k in s.options)
        chat += [{"role": "user", "content": s.question}, {"role": "assistant", "content": right}]
    chat.append({"role": "user", "content": q.question})
    return chat


def cloze_options(q: Question) -> list[tuple[str, str]]:
    """(letter, text) of the options compared; empty options (padding in the release) are left out."""
    return [(k, v) for k, v in q.options.items() if v and v.strip()]


def pick_cloze(q: Question, letters: list[str], per_char: list[float]) -> str:
    """The answer from per-character scores: the best option; for multi-answer the options above
    the mean (at least the best two), in letter order."""
    ranked = sorted(zip(letters, per_char), key=lambda kv: -kv[1])
    if not q.multi or len(ranked) < 2:
        return ranked[0][0] if ranked else ""
    mean = sum(per_char) / len(per_char)
    chosen = {k for k, s in ranked if s > mean} | {k for k, _ in ranked[:2]}
    return "".join(sorted(chosen))


def cloze_rows(backend: Any, batch: list[Question], chats: list[list[dict[str, str]]]) -> list[dict[str, Any]]:
    """Prediction rows for a batch (chats from cloze_chat): the model answer and each option's
    per-character log-likelihood."""
    from collectivesft.eval.backends.registry import ScoreRequest

    options = [cloze_options(q) for q in batch]
    requests = [ScoreRequest(chat, [text for _, text in opts]) for chat, opts in zip(chats, options)]
    rows = []
    for q, opts, scores in zip(batch, options, backend.score(requests)):
        letters = [k for k, _ in opts]
        per_char = [s / len(text) for (_, text), s in zip(opts, scores)]
        rows.append({"id": q.id, "model_answer": pick_cloze(q, letters, per_char),
                     "logprobs": {k: round(s, 4) for k, s in zip(letters, per_char)}})
    return rows
