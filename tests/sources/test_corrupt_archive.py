"""A zip whose member data breaks while being read is an unreadable archive: exit 2, nothing written."""

import json
import subprocess
import sys
import zipfile


def test_member_with_bad_crc_is_an_unusable_input_and_writes_nothing(tmp_path, cli):
    rows = [json.dumps({"question": f"q{i}", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1,
                        "id": f"x{i}"}) for i in range(2000)]
    archive = tmp_path / "medmcqa.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("train.json", "\n".join(rows) + "\n")
    data = bytearray(archive.read_bytes())
    middle = data.index(b'"id": "x1500"')
    data[middle + 8] ^= 0x01  # flip one byte inside the stored member: its CRC no longer matches
    archive.write_bytes(bytes(data))

    proc = subprocess.run([sys.executable, "-m", "collectivesft", "data", "convert", "medmcqa", "--input",
                           str(archive), "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "corrupt or truncated archive data after medmcqa.zip!train.json:" in proc.stderr
    assert not (tmp_path / "out" / "records.jsonl").exists()
