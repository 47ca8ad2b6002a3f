"""MLEC-QA: five subsets, qtype kept in meta, answer letters checked against the options."""

import json

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.records import record_problems
from collectivesft.sources.convert import convert_source

SUBSETS = ["Clinic", "Stomatology", "PublicHealth", "TCM", "CWM"]


def convert(tmp_path, input, **options):
    out = tmp_path / "out"
    stats = convert_source("mlecqa", out, input=input, options=options, allow_empty=True)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    assert all(not record_problems(r) for r in records)
    return stats, records, quarantine


def test_fixture_reads_all_five_subsets(raw_fixtures, tmp_path):
    stats, records, quarantine = convert(tmp_path, raw_fixtures / "mlecqa")
    assert stats["kept"] == 30
    assert {r["meta"]["subset"] for r in records} == set(SUBSETS)
    for rec in records:
        letters = rec["meta"]["answer"]
        assert rec["meta"]["qtype"] in ("A1型题", "A2型题")
        assert rec["messages"][-1]["content"].startswith(f"答案是{letters}")
        assert all(text for text in rec["meta"]["options"].values())  # padded empty options dropped
    reasons = " | ".join(q["reason"] for q in quarantine)
    assert "answer 'F'" in reasons and "empty answer" in reasons and "missing field(s) ['qtext']" in reasons


@pytest.mark.parametrize("subset", SUBSETS)
def test_subset_option(raw_fixtures, tmp_path, subset):
    _, records, _ = convert(tmp_path, raw_fixtures / "mlecqa", subset=subset)
    assert records and {r["meta"]["subset"] for r in records} == {subset}
    assert all(r["id"].startswith(f"mlecqa/{subset}/") for r in records)


def test_truncated_dev_file_keeps_items_before_the_break(raw_fixtures, tmp_path):
    stats, records, quarantine = convert(tmp_path, raw_fixtures / "mlecqa", split="all")
    assert {r["meta"]["split"] for r in records} == {"train", "dev", "test"}
    assert any(q["where"].startswith("Stomatology_dev.json#") and "file breaks" in q["reason"] for q in quarantine)


def question(**changes):
    base = {"qid": "q-1", "qtype": "B1型题", "qtext": "治疗疟疾的药物是",
            "options": {"A": "青蒿素", "B": "华法林", "C": "肾上腺素", "D": "氨氯地平", "E": "舍曲林"}, "answer": "A"}
    base.update(changes)
    return base


@pytest.mark.parametrize("name, raw, expect", [
    ("plain", question(), ("kept", "A")),
    ("lower-case answer", question(answer="a"), ("kept", "A")),
    ("several letters sorted", question(answer="CA"), ("kept", "AC")),
    ("answer among empty padded options", question(options={"A": "青蒿素", "B": "华法林", "E": ""}, answer="E"),
     ("quarantined", "not among the options")),
    ("letter beyond E", question(answer="F"), ("quarantined", "not among the options")),
    ("empty answer", question(answer=""), ("quarantined", "empty answer")),
    ("options as list", question(options=["青蒿素", "华法林"]), ("quarantined", "options must be")),
    ("not an object", ["qid", "qtext"], ("quarantined", "not a JSON object")),
    ("empty question text", question(qtext=""), ("skipped", "empty question")),
])
def test_question_quirks(tmp_path, name, raw, expect):
    folder = tmp_path / "raw"
    folder.mkdir()
    # Pretty-printed with CRLF, as some subsets of the release are.
    first = question(qid="q-0")
    (folder / "TCM_train.json").write_bytes(json.dumps([first, raw], ensure_ascii=False, indent=4)
                                            .replace("\n", "\r\n").encode("utf-8"))
    stats, records, quarantine = convert(tmp_path, folder)
    outcome, detail = expect
    if outcome == "kept":
        assert stats["kept"] == 2, name
        assert records[1]["meta"] == {"subset": "TCM", "qtype": "B1型题", "split": "train", "answer": detail,
                                      "options": records[1]["meta"]["options"]}
        assert records[1]["id"] == "mlecqa/TCM/q-1"
    elif outcome == "quarantined":
        assert stats["quarantined"] == 1 and detail in quarantine[0]["reason"], name
        assert quarantine[0]["where"] == "TCM_train.json#1"
    else:
        assert stats["skipped"] == {detail: 1}


def test_wrong_or_missing_files(raw_fixtures, tmp_path):
    with pytest.raises(InputLayoutError, match="Clinic, Stomatology"):
        convert_source("mlecqa", tmp_path / "out", input=raw_fixtures / "medqa")
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "CWM_train.json").write_text(json.dumps([["病人：你好", "医生：你好"]]), encoding="utf-8")
    with pytest.raises(InputLayoutError, match="does not look like MLEC-QA"):
        convert_source("mlecqa", tmp_path / "out", input=folder)
