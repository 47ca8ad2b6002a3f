"""webMedQA (He et al. 2019): Chinese health questions from Baidu Doctor / 120ask with answers.

Raw release: train.zip / valid.zip / test.zip, each holding one tab-separated text file
(`medQA.train.txt`, `medQA.valid.txt`, `medQA.test.txt`; unzipped copies also circulate as
`medQA_train.txt`), no header, five columns: department, is_answer (1 = the accepted answer,
0 = one of four sampled negative answers), question_id, question, answer. Fields are not quoted
(a `"` is just a character), so this is split on tabs, not parsed as CSV. Many answers end with
the post's date and time glued together ("2016-03-0810:21"): it is stripped.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from pathlib import Path
from typing import IO, Any, Iterator

from collectivesft.fixtures.world import FACTS
from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import checked_rows, iter_members, snippet
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

COLUMNS = ("department", "is_answer", "question_id", "question", "answer")
SPLIT_FILES = {"train": "medQA?train.txt", "valid": "medQA?valid.txt", "test": "medQA?test.txt"}
STAMP = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s?\d{2}:\d{2}(?::\d{2})?\s*$")
# Coarse departments of the release.
DEPARTMENTS = ("内科", "外科", "妇产科", "儿科", "皮肤性病科", "五官科", "男科", "其他")


def iter_tsv(name: str, fh: IO[bytes], columns: tuple[str, ...]) -> Iterator[RawRow | BadRow]:
    """One RawRow (a dict) per tab-separated line; extra tabs stay in the last column."""
    last = len(columns) - 1
    # Zip members read line by line are slow; a large buffer in front makes it ~3x faster.
    for lineno, raw in enumerate(io.BufferedReader(fh, 1 << 20) if isinstance(fh, zipfile.ZipExtFile) else fh, 1):
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        where = f"{name}:{lineno}"
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
            yield from checked_rows(iter_tsv(name, fh, COLUMNS), name, None, "webMedQA", self.info.layout)

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

    def write_fixture(self, out_dir: Path, rows: int, rng: random.Random) -> None:
        """train.zip/valid.zip/test.zip, each one TSV: per question one accepted and four negative
        answers (rows = accepted answers in train). Broken train lines: a missing column, an
        is_answer that is neither 1 nor 0, an empty answer, a line in GBK."""
        qid = [100000]

        def question_lines(positive_only_broken: bool = False) -> list[bytes]:
            qid[0] += 1
            fact = rng.choice(FACTS)
            dept = rng.choice(DEPARTMENTS)
            q = f"我最近{fact.symptom}，去医院说可能是{fact.disease}，请问该怎么治疗？"
            good = f"{fact.disease}一般首选{fact.drug}治疗，建议到{fact.department}就诊，遵医嘱用药。"
            if rng.random() < 0.5:
                good += f"2016-0{rng.randint(1, 9)}-{rng.randint(10, 28)}{rng.randint(10, 23)}:{rng.randint(10, 59)}"
            negatives = [f"{o.disease}可以用{o.drug}，注意休息。" for o in rng.sample(FACTS, 4) if o is not fact]
            lines = [f"{dept}\t1\t{qid[0]}\t{q}\t{good}"] + [f"{dept}\t0\t{qid[0]}\t{q}\t{n}" for n in negatives]
            return [line.encode("utf-8") for line in lines]

        def archive(split: str, n: int, broken: bool) -> None:
            lines: list[bytes] = []
            for _ in range(n):
                lines += question_lines()
            if broken:
                fact = rng.choice(FACTS)
                bad = [f"内科\t1\t{qid[0] + 1}\t{fact.disease}能根治吗？",  # answer column missing
                       f"内科\tx\t{qid[0] + 2}\t{fact.disease}吃什么药？\t{fact.drug}",
                       f"外科\t1\t{qid[0] + 3}\t{fact.disease}要手术吗？\t  "]
                qid[0] += 3
                encoded = [b.encode("utf-8") for b in bad]
                encoded.append(f"内科\t1\t{qid[0] + 1}\t{fact.symptom}怎么办\t去{fact.department}看看".encode("gbk"))
                qid[0] += 1
                for i, b in enumerate(encoded):
                    lines.insert((i + 1) * len(lines) // 5, b)
            data = b"\r\n".join(lines) + b"\r\n"  # the release was made on Windows
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                info = zipfile.ZipInfo(f"medQA.{split}.txt", date_time=(2019, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
            (out_dir / f"{split}.zip").write_bytes(buf.getvalue())

        archive("train", rows, broken=True)
        archive("valid", max(2, rows // 10), broken=False)
        archive("test", max(2, rows // 10), broken=False)
