"""CMB-Exam prompts: our own Chinese wording in the CMB style, few-shot from val, optional CoT.

A prompt is a chat (list of {role, content}): each shot is a user turn and the assistant's
worked answer, then the question. Answers are asked for as "答案是X" (multi-answer: all
letters, sorted, "答案是AC"), the form our training records use, so loglik scoring can put
the same words ("答案是") in the model's mouth and read the next letter.
"""

from __future__ import annotations

from typing import Any

from collectivesft.eval.cmb.data import Question, normalize_class

ANSWER_PREFIX = "答案是"


def instruction(q: Question, cot: bool) -> str:
    """The task line above a question (our wording; names exam type, class and question kind)."""
    kind = q.question_type or "单项选择题"
    where = f"{q.exam_type}（{q.exam_class}）" if q.exam_type and q.exam_class else (q.exam_type or q.exam_class or "医学考试")
    head = f"下面是一道{where}的{kind}。"
    pick = ("本题有两个或更多正确选项，请选出全部正确选项，字母按顺序连写，例如“答案是AC”。" if q.multi
            else "本题只有一个正确选项。")
    if cot:
        return head + pick + "请先逐一分析各个选项，再在最后一行写出“答案是X”。"
    return head + pick + "无需解释，直接以“答案是X”的格式作答。"


def question_text(q: Question) -> str:
    """The question followed by its options as lines "A. text"."""
    return q.question + "\n" + "\n".join(f"{k}. {v}" for k, v in q.options.items())


def user_turn(q: Question, cot: bool) -> str:
    return instruction(q, cot) + "\n\n" + question_text(q)


def shot_answer(q: Question, cot: bool) -> str:
    """The assistant's answer to a shot: "答案是X" (CoT: the val explanation first)."""
    if cot and q.explanation:
        return f"{q.explanation}\n{ANSWER_PREFIX}{q.answer}"
    return f"{ANSWER_PREFIX}{q.answer}"


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


def render_chat(tokenizer: Any, chat: list[dict[str, str]]) -> str:
    """Prompt text ending where the assistant starts: the tokenizer's chat template when it has
    one, else a plain 问/答 transcript (base models without a template)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    parts = [m["content"] + "\n" for m in chat if m["role"] == "system"]
    for m in chat:
        if m["role"] == "user":
            parts.append(f"问：{m['content']}\n答：")
        elif m["role"] == "assistant":
            parts.append(f"{m['content']}\n")
    return "".join(parts)


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
