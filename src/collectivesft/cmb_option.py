"""The CMB `option` field, read the same way by the cmb source, the evaluator and decontamination.

In the release it is a dict {letter: text}; on the hub it is a string holding that dict,
sometimes JSON and sometimes a Python repr. It is parsed with json.loads, then
ast.literal_eval, which accepts only literals: nothing in the data is ever run.
"""

from __future__ import annotations

import ast
import json
from typing import Any

LETTER_SET = frozenset("ABCDEF")


def parse_option(value: Any) -> dict[str, str]:
    """The `option` field as {letter: text}: a dict, or a string holding one (JSON or Python repr).

    Raises ValueError when it is neither; literal_eval only accepts literals, so nothing runs.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(f"option string is not a dict: {text[:60]!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"option is {type(value).__name__}, expected a dict of letters")
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
        if text:  # the release pads some questions with empty E/F options
            options[key] = text
    keys = list(options)
    return options if keys == sorted(keys) else dict(sorted(options.items()))
