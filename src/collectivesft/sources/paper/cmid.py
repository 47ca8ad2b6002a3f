"""CMID as the paper's cmid_to_sft.py writes it: entities and intent labels in one sentence."""

from __future__ import annotations

from typing import Any

from collectivesft.sources.base import Reject, Skip
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import RawRow

INSTRUCTION = "分析下列描述中提到的医学专有名词并分析其意图：\n\n"
SPAN_ONLY = ("疾病和诊断", "解剖部位")  # the entity text alone
WITH_TYPE = ("手术", "影像检查", "药物", "实验室检验")  # the type name, then the entity text


def intent_sentence(entities: list[str], label_4class: str, label_36class: str) -> str:
    """The script's output sentence (its punctuation, the ASCII ", " included)."""
    output = "该描述"
    if label_4class:
        if entities:
            output += f"提到了{'，'.join(entities)}, 并期望知道该{label_4class}"
        else:
            output += f"期望知道该{label_4class}"
        output += f"及其{label_36class}。" if label_36class else "。"
    else:
        if entities:
            output += f"提到了{'，'.join(entities)}"
        output += f"期望知道{label_36class}。" if label_36class else "。"
    return output


@register_paper
class CMIDPaper(PaperRules):
    name, task, lang = "cmid", "intent", "zh"

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        d = row.data
        try:
            desc = d["originalText"]
            entities = []
            for e in d["entities"]:
                span = desc[e["start_pos"]:e["end_pos"]]
                if e["label_type"] in SPAN_ONLY:
                    entities.append(span)
                elif e["label_type"] in WITH_TYPE:
                    entities.append(e["label_type"] + span)
            # Only the quoted spellings are filtered ("'其他'"); quotes are stripped afterwards.
            label_4 = "，".join(x.strip("'") for x in d["label_4class"] if x not in ["'其他'"])
            label_36 = "，".join(x.strip("'") for x in d["label_36class"] if x not in ["'无法确定'", "'多问'"])
            output = intent_sentence(entities, label_4, label_36)
        except (KeyError, TypeError, AttributeError) as exc:
            raise Reject(f"the script fails on this row ({type(exc).__name__}: {exc})") from None
        if output == "该描述。":
            raise Skip("no entity and no label left (the script drops it)")
        return [{"instruction": INSTRUCTION, "input": desc, "output": output}]
