"""DISC-Med-SFT as the paper's discmed_to_sft.py writes it: one row per exchange, growing history."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from collectivesft.sources.base import Reject
from collectivesft.sources.paper.rules import PaperRules, register_paper
from collectivesft.sources.rows import RawRow


def exchanges(turns: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(user, assistant) pairs: same-role runs joined by a space and stripped; a leading assistant run
    gets an empty user turn; a trailing unpaired run is dropped."""
    runs = [[role, [t["content"] for t in group]] for role, group in groupby(turns, key=lambda t: t["role"])]
    if runs[0][0] != "user":
        runs.insert(0, ["user", []])
    pairs = []
    for i in range(0, len(runs) - 1, 2):
        (role1, texts1), (role2, texts2) = runs[i], runs[i + 1]
        if (role1, role2) != ("user", "assistant"):
            raise Reject(f"turn roles {role1!r}, {role2!r} where the script asserts user, assistant")
        pairs.append((" ".join(texts1).strip(), " ".join(texts2).strip()))
    return pairs


@register_paper
class DiscMedPaper(PaperRules):
    name, task, lang = "discmed", "dialogue", "zh"
    from_hub = True
    history = True

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        conv = row.data.get("conversation") if isinstance(row.data, dict) else None
        if not isinstance(conv, list) or not conv:
            raise Reject("conversation is missing, empty or not a list (the script fails on it)")
        if not all(isinstance(t, dict) and isinstance(t.get("content"), str) and "role" in t for t in conv):
            raise Reject("a turn is not {role, content: text} (the script fails on it)")
        out, history = [], []
        for user, assistant in exchanges(conv):
            out.append({"instruction": user, "input": "", "output": assistant, "history": [list(h) for h in history]})
            history.append((user, assistant))
        return out
