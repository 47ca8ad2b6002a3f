"""MedMCQA: 194k four-option MCQs from Indian medical entrance exams (AIIMS/NEET PG).

Raw release: JSONL files train.json / dev.json / test.json (one object per line despite the
suffix) with question, opa..opd, cop (correct option, 0-3), exp, subject_name, topic_name,
choice_type. The public test file has no `cop` (cop = -1 on the hub): such rows are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import iter_json_rows, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

LETTERS = "ABCD"
OPTION_KEYS = ("opa", "opb", "opc", "opd")


@register
class MedMCQA(Source):
    info = SourceInfo(
        name="medmcqa",
        title="MedMCQA",
        task="mcq",
        langs=("en",),
        size="194k questions (182,822 train)",
        license="MIT",
        homepage="https://medmcqa.github.io",
        hub_id="openlifescienceai/medmcqa",
        layout="a folder or zip with train.json/dev.json (JSON lines: question, opa..opd, cop, exp, subject_name)",
    )
    options = {"split": Option("train", ("train", "dev", "all"), "which release file(s) to read")}

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        split = self.opts["split"]
        patterns = ["train.json", "dev.json"] if split == "all" else [f"{split}.json"]
        for name, fh in iter_members(path, patterns, self.info.layout):
            yield from iter_json_rows(name, fh, limits=self.limits)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("row is not a JSON object")
        missing = [k for k in ("question", *OPTION_KEYS, "cop") if k not in d]
        if missing:
            raise Reject(f"missing field(s) {missing}")
        cop = d["cop"]
        if cop in (None, -1, "-1", ""):
            raise Skip("no answer key (test split)")
        try:
            cop = int(cop)
        except (TypeError, ValueError):
            raise Reject(f"answer index cop={cop!r} is not 0-3") from None
        if not 0 <= cop <= 3:
            raise Reject(f"answer index cop={cop!r} is not 0-3")
        question = str(d["question"] or "").strip()
        options = [str(d[k] if d[k] is not None else "").strip() for k in OPTION_KEYS]
        if not question:
            raise Skip("empty question")
        if not options[cop]:
            raise Skip("empty correct option")
        lines = [question, ""] + [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]
        prompt = "Answer the following medical entrance-exam question with the letter of the correct option.\n\n" + "\n".join(lines)
        answer = f"The answer is {LETTERS[cop]}. {options[cop]}"
        explanation = str(d.get("exp") or "").strip()
        if explanation:
            answer += f"\nExplanation: {explanation}"
        meta = {k: d[k] for k in ("subject_name", "topic_name", "choice_type") if d.get(k)}
        meta["answer"] = LETTERS[cop]
        rid = str(d.get("id") or row.where)
        return make_record(f"medmcqa/{rid}", "medmcqa", "mcq", "en",
                           [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], meta)

    def read_hub(self, hub_id: str) -> Iterator[RawRow | BadRow]:
        from collectivesft.sources.readers import iter_hub_rows

        split = None if self.opts["split"] == "all" else {"dev": "validation"}.get(self.opts["split"], self.opts["split"])
        yield from iter_hub_rows(hub_id, split=split)
