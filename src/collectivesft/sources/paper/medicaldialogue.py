"""MedDialog-CN as the paper's medicaldialogue_to_sft.py writes it: one row per exchange, with history."""

from __future__ import annotations

from typing import Any

from collectivesft.sources.base import Reject
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import RawRow


@register_paper
class MedicalDialoguePaper(PaperRules):
    name, task, lang = "medicaldialogue", "dialogue", "zh"
    from_hub = True
    reader_options = {"split": "train"}
    history = True

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        d = row.data
        utterances = d.get("utterances") if isinstance(d, dict) else d  # hub rows wrap the list
        if not isinstance(utterances, list) or not all(isinstance(u, str) for u in utterances):
            raise Reject("dialogue is not a list of utterance strings")
        if len(utterances) % 2:
            raise Reject(f"{len(utterances)} utterances: the script unpacks pairs and fails on an odd count")
        out, history = [], []
        for i in range(0, len(utterances), 2):
            patient, doctor = utterances[i], utterances[i + 1]
            if not patient.startswith("病人：") or not doctor.startswith("医生："):
                raise Reject(f"pair {i // 2} is not 病人：/医生： (the script asserts it)")
            # str.replace drops every occurrence of the prefix, not only the leading one.
            patient, doctor = patient.replace("病人：", ""), doctor.replace("医生：", "")
            out.append({"instruction": patient, "input": "", "output": doctor, "history": [list(h) for h in history]})
            history.append((patient, doctor))
        return out
