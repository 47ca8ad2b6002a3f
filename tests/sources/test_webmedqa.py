"""webMedQA: zipped tab-separated files; accepted answers kept, negative candidates skipped."""

import json
import zipfile

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.records import record_problems
from collectivesft.sources.convert import convert_source


def convert(tmp_path, input, **options):
    out = tmp_path / "out"
    stats = convert_source("webmedqa", out, input=input, options=options, allow_empty=True)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    assert all(not record_problems(r) for r in records)
    return stats, records, quarantine


def test_fixture_keeps_accepted_answers(raw_fixtures, tmp_path):
    stats, records, quarantine = convert(tmp_path, raw_fixtures / "webmedqa")
    assert stats["kept"] == 30
    assert stats["skipped"]["negative answer candidate (is_answer=0)"] >= 30 * 3
    assert stats["notes"]["post date stripped from answer"] >= 1
    for rec in records:
        assert rec["task"] == "qa" and rec["meta"]["split"] == "train" and rec["meta"]["department"]
        assert not rec["messages"][-1]["content"][-5:].count(":")  # no trailing "10:21" stamps
    reasons = " | ".join(q["reason"] for q in quarantine)
    for expected in ("missing column(s) ['answer']", "is_answer 'x'", "empty answer", "undecodable bytes"):
        assert expected in reasons
    assert all(q["where"].startswith("train.zip!medQA.train.txt:") for q in quarantine)


def test_unzipped_files_and_split_all(raw_fixtures, tmp_path):
    folder = tmp_path / "unzipped"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        with zipfile.ZipFile(raw_fixtures / "webmedqa" / f"{split}.zip") as zf:
            # Unzipped copies circulate as medQA_train.txt as well as medQA.train.txt.
            (folder / f"medQA_{split}.txt").write_bytes(zf.read(f"medQA.{split}.txt"))
    _, records, _ = convert(tmp_path, folder, split="all")
    assert {r["meta"]["split"] for r in records} == {"train", "valid", "test"}


def tsv(lines):
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.mark.parametrize("name, line, expect", [
    ("accepted", "内科\t1\t42\t头痛怎么办\t注意休息", ("kept", "注意休息")),
    ("quotes are characters", '内科\t1\t42\t"头痛"怎么办\t多喝"温"水', ("kept", '多喝"温"水')),
    ("tab inside the answer", "内科\t1\t42\t头痛\t第一\t第二", ("kept", "第一\t第二")),
    ("glued post date", "内科\t1\t42\t头痛\t注意休息2015-06-1214:23", ("kept", "注意休息")),
    ("negative candidate", "内科\t0\t42\t头痛\t随便吃点药", ("skipped", "negative answer candidate (is_answer=0)")),
    ("bad flag", "内科\t2\t42\t头痛\t注意休息", ("quarantined", "is_answer '2'")),
    ("missing columns", "内科\t1\t42", ("quarantined", "missing column(s) ['question', 'answer']")),
    ("empty answer", "内科\t1\t42\t头痛\t ", ("quarantined", "empty answer")),
])
def test_line_quirks(tmp_path, name, line, expect):
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "medQA.train.txt").write_bytes(tsv([line]))
    stats, records, quarantine = convert(tmp_path, folder)
    outcome, detail = expect
    if outcome == "kept":
        assert stats["kept"] == 1, name
        assert records[0]["messages"][-1]["content"] == detail
        assert records[0]["id"] == "webmedqa/train/42" and records[0]["meta"]["department"] == "内科"
    elif outcome == "quarantined":
        assert stats["quarantined"] == 1 and detail in quarantine[0]["reason"], name
        assert quarantine[0]["where"] == "medQA.train.txt:1"
    else:
        assert stats["skipped"] == {detail: 1}


def test_second_accepted_answer_gets_its_own_id(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "medQA.train.txt").write_bytes(tsv(["内科\t1\t42\t头痛\t甲", "内科\t1\t42\t头痛\t乙"]))
    _, records, _ = convert(tmp_path, folder)
    assert [r["id"] for r in records] == ["webmedqa/train/42", "webmedqa/train/42-a2"]


def test_truncated_and_corrupt_zips_are_layout_errors(raw_fixtures, tmp_path):
    data = (raw_fixtures / "webmedqa" / "train.zip").read_bytes()
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "train.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputLayoutError, match="unreadable zip"):
        convert_source("webmedqa", tmp_path / "out", input=truncated)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    broken = bytearray(data)
    for i in range(60, min(len(broken) - 200, 400)):
        broken[i] ^= 0x5A
    (corrupt / "train.zip").write_bytes(bytes(broken))
    with pytest.raises(InputLayoutError, match="corrupt"):
        convert_source("webmedqa", tmp_path / "out", input=corrupt)


def test_other_layouts_are_refused(raw_fixtures, tmp_path):
    with pytest.raises(InputLayoutError, match="medQA"):
        convert_source("webmedqa", tmp_path / "out", input=raw_fixtures / "nlpec")
    with pytest.raises(InputLayoutError, match="no input files"):
        convert_source("webmedqa", tmp_path / "out", input=raw_fixtures / "medqa")
