"""NLPEC as the paper's nlpec_to_sft.py writes it: subject in the prompt, the evidence before the answer."""

from __future__ import annotations

from typing import Any

from collectivesft.sources.base import Reject
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import RawRow

PROMPT = "这是国家药品监督管理局执业药师资格认证考试的题目。\n"


@register_paper
class NLPECPaper(PaperRules):
    name, task, lang = "nlpec", "mcq", "zh"
    reader_options = {"split": "train"}

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        d = row.data
        try:
            # The key's presence decides, whatever its value.
            prompt = f"{PROMPT}源自{d['subject']}\n\n" if "subject" in d else f"{PROMPT}\n"
            options, context = d["option"], d["context"]
            if len(options) != len(context):
                raise Reject(f"{len(options)} options but {len(context)} evidence passages (the script asserts equal)")
            if len(set(context)) == 1:
                explain = context[0]
            else:
                explain = "\n".join(f"{o}：{c}" for o, c in zip(options, context))
            letters = "".join(chr(ord("A") + int(c) - 1) for c in d["answer"])
            question = f"{d['questionText']}\n"
            for j, option in enumerate(options):
                question += f"{chr(ord('A') + j)}: {option}\n"
        except (KeyError, TypeError, ValueError) as exc:
            raise Reject(f"the script fails on this row ({type(exc).__name__}: {exc})") from None
        meta = {"answer": letters, "options": {chr(ord("A") + j): f"{o}" for j, o in enumerate(options)}}
        return [{"instruction": prompt, "input": question, "output": f"{explain}\n答案是{letters}。", "meta": meta}]
