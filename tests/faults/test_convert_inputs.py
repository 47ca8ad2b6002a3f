"""Fault campaign, part 1: the inputs users actually have, through `collectivesft data convert`.

One row per case: how the input is made from the generated fixtures, the exit code, words the
message must hold, and what stats.json must say. A case that exits non-zero must name the
reason; one that exits 0 must have kept records. Nothing may be left half-written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest
from fault_checks import Case, run_main


def good_rows(path: Path) -> list:
    """The rows of a fixture file that parse (fixtures hold deliberately broken rows)."""
    import ijson

    rows = []
    with open(path, "rb") as fh:
        if fh.read(1) == b"[":
            fh.seek(0)
            try:
                rows.extend(ijson.items(fh, "item", use_float=True))
            except ijson.JSONError:
                pass  # the list's broken tail
            return rows
    for line in path.read_bytes().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return rows


def jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


# -- input builders: (raw fixtures, tmp folder) -> the --input path -------------------------
def cmid_renamed_jsonl(raw, tmp):
    path = tmp / "my_cmid.jsonl"
    path.write_text(jsonl(good_rows(raw / "cmid" / "CMID.json")), encoding="utf-8")
    return path


def cmid_jsonl_named_json(raw, tmp):
    (tmp / "cmid").mkdir()
    path = tmp / "cmid" / "CMID.json"  # CMID's first release: JSON Lines under the .json name
    path.write_text(jsonl(good_rows(raw / "cmid" / "CMID.json")), encoding="utf-8")
    return tmp / "cmid"


def cmb_renamed(raw, tmp):
    path = tmp / "my_train.json"
    shutil.copy(next((raw / "cmb").rglob("CMB-train-merge.json")), path)
    return path


def medicaldialogue_test_file(raw, tmp):
    path = tmp / "test_data.json"
    shutil.copy(raw / "medicaldialogue" / "test_data.json", path)
    return path


def discmed_folder_other_name(raw, tmp):
    folder = tmp / "disc"
    folder.mkdir()
    shutil.copy(raw / "discmed" / "DISC-Med-SFT_released.jsonl", folder / "disc_part1.jsonl")
    return folder


def medmcqa_json_list(raw, tmp):
    folder = tmp / "medmcqa"
    folder.mkdir()
    (folder / "train.json").write_text(json.dumps(good_rows(raw / "medmcqa" / "train.json")), encoding="utf-8")
    return folder


def cmid_gb18030(raw, tmp):
    (tmp / "cmid").mkdir()
    text = json.dumps(good_rows(raw / "cmid" / "CMID.json"), ensure_ascii=False)
    (tmp / "cmid" / "CMID.json").write_bytes(text.encode("gb18030"))
    return tmp / "cmid"


def cmid_file(content: str) -> Callable:
    def build(raw, tmp):
        (tmp / "cmid").mkdir()
        (tmp / "cmid" / "CMID.json").write_text(content, encoding="utf-8")
        return tmp / "cmid"
    return build


def medqa_given_to_cmid(raw, tmp):
    path = tmp / "questions.jsonl"
    shutil.copy(next((raw / "medqa").rglob("train.jsonl")), path)
    return path


def cmedqa2_single_file(raw, tmp):
    import zipfile

    with zipfile.ZipFile(raw / "cmedqa2" / "question.zip") as zf:
        (tmp / "question.csv").write_bytes(zf.read(zf.namelist()[0]))
    return tmp / "question.csv"




CASES = [
    # Explicit files are read whatever their name; their split is the one the name says.
    Case("cmid explicit .jsonl file", "cmid", cmid_renamed_jsonl, 0,
         stats={"input_file": {"name": "my_cmid.jsonl", "split": None}}),
    Case("cmb explicit my_train.json", "cmb", cmb_renamed, 0,
         stats={"input_file": {"name": "my_train.json", "split": "train"}}),
    Case("medicaldialogue explicit test file (split option is train)", "medicaldialogue",
         medicaldialogue_test_file, 0, stats={"input_file": {"name": "test_data.json", "split": "test"}}),
    Case("discmed folder holding a .jsonl of another name", "discmed", discmed_folder_other_name, 0),
    # JSON list vs JSON Lines is decided by the content.
    Case("cmid JSON Lines named CMID.json", "cmid", cmid_jsonl_named_json, 0),
    Case("medmcqa train.json as a JSON list", "medmcqa", medmcqa_json_list, 0),
    # Rows read but none kept: non-zero, the commonest reason, where to look.
    Case("cmid in GB18030", "cmid", cmid_gb18030, 2, ("kept none", "not utf-8", "quarantine.jsonl", "--allow-empty")),
    Case("cmid empty file", "cmid", cmid_file(""), 2, ("no rows read", "--allow-empty")),
    Case("cmid empty list", "cmid", cmid_file("[]"), 2, ("no rows read",)),
    Case("cmid list broken in its first item", "cmid", cmid_file('[{"originalText": "x", '), 2,
         ("kept none", "breaks before its first item")),
    Case("cmid broken first item, --allow-empty", "cmid", cmid_file('[{"originalText": "x", '), 0,
         args=("--allow-empty",), stats={"kept": 0, "quarantined": 1}),
    Case("another dataset's file given to cmid", "cmid", medqa_given_to_cmid, 2, ("kept none",)),
    Case("cmedqa2 given one csv", "cmedqa2", cmedqa2_single_file, 2, ("give the folder",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_convert_input_case(case, raw_fixtures, tmp_path, monkeypatch, capsys):
    path = case.build(raw_fixtures, tmp_path)
    out = tmp_path / "out"
    code, stdout, err = run_main(["data", "convert", case.source, "--input", path, "--out", out, *case.args],
                                 monkeypatch, capsys)
    assert code == case.code, err or stdout
    for word in case.words:
        assert word in err, (word, err)
    assert not list(tmp_path.rglob(".*.tmp")), "half-written files left behind"
    if code == 0:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
        assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
        assert stats["kept"] > 0 or "--allow-empty" in case.args
        for key, value in case.stats.items():
            assert stats[key] == value, key
    else:
        assert err.splitlines()[-1].startswith("error:") and "Traceback" not in err


def test_fixtures_refuse_a_negative_row_count(tmp_path, monkeypatch, capsys):
    code, _, err = run_main(["data", "fixtures", tmp_path / "raw", "--rows", "-5"], monkeypatch, capsys)
    assert code == 2 and "--rows" in err
    assert not (tmp_path / "raw").exists()
