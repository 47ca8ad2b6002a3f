"""MLEC-QA (Li et al. 2021): Chinese National Medical Licensing Examination MCQs, five subsets.

Raw release: `<Subset>_{train,dev,test}.json` for Subset in Clinic (临床), Stomatology (口腔),
PublicHealth (公共卫生), TCM (中医), CWM (中西医结合); each file one JSON array of
{qid, qtype (A1型题/A2型题/A3型题/A4型题/B1型题), qtext, options {A..E: text}, answer (a letter)}.
The files are pretty-printed with CRLF line ends on some subsets; the JSON reader does not care.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from collectivesft.benchmarks.cmb.format import canonical_answer
from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import checked_rows, iter_json_rows, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

SUBSETS = ("Clinic", "Stomatology", "PublicHealth", "TCM", "CWM")
SUBSET_ZH = {"Clinic": "临床执业医师", "Stomatology": "口腔执业医师", "PublicHealth": "公共卫生执业医师",
             "TCM": "中医执业医师", "CWM": "中西医结合执业医师"}
SPLITS = ("train", "dev", "test")
ANSWER = re.compile(r"^[A-E]+$")
FILE = re.compile(r"(Clinic|Stomatology|PublicHealth|TCM|CWM)_(train|dev|test)\.json$")


@register
class MLECQA(Source):
    info = SourceInfo(
        name="mlecqa",
        title="MLEC-QA (Chinese medical licensing exam MCQs)",
        task="mcq",
        langs=("zh",),
        size="136,236 questions in 5 subsets (Clinic, Stomatology, PublicHealth, TCM, CWM)",
        license="research use (no license file in the release; cite Li et al., EMNLP 2021)",
        homepage="https://github.com/Judenpech/MLEC-QA",
        hub_id=None,
        layout="a folder or zip with <Subset>_{train,dev,test}.json for Subset in Clinic, Stomatology, "
               "PublicHealth, TCM, CWM (each a JSON array of {qid, qtype, qtext, options, answer})",
    )
    options = {
        "subset": Option("all", (*SUBSETS, "all"), "which exam subset(s) to read"),
        "split": Option("train", ("train", "dev", "test", "all"), "which release file(s) to read"),
    }

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        subsets = SUBSETS if self.opts["subset"] == "all" else (self.opts["subset"],)
        splits = SPLITS if self.opts["split"] == "all" else (self.opts["split"],)
        patterns = [f"{s}_{sp}.json" for s in subsets for sp in splits]
        for name, fh in iter_members(path, patterns, self.info.layout):
            yield from checked_rows(iter_json_rows(name, fh, limits=self.limits), name, lambda d: isinstance(d, dict) and any(k in d for k in ("qtext", "qtype", "qid")), "MLEC-QA", self.info.layout)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("question is not a JSON object")
        missing = [k for k in ("qtext", "options", "answer") if k not in d]
        if missing:
            raise Reject(f"missing field(s) {missing}")
        match = FILE.search(row.where.rsplit("#", 1)[0])
        subset, split = (match.group(1), match.group(2)) if match else (d.get("subset"), d.get("split"))
        options = d["options"]
        if not isinstance(options, dict):
            raise Reject(f"options must be an object of letter -> text, got {type(options).__name__}")
        # Fewer than five options show up as empty strings; keep only the real ones.
        options = {str(k).strip().upper(): str(v).strip() for k, v in options.items() if v is not None and str(v).strip()}
        answer = str(d["answer"] or "").strip().upper()
        if not answer:
            raise Reject("empty answer")
        if not ANSWER.match(answer) or any(a not in options for a in answer):
            raise Reject(f"answer {answer!r} is not among the options {''.join(options)}")
        question = str(d["qtext"] or "").strip()
        if not question:
            raise Skip("empty question")
        letters = canonical_answer(answer)
        qtype = str(d.get("qtype") or "").strip()
        exam = SUBSET_ZH.get(subset, "医师资格")
        lines = [f"以下是国家{exam}资格考试的一道{qtype or '选择题'}，请给出正确选项的字母。", "", question, ""]
        lines += [f"{k}. {v}" for k, v in options.items()]
        reply = f"答案是{letters}。" + "；".join(options[a] for a in letters)
        meta: dict[str, Any] = {}
        if subset:
            meta["subset"] = subset
        if qtype:
            meta["qtype"] = qtype
        if split:
            meta["split"] = split
        meta["answer"] = letters
        meta["options"] = options
        qid = str(d.get("qid") or row.where)
        return make_record(f"mlecqa/{subset or 'unknown'}/{qid}", "mlecqa", "mcq", "zh",
                           [{"role": "user", "content": "\n".join(lines)}, {"role": "assistant", "content": reply}],
                           meta)
