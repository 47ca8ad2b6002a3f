"""DISC-Med-SFT: ~470k Chinese medical conversations (re-built MedDialog/cMedQA2 dialogues, CMeKG QA...).

Raw release (hub Flmc/DISC-Med-SFT): DISC-Med-SFT_released.jsonl, one object per line with
_id, source and conversation = [{role: user|assistant, content}...]. A conversation stays one
multi-turn record (the original training scripts cut it into one sample per turn with a
growing history, repeating the same text many times). Consecutive turns of the same role
are merged, a trailing user turn (no answer to learn from) is dropped and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.records import make_record
from collectivesft.sources.base import Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import checked_rows, iter_json_rows, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

ROLE_ALIASES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}


def merge_turns(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """Join consecutive turns of the same role with a newline (blank turns already removed)."""
    merged: list[dict[str, str]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {"role": turn["role"], "content": merged[-1]["content"] + "\n" + turn["content"]}
        else:
            merged.append(dict(turn))
    return merged


@register
class DISCMedSFT(Source):
    info = SourceInfo(
        name="discmed",
        title="DISC-Med-SFT",
        task="dialogue",
        langs=("zh",),
        size="~470k conversations (DISC-Med-SFT_released.jsonl)",
        license="Apache-2.0",
        homepage="https://github.com/FudanDISC/DISC-MedLLM",
        hub_id="Flmc/DISC-Med-SFT",
        layout="DISC-Med-SFT_released.jsonl (JSON lines with _id, source, conversation [{role, content}]), "
               "or a folder/zip holding DISC-Med-SFT*.jsonl (or, failing that, other .jsonl files)",
    )

    def __init__(self, **options: str):
        super().__init__(**options)
        self._seen_ids: set[str] = set()  # record ids must stay unique even if an _id repeats

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        for name, fh in iter_members(path, _folder_patterns(Path(path)), self.info.layout):
            # "*.jsonl" also matches other datasets' files: a first row without a conversation
            # means the wrong input, not a file of broken rows.
            yield from checked_rows(iter_json_rows(name, fh, limits=self.limits), name,
                                    lambda d: isinstance(d, dict) and "conversation" in d,
                                    "DISC-Med-SFT", self.info.layout)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("row is not a JSON object")
        conv = d.get("conversation")
        if conv is None:
            raise Reject("missing field 'conversation'")
        if not isinstance(conv, list):
            raise Reject(f"conversation is {type(conv).__name__}, expected a list of turns")
        if not conv:
            raise Skip("empty conversation")
        turns: list[dict[str, str]] = []
        for i, turn in enumerate(conv):
            if not isinstance(turn, dict) or not isinstance(turn.get("content", ""), str):
                raise Reject(f"turn {i} is not {{role, content}}")
            role = ROLE_ALIASES.get(str(turn.get("role", "")).strip().lower())
            if role is None:
                raise Reject(f"turn {i} has unknown role {turn.get('role')!r}")
            content = (turn.get("content") or "").strip()
            if content:
                turns.append({"role": role, "content": content})
            else:
                self.notes["blank turns removed"] += 1
        if not turns:
            raise Skip("conversation has only blank turns")
        merged = merge_turns(turns)
        if len(merged) < len(turns):
            self.notes["consecutive same-role turns merged"] += len(turns) - len(merged)
        system = [merged.pop(0)] if merged and merged[0]["role"] == "system" else []
        while merged and merged[0]["role"] == "assistant":
            merged.pop(0)
            self.notes["leading assistant turn dropped"] += 1
        if merged and merged[-1]["role"] == "user":
            merged.pop()
            self.notes["trailing user turn dropped"] += 1
        if not merged:
            raise Skip("no assistant answer to a user turn")
        if any(m["role"] == "system" for m in merged):
            raise Reject("system turn in the middle of the conversation")
        meta: dict[str, Any] = {"turns": len(merged) // 2}
        if d.get("source"):
            meta["origin"] = str(d["source"])
        rid = d.get("_id")
        rid = str(rid) if rid not in (None, "") else row.where
        if rid in self._seen_ids:
            self.notes["repeated _id (made unique with the line)"] += 1
            rid = f"{rid}@{row.where}"
        self._seen_ids.add(rid)
        return make_record(f"discmed/{rid}", "discmed", "dialogue", "zh", system + merged, meta)


# Files our own stages write: a folder holding them next to the data never reads them back.
OUTPUT_NAMES = {"records.jsonl", "quarantine.jsonl", "accounting.jsonl", "contamination.jsonl"}


def _folder_patterns(path: Path) -> list[str]:
    """The release's file name; in a folder without it, every other .jsonl file (a user's copy
    renamed, or the release split in parts), never a converted output."""
    if not path.is_dir():
        return ["DISC-Med-SFT*.jsonl"]
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.jsonl") if p.is_file())
    if any(f.rsplit("/", 1)[-1].startswith("DISC-Med-SFT") for f in files):
        return ["DISC-Med-SFT*.jsonl"]
    return [f for f in files if f.rsplit("/", 1)[-1] not in OUTPUT_NAMES] or ["DISC-Med-SFT*.jsonl"]
