"""CMB-Exam chats for the collectivesft protocol: few-shot examples from val, then the question.

A prompt is a chat (list of {role, content}): each shot is a user turn and the assistant's
worked answer, then the question; the wording is benchmarks/cmb/render.py's.
"""

from __future__ import annotations

from collectivesft.benchmarks.cmb.format import normalize_class
from collectivesft.benchmarks.cmb.load import Question
from collectivesft.benchmarks.cmb.render import shot_answer, user_turn

def pick_shots(q: Question, pool: list[Question], k: int) -> list[Question]:
    """Up to k val questions of the same exam class (then same exam type), in file order."""
    if k <= 0:
        return []
    usable = [p for p in pool if p.answer and p.question != q.question]
    same_class = [p for p in usable if normalize_class(p.exam_class) == normalize_class(q.exam_class)]
    same_type = [p for p in usable if p.exam_type == q.exam_type and p not in same_class]
    return (same_class + same_type)[:k]


def build_chat(q: Question, shots: list[Question] = (), cot: bool = False, system: str | None = None) -> list[dict[str, str]]:
    """The full chat for one question: optional system turn, shots as turns, then the question."""
    chat: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    for s in shots:
        chat += [{"role": "user", "content": user_turn(s, cot)}, {"role": "assistant", "content": shot_answer(s, cot)}]
    chat.append({"role": "user", "content": user_turn(q, cot)})
    return chat


def answer_candidates(q: Question) -> list[str]:
    """Letter strings loglik scores: each option letter; for multi-answer every non-empty
    subset of the options, sorted (at most 63 for six options)."""
    letters = list(q.options)
    if not q.multi:
        return letters
    subsets = []
    for mask in range(1, 1 << len(letters)):
        subsets.append("".join(letters[i] for i in range(len(letters)) if mask >> i & 1))
    return subsets
