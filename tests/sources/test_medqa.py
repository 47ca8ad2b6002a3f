"""MedQA: three regions from their folders, options, answer checks and the quirks of the release."""

import json

import pytest

from collectivesft.errors import ConfigError, InputLayoutError
from collectivesft.records import record_problems
from collectivesft.sources.convert import convert_source


def convert(tmp_path, input, **options):
    out = tmp_path / "out"
    stats = convert_source("medqa", out, input=input, options=options, allow_empty=True)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    assert all(not record_problems(r) for r in records)
    return stats, records, quarantine


def write_region(root, region, rows, split="train"):
    folder = root / "data_clean" / "questions" / region
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                                          encoding="utf-8")
    return root


def test_fixture_covers_all_three_regions(raw_fixtures, tmp_path):
    stats, records, quarantine = convert(tmp_path, raw_fixtures / "medqa")
    assert stats["kept"] == 30
    assert {r["meta"]["region"] for r in records} == {"US", "Mainland", "Taiwan"}
    for rec in records:
        reply = rec["messages"][-1]["content"]
        letter = rec["meta"]["answer"]
        if rec["meta"]["region"] == "US":
            assert rec["lang"] == "en" and reply.startswith(f"The answer is {letter}.")
        else:
            assert rec["lang"] == "zh" and reply.startswith(f"答案是{letter}")
        assert reply.endswith(rec["meta"]["options"][letter])
        assert f"\n{letter}. {rec['meta']['options'][letter]}" in rec["messages"][0]["content"]
        assert rec["meta"]["split"] == "train"
    assert len({r["id"] for r in records}) == len(records)
    reasons = " | ".join(q["reason"] for q in quarantine)
    assert "answer_idx 'F'" in reasons and "empty answer" in reasons and "invalid JSON" in reasons
    # The Taiwan machine translations in the release are never read.
    assert not any("tw_translated" in q["where"] for q in quarantine)


@pytest.mark.parametrize("region", ["US", "Mainland", "Taiwan"])
def test_region_option_selects_one_region(raw_fixtures, tmp_path, region):
    stats, records, _ = convert(tmp_path, raw_fixtures / "medqa", region=region)
    assert records and {r["meta"]["region"] for r in records} == {region}
    assert stats["options"]["region"] == region


def test_split_all_and_four_option_variant(raw_fixtures, tmp_path):
    _, records, _ = convert(tmp_path, raw_fixtures / "medqa", split="all")
    assert {r["meta"]["split"] for r in records} == {"train", "dev", "test"}
    _, four, _ = convert(tmp_path, raw_fixtures / "medqa", region="US", us_options="4")
    assert four and all(len(r["meta"]["options"]) == 4 for r in four)
    assert all(r["id"].startswith("medqa/US/4opt/") for r in four)


def test_input_may_be_one_region_folder(raw_fixtures, tmp_path):
    _, records, _ = convert(tmp_path, raw_fixtures / "medqa" / "data_clean" / "questions" / "Taiwan")
    assert records and {r["meta"]["region"] for r in records} == {"Taiwan"}


def row(**changes):
    base = {"question": "治疗痛风急性发作的首选药物是", "options": {"A": "秋水仙碱", "B": "二甲双胍", "C": "华法林", "D": "阿莫西林"},
            "answer": "秋水仙碱", "answer_idx": "A", "meta_info": "药理学"}
    base.update(changes)
    return base


@pytest.mark.parametrize("name, raw, expect", [
    ("plain row", row(), ("kept", "A")),
    ("lower-case letter", row(answer_idx="a"), ("kept", "A")),
    ("letter recovered from answer text", row(answer_idx=""), ("kept", "A")),
    ("bigbio hub options list", row(options=[{"key": "A", "value": "秋水仙碱"}, {"key": "B", "value": "华法林"}]),
     ("kept", "A")),
    ("letter outside options", row(answer_idx="E"), ("quarantined", "not one of the options")),
    ("empty answer", row(answer_idx="", answer=""), ("quarantined", "empty answer")),
    ("answer text matching no option", row(answer_idx="", answer="布洛芬"), ("quarantined", "matches 0 options")),
    ("options not a mapping", row(options="A秋水仙碱"), ("quarantined", "options must be")),
    ("missing options", {"question": "q", "answer_idx": "A"}, ("quarantined", "missing field")),
    ("empty question", row(question="  "), ("skipped", "empty question")),
])
def test_row_quirks(tmp_path, name, raw, expect):
    stats, records, quarantine = convert(tmp_path, write_region(tmp_path / "raw", "Mainland", [raw]))
    outcome, detail = expect
    if outcome == "kept":
        assert stats["kept"] == 1, name
        assert records[0]["meta"]["answer"] == detail
        assert records[0]["messages"][-1]["content"].startswith(f"答案是{detail}")
    elif outcome == "quarantined":
        assert stats["quarantined"] == 1 and detail in quarantine[0]["reason"], name
        assert quarantine[0]["where"].endswith("Mainland/train.jsonl:1")
    else:
        assert stats["skipped"] == {detail: 1}, name


def test_answer_text_mismatch_is_counted_not_dropped(tmp_path):
    stats, records, _ = convert(tmp_path, write_region(tmp_path / "raw", "US", [row(answer="Colchicine")]))
    assert stats["kept"] == 1 and records[0]["lang"] == "en"
    assert stats["notes"] == {"answer text differs from the option text (answer_idx kept)": 1}


def test_unusable_inputs(tmp_path, raw_fixtures):
    with pytest.raises(InputLayoutError, match="questions/<US|Mainland|Taiwan>"):
        convert_source("medqa", tmp_path / "out", input=raw_fixtures / "mlecqa")
    foreign = write_region(tmp_path / "foreign", "US", [{"qid": 1, "qtext": "x"}])
    with pytest.raises(InputLayoutError, match="does not look like MedQA"):
        convert_source("medqa", tmp_path / "out", input=foreign)
    with pytest.raises(ConfigError, match="region"):
        convert_source("medqa", tmp_path / "out", input=raw_fixtures / "medqa", options={"region": "Europe"})
