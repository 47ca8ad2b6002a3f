"""Chinese medical dialogue data as the paper's cmeddialogue_to_sft.py writes it (title, ask, answer)."""

from __future__ import annotations

from typing import Any

from collectivesft.sources.base import Reject
from collectivesft.sources.paper.rules import DroppedByLlamaFactory, PaperRules, register_paper
from collectivesft.sources.rows import RawRow

# pandas.read_csv's default NA strings: such a cell is NaN there, which LLaMA-Factory reads as null.
PANDAS_NA = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                       "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})


def pandas_cell(value: Any) -> Any:
    """A CSV cell as pandas gives it to the script: None where pandas would give NaN."""
    return None if value is None or (isinstance(value, str) and value in PANDAS_NA) else value


@register_paper
class CMedDialoguePaper(PaperRules):
    # The script globs Data_数据/**/*.csv without recursive=True (one folder level) in listdir
    # order, which no file system fixes; our reader's sorted path order is used instead.
    name, task, lang = "cmeddialogue", "qa", "zh"

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        d = row.data
        if not isinstance(d, dict) or any(k not in d for k in ("title", "ask", "answer")):
            raise Reject("row lacks the columns title, ask, answer")
        answer = pandas_cell(d["answer"])
        if answer is None:
            raise DroppedByLlamaFactory("empty answer (NaN in the script; LLaMA-Factory drops the row)")
        return [{"instruction": pandas_cell(d["title"]), "input": pandas_cell(d["ask"]), "output": answer}]
