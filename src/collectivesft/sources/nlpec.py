"""NLPEC (Li et al. 2020): National Licensed Pharmacist Examination in China, with evidence.

Raw release: `NLPEC_public_data/{train,dev,test}.json`, JSON lines despite the suffix, each
{questionType, questionId, questionText, backgroundText, option [texts], answer ["2", ...]
(1-based option numbers as strings; several for multi-answer questions), context [one evidence
passage per option], subject, questionImg/optionImg (image names; such questions cannot be
answered from text)}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import checked_rows, iter_json_rows, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

LETTERS = "ABCDEFGHIJ"


@register
class NLPEC(Source):
    info = SourceInfo(
        name="nlpec",
        title="NLPEC (National Licensed Pharmacist Examination in China)",
        task="mcq",
        langs=("zh",),
        size="about 21.7k questions with evidence passages (NLPEC_public_data train/dev/test)",
        license="research use; released by the authors with the EMNLP 2020 paper (no license file)",
        homepage="https://aclanthology.org/2020.emnlp-main.111/",
        hub_id=None,
        layout="NLPEC_public_data/ (folder or zip) with train.json/dev.json/test.json "
               "(JSON lines: questionText, option [..], answer [\"1\"..], context [..], subject)",
    )
    options = {"split": Option("train", ("train", "dev", "test", "all"), "which release file(s) to read")}

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        split = self.opts["split"]
        splits = ("train", "dev", "test") if split == "all" else (split,)
        for name, fh in iter_members(path, [f"{s}.json" for s in splits], self.info.layout):
            yield from checked_rows(iter_json_rows(name, fh, limits=self.limits), name, lambda d: isinstance(d, dict) and any(k in d for k in ("questionText", "option", "context")), "NLPEC", self.info.layout)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("row is not a JSON object")
        missing = [k for k in ("questionText", "option", "answer") if k not in d]
        if missing:
            raise Reject(f"missing field(s) {missing}")
        options = d["option"]
        if not isinstance(options, list) or not options or len(options) > len(LETTERS):
            raise Reject("option must be a non-empty list of option texts")
        answers = d["answer"]
        if isinstance(answers, (str, int)):
            answers = [answers]
        if not isinstance(answers, list):
            raise Reject("answer must be a list of 1-based option numbers")
        if not answers or all(str(a).strip() == "" for a in answers):
            raise Reject("empty answer")
        picked = set()
        for a in answers:
            text = str(a).strip()
            if not text.isdigit() or not 1 <= int(text) <= len(options):
                raise Reject(f"answer {text!r} is not an option number 1-{len(options)}")
            picked.add(int(text) - 1)
        if d.get("questionImg") or d.get("optionImg"):
            raise Skip("question needs an image")
        question = str(d["questionText"] or "").strip()
        if not question:
            raise Skip("empty question")
        texts = [str(o if o is not None else "").strip() for o in options]
        letters = "".join(LETTERS[i] for i in sorted(picked))
        background = str(d.get("backgroundText") or "").strip()
        qtype = str(d.get("questionType") or "").strip()
        head = "以下是国家执业药师资格考试的一道" + (qtype or "选择题")
        head += "，可能有多个正确选项，请给出所有正确选项的字母。" if len(picked) > 1 else "，请给出正确选项的字母。"
        lines = [head, ""] + ([background] if background else []) + [question, ""]
        lines += [f"{LETTERS[i]}. {t}" for i, t in enumerate(texts)]
        reply = f"答案是{letters}。" + "；".join(texts[i] for i in sorted(picked))
        evidence = _evidence(d.get("context"), sorted(picked))
        if evidence:
            reply += "\n解析：" + evidence
        meta: dict[str, Any] = {}
        if d.get("subject"):
            meta["subject"] = d["subject"]
        if qtype:
            meta["qtype"] = qtype
        split = row.where.rsplit(":", 1)[0].rsplit("/", 1)[-1].rsplit("!", 1)[-1].removesuffix(".json")
        if split in ("train", "dev", "test"):
            meta["split"] = split
        meta["answer"] = letters
        meta["options"] = {LETTERS[i]: t for i, t in enumerate(texts)}
        qid = d.get("questionId")
        rid = f"nlpec/{split}/{qid}" if qid not in (None, "") else f"nlpec/{row.where}"
        return make_record(rid, "nlpec", "mcq", "zh",
                           [{"role": "user", "content": "\n".join(lines)}, {"role": "assistant", "content": reply}],
                           meta)


def _evidence(context: Any, picked: list[int]) -> str:
    """The evidence passages of the correct options (one shared passage when all are the same)."""
    if not isinstance(context, list) or not context:
        return ""
    texts = [str(c).strip() for c in context if isinstance(c, str)]
    if len(set(texts)) == 1:
        return texts[0]
    chosen = [str(context[i]).strip() for i in picked if i < len(context) and isinstance(context[i], str)]
    return "\n".join(dict.fromkeys(c for c in chosen if c))
