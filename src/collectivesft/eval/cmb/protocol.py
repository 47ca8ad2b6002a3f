"""The two CMB-Exam protocols, side by side: which chats a model gets and how answers are graded.

`official` reproduces the CMB repository's scripts (eval/cmb/official.py); `collectivesft` is
our wording, robust extraction and letter-set comparison (the default). Every score file says
which one produced it.
"""

from __future__ import annotations

from typing import Any, Sequence

from collectivesft.benchmarks.cmb.format import canonical_answer
from collectivesft.benchmarks.cmb.load import Question
from collectivesft.errors import ConfigError
from collectivesft.eval.cmb import official
from collectivesft.eval.cmb.prompts import build_chat, pick_shots

PROTOCOLS = ("official", "collectivesft")
DEFAULT = "collectivesft"
FEWSHOT_SEED = 42


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown CMB protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return protocol


def default_cot(protocol: str) -> bool:
    """CoT is on by default for the official protocol (generate_answers.sh passes --use_cot)."""
    return protocol == "official"


def chats(questions: Sequence[Question], pool: Sequence[Question], protocol: str, shots: int = 0,
          cot: bool = False, system: str | None = None, seed: int = FEWSHOT_SEED) -> list[list[dict[str, str]]]:
    """The messages (before the chat template) for each question, in order.

    Official shots are drawn for the questions in the order given, so pass the whole split
    (then cut) to get the draws a full run gets."""
    check_protocol(protocol)
    if protocol == "official":
        drawn = official.draw_shots([q.raw for q in questions], [p.raw for p in pool], shots, seed)
        return [official.chat(q.raw, s, cot, system) for q, s in zip(questions, drawn)]
    return [build_chat(q, pick_shots(q, list(pool), shots), cot, system) for q in questions]


def is_correct(model_answer: str, key_answer: str, protocol: str) -> bool:
    """Official: the exact string of the key ('CA' needs 'CA'); collectivesft: the same letter set."""
    if protocol == "official":
        return official.is_correct(model_answer, key_answer)
    return bool(model_answer) and canonical_answer(model_answer) == canonical_answer(key_answer)


def describe(protocol: str) -> dict[str, Any]:
    """What scores.json records about the protocol that produced it."""
    if protocol == "official":
        return {"protocol": "official", "extraction": "match_choice + first letter for single-answer + majority vote",
                "correct": "exact string equality with the key"}
    return {"protocol": "collectivesft", "extraction": "extract_answer (echo of the option list = no answer)",
            "correct": "same letter set as the key"}


def write_prompts(data: str, split: str, protocol: str, out: str, cot: bool | None = None, shots: int = 0,
                  seed: int = FEWSHOT_SEED, system: str | None = None, limit: int | None = None) -> int:
    """`eval cmb-prompts`: one JSONL line {"id", "messages"} per question, the messages a model
    would get before its chat template; no model is loaded. Returns the number of lines."""
    from collectivesft.benchmarks.cmb.load import load_questions
    from collectivesft.io import write_jsonl

    check_protocol(protocol)
    questions = load_questions(data, split)
    pool = load_questions(data, "val") if shots else []
    messages = chats(questions, pool, protocol, shots, default_cot(protocol) if cot is None else cot, system, seed)
    rows = [{"id": q.id, "messages": m} for q, m in zip(questions, messages)][: limit or None]
    write_jsonl(out, rows)
    return len(rows)
