"""CMB-Exam train split: 269,359 Chinese medical exam MCQs used as a training source.

Raw release (FreedomIntelligence/CMB, `data/CMB.zip`): CMB-Exam/CMB-train/CMB-train-merge.json,
one JSON list of {exam_type, exam_class, exam_subject, question, answer, question_type
(单项选择题/多项选择题), option: {A..F}}. On the hub the `option` field is a *string* holding
the dict (sometimes JSON, sometimes a Python repr), so it is parsed with json.loads and then
ast.literal_eval — never eval. Multi-answer questions have answers like "ACD".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from collectivesft.cmb_option import parse_option as parse_options
from collectivesft.records import make_record
from collectivesft.sources.base import Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import iter_json_list, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

ANSWER_RE = re.compile(r"^[A-F]+$")
OPTION_LETTERS = "ABCDEF"
LETTER_SET = frozenset(OPTION_LETTERS)
TRAIN_FILE = "CMB-train-merge.json"


@register
class CMB(Source):
    info = SourceInfo(
        name="cmb",
        title="CMB-Exam (train split)",
        task="mcq",
        langs=("zh",),
        size="269,359 train questions (CMB-Exam; plus 280 val, 11,200 test)",
        license="Apache-2.0 (hub card); research use, cite Wang et al. 2023",
        homepage="https://github.com/FreedomIntelligence/CMB",
        hub_id="FreedomIntelligence/CMB",
        layout="CMB.zip or its folder with CMB-Exam/CMB-train/CMB-train-merge.json (a JSON list of "
               "exam_type, exam_class, exam_subject, question, answer, question_type, option)",
    )

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        for name, fh in iter_members(path, [TRAIN_FILE], self.info.layout):
            yield from iter_json_list(name, fh)

    def read_hub(self, hub_id: str) -> Iterator[RawRow | BadRow]:
        from collectivesft.sources.readers import iter_hub_rows

        # The hub repo has configs 'exam' and 'clin'; a local folder in hub layout has none.
        name = None if Path(hub_id).exists() else "exam"
        yield from iter_hub_rows(hub_id, split="train", name=name)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("row is not a JSON object")
        missing = [k for k in ("question", "answer", "option") if k not in d]
        if missing:
            raise Reject(f"missing field(s) {missing}")
        try:
            options = parse_options(d["option"])
        except ValueError as exc:
            raise Reject(str(exc)) from None
        answer = "" if d["answer"] is None else str(d["answer"]).strip()
        if not answer:
            raise Reject("empty answer")
        if not ANSWER_RE.match(answer):
            raise Reject(f"answer {answer!r} does not match ^[A-F]+$")
        letters = "".join(sorted(set(answer)))
        absent = [c for c in letters if c not in options]
        if absent:
            raise Reject(f"answer letter(s) {absent} not among options {list(options)}")
        question = str(d["question"] or "").strip()
        if not question:
            raise Skip("empty question")
        qtype = str(d.get("question_type") or "").strip()
        if qtype == "单项选择题" and len(letters) > 1:
            self.notes["single-answer question with several answer letters"] += 1

        exam_type, exam_class = str(d.get("exam_type") or "").strip(), str(d.get("exam_class") or "").strip()
        where = (exam_type or "医学考试") + (f"（{exam_class}）" if exam_class else "")
        kind = qtype or ("多项选择题" if len(letters) > 1 else "单项选择题")
        hint = "可能有多个正确选项，请给出全部正确选项的字母" if kind == "多项选择题" else "请给出正确选项的字母"
        lines = [f"下面是一道{where}的{kind}，{hint}。", "", question, ""]
        lines += [f"{k}. {v}" for k, v in options.items()]
        reply = f"答案是{letters}。\n" + "\n".join(f"{c}. {options[c]}" for c in letters)
        explanation = str(d.get("explanation") or "").strip()
        if explanation:
            reply += f"\n解析：{explanation}"

        meta: dict[str, Any] = {k: str(d[k]).strip() for k in ("exam_type", "exam_class", "exam_subject") if d.get(k)}
        meta["question_type"] = kind
        meta["answer"] = letters
        meta["options"] = options
        meta["split"] = "train"
        rid = d.get("id")
        rid = str(rid) if rid not in (None, "") else "train-" + row.where.rsplit("#", 1)[-1]
        return make_record(f"cmb/{rid}", "cmb", "mcq", "zh",
                           [{"role": "user", "content": "\n".join(lines)},
                            {"role": "assistant", "content": reply}], meta)
