"""HEAD-QA: MCQs from the Spanish healthcare specialisation exams (MIR, EIR, FIR, PIR, BIR, QIR), es + en.

Raw release (aghie.github.io/head-qa): HEAD.zip (Spanish) and HEAD_EN.zip (English), holding
HEAD/{train,dev,test}_HEAD.json and HEAD_EN/{train,dev,test}_HEAD_EN.json (also a whole-set
HEAD.json / HEAD_EN.json). Each is one JSON object {"exams": {exam name: {name, year,
category, data: [{qid, qtext, ra, answers: [{aid, atext}], image}]}}}, with qid and ra as
strings and aid as numbers; ra is the aid of the right answer. Exams are streamed one at a
time. The hub copy (dvilares/head_qa, configs en/es) is flat: one row per question with
name/year/category copied in. Questions that show an image are skipped: the text alone
cannot be answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import is_plain_file, iter_members, split_of_name
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

LETTERS = "ABCDEFGH"
FILE_BASE = {"es": "HEAD", "en": "HEAD_EN"}
HUB_SPLIT = {"train": "train", "dev": "validation", "test": "test"}
PROMPT = {
    "en": "Answer this question from a Spanish healthcare specialisation exam ({category}) "
          "with the letter of the correct option.",
    "es": "Responde a esta pregunta de un examen de acceso a la formación sanitaria especializada "
          "({category}) con la letra de la opción correcta.",
}
REPLY = {"en": "The answer is {letter}. {text}", "es": "La respuesta es {letter}. {text}"}


def iter_exam_file(name: str, fh: IO[bytes], lang: str, split: str | None) -> Iterator[RawRow | BadRow]:
    """One RawRow per question of a HEAD-QA exam file, exam facts copied into the row."""
    import ijson

    exam_name = None
    try:
        for exam_name, exam in ijson.kvitems(fh, "exams", use_float=True):
            if not isinstance(exam, dict) or not isinstance(exam.get("data"), list):
                yield BadRow(f"{name}#{exam_name}", "exam has no 'data' list of questions", "")
                continue
            facts = {k: str(exam.get(k) or "").strip() for k in ("name", "year", "category")}
            facts["name"] = facts["name"] or str(exam_name)
            facts["lang"], facts["split"] = lang, split
            for index, question in enumerate(exam["data"]):
                if isinstance(question, dict):
                    question.update(facts)  # the parsed dict is ours: no copy needed
                yield RawRow(f"{name}#{exam_name}/{index}", question)
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        after = f"after exam {exam_name!r}" if exam_name else "before the first exam"
        reason = " ".join(str(exc).split())
        yield BadRow(f"{name}#{exam_name or ''}", f"invalid JSON: file breaks {after} ({reason[:120]})", "")


@register
class HeadQA(Source):
    info = SourceInfo(
        name="headqa",
        title="HEAD-QA",
        task="mcq",
        langs=("es", "en"),
        size="6,765 questions per language (2,657 train / 1,366 dev / 2,742 test)",
        license="MIT",
        homepage="https://aghie.github.io/head-qa/",
        hub_id="dvilares/head_qa",
        layout="HEAD.zip / HEAD_EN.zip or their folders: HEAD/{train,dev,test}_HEAD.json, "
               "HEAD_EN/{train,dev,test}_HEAD_EN.json (JSON {exams: {name: {data: [questions]}}})",
    )
    options = {
        "lang": Option("both", ("en", "es", "both"), "which language release(s) to read"),
        "split": Option("train", ("train", "dev", "test", "all"), "which split file(s); 'all' also reads a whole-set HEAD.json"),
    }

    def _langs(self) -> list[str]:
        return ["en", "es"] if self.opts["lang"] == "both" else [self.opts["lang"]]

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        yield from self._read_files(Path(path))

    def _read_files(self, path: Path) -> Iterator[RawRow | BadRow]:
        split = self.opts["split"]
        if is_plain_file(path):
            # One file named on the command line: read once, as the language and split its name says.
            lang = "en" if "_EN" in path.name.upper() else ("es" if self.opts["lang"] == "both" else self.opts["lang"])
            for name, fh in iter_members(path, [], self.info.layout):
                yield from iter_exam_file(name, fh, lang, split_of_name(name))
            return
        for lang in self._langs():
            base = FILE_BASE[lang]
            splits = ["train", "dev", "test"] if split == "all" else [split]
            try:
                for sp in splits:
                    for name, fh in iter_members(path, [f"{sp}_{base}.json"], self.info.layout):
                        yield from iter_exam_file(name, fh, lang, sp)
            except InputLayoutError as exc:
                if split != "all":
                    raise InputLayoutError(f"{exc} (HEAD-QA {lang}: {split}_{base}.json; use "
                                           f"--option lang=... to read one language)") from None
                # No split files: the whole-set file holds every question, without split names.
                for name, fh in iter_members(path, [f"{base}.json"], self.info.layout):
                    yield from iter_exam_file(name, fh, lang, None)

    def read_hub(self, hub_id: str) -> Iterator[RawRow | BadRow]:
        from collectivesft.sources.readers import iter_hub_rows

        split = None if self.opts["split"] == "all" else HUB_SPLIT[self.opts["split"]]
        local = Path(hub_id)
        for lang in self._langs():
            if local.is_dir():
                # A local copy in hub layout keeps one folder per config: <dir>/en, <dir>/es.
                if not (local / lang).is_dir():
                    raise InputLayoutError(f"{local} has no {lang}/ folder; a local HEAD-QA hub copy needs "
                                           f"one folder per language config (en/, es/)")
                rows = iter_hub_rows(str(local / lang), split=split)
            else:
                rows = iter_hub_rows(hub_id, split=split, name=lang)
            for row in rows:
                if isinstance(row, RawRow) and isinstance(row.data, dict):
                    row.data.setdefault("lang", lang)
                    row.data.setdefault("split", {"validation": "dev"}.get(split or "", split))
                yield row

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("question is not a JSON object")
        missing = [k for k in ("qtext", "ra", "answers") if k not in d]
        if missing:
            raise Reject(f"missing field(s) {missing}")
        if d.get("image"):
            raise Skip("question refers to an image")
        answers = d["answers"]
        if not isinstance(answers, list) or not answers:
            raise Reject("answers is not a non-empty list")
        try:
            ordered = sorted(((int(a["aid"]), str(a.get("atext") or "").strip()) for a in answers))
            ra = int(str(d["ra"]).strip())
        except (KeyError, TypeError, ValueError):
            raise Reject(f"answer ids are not integers (ra={d.get('ra')!r})") from None
        if len(ordered) > len(LETTERS):
            raise Reject(f"{len(ordered)} answers, at most {len(LETTERS)} supported")
        aids = [aid for aid, _ in ordered]
        if ra not in aids:
            raise Reject(f"right answer ra={ra} is not one of the answer ids {aids}")
        options = {LETTERS[i]: text for i, (_, text) in enumerate(ordered)}
        letter = LETTERS[aids.index(ra)]
        if not options[letter]:
            raise Reject("empty answer (the right answer has no text)")
        question = str(d["qtext"] or "").strip()
        if not question:
            raise Skip("empty question")
        lang = d.get("lang") or "es"
        category = d.get("category") or ""
        lines = [PROMPT[lang].format(category=category or "sanidad"), "", question, ""]
        lines += [f"{k}. {v}" for k, v in options.items()]
        reply = REPLY[lang].format(letter=letter, text=options[letter])
        meta: dict[str, Any] = {"category": category, "year": str(d.get("year") or ""), "lang": lang,
                                "exam": d.get("name") or "", "answer": letter, "options": options}
        if d.get("split"):
            meta["split"] = d["split"]
        qid = str(d.get("qid", "")).strip() or row.where
        return make_record(f"headqa/{lang}/{meta['exam']}/{qid}", "headqa", "mcq", lang,
                           [{"role": "user", "content": "\n".join(lines)}, {"role": "assistant", "content": reply}], meta)
