"""The official CMB protocol (FreedomIntelligence/CMB): its strings and rules, reproduced exactly.

Sources: `workers/base.py` (question templates, option filter, shot answers),
`src/generate_fewshot.py` (shot drawing), `src/utils.py` (`match_choice`, `extract_ans`),
`score.py` (exact comparison), the README (CMB-Clin first turn). The strings are pinned by
tests; the identity with the official code was checked by running it (docs/eval.md).
"""

from __future__ import annotations

import random
import re
from typing import Any, Iterable, Mapping, Sequence

from collectivesft.benchmarks.cmb.format import MULTI, normalize_class
from collectivesft.errors import InputLayoutError

COT_TEMPLATE = ("以下是中国{exam_type}中{exam_class}考试的一道{question_type}，请分析每个选项，并最后给出答案。"
                "\n{question}\n{option_str}")
ANSWER_ONLY_TEMPLATE = ("以下是中国{exam_type}中{exam_class}考试的一道{question_type}，不需要做任何分析和解释，"
                        "直接输出答案选项。\n{question}\n{option_str}")
CLIN_FIRST_TURN = "以下是一位病人的病例：\n{description}\n{question}"
# match_choice's answer statement; letters A-G (G is not an option letter but the official rule reads it).
_STATEMENT = re.compile(r"(答案|正确选项)(?:是|：|为|应该是|应该为)(.*?)(。|\.|$)", re.S)
_LETTERS = "ABCDEFG"
FIELDS = ("exam_type", "exam_class", "question_type", "question")


def option_str(options: Mapping[str, Any]) -> str:
    """"{k}. {v}" lines in file order, keeping an option only when len(v) > 1, as workers/base.py
    does: one-character options ("是", "心") are not shown, and texts are not stripped."""
    return "\n".join(f"{k}. {v}" for k, v in options.items() if len(str(v)) > 1)


def question_text(row: Mapping[str, Any], cot: bool) -> str:
    """The official user text for one question row (raw fields, option dict in file order)."""
    fields = {name: row.get(name, "") for name in FIELDS}
    fields["option_str"] = option_str(row["option"])
    return (COT_TEMPLATE if cot else ANSWER_ONLY_TEMPLATE).format_map(fields)


def shot_answer(row: Mapping[str, Any], cot: bool, where: str = "val") -> str:
    """A shot's assistant turn: `{explanation}所以答案是{answer}。` (CoT) or `答案是{answer}。`."""
    if not cot:
        return f"答案是{row['answer']}。"
    if not row.get("explanation"):
        raise InputLayoutError(f"{where}: a CoT shot needs an explanation, row {row.get('question', '')[:30]!r} has none")
    return f"{row['explanation']}所以答案是{row['answer']}。"


def draw_shots(rows: Sequence[Mapping[str, Any]], pool: Sequence[Mapping[str, Any]], n: int,
               seed: int) -> list[list[Mapping[str, Any]]]:
    """Shots for every row, in file order, as generate_fewshot.py draws them: random.sample of n
    val rows of the same exam type and class, from one random.Random(seed) (the official script
    uses the unseeded global generator; seeding it with `seed` gives these exact draws)."""
    if n <= 0:
        return [[] for _ in rows]
    cells: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for p in pool:
        cells.setdefault((p.get("exam_type", ""), normalize_class(p.get("exam_class", ""))), []).append(p)
    rng = random.Random(seed)
    shots = []
    for row in rows:
        cell = cells.get((row.get("exam_type", ""), normalize_class(row.get("exam_class", ""))), [])
        if len(cell) < n:
            raise InputLayoutError(f"{n} shots asked, but val has only {len(cell)} question(s) of "
                                   f"{row.get('exam_type')} / {row.get('exam_class')}")
        shots.append(rng.sample(cell, n))
    return shots


def chat(row: Mapping[str, Any], shots: Iterable[Mapping[str, Any]], cot: bool,
         system: str | None = None) -> list[dict[str, str]]:
    """The messages before the chat template: shots as user/assistant turns, then the question."""
    messages = [{"role": "system", "content": system}] if system else []
    for s in shots:
        messages += [{"role": "user", "content": question_text(s, cot)},
                     {"role": "assistant", "content": shot_answer(s, cot)}]
    messages.append({"role": "user", "content": question_text(row, cot)})
    return messages


def match_choice(text: str) -> str:
    """src/utils.py match_choice: the letters A-G after the first answer statement (possibly none),
    else every capital A-G of the text, in order of appearance."""
    match = _STATEMENT.search(text)
    source = match.group(2) if match else text
    return "".join(c for c in source if c in _LETTERS)


def official_answer(texts: Iterable[str], question_type: str) -> str:
    """extract_ans: match_choice on each return sequence, the first letter only for a
    single-answer question, then the most frequent non-empty choice (ties: first seen)."""
    votes: dict[str, int] = {}
    for text in texts:
        choice = match_choice(str(text or ""))
        if len(choice) > 1 and question_type != MULTI:
            choice = choice[0]
        if choice:
            votes[choice] = votes.get(choice, 0) + 1
    return max(votes, key=votes.__getitem__) if votes else ""


def is_correct(model_answer: str, key_answer: str) -> bool:
    """score.py: exact string equality with the key (no sorting; 'CA' in the key needs 'CA')."""
    return key_answer == model_answer
