"""DISC-Med-SFT: one multi-turn record per conversation, merged turns, dropped trailing user turns."""

import json

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.sources.base import Reject, Skip
from collectivesft.sources.convert import convert_source
from collectivesft.sources.discmed import merge_turns
from collectivesft.sources.registry import get_source
from collectivesft.sources.rows import RawRow
from source_checks import convert_checked


def convert(tmp_path, **kwargs):
    return convert_checked("discmed", tmp_path / "out", **kwargs)


def test_conversations_stay_one_multi_turn_record(raw_fixtures, tmp_path):
    stats, records, _ = convert(tmp_path, input=raw_fixtures / "discmed")
    assert stats["kept"] == 30
    assert any(len(r["messages"]) == 6 for r in records) and any(len(r["messages"]) == 2 for r in records)
    for rec in records:
        roles = [m["role"] for m in rec["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        assert rec["meta"]["turns"] == len(roles) // 2 and rec["meta"]["origin"]
        assert rec["id"] == f"discmed/{rec['meta']['origin']}-{rec['id'].rsplit('-', 1)[1]}"
    # the patient's two messages in a row became one user turn
    assert any("\n需要做什么检查吗？" in r["messages"][0]["content"] for r in records)
    assert not any(m["content"] == "好的，谢谢医生！" for r in records for m in r["messages"])
    assert stats["notes"]["trailing user turn dropped"] >= 1
    assert stats["notes"]["consecutive same-role turns merged"] >= 1


def test_broken_lines_are_quarantined_with_line_numbers(raw_fixtures, tmp_path):
    stats, _, quarantine = convert(tmp_path, input=raw_fixtures / "discmed")
    assert stats["skipped"] == {"empty conversation": 1}
    reasons = {q["reason"].split(" (")[0]: q["where"] for q in quarantine}
    assert set(reasons) == {"invalid JSON", "undecodable bytes", "conversation is str, expected a list of turns",
                            "turn 0 has unknown role 'patient'"}
    lines = (raw_fixtures / "discmed" / "DISC-Med-SFT_released.jsonl").read_bytes().split(b"\n")
    for where in reasons.values():
        file, line = where.rsplit(":", 1)
        assert file == "DISC-Med-SFT_released.jsonl"
    assert b"\xff" in lines[int(reasons["undecodable bytes"].rsplit(":", 1)[1]) - 1]


def turns(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


@pytest.mark.parametrize("name, conversation, expect", [
    ("plain two turns", turns(("user", "头痛"), ("assistant", "多休息")), turns(("user", "头痛"), ("assistant", "多休息"))),
    ("consecutive user turns merged", turns(("user", "头痛"), ("user", "三天了"), ("assistant", "多休息")),
     turns(("user", "头痛\n三天了"), ("assistant", "多休息"))),
    ("consecutive assistant turns merged", turns(("user", "头痛"), ("assistant", "多休息"), ("assistant", "多喝水")),
     turns(("user", "头痛"), ("assistant", "多休息\n多喝水"))),
    ("trailing user turn dropped", turns(("user", "头痛"), ("assistant", "多休息"), ("user", "谢谢")),
     turns(("user", "头痛"), ("assistant", "多休息"))),
    ("leading assistant turn dropped", turns(("assistant", "您好"), ("user", "头痛"), ("assistant", "多休息")),
     turns(("user", "头痛"), ("assistant", "多休息"))),
    ("blank turn removed before merging", turns(("user", "头痛"), ("assistant", " "), ("user", "三天了"),
                                                 ("assistant", "多休息")),
     turns(("user", "头痛\n三天了"), ("assistant", "多休息"))),
    ("system prompt kept first", turns(("system", "你是医生"), ("user", "头痛"), ("assistant", "多休息")),
     turns(("system", "你是医生"), ("user", "头痛"), ("assistant", "多休息"))),
    ("ShareGPT-style role names", turns(("human", "头痛"), ("gpt", "多休息")), turns(("user", "头痛"), ("assistant", "多休息"))),
    ("only a user turn", turns(("user", "头痛")), Skip),
    ("empty", [], Skip),
    ("only blank turns", turns(("user", " "), ("assistant", "")), Skip),
    ("unknown role", turns(("doctor", "多休息")), Reject),
    ("system turn in the middle", turns(("user", "头痛"), ("system", "x"), ("assistant", "多休息")), Reject),
    ("not a list", "病人：头痛", Reject),
])
def test_convert_conversation_table(name, conversation, expect):
    source = get_source("discmed")
    row = RawRow("f.jsonl:3", {"_id": "x1", "source": "MedDialog", "conversation": conversation})
    if expect in (Skip, Reject):
        with pytest.raises(expect):
            source.convert(row)
    else:
        rec = source.convert(row)
        assert rec["messages"] == expect and rec["id"] == "discmed/x1"


def test_notes_count_what_was_changed():
    source = get_source("discmed")
    source.convert(RawRow("f:1", {"conversation": turns(("user", "a"), ("user", "b"), ("assistant", "c"), ("user", "d"))}))
    assert source.notes == {"consecutive same-role turns merged": 1, "trailing user turn dropped": 1}


def test_repeated_ids_stay_unique():
    source = get_source("discmed")
    conv = turns(("user", "a"), ("assistant", "b"))
    first = source.convert(RawRow("f.jsonl:1", {"_id": "x", "conversation": conv}))
    second = source.convert(RawRow("f.jsonl:9", {"_id": "x", "conversation": conv}))
    assert (first["id"], second["id"]) == ("discmed/x", "discmed/x@f.jsonl:9")
    assert source.notes["repeated _id (made unique with the line)"] == 1


def test_merge_turns_keeps_inputs_untouched():
    given = turns(("user", "a"), ("user", "b"))
    assert merge_turns(given) == turns(("user", "a\nb")) and given == turns(("user", "a"), ("user", "b"))


def test_other_jsonl_is_unusable_input(tmp_path):
    folder = tmp_path / "medqa"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"question": "q", "options": {"A": "a"}, "answer_idx": "A"}) + "\n")
    with pytest.raises(InputLayoutError, match="conversation"):
        convert_source("discmed", tmp_path / "out", input=folder / "train.jsonl")
    with pytest.raises(InputLayoutError, match="DISC-Med-SFT"):
        convert_source("discmed", tmp_path / "out", input=folder)


def test_output_inside_the_input_folder_is_not_read_back(raw_fixtures, tmp_path):
    import shutil

    folder = tmp_path / "disc"
    shutil.copytree(raw_fixtures / "discmed", folder)
    first, _, _ = convert(folder, input=folder)  # writes folder/out/records.jsonl
    again, _, _ = convert(folder, input=folder)
    assert first["read"] == again["read"]


def test_hub_path_with_a_local_folder(raw_fixtures, tmp_path):
    folder = tmp_path / "hub"
    folder.mkdir()
    rows = [{"_id": "a1", "source": "CMeKG", "conversation": turns(("user", "痛风首选什么药？"), ("assistant", "秋水仙碱"))},
            {"_id": "a2", "source": "CMeKG", "conversation": []}]
    (folder / "DISC-Med-SFT_released.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    stats, records, _ = convert(tmp_path, hub=str(folder))
    assert stats["kept"] == 1 and stats["skipped"] == {"empty conversation": 1}
    assert records[0]["id"] == "discmed/a1"
