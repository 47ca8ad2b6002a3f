"""MLEC-QA as the paper's mlecqa_to_sft.py writes it: the five train files in the script's subset order."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.sources.base import Reject, Source
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import BadRow, RawRow

SUBSETS = ("Clinic", "Stomatology", "PublicHealth", "TCM", "CWM")  # the script's order, not sorted


@register_paper
class MLECQAPaper(PaperRules):
    name, task, lang = "mlecqa", "mcq", "zh"

    def read_raw(self, source: Source, path: Path) -> Iterator[RawRow | BadRow]:
        for subset in SUBSETS:
            reader = type(source)(subset=subset, split="train")
            yield from reader.read_raw(path)
            source.notes.update(reader.notes)

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        d = row.data
        try:
            output = f"答案是{d['answer']}。"
            options = d["options"]
            question = f"{d['qtext']}\n"
            for key in sorted(options.keys()):
                question += f"{key}: {options[key]}\n"
        except (KeyError, TypeError, AttributeError) as exc:
            raise Reject(f"the script fails on this row ({type(exc).__name__}: {exc})") from None
        meta = {"answer": f"{d['answer']}", "options": {f"{k}": f"{v}" for k, v in options.items()}}
        return [{"instruction": "这是国家医师资格考试的题目。\n\n", "input": question, "output": output, "meta": meta}]
