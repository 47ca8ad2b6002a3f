"""Fault campaign, part 5: hostile inputs, through the CLI. Readers stay bounded (depth, string
and row size), never silently wrong (a broken row is quarantined with its reason and the rest
is read), and scoring refuses a score of nothing.

Conversion cases: how the input is made, the exit code, words the message or the quarantine
reasons must hold, and what stats.json must say. Cases whose input would take gigabytes on a
reader that is not bounded run in a child process under an address-space limit (RLIMIT_AS).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from fault_checks import Case, run_main

MiB = 1 << 20


def cmid_item(i: int) -> dict:
    return {"originalText": f"高血压第{i}天有什么症状？", "entities": [], "label_4class": ["病症"],
            "label_36class": ["临床表现"]}


def disc_row(i: int) -> dict:
    return {"_id": f"d{i}", "source": "MedDialog",
            "conversation": [{"role": "user", "content": f"大夫，头痛{i}天了怎么办？"},
                             {"role": "assistant", "content": "建议到神经内科就诊。"}]}


def dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def cmid_list(items: list[str]) -> Callable:
    """A CMID folder whose CMID.json is a JSON list of the given raw item texts, one per line."""
    def build(tmp: Path) -> Path:
        (tmp / "cmid").mkdir()
        (tmp / "cmid" / "CMID.json").write_text("[\n" + ",\n".join(items) + "\n]\n", encoding="utf-8")
        return tmp / "cmid"
    return build


def good_cmid(n: int, at: int, bad: str) -> list[str]:
    """n items, the one at index `at` replaced by the raw text `bad`."""
    items = [dump(cmid_item(i)) for i in range(n)]
    items[at] = bad
    return items


def disc_lines(lines: list[str]) -> Callable:
    def build(tmp: Path) -> Path:
        path = tmp / "DISC-Med-SFT_released.jsonl"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path
    return build


def good_disc(n: int, at: int, bad: str) -> list[str]:
    lines = [dump(disc_row(i)) for i in range(n)]
    lines[at] = bad
    return lines


def zipped(name: str, member: str, head: bytes, filler: bytes, size: int, tail: bytes) -> Callable:
    """A zip holding `member`: head, `size` bytes of `filler` (streamed, never held), tail."""
    def build(tmp: Path) -> Path:
        path = tmp / name
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            with zf.open(member, "w", force_zip64=True) as fh:
                fh.write(head)
                block = filler * (MiB // len(filler))
                for _ in range(size // len(block)):
                    fh.write(block)
                fh.write(tail)
        return path
    return build


def _patched_zip(tmp: Path, flag_bits: int = 0, method: int | None = None) -> Path:
    """cmid.zip whose CMID.json member claims encryption (flag bit 0) or an unsupported method."""
    path = tmp / "cmid.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("CMID.json", "[" + ",".join(dump(cmid_item(i)) for i in range(5)) + "]")
    data = bytearray(path.read_bytes())
    for signature, flags_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.index(signature)
        data[at + flags_at] |= flag_bits
        if method is not None:
            data[at + method_at:at + method_at + 2] = method.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


def encrypted_member(tmp: Path) -> Path:
    return _patched_zip(tmp, flag_bits=1)


def deflate64_member(tmp: Path) -> Path:
    return _patched_zip(tmp, method=9)  # Deflate64: zipfile cannot decompress it


def symlink_outside(tmp: Path) -> Path:
    outside = tmp / "elsewhere" / "CMID.json"
    outside.parent.mkdir()
    outside.write_text("[" + ",".join(dump(cmid_item(i)) for i in range(5)) + "]", encoding="utf-8")
    (tmp / "cmid").mkdir()
    (tmp / "cmid" / "CMID.json").symlink_to(outside)
    return tmp / "cmid"


def symlink_inside(tmp: Path) -> Path:
    (tmp / "cmid" / "data").mkdir(parents=True)
    (tmp / "cmid" / "data" / "real.json").write_text("[" + ",".join(dump(cmid_item(i)) for i in range(5)) + "]",
                                                      encoding="utf-8")
    (tmp / "cmid" / "CMID.json").symlink_to(Path("data") / "real.json")
    return tmp / "cmid"




DEEP = 200_000
CASES = [
    # 1: one item nested 200,000 deep in a JSON list: quarantined in linear time, bounded memory.
    Case("list item nested 200,000 deep", "cmid",
         cmid_list(good_cmid(20, 3, "[" * DEEP + "]" * DEEP)), 0, ("max_depth", "64 levels", "--set max_depth="),
         stats={"read": 20, "kept": 19, "quarantined": 1}, memory_mb=1536),
    Case("list item nested 100 deep within --set max_depth=128", "cmid",
         cmid_list(good_cmid(20, 3, dump(dict(cmid_item(3), deep="[" * 100 + "]" * 100)))), 0,
         args=("--set", "max_depth=128"), stats={"read": 20, "kept": 20, "quarantined": 0}),
    # 4: one rule for non-finite numbers in both readers; a broken item never ends the file.
    Case("NaN in item 4 of 50 of a JSON list", "cmid",
         cmid_list(good_cmid(50, 4, dump(cmid_item(4))[:-1] + ', "score": NaN}')), 0, ("non-finite number NaN",),
         stats={"read": 50, "kept": 49, "quarantined": 1}),
    Case("NaN, -Infinity and 1e999 in JSON lines", "discmed",
         disc_lines(good_disc(50, 4, dump(disc_row(4))[:-1] + ', "score": NaN}')[:10]
                    + [dump(disc_row(50))[:-1] + ', "score": -Infinity}', dump(disc_row(51))[:-1] + ', "score": 1e999}']),
         0, ("non-finite number",), stats={"read": 12, "kept": 9, "quarantined": 3}),
    Case("syntax error in item 4 of 50 of a JSON list", "cmid",
         cmid_list(good_cmid(50, 4, '{"originalText": "x" "y"}')), 0, ("invalid JSON",),
         stats={"read": 50, "kept": 49, "quarantined": 1}),
    Case("mismatched bracket in item 4 of 50 of a JSON list", "cmid",
         cmid_list(good_cmid(50, 4, '{"originalText": ["x"}')), 0, ("invalid JSON",),
         stats={"read": 50, "kept": 49, "quarantined": 1}),
    Case("stray comma in a JSON list", "cmid",
         cmid_list(good_cmid(10, 4, "") + ['']), 0, ("empty item",),
         stats={"read": 11, "kept": 9, "quarantined": 2}),
    # 5: lone surrogates and deep JSON lines.
    Case("lone surrogate escape in a JSON line", "discmed",
         disc_lines(good_disc(10, 2, dump(disc_row(2)).replace("头痛", "\\ud800头痛"))), 0, ("surrogate",),
         stats={"read": 10, "kept": 9, "quarantined": 1}),
    Case("lone surrogate escape in a JSON list item", "cmid",
         cmid_list(good_cmid(10, 2, dump(cmid_item(2)).replace("高血压", "\\udfff高血压"))), 0, ("surrogate",),
         stats={"read": 10, "kept": 9, "quarantined": 1}),
    Case("surrogate pair escape is one character, kept", "discmed",
         disc_lines(good_disc(10, 2, dump(disc_row(2)).replace("头痛", "\\ud83d\\ude00头痛"))), 0,
         stats={"read": 10, "kept": 10, "quarantined": 0}),
    Case("JSON line nested 100,000 deep", "discmed",
         disc_lines(good_disc(10, 5, '{"a": ' * 100_000 + "1" + "}" * 100_000)), 0, ("max_depth",),
         stats={"read": 10, "kept": 9, "quarantined": 1}, memory_mb=1536),
    # 9: per-field and per-row size limits, memory bounded.
    Case("64 MiB string in a zipped JSON list, --set max_field_mb=1", "cmid",
         zipped("cmid.zip", "CMID.json", b'[' + dump(cmid_item(0)).encode() + b',{"originalText": "', b"a", 64 * MiB,
                b'"},' + dump(cmid_item(2)).encode() + b"]"),
         0, ("max_field_mb", "--set max_field_mb="), args=("--set", "max_field_mb=1"),
         stats={"read": 3, "kept": 2, "quarantined": 1}, memory_mb=600),
    Case("128 MiB line in zipped JSON lines (default limits)", "discmed",
         zipped("disc.zip", "DISC-Med-SFT_released.jsonl", dump(disc_row(0)).encode() + b'\n{"_id": "',
                b"x", 128 * MiB, b'"}\n' + dump(disc_row(2)).encode() + b"\n"),
         0, ("max_row_mb", "64 MiB"), stats={"read": 3, "kept": 2, "quarantined": 1}, memory_mb=600),
    Case("bad limit value", "cmid", cmid_list(good_cmid(5, 0, dump(cmid_item(0)))), 2, ("max_depth",),
         args=("--set", "max_depth=0")),
    # 10: archive members zipfile cannot read: exit 2 naming archive and member.
    Case("encrypted zip member", "cmid", encrypted_member, 2, ("cmid.zip", "CMID.json", "encrypted")),
    Case("zip member with an unsupported compression", "cmid", deflate64_member, 2,
         ("cmid.zip", "CMID.json", "compression")),
    # Symlinks inside an input folder: followed only where they stay inside it.
    Case("symlink pointing outside the input folder", "cmid", symlink_outside, 2, ("symbolic link", "outside")),
    Case("symlink pointing inside the input folder", "cmid", symlink_inside, 0, stats={"kept": 5}),
]


def _child(args: list[str], memory_mb: int) -> tuple[int, str, str]:
    """Run `collectivesft ARGS` in a child process whose address space is capped at memory_mb."""
    limit = memory_mb * MiB
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
            "sys.argv = ['collectivesft', *sys.argv[1:]]\n"
            "from collectivesft.cli.main import main\n"
            "main()\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_convert_input(case, tmp_path, monkeypatch, capsys):
    path = case.build(tmp_path)
    out = tmp_path / "out"
    args = ["data", "convert", case.source, "--input", str(path), "--out", str(out), *case.args]
    if case.memory_mb:
        code, stdout, err = _child(args, case.memory_mb)
    else:
        code, stdout, err = run_main(args, monkeypatch, capsys)
    assert code == case.code, (err or stdout)[-2000:]
    assert "Traceback" not in err, err[-2000:]
    if code != 0:
        assert err.splitlines()[-1].startswith("error:"), err
        for word in case.words:
            assert word in err, (word, err)
        return
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    for key, value in case.stats.items():
        assert stats[key] == value, (key, stats)
    reasons = [json.loads(line)["reason"] for line in (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    for word in case.words:
        assert any(word in r for r in reasons), (word, reasons)


# -- scoring: a score of nothing is an error; score and validate read files the same way ------
@pytest.fixture(scope="module")
def cmb(tmp_path_factory) -> Path:
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    return write_cmb_eval(tmp_path_factory.mktemp("cmb") / "CMB", n_test=28, seed=0)


def _key(cmb: Path) -> Path:
    return next(cmb.rglob("CMB-test-choice-answer.json"))


def _answers(cmb: Path) -> list[dict]:
    """Right answers to every key row (empty where the key's own answer is not letters)."""
    return [{"id": r["id"], "model_answer": r["answer"] if r["answer"].isalpha() and r["answer"].isascii() else ""}
            for r in json.loads(_key(cmb).read_text(encoding="utf-8"))]


def outputs_text(text: str) -> Callable:
    return lambda cmb, tmp: (_write(tmp / "outputs.jsonl", text), _key(cmb))


def outputs_lines(edit: Callable) -> Callable:
    """JSON lines of right answers, passed through edit(lines) -> lines."""
    return lambda cmb, tmp: (_write(tmp / "outputs.jsonl", "".join(
        line + "\n" for line in edit([dump(r) for r in _answers(cmb)]))), _key(cmb))


def key_text(text: Callable) -> Callable:
    def build(cmb, tmp):
        return _write(tmp / "outputs.jsonl", "".join(dump(r) + "\n" for r in _answers(cmb))), \
            _write(tmp / "key.json", text(_key(cmb).read_text(encoding="utf-8")))
    return build


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def columnar(cmb, tmp):
    """pandas' DataFrame.to_json default: one object of columns, not rows."""
    rows = _answers(cmb)
    table = {"id": {str(i): r["id"] for i, r in enumerate(rows)},
             "model_answer": {str(i): r["model_answer"] for i, r in enumerate(rows)}}
    return _write(tmp / "outputs.json", dump(table)), _key(cmb)


@dataclass
class ScoreCase:
    id: str
    build: Callable  # (cmb folder, tmp) -> (outputs path, key path)
    words: tuple[str, ...]


SCORE_CASES = [
    ScoreCase("empty outputs file", outputs_text(""), ("no rows",)),
    ScoreCase("outputs file of blank lines", outputs_text("\n \n"), ("no rows",)),
    ScoreCase("key of []", key_text(lambda text: "[]"), ("no rows",)),
    ScoreCase("key whose id is NaN", key_text(lambda text: text.replace('"id": 1,', '"id": NaN,', 1)),
              ("NaN", "key.json")),
    ScoreCase("one object of columns instead of rows", columnar, ("id",)),
    ScoreCase("outputs whose ids are none of the key's", outputs_lines(
        lambda lines: [dump({"id": f"x{i}", "model_answer": "A"}) for i in range(len(lines))]), ("none of",)),
    ScoreCase("a float id", outputs_lines(lambda lines: [dump({"id": 1.0, "model_answer": "A"})] + lines[1:]),
              ("line 1", "1.0")),
    ScoreCase("outputs row nested 100,000 deep", outputs_lines(
        lambda lines: lines[:1] + ['{"id": 2, "output": ' + "[" * 100_000 + "]" * 100_000 + "}"] + lines[2:]),
        ("line 2", "max_depth")),
    ScoreCase("outputs row with a lone surrogate", outputs_lines(
        lambda lines: lines[:2] + ['{"id": 3, "output": "\\ud800"}'] + lines[3:]), ("line 3", "surrogate")),
    ScoreCase("outputs row with NaN", outputs_lines(
        lambda lines: lines[:3] + ['{"id": 4, "output": NaN}'] + lines[4:]), ("line 4", "NaN")),
]


@pytest.mark.parametrize("case", SCORE_CASES, ids=[c.id for c in SCORE_CASES])
def test_a_score_of_nothing_or_a_bad_row_is_an_error(case, cmb, tmp_path, monkeypatch, capsys):
    outputs, key = case.build(cmb, tmp_path)
    code, stdout, err = run_main(["eval", "cmb-score", "--outputs", outputs, "--key", key, "--out", tmp_path / "s"],
                                 monkeypatch, capsys)
    assert code == 2, stdout + err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), err
    for word in case.words:
        assert word in err, (word, err)
    assert not (tmp_path / "s" / "scores.json").exists()


