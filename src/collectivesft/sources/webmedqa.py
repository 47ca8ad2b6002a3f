"""webMedQA (He et al. 2019): Chinese health questions from Baidu Doctor / 120ask with answers.

Raw release: train.zip / valid.zip / test.zip, each holding one tab-separated text file
(`medQA.train.txt`, `medQA.valid.txt`, `medQA.test.txt`; unzipped copies also circulate as
`medQA_train.txt`), no header, five columns: department, is_answer (1 = the accepted answer,
0 = one of four sampled negative answers), question_id, question, answer. Fields are not quoted
(a `"` is just a character), so this is split on tabs, not parsed as CSV. Many answers end with
the post's date and time glued together ("2016-03-0810:21"): it is stripped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any, Iterator

from collectivesft.jsonlimits import JsonLimits, bounded_lines
from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import SOURCE_LIMITS, checked_rows, iter_members, snippet
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

COLUMNS = ("department", "is_answer", "question_id", "question", "answer")
SPLIT_FILES = {"train": "medQA?train.txt", "valid": "medQA?valid.txt", "test": "medQA?test.txt"}
STAMP = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s?\d{2}:\d{2}(?::\d{2})?\s*$")


def iter_tsv(name: str, fh: IO[bytes], columns: tuple[str, ...],
             limits: JsonLimits = SOURCE_LIMITS) -> Iterator[RawRow | BadRow]:
    """One RawRow (a dict) per tab-separated line; extra tabs stay in the last column. A line
    longer than the row limit is a BadRow, read past in bounded pieces."""
    last = len(columns) - 1
    for lineno, raw, oversize in bounded_lines(fh, limits.max_row_bytes):
        where = f"{name}:{lineno}"
        if oversize:
            yield BadRow(where, limits.row_reason(oversize), snippet(raw))
            continue
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield BadRow(where, "undecodable bytes (not utf-8)", snippet(raw))
            continue
        fields = line.split("\t", last)
        if len(fields) < len(columns):
            yield BadRow(where, f"missing column(s) {list(columns[len(fields):])}", snippet(line))
            continue
        yield RawRow(where, dict(zip(columns, fields)))


@register
class WebMedQA(Source):
    info = SourceInfo(
        name="webmedqa",
        title="webMedQA (Chinese online medical QA)",
        task="qa",
        langs=("zh",),
        size="63,284 questions (50,610 train / 6,337 valid / 6,337 test), 1 accepted + 4 negative answers each",
        license="research use (no license file; answers scraped from Baidu Doctor and 120ask)",
        homepage="https://github.com/hejunqing/webMedQA",
        hub_id=None,
        layout="train.zip/valid.zip/test.zip (or their medQA.{train,valid,test}.txt): tab-separated "
               "department, is_answer, question_id, question, answer; no header",
    )
    options = {"split": Option("train", ("train", "valid", "test", "all"), "which release file(s) to read")}

    def __init__(self, **options: str):
        super().__init__(**options)
        self._seen: dict[str, int] = {}

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        split = self.opts["split"]
        patterns = list(SPLIT_FILES.values()) if split == "all" else [SPLIT_FILES[split]]
        for name, fh in iter_members(path, patterns, self.info.layout):
            yield from checked_rows(iter_tsv(name, fh, COLUMNS, self.limits), name, None, "webMedQA", self.info.layout)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        try:
            flag = str(d["is_answer"]).strip()
        except (KeyError, TypeError):
            raise Reject(f"row must have the columns {list(COLUMNS)}") from None
        # Four of every five lines are negatives: decide on them before anything else.
        if flag == "0":
            raise Skip("negative answer candidate (is_answer=0)")
        if any(k not in d for k in COLUMNS):
            raise Reject(f"row must have the columns {list(COLUMNS)}")
        if flag != "1":
            raise Reject(f"is_answer {flag!r} is not 1 or 0")
        question = str(d["question"] or "").strip()
        answer = str(d["answer"] or "").strip()
        stripped = STAMP.sub("", answer)
        if stripped != answer:
            self.notes["post date stripped from answer"] += 1
            answer = stripped
        if not answer:
            raise Reject("empty answer")
        if not question:
            raise Skip("empty question")
        qid = str(d["question_id"]).strip() or row.where
        split = next((s for s in SPLIT_FILES if f"{s}.txt" in row.where or f"/{s}/" in row.where), None)
        key = f"{split or 'unknown'}/{qid}"
        n = self._seen.get(key, 0) + 1
        self._seen[key] = n
        meta: dict[str, Any] = {}
        if d["department"].strip():
            meta["department"] = d["department"].strip()
        meta["question_id"] = qid
        if split:
            meta["split"] = split
        rid = f"webmedqa/{key}" + (f"-a{n}" if n > 1 else "")
        return make_record(rid, "webmedqa", "qa", "zh",
                           [{"role": "user", "content": question}, {"role": "assistant", "content": answer}], meta)
