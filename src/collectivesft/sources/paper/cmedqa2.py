"""cMedQA2 as the paper's cmedqa2_to_sft.py writes it: every answer of every train_candidates question."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.sources.base import Source
from collectivesft.sources.cmedqa2 import sniff_encoding
from collectivesft.sources.paper.cmeddialogue import pandas_cell
from collectivesft.sources.paper.rules import DroppedByLlamaFactory, PaperRules, register_paper
from collectivesft.sources.readers import iter_csv, iter_members
from collectivesft.sources.rows import BadRow, RawRow


def question_key(qid: str) -> tuple[int, Any]:
    """pandas reads the ids as integers ("007" == 7) and groupby sorts them ascending."""
    text = qid.strip()
    return (0, int(text)) if text.lstrip("-").isdigit() else (1, text)


@register_paper
class CMedQA2Paper(PaperRules):
    name, task, lang = "cmedqa2", "qa", "zh"

    def read_raw(self, source: Source, path: Path) -> Iterator[RawRow | BadRow]:
        layout = source.info.layout
        train: set[tuple[int, Any]] = set()
        for name, fh in iter_members(path, ["train_candidates.txt"], layout):
            for row in iter_csv(name, fh, required=("question_id",)):
                if isinstance(row, RawRow):
                    train.add(question_key(row.data["question_id"]))
        questions: dict[tuple[int, Any], list[str | None]] = {}
        for name, fh in iter_members(path, ["question.csv"], layout):
            encoding, fh = sniff_encoding(fh)
            for row in iter_csv(name, fh, encoding=encoding, required=("question_id", "content")):
                if isinstance(row, BadRow):
                    yield row
                    continue
                key = question_key(row.data["question_id"])
                if key in train:
                    questions.setdefault(key, []).append(pandas_cell(row.data["content"]))
        units: list[tuple[tuple[int, Any], RawRow]] = []
        for name, fh in iter_members(path, ["answer.csv"], layout):
            encoding, fh = sniff_encoding(fh)
            for row in iter_csv(name, fh, encoding=encoding, required=("ans_id", "question_id", "content")):
                if isinstance(row, BadRow):
                    yield row
                    continue
                key = question_key(row.data["question_id"])
                if key not in questions:
                    # The script's inner merge with the train questions drops it without a trace.
                    source.notes["answers of questions not in train_candidates/question.csv (not read)"] += 1
                    continue
                row.data["questions"] = questions[key]
                units.append((key, row))
        # groupby('question_id'): ascending id, answers in answer.csv order (sorted is stable).
        for _, row in sorted(units, key=lambda unit: unit[0]):
            yield row

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        answer = pandas_cell(row.data["content"])
        copies = row.data["questions"]
        if answer is None:
            raise DroppedByLlamaFactory("empty answer (NaN in the script; LLaMA-Factory drops the row)", len(copies))
        # A question_id listed twice in question.csv joins every answer twice (the merge).
        return [{"instruction": copies[0], "input": "", "output": answer} for _ in copies]
