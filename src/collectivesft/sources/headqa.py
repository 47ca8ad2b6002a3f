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

import json
import random
from pathlib import Path
from typing import IO, Any, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.fixtures.world import FACTS
from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import iter_members
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

    def write_fixture(self, out_dir: Path, rows: int, rng: random.Random) -> None:
        """HEAD_EN/{train,dev,test}_HEAD_EN.json and HEAD/{train,dev,test}_HEAD.json.

        The `rows` good questions go to the train files (half per language); dev and test
        get a few more. Quirks: qid/ra as strings, older exams with five answers, an image
        question (skipped). Broken: ra naming no answer, a right answer with empty text, and
        the Spanish train file ends truncated inside an extra exam.
        """
        text = {
            "en": ("Which is the first-line drug for {disease}?", "The typical presenting complaint of {disease} is:",
                   "A patient presents with {symptom}. The most likely diagnosis is:"),
            "es": ("¿Cuál es el fármaco de primera elección en {disease}?", "La manifestación típica de {disease} es:",
                   "Un paciente presenta {symptom}. El diagnóstico más probable es:"),
        }
        categories = (("medicine", "MIR"), ("pharmacology", "FIR"), ("nursing", "EIR"))

        def question(lang: str, qid: int, year: int) -> dict[str, Any]:
            fact = FACTS[rng.randrange(len(FACTS))]
            kind = qid % 3
            right = (fact.drug_en, fact.symptom_en, fact.disease_en)[kind]
            pool = [(f.drug_en, f.symptom_en, f.disease_en)[kind] for f in FACTS]
            pool = sorted(set(pool) - {right})
            n = 5 if year <= 2013 else 4
            texts = rng.sample(pool, n - 1) + [right]
            rng.shuffle(texts)
            return {"qid": str(qid), "qtext": text[lang][kind].format(disease=fact.disease_en, symptom=fact.symptom_en),
                    "ra": str(texts.index(right) + 1), "image": "",
                    "answers": [{"aid": i + 1, "atext": t} for i, t in enumerate(texts)]}

        def exam_file(lang: str, count: int, split: str, broken: bool) -> str:
            exams: dict[str, Any] = {}
            per_exam = max(1, -(-count // 6))
            qid = 0
            for e in range(-(-count // per_exam) if count else 0):
                # HEAD-QA splits by exam year; fixture years: train 2013-14, dev 2015, test 2016.
                year = {"train": 2013 + e % 2, "dev": 2015, "test": 2016}[split]
                category, test = categories[e % 3]
                name = f"Cuaderno_{year}_{e + 1}_{test[0]}"
                data = []
                for _ in range(min(per_exam, count - qid)):
                    qid += 1
                    data.append(question(lang, qid, year))
                exams[name] = {"name": name, "year": str(year), "category": category, "data": data}
            if broken:
                if not exams:
                    exams["Cuaderno_2016_1_M"] = {"name": "Cuaderno_2016_1_M", "year": "2016",
                                                  "category": "medicine", "data": []}
                first = next(iter(exams.values()))["data"]
                image = dict(question(lang, 9001, 2016), image="images/mir_2016_12.jpg")
                bad_ra = dict(question(lang, 9002, 2016), ra="7")
                empty = question(lang, 9003, 2016)
                empty["answers"][int(empty["ra"]) - 1]["atext"] = " "
                first[len(first) // 2:len(first) // 2] = [image, bad_ra, empty]
            # Compact JSON (the C encoder; indent= would make 200k-row fixtures slow).
            body = json.dumps({"version": "1.0", "language": lang, "exams": exams}, ensure_ascii=False)
            if broken and lang == "es":
                extra = json.dumps({"name": "Cuaderno_2016_9_Q", "year": "2016", "category": "chemistry",
                                    "data": [question(lang, 9100 + k, 2016) for k in range(3)]},
                                   ensure_ascii=False)
                # The download was cut off inside one more exam: "exams" and the root never close.
                body = body[:-2] + ', "Cuaderno_2016_9_Q": ' + extra[:len(extra) // 2]
            return body

        halves = {"en": rows - rows // 2, "es": rows // 2}
        for lang, base in FILE_BASE.items():
            folder = out_dir / base
            folder.mkdir(parents=True, exist_ok=True)
            for split, count in (("train", halves[lang]), ("dev", 4), ("test", 4)):
                body = exam_file(lang, count, split, broken=split == "train")
                (folder / f"{split}_{base}.json").write_text(body, encoding="utf-8")
