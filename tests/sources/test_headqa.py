"""HEAD-QA: both languages, split files or the whole-set file, zips, hub copy, answer checks."""

import json
import zipfile

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.sources.base import Reject, Skip
from collectivesft.sources.convert import convert_source
from collectivesft.sources.registry import get_source
from collectivesft.sources.rows import RawRow
from source_checks import convert_checked


def convert(tmp_path, options=None, **kwargs):
    return convert_checked("headqa", tmp_path / "out", options=options or {}, **kwargs)


def test_default_reads_train_in_both_languages(raw_fixtures, tmp_path):
    stats, records, _ = convert(tmp_path, input=raw_fixtures / "headqa")
    assert stats["kept"] == 30 and stats["options"] == {"lang": "both", "split": "train"}
    assert {r["lang"] for r in records} == {"en", "es"}
    for rec in records:
        meta = rec["meta"]
        letter, text = meta["answer"], meta["options"][meta["answer"]]
        lead = "The answer is" if rec["lang"] == "en" else "La respuesta es"
        assert rec["messages"][-1]["content"] == f"{lead} {letter}. {text}"
        assert f"\n{letter}. {text}" in rec["messages"][0]["content"]
        assert meta["lang"] == rec["lang"] and meta["split"] == "train"
        assert meta["category"] in {"medicine", "pharmacology", "nursing"} and meta["year"] in {"2013", "2014"}
        assert rec["id"] == f"headqa/{rec['lang']}/{meta['exam']}/{rec['id'].rsplit('/', 1)[1]}"
    assert {len(r["meta"]["options"]) for r in records} == {4, 5}  # older exams have five answers


@pytest.mark.parametrize("lang", ["en", "es"])
def test_lang_option(raw_fixtures, tmp_path, lang):
    _, records, _ = convert(tmp_path, {"lang": lang}, input=raw_fixtures / "headqa")
    assert records and {r["lang"] for r in records} == {lang}


def test_split_all_reads_every_split_file(raw_fixtures, tmp_path):
    _, records, _ = convert(tmp_path, {"split": "all"}, input=raw_fixtures / "headqa")
    assert {r["meta"]["split"] for r in records} == {"train", "dev", "test"}


def test_broken_questions_and_image_questions(raw_fixtures, tmp_path):
    stats, _, quarantine = convert(tmp_path, input=raw_fixtures / "headqa")
    assert stats["skipped"] == {"question refers to an image": 2}
    reasons = [(q["reason"], q["where"]) for q in quarantine]
    assert sum(r.startswith("right answer ra=7 is not one of the answer ids") for r, _ in reasons) == 2
    assert sum(r.startswith("empty answer") for r, _ in reasons) == 2
    breaks = [(r, w) for r, w in reasons if r.startswith("invalid JSON: file breaks after exam")]
    assert len(breaks) == 1 and breaks[0][1].startswith("HEAD/train_HEAD.json#")
    assert all("#" in w and "/" in w for _, w in reasons)  # file, exam and question index


def test_zipped_release_and_whole_set_file(raw_fixtures, tmp_path):
    archive = tmp_path / "HEAD_EN.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in (raw_fixtures / "headqa" / "HEAD_EN").glob("*.json"):
            zf.write(file, f"HEAD_EN/{file.name}")
    _, zipped, _ = convert(tmp_path / "z", {"lang": "en"}, input=archive)
    _, plain, _ = convert(tmp_path / "p", {"lang": "en"}, input=raw_fixtures / "headqa")
    assert zipped == plain

    whole = tmp_path / "whole"
    whole.mkdir()
    exams = {}
    for split in ("train", "dev", "test"):
        data = json.loads((raw_fixtures / "headqa" / "HEAD_EN" / f"{split}_HEAD_EN.json").read_text(encoding="utf-8"))
        exams.update(data["exams"])
    (whole / "HEAD_EN.json").write_text(json.dumps({"exams": exams}, ensure_ascii=False), encoding="utf-8")
    _, records, _ = convert(tmp_path / "w", {"lang": "en", "split": "all"}, input=whole)
    assert len(records) == len(convert(tmp_path / "a", {"lang": "en", "split": "all"},
                                       input=raw_fixtures / "headqa")[1])
    assert not any("split" in r["meta"] for r in records)
    with pytest.raises(InputLayoutError, match="train_HEAD_EN.json"):
        convert_source("headqa", tmp_path / "o", input=whole, options={"lang": "en"})


def test_missing_language_is_a_layout_error(raw_fixtures, tmp_path):
    with pytest.raises(InputLayoutError, match="lang="):
        convert_source("headqa", tmp_path / "o", input=raw_fixtures / "headqa" / "HEAD_EN")


def question(**changes):
    base = {"qid": "12", "qtext": "The antibiotic of choice for pneumonia is:", "ra": "2", "image": "",
            "answers": [{"aid": 1, "atext": "metformin"}, {"aid": 2, "atext": "amoxicillin"},
                        {"aid": 3, "atext": "warfarin"}, {"aid": 4, "atext": "levodopa"}],
            "name": "Cuaderno_2014_1_M", "year": "2014", "category": "medicine", "lang": "en", "split": "train"}
    base.update(changes)
    return base


@pytest.mark.parametrize("name, data, expect", [
    ("strings as released", question(), "B"),
    ("integers as on the hub", question(qid=12, ra=2), "B"),
    ("answers out of order", question(answers=list(reversed(question()["answers"]))), "B"),
    ("image question", question(image="images/a.jpg"), Skip),
    ("ra names no answer", question(ra="5"), Reject),
    ("ra not a number", question(ra="B"), Reject),
    ("right answer empty", question(answers=[{"aid": 1, "atext": "x"}, {"aid": 2, "atext": ""}]), Reject),
    ("no answers", question(answers=[]), Reject),
    ("empty question", question(qtext=" "), Skip),
])
def test_convert_question_table(name, data, expect):
    source = get_source("headqa")
    if expect in (Skip, Reject):
        with pytest.raises(expect):
            source.convert(RawRow("f.json#e/0", data))
        return
    rec = source.convert(RawRow("f.json#e/0", data))
    assert rec["meta"]["answer"] == expect and rec["id"] == "headqa/en/Cuaderno_2014_1_M/12"
    assert rec["messages"][-1]["content"] == "The answer is B. amoxicillin"


def test_hub_path_with_one_local_folder_per_language(tmp_path):
    hub = tmp_path / "hub"
    for lang, text in (("en", "The antibiotic of choice for pneumonia is:"), ("es", "El antibiótico de elección es:")):
        (hub / lang).mkdir(parents=True)
        flat = question(qid=7, ra=2, qtext=text, image=None)
        del flat["lang"], flat["split"]
        (hub / lang / "train.jsonl").write_text(json.dumps(flat, ensure_ascii=False) + "\n", encoding="utf-8")
    stats, records, _ = convert(tmp_path, hub=str(hub))
    assert stats["kept"] == 2
    assert {(r["lang"], r["id"]) for r in records} == {("en", "headqa/en/Cuaderno_2014_1_M/7"),
                                                        ("es", "headqa/es/Cuaderno_2014_1_M/7")}
    assert records[1]["messages"][-1]["content"] == "La respuesta es B. amoxicillin"
    with pytest.raises(InputLayoutError, match="en/"):
        convert_source("headqa", tmp_path / "o", hub=str(hub / "en"))