@pytest.mark.parametrize("form", ["list", "lines"])
def test_score_and_validate_read_the_same_forms(form, cmb, tmp_path, monkeypatch, capsys):
    rows = _answers(cmb)
    text = dump(rows) if form == "list" else "".join(dump(r) + "\n" for r in rows)
    path = _write(tmp_path / "submission.json", text)
    code, stdout, err = run_main(["eval", "cmb-score", "--outputs", path, "--key", _key(cmb), "--out", tmp_path / "s"],
                                 monkeypatch, capsys)
    assert code == 0, err
    scores = json.loads((tmp_path / "s" / "scores.json").read_text(encoding="utf-8"))
    assert scores["n_answered"] == scores["n"] == len(rows) - scores["key_invalid"]
    code, stdout, err = run_main(["eval", "cmb-validate", path, "--questions", cmb], monkeypatch, capsys)
    assert f"({len(rows)} answers)" in stdout or f" {len(rows)} rows)" in stdout, stdout  # every row read
    if form == "list":
        assert code == 0, stdout
    else:  # read the same way, but the leaderboard takes only the JSON list
        assert code == 1 and "JSON Lines" in stdout, stdout


def test_validate_names_a_bad_row_as_score_does(cmb, tmp_path, monkeypatch, capsys):
    lines = [dump(r) for r in _answers(cmb)]
    path = _write(tmp_path / "submission.jsonl", "".join(x + "\n" for x in lines[:1] + ['{"id": 2, "model_answer": NaN}']
                                                          + lines[2:]))
    code, stdout, err = run_main(["eval", "cmb-score", "--outputs", path, "--key", _key(cmb), "--out", tmp_path / "s"],
                                 monkeypatch, capsys)
    assert code == 2 and "line 2" in err and "NaN" in err, err
    code, stdout, err = run_main(["eval", "cmb-validate", path, "--questions", cmb], monkeypatch, capsys)
    assert code == 1 and "line 2" in stdout and "NaN" in stdout, stdout
