"""MedMCQA as the paper's medmcqa_to_sft.py writes it: subject and topic in the prompt, explanation first."""

from __future__ import annotations

from typing import Any

from collectivesft.sources.base import Reject
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import RawRow

CHOICES = ["A", "B", "C", "D"]


@register_paper
class MedMCQAPaper(PaperRules):
    name, task, lang = "medmcqa", "mcq", "en"
    from_hub = True
    reader_options = {"split": "train"}

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("row is not a JSON object")
        get = d.get  # the hub gives None for a missing column
        cop = get("cop")
        # choices[cop]: Python indexing, so -1 is D; anything else outside -4..3 fails in the script.
        if isinstance(cop, bool) or not isinstance(cop, int) or not -4 <= cop <= 3:
            raise Reject(f"cop {cop!r} does not index A-D (the script fails on this row)")
        prompt = f"This is a question about {get('subject_name')} from real-world medical entrance exam.\n"
        prompt += f"The topic is {get('topic_name')}.\n\n" if get("topic_name") is not None else "\n"
        answer = f"The answer is {CHOICES[cop]} ."
        output = f"{get('exp')}\n{answer}" if get("exp") is not None else answer
        question = (f"{get('question')}\nA: {get('opa')}\nB: {get('opb')}\nC: {get('opc')}\nD: {get('opd')}\n")
        options = {key: f"{get('op' + key.lower())}" for key in CHOICES}
        return [{"instruction": prompt, "input": question, "output": output,
                 "meta": {"answer": CHOICES[cop], "options": options}}]
