"""MedDialog-CN (processed.zh): one multi-turn record per dialogue, speaker prefixes removed."""

import json

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.records import record_problems
from collectivesft.sources.convert import convert_source


def convert(tmp_path, input, **options):
    out = tmp_path / "out"
    stats = convert_source("medicaldialogue", out, input=input, options=options, allow_empty=True)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    assert all(not record_problems(r) for r in records)
    return stats, records, quarantine


def write_train(tmp_path, dialogues, ensure_ascii=True):
    folder = tmp_path / "raw"
    folder.mkdir(exist_ok=True)
    (folder / "train_data.json").write_text(json.dumps(dialogues, ensure_ascii=ensure_ascii), encoding="utf-8")
    return folder


def test_fixture_dialogues_become_multi_turn_records(raw_fixtures, tmp_path):
    stats, records, quarantine = convert(tmp_path, raw_fixtures / "medicaldialogue")
    assert stats["kept"] == 30
    assert any(len(r["messages"]) >= 4 for r in records)
    for rec in records:
        assert rec["task"] == "dialogue" and rec["meta"]["split"] == "train"
        assert not any(m["content"][:3] in ("病人：", "医生：", "病人:", "医生:") for m in rec["messages"])
    assert stats["notes"]["trailing patient turn dropped"] >= 1
    assert stats["notes"]["consecutive same-speaker turns merged"] >= 1
    reasons = " | ".join(q["reason"] for q in quarantine)
    assert "speaker prefix" in reasons and "not a list" in reasons


def test_split_all_reads_every_file_and_survives_a_truncated_one(raw_fixtures, tmp_path):
    stats, records, quarantine = convert(tmp_path, raw_fixtures / "medicaldialogue", split="all")
    assert {r["meta"]["split"] for r in records} == {"train", "validation", "test"}
    assert any(q["where"].startswith("test_data.json#") and "file breaks" in q["reason"] for q in quarantine)


@pytest.mark.parametrize("name, dialogue, expect_roles, expect_note", [
    ("plain pair", ["病人：头痛怎么办？", "医生：先量血压。"], ["user", "assistant"], None),
    ("ascii colon", ["病人:头痛怎么办？", "医生:先量血压。"], ["user", "assistant"], None),
    ("trailing patient turn", ["病人：头痛", "医生：量血压", "病人：好的谢谢"], ["user", "assistant"],
     "trailing patient turn dropped"),
    ("same speaker twice", ["病人：头痛", "病人：还有点恶心", "医生：量血压"], ["user", "assistant"],
     "consecutive same-speaker turns merged"),
    ("doctor speaks first", ["医生：您好", "病人：头痛", "医生：量血压"], ["user", "assistant"],
     "leading doctor turn dropped"),
    ("hub row shape", {"utterances": ["病人：头痛", "医生：量血压"]}, ["user", "assistant"], None),
])
def test_turn_rules(tmp_path, name, dialogue, expect_roles, expect_note):
    stats, records, _ = convert(tmp_path, write_train(tmp_path, [dialogue]))
    assert stats["kept"] == 1, name
    rec = records[0]
    assert [m["role"] for m in rec["messages"]] == expect_roles
    assert rec["messages"][0]["content"].startswith("头痛")
    if expect_note:
        assert stats["notes"] == {expect_note: 1}
    if name == "same speaker twice":
        assert rec["messages"][0]["content"] == "头痛\n还有点恶心"


@pytest.mark.parametrize("dialogue, outcome", [
    (["病人：有人吗"], ("skipped", "no patient turn answered by a doctor")),
    (["医生：请描述症状"], ("skipped", "no patient turn answered by a doctor")),
    (["病人：头痛", "护士：请稍等"], ("quarantined", "speaker prefix")),
    ([1, 2], ("quarantined", "not a string")),
])
def test_unusable_dialogues_are_counted(tmp_path, dialogue, outcome):
    stats, _, quarantine = convert(tmp_path, write_train(tmp_path, [["病人：你好", "医生：你好"], dialogue]))
    kind, reason = outcome
    assert stats["kept"] == 1
    if kind == "skipped":
        assert stats["skipped"] == {reason: 1}
    else:
        assert stats["quarantined"] == 1 and reason in quarantine[0]["reason"]
        assert quarantine[0]["where"] == "train_data.json#1"


def test_escaped_and_plain_utf8_files_read_alike(tmp_path):
    dialogue = [["病人：咳嗽三天", "医生：多喝水，观察体温。"]]
    _, escaped, _ = convert(tmp_path, write_train(tmp_path, dialogue, ensure_ascii=True))
    _, plain, _ = convert(tmp_path, write_train(tmp_path, dialogue, ensure_ascii=False))
    assert escaped == plain


def test_wrong_files_are_a_layout_error(raw_fixtures, tmp_path):
    with pytest.raises(InputLayoutError, match="does not look like MedDialog"):
        convert_source("medicaldialogue", tmp_path / "out", input=raw_fixtures / "mlecqa")
    with pytest.raises(InputLayoutError, match="train_data.json"):
        convert_source("medicaldialogue", tmp_path / "out", input=raw_fixtures / "medqa")


def test_hub_layout_folder(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    hub = tmp_path / "medical_dialog" / "processed.zh"
    hub.mkdir(parents=True)
    rows = [{"utterances": ["病人：发热三天", "医生：先查血常规。", "病人：好的"]},
            {"utterances": ["病人：咳嗽", "医生：多喝水"]}]
    pq.write_table(pa.Table.from_pylist(rows), hub / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:1]), hub / "test-00000-of-00001.parquet")
    out = tmp_path / "out"
    result = cli(["data", "convert", "medicaldialogue", "--hub", hub, "--out", out])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert (stats["read"], stats["kept"]) == (2, 2)  # the default split is train
    assert stats["notes"] == {"trailing patient turn dropped": 1}
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert records[0]["messages"] == [{"role": "user", "content": "发热三天"},
                                      {"role": "assistant", "content": "先查血常规。"}]
    assert records[0]["meta"]["split"] == "train"


def test_bigbio_speaker_labels(tmp_path):
    folder = write_train(tmp_path, [{"utterances": {"speaker": [0, 1], "utterance": ["头痛", "量血压"]}}])
    stats, records, _ = convert(tmp_path, folder)
    assert stats["kept"] == 1 and [m["content"] for m in records[0]["messages"]] == ["头痛", "量血压"]
