"""MedQA as the paper's medqajin_to_sft.py writes it: Mainland, Taiwan, US train files, per-region wording."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.sources.base import Reject, Source
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import BadRow, RawRow

# region -> (instruction, answer sentence with {idx}, lang), in the script's reading order.
REGIONS = {
    "Mainland": ("这是国家医学委员会考试的题目。\n\n", "答案是{idx}。", "zh"),
    "Taiwan": ("這是台灣醫師資格考試的題目。\n\n", "答案是{idx}。", "zh"),
    "US": ("This is a question about medical board exams in US.\n\n", "The answer is {idx} .", "en"),
}


@register_paper
class MedQAPaper(PaperRules):
    name, task, lang = "medqa", "mcq", "en"

    def read_raw(self, source: Source, path: Path) -> Iterator[RawRow | BadRow]:
        # questions/<region>/train.jsonl only (not US/4_options, not Taiwan's translations).
        for region in REGIONS:
            reader = type(source)(region=region, split="train", us_options="5")
            try:
                rows = reader.read_raw(path)
                first = next(rows, None)  # the reader looks for the region's file on its first row
            except InputLayoutError as exc:
                raise InputLayoutError(f"--style paper reads all three regions, in the script's order "
                                       f"({', '.join(REGIONS)}): {region} is missing ({exc}). For one region, "
                                       "convert without --style paper (option region=...)") from None
            if first is None:
                continue
            for row in itertools.chain([first], rows):
                if isinstance(row, RawRow):
                    row.data = {"region": region, "row": row.data}
                yield row
            source.notes.update(reader.notes)

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        region, d = row.data["region"], row.data["row"]
        instruction, answer, lang = REGIONS[region]
        try:
            question = f"{d['question']}\n"
            options = d["options"]
            # Letters A, B, ... for as many options as there are: a gap in the letters fails.
            for i in range(len(options)):
                key = chr(ord("A") + i)
                question += f"{key}: {options[key]}\n"
            output = answer.format(idx=d["answer_idx"])
        except (KeyError, TypeError) as exc:
            raise Reject(f"the script fails on this row ({type(exc).__name__}: {exc})") from None
        meta = {"region": region, "answer": f"{d['answer_idx']}", "options": {f"{k}": f"{v}" for k, v in options.items()}}
        return [{"instruction": instruction, "input": question, "output": output, "lang": lang, "meta": meta}]
