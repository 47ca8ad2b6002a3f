"""cMedQA v2: Chinese community medical QA (120,000 questions, 226,266 answers).

Raw release (zhangsheng93/cMedQA2): zips question.zip (question.csv: question_id,content),
answer.zip (answer.csv: ans_id,question_id,content), train_candidates.zip
(train_candidates.txt: question_id,pos_ans_id,neg_ans_id) and dev_/test_candidates.zip
(question_id,ans_id,cnt,label). Every answer in answer.csv answers its question, so each
(question, answer) pair is one record; the candidate files only say which questions belong
to which split. Questions are indexed in a dict once and answers stream past it (the
paper's own script filtered a DataFrame per question, which is quadratic).
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import IO, Any, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.jsonlimits import replay
from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import is_plain_file, iter_csv, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

SPLITS = ("train", "dev", "test")


def sniff_encoding(fh: IO[bytes], sample: int = 1 << 16) -> tuple[str, IO[bytes]]:
    """("utf-8" or "gb18030", a stream replaying the sample): whichever decodes the start of
    the file with fewer errors, UTF-8 on a tie (re-saved copies of the CSVs circulate in both)."""
    head = fh.read(sample)
    rest = replay(head, fh)
    errors = {enc: codecs.getincrementaldecoder(enc)(errors="replace").decode(head, final=False).count("\ufffd")
              for enc in ("utf-8", "gb18030")}
    return ("gb18030" if errors["gb18030"] < errors["utf-8"] else "utf-8"), rest


@register
class CMedQA2(Source):
    info = SourceInfo(
        name="cmedqa2",
        title="cMedQA v2",
        task="qa",
        langs=("zh",),
        size="120,000 questions / 226,266 answers (108,000 / 203,569 in the train/dev/test splits)",
        license="research use; cite Zhang et al. 2018 (no license file)",
        homepage="https://github.com/zhangsheng93/cMedQA2",
        hub_id=None,
        layout="the cMedQA2 folder with question.zip/answer.zip (question.csv, answer.csv) and "
               "train_/dev_/test_candidates.zip, zipped or unzipped",
    )
    options = {"split": Option("all", ("all", *SPLITS),
                               "all pairs, or only questions listed in that split's candidate file")}

    def _open_one(self, path: Path, name: str) -> Iterator[tuple[str, IO[bytes]]]:
        # A pair joins two files, so one plain file cannot be converted on its own.
        if is_plain_file(path):
            raise InputLayoutError(f"{path}: cMedQA2 pairs join question.csv, answer.csv and the candidate "
                                   f"files, so give the folder (or a zip) holding them; expected {self.info.layout}")
        return iter_members(path, [name], self.info.layout, any_name=False)

    def _split_of_questions(self, path: Path) -> dict[str, str]:
        """question_id -> split, from whichever candidate files the input holds."""
        split_of: dict[str, str] = {}
        wanted = self.opts["split"]
        for split in SPLITS:
            try:
                for name, fh in self._open_one(path, f"{split}_candidates.txt"):
                    text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
                    next(text, None)  # header
                    for line in text:
                        qid = line.split(",", 1)[0].strip()
                        if qid:
                            split_of.setdefault(qid, split)
            except InputLayoutError:
                if split == wanted:
                    raise InputLayoutError(f"option split={wanted} needs {split}_candidates.txt "
                                           f"(or {split}_candidates.zip) under {path}") from None
        return split_of

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        yield from self._read_pairs(Path(path))

    def _read_pairs(self, path: Path) -> Iterator[RawRow | BadRow]:
        split_of = self._split_of_questions(path)
        wanted = self.opts["split"]
        questions: dict[str, str] = {}
        for name, fh in self._open_one(path, "question.csv"):
            encoding, fh = sniff_encoding(fh)
            for row in iter_csv(name, fh, encoding=encoding, required=("question_id", "content")):
                if isinstance(row, BadRow):
                    yield row  # counted here; its answers are quarantined as orphans below
                    continue
                qid = row.data["question_id"].strip()
                if qid in questions:
                    self.notes["duplicate question_id in question.csv (first kept)"] += 1
                    continue
                questions[qid] = row.data["content"]
        outside = 0
        for name, fh in self._open_one(path, "answer.csv"):
            encoding, fh = sniff_encoding(fh)
            for row in iter_csv(name, fh, encoding=encoding, required=("ans_id", "question_id", "content")):
                if isinstance(row, RawRow):
                    qid = row.data["question_id"].strip()
                    if wanted != "all" and split_of.get(qid) != wanted:
                        outside += 1  # not a unit of this conversion: the option excludes it
                        continue
                    row.data["question"] = questions.get(qid)
                    row.data["split"] = split_of.get(qid)
                yield row
        if outside:
            self.notes[f"answers outside split {wanted!r} (not read)"] += outside

    def read_hub(self, hub_id: str) -> Iterator[RawRow | BadRow]:
        """The pairs only exist after joining two files, and no hub copy keeps them apart."""
        raise InputLayoutError(f"cMedQA2 has no hub dataset in its released layout ({hub_id!r} not loaded); "
                               f"use --input with {self.info.layout}")

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        qid, aid = d["question_id"].strip(), d["ans_id"].strip()
        if d.get("question") is None:
            raise Reject(f"question_id {qid!r} not in question.csv")
        question = d["question"].strip()
        answer = d["content"].strip()
        if not answer:
            raise Reject("empty answer")
        if not question:
            raise Skip("empty question")
        meta: dict[str, Any] = {"question_id": qid, "ans_id": aid}
        if d.get("split"):
            meta["split"] = d["split"]
        else:
            # The candidate files list only part of the questions (the rest are in no split).
            self.notes["question in no train/dev/test candidates file (meta.split left out)"] += 1
        return make_record(f"cmedqa2/q{qid}-a{aid}", "cmedqa2", "qa", "zh",
                           [{"role": "user", "content": question}, {"role": "assistant", "content": answer}], meta)
