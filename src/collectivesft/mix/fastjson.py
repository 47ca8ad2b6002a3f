"""Records read and written with orjson where its bytes and values are exactly Python json's.

The mix parses every input line once or twice and writes every chosen record in several
formats; Python's json module was a quarter of that time. orjson parses and writes the same
values and bytes as the slow path below, except where it is told apart here:

- reading: a row that is not plainly within jsonlimits' bounds (more than max_depth brackets,
  a huge row) or holds a run of 19+ digits (orjson reads integers beyond 64 bits as floats)
  goes through jsonlimits.parse_text, as does every row orjson refuses, so an unreadable
  row gets the same reason as before and a valid one the same value;
- writing: orjson spells floats its own way (1e-7 where json writes 1e-07), so a value holding
  a float is written by collectivesft.io.dumps, and so is one with an integer beyond 64 bits
  (orjson refuses it). Strings (every code point, escapes included), integers, booleans,
  null and key order come out byte for byte as io.dumps writes them (checked by
  tests/mix/test_mix_digests.py and tests/mix/test_fast_paths.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from collectivesft.io import dumps
from collectivesft.jsonlimits import DEFAULT_LIMITS, parse_text

# A run of 19 digits, found by mapping every byte to "0" (digit) or "." (anything else): a
# translate and a substring search cost a tenth of re's search for [0-9]{19}.
_DIGITS = bytes(0x30 if 0x30 <= c <= 0x39 else 0x2E for c in range(256))
_LONG_RUN = b"0" * 19
_MAX_FAST_BYTES = min(DEFAULT_LIMITS.max_field_bytes, DEFAULT_LIMITS.max_row_bytes) // 4


def loads_line(raw: bytes) -> Any:
    """The JSON value of one UTF-8 line, as jsonlimits.parse_text gives it (RowError if unreadable;
    UnicodeDecodeError if the line is not UTF-8)."""
    if (len(raw) <= _MAX_FAST_BYTES and raw.count(b"[") + raw.count(b"{") <= DEFAULT_LIMITS.max_depth
            and _LONG_RUN not in raw.translate(_DIGITS)):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the slow path says why, in jsonlimits' words
    return parse_text(raw.decode("utf-8"))


def _has_float(obj: Any) -> bool:
    stack = [obj]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            continue
        if kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is float:
            return True
    return False


def dumps_bytes(obj: Any) -> bytes:
    """io.dumps(obj) encoded as UTF-8 (compact, non-ASCII kept), computed by orjson where identical."""
    if not _has_float(obj):
        try:
            return orjson.dumps(obj)
        except TypeError:  # an integer beyond 64 bits
            pass
    return dumps(obj).encode("utf-8")


def dumps_strings(obj: Any) -> bytes:
    """dumps_bytes for a value made only of dicts, lists and strings (exports' rows)."""
    return orjson.dumps(obj)
