"""cMedQA2: zipped CSVs joined on question_id; every answer is a pair; candidate files give splits."""

import csv
import io
import json
import shutil
import zipfile

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.sources.convert import convert_source
from source_checks import convert_checked


def convert(tmp_path, input, **options):
    return convert_checked("cmedqa2", tmp_path / "out", input=input, options=options)


def read_member(archive, member):
    with zipfile.ZipFile(archive) as zf:
        return zf.read(member)


def test_every_answer_of_a_question_is_a_pair(raw_fixtures, tmp_path):
    root = raw_fixtures / "cmedqa2"
    stats, records, _ = convert(tmp_path, root)
    assert stats["kept"] == 30
    questions = dict(csv.reader(io.StringIO(read_member(root / "question.zip", "question.csv").decode("utf-8"))))
    per_question = {}
    for rec in records:
        qid, aid = rec["meta"]["question_id"], rec["meta"]["ans_id"]
        assert rec["id"] == f"cmedqa2/q{qid}-a{aid}"
        assert rec["messages"][0]["content"] == questions[qid].strip()
        per_question.setdefault(qid, []).append(aid)
    assert max(len(a) for a in per_question.values()) >= 2  # several answers of one question kept
    assert any("\n" in r["messages"][0]["content"] for r in records)  # quoted embedded newline
    assert {r["meta"].get("split") for r in records} >= {"train"}


def test_broken_rows_are_quarantined(raw_fixtures, tmp_path):
    stats, _, quarantine = convert(tmp_path, raw_fixtures / "cmedqa2")
    assert stats["quarantined"] == 4
    reasons = {q["reason"]: q["where"] for q in quarantine}
    orphan = [r for r in reasons if r.endswith("not in question.csv")]
    assert len(orphan) == 1
    assert reasons["undecodable bytes (not utf-8)"].startswith("answer.zip!answer.csv:")
    assert reasons["missing column(s) ['content']"].startswith("answer.zip!answer.csv:")
    assert "empty answer" in reasons
    # line numbers point into the CSV: the orphan's line holds its question_id
    lines = read_member(raw_fixtures / "cmedqa2" / "answer.zip", "answer.csv").split(b"\n")
    line = int(reasons[orphan[0]].rsplit(":", 1)[1])
    assert orphan[0].split("'")[1].encode() in lines[line - 1]


def test_split_option_selects_questions_by_candidate_file(raw_fixtures, tmp_path):
    _, everything, _ = convert(tmp_path, raw_fixtures / "cmedqa2")
    seen = set()
    for split in ("train", "dev", "test"):
        stats, records, _ = convert(tmp_path, raw_fixtures / "cmedqa2", split=split)
        assert {r["meta"]["split"] for r in records} <= {split}
        ids = {r["id"] for r in records}
        assert not ids & seen
        seen |= ids
        assert stats["options"]["split"] == split
        if len(records) < 30:
            assert sum(n for k, n in stats["notes"].items() if k.startswith("answers outside split")) > 0
    unsplit = {r["id"] for r in everything if "split" not in r["meta"]}
    assert seen | unsplit == {r["id"] for r in everything}


def test_unzipped_folder_gives_the_same_records(raw_fixtures, tmp_path):
    folder = tmp_path / "cMedQA2"
    folder.mkdir()
    for archive in (raw_fixtures / "cmedqa2").glob("*.zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(folder)
    _, zipped, _ = convert(tmp_path / "a", raw_fixtures / "cmedqa2")
    _, plain, quarantine = convert(tmp_path / "b", folder)
    assert plain == zipped
    assert any(q["where"].startswith("answer.csv:") for q in quarantine)


def test_gb18030_copy_is_detected(raw_fixtures, tmp_path):
    folder = tmp_path / "resaved"
    shutil.copytree(raw_fixtures / "cmedqa2", folder)
    text = read_member(folder / "question.zip", "question.csv").decode("utf-8")
    (folder / "question.zip").unlink()
    (folder / "question.csv").write_bytes(text.encode("gb18030"))
    _, original, _ = convert(tmp_path / "a", raw_fixtures / "cmedqa2")
    _, resaved, _ = convert(tmp_path / "b", folder)
    assert resaved == original


def test_missing_files_are_layout_errors(raw_fixtures, tmp_path):
    folder = tmp_path / "partial"
    shutil.copytree(raw_fixtures / "cmedqa2", folder)
    (folder / "dev_candidates.zip").unlink()
    stats, _, _ = convert(tmp_path, folder)  # splits are optional for the default (all pairs)
    assert stats["kept"] == 30
    with pytest.raises(InputLayoutError, match="dev_candidates"):
        convert_source("cmedqa2", tmp_path / "o", input=folder, options={"split": "dev"})
    (folder / "answer.zip").unlink()
    with pytest.raises(InputLayoutError, match="answer.csv"):
        convert_source("cmedqa2", tmp_path / "o", input=folder)
    with pytest.raises(InputLayoutError, match="no hub dataset"):
        convert_source("cmedqa2", tmp_path / "o", hub=str(folder))


def test_cli_split_option(cli, raw_fixtures, tmp_path):
    result = cli(["data", "convert", "cmedqa2", "--input", raw_fixtures / "cmedqa2", "--out", tmp_path / "o",
                  "--option", "split=train"])
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "o" / "stats.json").read_text(encoding="utf-8"))
    assert stats["options"] == {"split": "train"} and 0 < stats["kept"] < 30
