"""MedDialog-CN (Chen et al. 2020), processed release: doctor-patient dialogues from haodf.com.

Raw release (processed.zh): `train_data.json`, `validate_data.json`, `test_data.json`, each one
JSON array of dialogues; a dialogue is an array of utterance strings that alternate
"病人：…" / "医生：…" (full-width colon; a few use an ASCII colon). The files are written with
escaped non-ASCII (`\\u75c5\\u4eba`), which the JSON reader undoes. On the hub
(`UCSD26/medical_dialog`, config processed.zh) each row is {"utterances": [...]}.

One dialogue becomes one multi-turn record: speaker prefixes removed, consecutive turns of the
same speaker merged, leading doctor turns and a trailing patient turn dropped (counted in notes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import checked_rows, iter_hub_rows, iter_json_rows, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

# Speaker prefix -> role. Checked on the first three characters of each utterance.
SPEAKERS = {"病人：": "user", "病人:": "user", "医生：": "assistant", "医生:": "assistant"}
FILES = {"train": ["*train*.json"], "validation": ["*valid*.json", "*dev*.json"], "test": ["*test*.json"]}
SPLIT_OF_FILE = (("train", "train"), ("valid", "validation"), ("dev", "validation"), ("test", "test"))


@register
class MedicalDialogue(Source):
    info = SourceInfo(
        name="medicaldialogue",
        title="MedDialog-CN (processed.zh)",
        task="dialogue",
        langs=("zh",),
        size="3.4M dialogues (processed.zh: 2,725,989 train / 340,748 validation / 340,754 test)",
        license="research use; dialogue copyright stays with haodf.com (no license file)",
        homepage="https://github.com/UCSD-AI4H/Medical-Dialogue-System",
        hub_id="UCSD26/medical_dialog",
        layout="the processed.zh folder: train_data.json / validate_data.json / test_data.json "
               "(each a JSON array of dialogues, a dialogue an array of \"病人：…\"/\"医生：…\" strings)",
    )
    options = {"split": Option("train", ("train", "validation", "test", "all"), "which release file(s) to read")}

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        split = self.opts["split"]
        patterns = [p for s in FILES for p in FILES[s]] if split == "all" else FILES[split]
        for name, fh in iter_members(path, patterns, self.info.layout):
            yield from checked_rows(iter_json_rows(name, fh, limits=self.limits), name, lambda d: isinstance(d, list) or (isinstance(d, dict) and "utterances" in d), "MedDialog", self.info.layout)

    def read_hub(self, hub_id: str) -> Iterator[RawRow | BadRow]:
        split = None if self.opts["split"] == "all" else self.opts["split"]
        name = "processed.zh" if hub_id == self.info.hub_id else None
        yield from iter_hub_rows(hub_id, split=split, name=name)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        department = None
        if isinstance(d, dict):
            department = d.get("department")
            d = d.get("utterances", d.get("dialogue"))
            if isinstance(d, dict) and "utterance" in d:  # bigbio shape {speaker: [...], utterance: [...]}
                # speakers are class labels there: 0 = 病人, 1 = 医生 (or already the names)
                names = {0: "病人", 1: "医生"}
                d = [f"{names.get(s, s)}：{u}" for s, u in zip(d.get("speaker", []), d["utterance"])]
        if not isinstance(d, list):
            raise Reject("dialogue is not a list of utterance strings")
        turns: list[dict[str, str]] = []
        for i, utt in enumerate(d):
            if not isinstance(utt, str):
                raise Reject(f"utterance {i} is not a string")
            utt = utt.strip()
            role = SPEAKERS.get(utt[:3])
            if role is None:
                raise Reject(f"utterance {i} has no 病人：/医生： speaker prefix")
            text = utt[3:].strip()
            if not text:
                self.notes["empty utterance dropped"] += 1
                continue
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"] += "\n" + text
                self.notes["consecutive same-speaker turns merged"] += 1
                continue
            turns.append({"role": role, "content": text})
        if not any(t["role"] == "assistant" for t in turns) or not any(t["role"] == "user" for t in turns):
            raise Skip("no patient turn answered by a doctor")
        while turns and turns[0]["role"] == "assistant":
            turns.pop(0)
            self.notes["leading doctor turn dropped"] += 1
        if turns and turns[-1]["role"] == "user":
            turns.pop()
            self.notes["trailing patient turn dropped"] += 1
        if not turns:
            raise Skip("no patient turn answered by a doctor")
        file, _, index = row.where.rpartition("#")
        split = _split_of(file)
        meta: dict[str, Any] = {}
        if split:
            meta["split"] = split
        if department:
            meta["department"] = department
        return make_record(f"medicaldialogue/{split or file}/{index}", "medicaldialogue", "dialogue", "zh", turns, meta)


def _split_of(file: str) -> str | None:
    base = file.rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
    for key, split in SPLIT_OF_FILE:
        if key in base:
            return split
    return None
