"""webMedQA as the paper's webmedqa_to_sft.py writes it: positive answers of medQA.train.txt, date stamps cut."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from collectivesft.sources.base import Reject, Skip, Source
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.readers import iter_members, snippet
from collectivesft.sources.rows import BadRow, RawRow

# The script's pattern: a date glued to a time ("2016-03-0810:21"), removed wherever it occurs.
STAMP = re.compile(r"\d{4}-\d{2}-\d{4}:\d{2}")
COLUMNS = 5
LINE_END = re.compile(rb"\r\n|\r|\n")


def text_lines(data: bytes) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line without its end, had an end) as Python's text mode splits (universal newlines)."""
    start, lineno = 0, 0
    for m in LINE_END.finditer(data):
        lineno += 1
        yield lineno, data[start:m.start()], True
        start = m.end()
    if start < len(data):
        yield lineno + 1, data[start:], False


@register_paper
class WebMedQAPaper(PaperRules):
    name, task, lang = "webmedqa", "qa", "zh"

    def read_raw(self, source: Source, path: Path) -> Iterator[RawRow | BadRow]:
        for name, fh in iter_members(path, ["medQA.train.txt", "medQA_train.txt"], source.info.layout):
            for lineno, raw, ended in text_lines(fh.read()):
                where = f"{name}:{lineno}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield BadRow(where, "undecodable bytes (not utf-8; the script fails on the file)", snippet(raw))
                    continue
                # The line keeps its "\n" (text mode turns \r\n into \n), so the last column ends with it.
                yield RawRow(where, (line + "\n" if ended else line).split("\t"))

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        fields = row.data
        if len(fields) > COLUMNS:
            raise Reject(f"{len(fields)} tab-separated fields where the script's DataFrame takes {COLUMNS}")
        fields = fields + [None] * (COLUMNS - len(fields))
        _, is_answer, _, question, answer = fields
        if is_answer != "1":
            raise Skip("is_answer is not '1' (negative candidate or blank line)")
        if answer is None:
            raise Reject("no answer column (the script fails on this row)")
        return [{"instruction": question, "input": "", "output": STAMP.sub("", answer)}]
