"""CMB's formats: option fields, answers, question types, ids and exam-class names.

The `option` field is a dict {letter: text} in the release and a string holding that dict on
the hub (sometimes JSON, sometimes a Python repr). It is parsed as JSON (bounded, jsonlimits), then
ast.literal_eval, which accepts only literals: nothing in the data is ever run.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from collectivesft.jsonlimits import RowError, has_surrogates, parse_text

LETTERS = "ABCDEF"
LETTER_SET = frozenset(LETTERS)
SINGLE = "单项选择题"
MULTI = "多项选择题"
QUESTION_TYPES = (SINGLE, MULTI)
# The six exam types of CMB-Exam with English glosses (a column beside the Chinese names).
TYPE_LABELS = {
    "医师考试": "Physician", "护理考试": "Nursing", "药师考试": "Pharmacist",
    "医技考试": "Med. technician", "专业知识考试": "Specialist knowl.", "医学考研": "Postgrad entrance",
}
# The answer-validity rule of the official key: one or more option letters, nothing else.
VALID_ANSWER = re.compile(r"^[A-F]+$")


def is_valid_answer(answer: Any) -> bool:
    """True for an answer string the official key would hold ('A', 'ACD'); False for '', 'G', None."""
    return isinstance(answer, str) and bool(VALID_ANSWER.match(answer))


def canonical_answer(answer: str) -> str:
    """'DB' -> 'BD': an answer is a set of letters; the canonical form is sorted, no repeats."""
    return "".join(sorted(set(answer)))


def id_key(value: Any) -> str:
    """Ids are compared as text: 7 and "7" name the same question."""
    return str(value).strip()


def id_problem(value: Any) -> str | None:
    """Why `value` cannot be a question id (ids are integers or non-blank texts), or None.
    A float id (1.0 from a spreadsheet) would compare as "1.0" and silently match nothing."""
    if isinstance(value, str) and value.strip() or isinstance(value, int) and not isinstance(value, bool):
        return None
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f"'id' must be an integer or a text, got {type(value).__name__} {shown}"


def normalize_class(name: str) -> str:
    """Class names that differ only by 和/与 (releases spell them both ways) are one class."""
    return str(name).strip().replace("与", "和")


def option_mapping(value: Any) -> dict[Any, Any]:
    """The `option` field as published: a dict, or the dict a string holds (JSON or Python repr),
    keys and texts untouched, in file order (the official prompt shows exactly these)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = parse_text(text)  # bounded: depth, NaN, lone surrogates (jsonlimits)
        except RowError as exc:
            if not exc.reason.startswith("invalid JSON"):
                raise ValueError(f"option string: {exc.reason}") from None
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(f"option string is not a dict: {text[:60]!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"option is {type(value).__name__}, expected a dict of letters")
    for text in value.values():
        if isinstance(text, str) and has_surrogates(text):  # a Python repr can spell '\ud800'
            raise ValueError("option text holds a lone surrogate (no character)")
    return dict(value)


def parse_option(value: Any) -> dict[str, str]:
    """The `option` field as {letter: text} in letter order: a dict, or a string holding one.

    Empty texts are dropped (the release pads some questions with '' E/F options).
    Raises ValueError when it is neither; literal_eval only accepts literals, so nothing runs.
    """
    value = option_mapping(value)
    options: dict[str, str] = {}
    for key, text in value.items():
        if key not in LETTER_SET:  # tolerate " a" style keys; the release uses "A".."F"
            letter = str(key).strip().upper()
            if letter not in LETTER_SET:
                raise ValueError(f"option key {key!r} is not a letter A-F")
            key = letter
        if text is None:
            continue
        text = (text if isinstance(text, str) else str(text)).strip()
        if text:
            options[key] = text
    return dict(sorted(options.items()))
