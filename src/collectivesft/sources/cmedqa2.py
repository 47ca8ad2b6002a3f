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
import csv
import io
import random
import zipfile
from pathlib import Path
from typing import IO, Any, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.fixtures.world import FACTS
from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import iter_csv, iter_members, replay
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
        return iter_members(path, [name], self.info.layout)

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
        return make_record(f"cmedqa2/q{qid}-a{aid}", "cmedqa2", "qa", "zh",
                           [{"role": "user", "content": question}, {"role": "assistant", "content": answer}], meta)

    def write_fixture(self, out_dir: Path, rows: int, rng: random.Random) -> None:
        """question.zip, answer.zip and the three candidate zips, UTF-8 CSVs as released.

        `rows` answers over about rows/2 questions (1-3 answers each). Quirks: contents with
        commas and embedded newlines (quoted), 8 % of questions in no split. Broken: an answer
        whose question is missing, an answer row with bytes that are not UTF-8, an answer row
        missing its content column, an empty answer.
        """
        q_buf, a_buf = io.StringIO(), io.StringIO()
        q_out, a_out = csv.writer(q_buf, lineterminator="\n"), csv.writer(a_buf, lineterminator="\n")
        q_out.writerow(["question_id", "content"])
        a_out.writerow(["ans_id", "question_id", "content"])
        cands = {s: [] for s in SPLITS}
        cands["train"].append("question_id,pos_ans_id,neg_ans_id\n")
        cands["dev"].append("question_id,ans_id,cnt,label\n")
        cands["test"].append("question_id,ans_id,cnt,label\n")
        q_texts = ("我最近{symptom}，是不是得了{disease}？需要做什么检查", "{disease}吃什么药效果好，{drug}可以吗",
                   "孩子{symptom}，去医院查了说是{disease}，\n请问怎么治疗比较好？")
        a_texts = ("你好，{disease}常见表现为{symptom}，一般首选{drug}治疗，建议到{department}就诊。",
                   "根据你的描述，考虑{disease}，可以在医生指导下服用{drug}，\n同时注意休息，多喝水。",
                   "建议先去{department}检查一下，明确是否为{disease}，再对症治疗。")
        ans_id, qid, written = 0, 0, 0
        while written < rows:
            qid += 1
            fact = FACTS[qid % len(FACTS)]
            values = {"symptom": fact.symptom, "disease": fact.disease, "drug": fact.drug,
                      "department": fact.department}
            q_out.writerow([qid, q_texts[qid % 3].format(**values)])
            r = rng.random()
            split = "train" if r < 0.8 else "dev" if r < 0.86 else "test" if r < 0.92 else None
            mine = []
            for k in range(min(1 + qid % 3, rows - written)):
                ans_id += 1
                written += 1
                mine.append(ans_id)
                a_out.writerow([ans_id, qid, a_texts[(qid + k) % 3].format(**values)])
            if split == "train":
                cands["train"] += [f"{qid},{a},{rng.randint(1, rows)}\n" for a in mine]
            elif split:
                cands[split] += [f"{qid},{a},0,1\n" for a in mine]
                cands[split].append(f"{qid},{rng.randint(1, rows)},1,0\n")
        a_out.writerow([ans_id + 1, qid + 999, "这个问题在question.csv里不存在"])  # orphan answer
        a_out.writerow([ans_id + 2, 1, "BADBYTES"])  # bytes patched below: not UTF-8
        a_out.writerow([ans_id + 3, 1])  # content column missing
        a_out.writerow([ans_id + 4, 2, "  "])  # empty answer
        answers = a_buf.getvalue().encode("utf-8").replace(b"BADBYTES", b"\xc3\x28\xa0\xa1")

        def zipped(name: str, member: str, data: bytes) -> None:
            with zipfile.ZipFile(out_dir / name, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                zf.writestr(member, data)

        zipped("question.zip", "question.csv", q_buf.getvalue().encode("utf-8"))
        zipped("answer.zip", "answer.csv", answers)
        for split in SPLITS:
            zipped(f"{split}_candidates.zip", f"{split}_candidates.txt", "".join(cands[split]).encode("utf-8"))
