"""CMID: both label styles, entity spans, skipped rows without label or entity, truncated file."""


import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.sources.base import Reject, Skip
from collectivesft.sources.cmid import normalise_label, usable_entities
from collectivesft.sources.convert import convert_source
from collectivesft.sources.registry import get_source
from collectivesft.sources.rows import RawRow
from source_checks import convert_checked


def convert(tmp_path, input):
    return convert_checked("cmid", tmp_path / "out", input=input)


def test_fixture_has_both_label_styles_and_they_normalise(raw_fixtures, tmp_path):
    raw = (raw_fixtures / "cmid" / "CMID.json").read_text(encoding="utf-8")
    assert "[\"'病症'\"]" in raw and '["病症"]' in raw
    stats, records, _ = convert(tmp_path, raw_fixtures / "cmid")
    assert stats["kept"] == 30
    labels = {r["meta"].get("label_4class") for r in records} | {r["meta"].get("label_36class") for r in records}
    assert "病症" in labels and not any(label and ("'" in label or '"' in label) for label in labels)
    for rec in records:
        text = rec["messages"][0]["content"].split("提问：", 1)[1]
        for ent in rec["meta"]["entities"]:
            assert text[ent["start"]:ent["end"]] == ent["text"]
            assert f"{ent['text']}（{ent['type']}）" in rec["messages"][-1]["content"]
    tasks = {r["task"] for r in records}
    assert tasks == {"intent", "ner"}  # unlabelled queries with an entity become entity-only records
    assert all(r["messages"][-1]["content"].startswith("意图：") for r in records if r["task"] == "intent")


def test_skips_quarantine_and_notes(raw_fixtures, tmp_path):
    stats, _, quarantine = convert(tmp_path, raw_fixtures / "cmid")
    assert stats["skipped"] == {"no usable intent label or entity": 1}
    assert stats["notes"]["entity spans dropped (outside the text or malformed)"] >= 1
    reasons = {q["reason"].split(" (")[0]: q["where"] for q in quarantine}
    assert reasons["missing field 'originalText'"].startswith("CMID.json#")
    assert any(r.startswith("invalid JSON: file breaks after item") for r in reasons)


@pytest.mark.parametrize("name, value, expect", [
    ("quoted inside the string", ["'病症'"], "病症"),
    ("plain", ["病症"], "病症"),
    ("double quotes kept", ['"药物"'], "药物"),
    ("bare string", "'治疗方案'", "治疗方案"),
    ("first non-empty of several", ["''", "其他"], "其他"),
    ("empty list", [], ""),
    ("empty string in list", [""], ""),
    ("missing", None, ""),
])
def test_normalise_label(name, value, expect):
    assert normalise_label(value) == expect


def test_entity_spans_are_checked():
    text = "间质性肺炎的症状?"
    ents, dropped = usable_entities(text, [{"label_type": "疾病和诊断", "start_pos": 0, "end_pos": 5},
                                           {"label_type": "疾病和诊断", "start_pos": 7, "end_pos": 20},
                                           {"label_type": "药物", "start_pos": "x", "end_pos": 2},
                                           {"start_pos": 0, "end_pos": 2}])
    assert ents == [{"text": "间质性肺炎", "type": "疾病和诊断", "start": 0, "end": 5}] and dropped == 3


def item(**changes):
    base = {"originalText": "高血压吃什么药好", "entities": [{"label_type": "疾病和诊断", "start_pos": 0, "end_pos": 3}],
            "seg_result": ["高血压", "吃", "什么", "药", "好"], "label_4class": ["'病症'"], "label_36class": ["'治疗方法'"]}
    base.update(changes)
    return base


@pytest.mark.parametrize("name, data, expect", [
    ("label and entity", item(), ("intent", "意图：病症 / 治疗方法\n医学实体：高血压（疾病和诊断）")),
    ("label, no entity", item(entities=[]), ("intent", "意图：病症 / 治疗方法\n医学实体：无")),
    ("only the 4-class label", item(label_36class=[]), ("intent", "意图：病症\n医学实体：高血压（疾病和诊断）")),
    ("entity, no label", item(label_4class=[], label_36class=[""]), ("ner", "医学实体：高血压（疾病和诊断）")),
    ("neither", item(label_4class=[], label_36class=[], entities=[]), Skip),
    ("entity out of range, no label", item(label_4class=[], label_36class=[],
                                           entities=[{"label_type": "药物", "start_pos": 9, "end_pos": 12}]), Skip),
    ("empty text", item(originalText="  "), Skip),
    ("no text", {k: v for k, v in item().items() if k != "originalText"}, Reject),
    ("not an object", ["高血压"], Reject),
])
def test_convert_row_table(name, data, expect):
    source = get_source("cmid")
    if expect in (Skip, Reject):
        with pytest.raises(expect):
            source.convert(RawRow("CMID.json#4", data))
        return
    rec = source.convert(RawRow("CMID.json#4", data))
    assert (rec["task"], rec["messages"][-1]["content"]) == expect
    assert rec["id"] == "cmid/4"


def test_spans_follow_the_stripped_text():
    rec = get_source("cmid").convert(RawRow("CMID.json#2", item(originalText="  高血压吃什么药好 ",
                                     entities=[{"label_type": "疾病和诊断", "start_pos": 2, "end_pos": 5}])))
    assert rec["meta"]["entities"] == [{"text": "高血压", "type": "疾病和诊断", "start": 0, "end": 3}]
    assert rec["messages"][0]["content"].endswith("提问：高血压吃什么药好")


def test_unknown_label_is_kept_and_counted():
    source = get_source("cmid")
    rec = source.convert(RawRow("CMID.json#1", item(label_36class=["新类别"])))
    assert rec["meta"]["label_36class"] == "新类别"
    assert source.notes["label outside the documented 4/36 classes (kept)"] == 1


def test_missing_file_is_a_layout_error(tmp_path):
    with pytest.raises(InputLayoutError, match="CMID.json"):
        convert_source("cmid", tmp_path / "out", input=tmp_path)
