"""HEAD-QA as the paper's headqa_to_sft.py writes it: English, train split, image questions kept."""

from __future__ import annotations

from typing import Any

from collectivesft.sources.base import Reject
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import RawRow


def letter(number: Any) -> str:
    """chr(ord('A') + n - 1), with no range check (the script writes 'G' for ra = 7)."""
    return chr(ord("A") + int(str(number).strip()) - 1)


@register_paper
class HeadQAPaper(PaperRules):
    name, task, lang = "headqa", "mcq", "en"
    from_hub = True
    reader_options = {"lang": "en", "split": "train"}

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        d = row.data
        # The hub's head_qa.py strips category, qtext and every atext before the script sees them.
        try:
            prompt = (f"This is a question about {str(d['category']).strip()} from exams to access a specialized "
                      f"position in healthcare system.\n\n")
            question = f"{d['qtext'].strip()}\n"
            options = [(letter(option["aid"]), option["atext"].strip()) for option in d["answers"]]
            for key, text in options:  # a list: a repeated aid prints twice, as in the script
                question += f"{key}: {text}\n"
            output = f"The answer is {letter(d['ra'])} ."
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise Reject(f"the hub build or the script fails on this row ({type(exc).__name__}: {exc})") from None
        return [{"instruction": prompt, "input": question, "output": output,
                 "meta": {"answer": letter(d["ra"]), "options": dict(options)}}]
