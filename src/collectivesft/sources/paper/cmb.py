"""CMB-Exam train as the paper's cmb_to_sft.py writes it (hub FreedomIntelligence/CMB, exam/train)."""

from __future__ import annotations

from typing import Any

from collectivesft.benchmarks.cmb.format import option_mapping
from collectivesft.sources.base import Reject
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import RawRow

FIELDS = ("exam_type", "exam_class", "exam_subject", "question", "answer", "option")


def option_dict(value: Any) -> dict:
    """The option field as the paper script's own parse sees it, read with the CMB format's parser
    (JSON or a literal, never run); Reject when it holds no dict."""
    try:
        return option_mapping(value)
    except ValueError as exc:
        raise Reject(f"{exc} (the script's parse would fail)") from None


@register_paper
class CMBPaper(PaperRules):
    name, task, lang = "cmb", "mcq", "zh"
    from_hub = True

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("row is not a JSON object")
        missing = [k for k in FIELDS if k not in d]
        if missing:
            raise Reject(f"missing field(s) {missing} (the script fails on this row)")
        options = option_dict(d["option"])
        question = f"{d['question']}\n"
        # Every key, empty texts included, in sorted key order.
        for key in sorted(options):
            question += f"{key}: {options[key]}\n"
        return [{"instruction": f"该问题源自{d['exam_type']}，面向{d['exam_class']}中的{d['exam_subject']}。\n\n",
                 "input": question, "output": f"答案是{d['answer']}。",
                 "meta": {"answer": f"{d['answer']}", "options": {f"{k}": f"{v}" for k, v in options.items()}}}]
