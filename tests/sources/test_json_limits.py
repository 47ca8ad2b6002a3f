"""The bounded JSON readers (jsonlimits) on plain bytes: the list splitter agrees with json.loads
wherever a read or a regular-expression window happens to end, and the form sniffing, table-driven."""

from __future__ import annotations

import io
import json

import pytest

from collectivesft import jsonlimits
from collectivesft.jsonlimits import JsonLimits, iter_items, iter_lines, parse_row, sniff

DOCUMENTS = [
    "[]",
    " \n[ ]\n",
    '[{"a": 1}, {"b": [1, 2, {"c": null}]}]',
    '[1, -2.5e3, "x", true, false, null, [], {}]',
    '["brackets ] } [ { and , inside", {"k]": "v}"}]',
    r'["escaped \" quote", "backslash \\", "both \\\" and \\\\", "\\"]',
    r'["\u4e2d\u6587 and \ud83d\ude00", "中文"]',
    '[\r\n  {"crlf": "x"},\r\n  {"y": [[[[1]]]]}\r\n]\r\n',
    "\ufeff" + '[{"bom": 1}]',
]


class Trickle(io.RawIOBase):
    """A stream that returns at most `step` bytes per read (every boundary gets exercised)."""

    def __init__(self, data: bytes, step: int):
        self.data, self.at, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.step, len(self.data) - self.at)
        buf[:n] = self.data[self.at:self.at + n]
        self.at += n
        return n

    def read(self, size=-1) -> bytes:
        n = self.step if size is None or size < 0 else min(size, self.step)
        chunk = self.data[self.at:self.at + n]
        self.at += len(chunk)
        return chunk


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1 << 20])
@pytest.mark.parametrize("window", [2, 3, 5, 1 << 15])
@pytest.mark.parametrize("doc", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_list_items_match_json_loads_at_every_boundary(doc, step, window, monkeypatch):
    monkeypatch.setattr(jsonlimits, "_WINDOW", window)
    units = list(iter_items(Trickle(doc.encode("utf-8"), step)))
    assert [u.problem for u in units] == [None] * len(units)
    assert [u.value for u in units] == json.loads(doc.lstrip("\ufeff"))


@pytest.mark.parametrize("name, doc, values, problems", [
    ("broken item, rest read", '[1, {"a" 2}, 3]', [1, None, 3], [None, "invalid JSON", None]),
    ("NaN item", '[1, {"a": NaN}, 3]', [1, None, 3], [None, "non-finite number NaN", None]),
    ("mismatched bracket closes down", '[{"a": [1}, 2]', [None, 2], ["invalid JSON", None]),
    ("stray closing bracket ends the list", '[{"a": 1]', [None], ["invalid JSON"]),
    ("trailing comma", "[1, 2,]", [1, 2, None], [None, None, "empty item"]),
    ("truncated inside an item", '[1, {"a": "b', [1, None], [None, "file breaks after item 0"]),
    ("truncated before the first item ends", '[{"a": ', [None], ["file breaks before its first item"]),
    ("truncated after a whole item", "[1, 2", [1, 2, None], [None, None, "file breaks after item 1"]),
    ("content after the list", "[1] [2]", [1, None], [None, "content after the list"]),
    ("not a list", '{"a": 1}', [None], ["not a JSON list"]),
    ("too deep", "[1, " + "[" * 70 + "]" * 70 + ", 2]", [1, None, 2], [None, "nested deeper than 64", None]),
    ("deep string brackets are not nesting", '["' + "[" * 70 + '"]', ["[" * 70], [None]),
])
def test_list_problems_are_one_unit_each(name, doc, values, problems):
    units = list(iter_items(io.BytesIO(doc.encode())))
    assert [u.value for u in units] == values
    for unit, expected in zip(units, problems):
        assert (unit.problem is None) if expected is None else expected in unit.problem, (unit, expected)


def test_a_long_string_breaks_the_field_limit_and_is_not_kept():
    limits = JsonLimits(max_field_bytes=1 << 20)
    doc = b'[1, "' + b"\\u4e2d" * 400_000 + b'", 2]'  # 2.4 MB of escapes, one string
    units = list(iter_items(io.BytesIO(doc), limits))
    assert [u.value for u in units] == [1, None, 2] and "max_field_mb" in units[1].problem


@pytest.mark.parametrize("name, text, form", [
    ("pretty-printed list", '[\n  {"a": 1},\n  {"a": 2}\n]\n', "list"),
    ("one-line list", '[{"a": 1}, {"a": 2}]\n', "list"),
    ("JSON lines of objects", '{"a": 1}\n{"a": 2}\n', "lines"),
    ("JSON lines whose rows are lists", '["a", "b"]\n["c"]\n', "lines"),
    ("list whose first line is a whole row", '[["a", "b"],\n["c"]]\n', "list"),
    ("empty file", "", "lines"),
    ("BOM then list", "\ufeff[1,\n2]", "list"),
])
def test_the_content_decides_the_form(name, text, form):
    found, stream = sniff(io.BytesIO(text.encode("utf-8")))
    assert found == form
    assert stream.read() == text.encode("utf-8")  # the sniffed bytes are given again


@pytest.mark.parametrize("name, line, problem", [
    ("fine", b'{"a": [1, {"b": "c"}]}', None),
    ("Infinity", b'{"a": Infinity}', "non-finite number Infinity"),
    ("overflowing float", b'{"a": 1e999}', "non-finite number 1e999"),
    ("lone low surrogate", b'{"a": "\\udc00"}', "lone surrogate"),
    ("escaped backslash before u is text", b'{"a": "\\\\ud800"}', None),
    ("too deep", b"[" * 65 + b"]" * 65, "nested deeper than 64 levels"),
    ("64 deep is fine", b"[" * 64 + b"]" * 64, None),
    ("not utf-8", b'{"a": "\xff"}', "undecodable bytes"),
    ("huge integer", b'{"a": ' + b"9" * 5000 + b"}", "invalid JSON"),
])
def test_one_row_rules(name, line, problem):
    units = list(iter_lines(io.BytesIO(line + b"\n")))
    assert len(units) == 1
    assert (units[0].problem is None) if problem is None else problem in units[0].problem, units[0]
    if problem is None:
        assert units[0].value == parse_row(line)


def test_an_over_long_line_is_skipped_and_the_next_one_read():
    limits = JsonLimits(max_row_bytes=1 << 20)
    data = b'{"a": 1}\n{"b": "' + b"x" * (3 << 20) + b'"}\n{"c": 3}\n'
    units = list(iter_lines(io.BytesIO(data), limits))
    assert [u.at for u in units] == [1, 2, 3] and [u.value for u in units] == [{"a": 1}, None, {"c": 3}]
    assert "row longer than 1 MiB (3 MiB" in units[1].problem
