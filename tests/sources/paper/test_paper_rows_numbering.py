"""meta.paper_row: each --style paper record's row in the paper script's output file, counting the
rows LLaMA-Factory drops (no answer), so the mix's first-N selection is LLaMA-Factory's max_samples."""

from __future__ import annotations

import json

from raw_files import write_raw


def test_rows_without_an_answer_keep_their_place(tmp_path):
    from collectivesft.sources.convert import convert_source

    csv = "department,title,ask,answer\r\n心内科,一,问一,答一\r\n心内科,二,问二,\r\n心内科,三,问三,答三\r\n"
    write_raw(tmp_path / "raw", {"Data_数据/IM_内科/内科.csv": ("gb18030", csv)})
    convert_source("cmeddialogue", tmp_path / "out", input=tmp_path / "raw", style="paper")
    records = [json.loads(x) for x in (tmp_path / "out" / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    # The script writes row 1 with a NaN answer; LLaMA-Factory drops it, but it is row 1 of the file.
    assert [(r["id"], r["meta"]["paper_row"]) for r in records] == [("cmeddialogue/paper-0", 0),
                                                                     ("cmeddialogue/paper-1", 2)]


def test_one_record_per_turn_numbers_each_turn(tmp_path):
    from collectivesft.sources.convert import convert_source

    conversation = [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"},
                    {"role": "user", "content": "再问"}, {"role": "assistant", "content": "再答"}]
    rows = [{"_id": str(i), "conversation": conversation} for i in range(2)]
    write_raw(tmp_path / "raw", {"train.jsonl": ("jsonl", rows)})
    convert_source("discmed", tmp_path / "out", input=tmp_path / "raw" / "train.jsonl", style="paper")
    records = [json.loads(x) for x in (tmp_path / "out" / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["meta"]["paper_row"] for r in records] == [0, 1, 2, 3]
