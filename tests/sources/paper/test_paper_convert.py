"""--style paper through the CLI, and the rows the paper's scripts cannot process (quarantined with a reason)."""

from __future__ import annotations

import json

import pytest
from raw_files import write_raw
from source_checks import convert_checked

from collectivesft.errors import ConfigError, InputLayoutError
from collectivesft.sources.convert import convert_source

# (source, files, reason fragment): the paper script raises on the last row; we quarantine it and keep the first.
FAILING_ROWS = [
    ("discmed", {"DISC-Med-SFT_released.jsonl": ("jsonl", [
        {"conversation": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]},
        {"conversation": [{"role": "user", "content": "问"}, {"role": "system", "content": "x"}]}])},
     "asserts user, assistant"),
    ("discmed", {"DISC-Med-SFT_released.jsonl": ("jsonl", [
        {"conversation": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]},
        {"conversation": []}])}, "empty"),
    ("medicaldialogue", {"train_data.json": ("json", [["病人：问", "医生：答"], ["病人：问", "医生：答", "病人：再问"]])},
     "odd count"),
    ("medicaldialogue", {"train_data.json": ("json", [["病人：问", "医生：答"], ["医生：答", "病人：问"]])}, "asserts"),
    ("medmcqa", {"train.json": ("jsonl", [
        {"question": "q", "cop": 0, "opa": "a", "opb": "b", "opc": "c", "opd": "d", "subject_name": "S"},
        {"question": "q", "cop": 4, "opa": "a", "opb": "b", "opc": "c", "opd": "d", "subject_name": "S"}])}, "cop 4"),
    ("nlpec", {"NLPEC_public_data/train.json": ("jsonl", [
        {"questionText": "q", "option": ["a"], "answer": ["1"], "context": ["c"]},
        {"questionText": "q", "option": ["a", "b"], "answer": ["1"], "context": ["c"]}])}, "asserts equal"),
    ("mlecqa", {**{f"{s}_train.json": ("json", []) for s in ("Stomatology", "PublicHealth", "TCM", "CWM")},
                "Clinic_train.json": ("json", [{"qtext": "q", "options": {"A": "a"}, "answer": "A"},
                                               {"options": {"A": "a"}, "answer": "A"}])}, "qtext"),
    ("cmid", {"CMID.json": ("json", [
        {"originalText": "头痛", "entities": [], "label_4class": ["'病症'"], "label_36class": []},
        {"entities": [], "label_4class": ["'病症'"], "label_36class": []}])}, "originalText"),
    ("webmedqa", {"medQA.train.txt": "科\t1\t1\t问\t答\n科\t1\t2\t问\t答\t多一列\n"}, "6 tab-separated fields"),
    ("webmedqa", {"medQA.train.txt": "科\t1\t1\t问\t答\n科\t1\t2\n"}, "no answer column"),
]


@pytest.mark.parametrize("source, files, reason", FAILING_ROWS, ids=[f"{c[0]}-{c[2]}" for c in FAILING_ROWS])
def test_rows_the_paper_script_fails_on_are_quarantined_with_the_reason(tmp_path, source, files, reason):
    write_raw(tmp_path / "raw", files)
    stats, records, quarantine = convert_checked(source, tmp_path / "out", input=tmp_path / "raw", style="paper")
    assert stats["quarantined"] == len(quarantine) == 1
    assert reason in quarantine[0]["reason"]
    assert len(records) == 1 and records[0]["id"] == f"{source}/paper-0"


def test_dialogue_turns_get_consecutive_ids_and_their_turn_in_meta(tmp_path):
    write_raw(tmp_path / "raw", {"train_data.json": ("json", [["病人：a", "医生：b", "病人：c", "医生：d"], ["病人：e", "医生：f"]])})
    _, records, _ = convert_checked("medicaldialogue", tmp_path / "out", input=tmp_path / "raw", style="paper")
    assert [r["id"] for r in records] == ["medicaldialogue/paper-0", "medicaldialogue/paper-1", "medicaldialogue/paper-2"]
    assert [r["meta"].get("turn") for r in records] == [0, 1, None]
    assert [len(r["messages"]) for r in records] == [2, 4, 2]


def test_paper_style_fixes_the_selection_so_options_are_refused(tmp_path):
    write_raw(tmp_path / "raw", {"train.json": ("jsonl", [])})
    with pytest.raises(ConfigError, match="style paper fixes the files"):
        convert_source("medmcqa", tmp_path / "out", input=tmp_path / "raw", options={"split": "dev"}, style="paper")
    with pytest.raises(ConfigError, match="style 'papers'"):
        convert_source("medmcqa", tmp_path / "out", input=tmp_path / "raw", style="papers")


def test_hub_input_is_refused_where_the_paper_script_reads_files(tmp_path):
    with pytest.raises(InputLayoutError, match="mlecqa_to_sft.py reads the released files"):
        convert_source("mlecqa", tmp_path / "out", hub="some/hub-id", style="paper")


def test_cli_convert_style_paper_writes_the_paper_rows(cli, tmp_path):
    row = {"exam_type": "医师考试", "exam_class": "执业医师", "exam_subject": "内科学", "question": "问",
           "answer": "B", "option": {"A": "甲", "B": "乙"}}
    write_raw(tmp_path / "raw", {"CMB-train-merge.json": ("json", [row])})
    result = cli(["data", "convert", "cmb", "--input", tmp_path / "raw", "--style", "paper", "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(x) for x in (tmp_path / "out" / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert record["id"] == "cmb/paper-0" and record["meta"]["style"] == "paper"
    assert record["messages"] == [
        {"role": "user", "content": "该问题源自医师考试，面向执业医师中的内科学。\n\n\n问\nA: 甲\nB: 乙\n"},
        {"role": "assistant", "content": "答案是B。"}]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text(encoding="utf-8"))
    assert stats["style"] == "paper" and stats["kept"] == 1
    default = cli(["data", "convert", "cmb", "--input", tmp_path / "raw", "--out", tmp_path / "default"])
    assert default.exit_code == 0
    ours = json.loads((tmp_path / "default" / "records.jsonl").read_text(encoding="utf-8"))
    assert ours["messages"] != record["messages"]  # the default style keeps its own wording
