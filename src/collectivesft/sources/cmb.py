"""CMB-Exam train split: 269,359 Chinese medical exam MCQs used as a training source.

Raw release (FreedomIntelligence/CMB, `data/CMB.zip`): CMB-Exam/CMB-train/CMB-train-merge.json,
one JSON list of {exam_type, exam_class, exam_subject, question, answer, question_type
(单项选择题/多项选择题), option: {A..F}}. On the hub the `option` field is a *string* holding
the dict (sometimes JSON, sometimes a Python repr), so it is parsed as JSON (with the limits of
jsonlimits) and then ast.literal_eval — never eval. Multi-answer questions have answers like "ACD".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.benchmarks.cmb.format import MULTI, SINGLE, canonical_answer, is_valid_answer
from collectivesft.benchmarks.cmb.format import parse_option as parse_options
from collectivesft.benchmarks.cmb.layout import QUESTION_FILES
from collectivesft.benchmarks.cmb.load import Question
from collectivesft.benchmarks.cmb.render import training_answer, user_turn
from collectivesft.records import make_record
from collectivesft.sources.base import Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import iter_json_rows, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

TRAIN_FILE = Path(QUESTION_FILES["train"]).name


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
            yield from iter_json_rows(name, fh, limits=self.limits)

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
        if not is_valid_answer(answer):
            raise Reject(f"answer {answer!r} does not match ^[A-F]+$")
        letters = canonical_answer(answer)
        absent = [c for c in letters if c not in options]
        if absent:
            raise Reject(f"answer letter(s) {absent} not among options {list(options)}")
        question = str(d["question"] or "").strip()
        if not question:
            raise Skip("empty question")
        qtype = str(d.get("question_type") or "").strip()
        if qtype == SINGLE and len(letters) > 1:
            self.notes["single-answer question with several answer letters"] += 1
        kind = qtype or (MULTI if len(letters) > 1 else SINGLE)
        q = Question(id=d.get("id"), exam_type=str(d.get("exam_type") or "").strip(),
                     exam_class=str(d.get("exam_class") or "").strip(),
                     exam_subject=str(d.get("exam_subject") or "").strip(), question=question,
                     question_type=kind, options=options, answer=letters,
                     explanation=str(d.get("explanation") or "").strip() or None)

        meta: dict[str, Any] = {k: str(d[k]).strip() for k in ("exam_type", "exam_class", "exam_subject") if d.get(k)}
        meta["question_type"] = kind
        meta["answer"] = letters
        meta["options"] = options
        meta["split"] = "train"
        rid = d.get("id")
        rid = str(rid) if rid not in (None, "") else "train-" + row.where.rsplit("#", 1)[-1]
        return make_record(f"cmb/{rid}", "cmb", "mcq", "zh",
                           [{"role": "user", "content": user_turn(q)},
                            {"role": "assistant", "content": training_answer(q)}], meta)
