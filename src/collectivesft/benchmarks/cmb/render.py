"""The one CMB question -> prompt renderer, shared by the cmb training source and the evaluator.

Our own Chinese wording in the CMB style (the official protocol's text is the eval protocol's
business). Answers are asked for as "答案是X" (multi-answer: all letters, sorted), the form the
training records end in, so loglik scoring can put "答案是" in the model's mouth.
"""

from __future__ import annotations

from collectivesft.benchmarks.cmb.load import Question

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


def user_turn(q: Question, cot: bool = False) -> str:
    """The user turn that asks question `q`."""
    return instruction(q, cot) + "\n\n" + question_text(q)


def shot_answer(q: Question, cot: bool) -> str:
    """The assistant's answer to a few-shot example: "答案是X" (CoT: the val explanation first)."""
    if cot and q.explanation:
        return f"{q.explanation}\n{ANSWER_PREFIX}{q.answer}"
    return f"{ANSWER_PREFIX}{q.answer}"


def training_answer(q: Question) -> str:
    """The assistant turn of a training record: the answer, the chosen options' texts, the explanation."""
    reply = f"{ANSWER_PREFIX}{q.answer}。\n" + "\n".join(f"{c}. {q.options[c]}" for c in q.answer)
    if q.explanation:
        reply += f"\n解析：{q.explanation}"
    return reply
