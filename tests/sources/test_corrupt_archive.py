"""A zip whose member data breaks mid-way: rows before the break are kept, the break is quarantined."""

import json
import zipfile

from collectivesft.sources.convert import convert_source


def test_member_with_bad_crc_keeps_earlier_rows_and_says_input_is_incomplete(tmp_path, cli):
    rows = [json.dumps({"question": f"q{i}", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1,
                        "id": f"x{i}"}) for i in range(2000)]
    archive = tmp_path / "medmcqa.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("train.json", "\n".join(rows) + "\n")
    data = bytearray(archive.read_bytes())
    middle = data.index(b'"id": "x1500"')
    data[middle + 8] ^= 0x01  # flip one byte inside the stored member: its CRC no longer matches
    archive.write_bytes(bytes(data))

    stats = convert_source("medmcqa", tmp_path / "out", input=archive)
    assert stats["incomplete"].startswith("archive data broke")
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    assert stats["kept"] >= 1  # the rows that decoded before the bad CRC was detected are kept
    quarantine = [json.loads(line) for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert quarantine[-1]["reason"].startswith("corrupt archive")

    result = cli(["data", "convert", "medmcqa", "--input", archive, "--out", tmp_path / "cli"])
    assert result.exit_code == 0
    assert "input incomplete" in result.output
