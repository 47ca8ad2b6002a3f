"""Fault campaign, part 2: `collectivesft data mix` never builds a wrong mixture with exit 0,
and leaves nothing half-written behind (kills, stale temporary files, file modes)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
import yaml
from fault_checks import run_main


def _recipe(tmp_path: Path, sources: list[dict], **top) -> Path:
    path = tmp_path / "recipe.yaml"
    recipe = {"seed": 0, "report": False, "sources": sources, **top}
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def converted(raw_fixtures, tmp_path_factory) -> dict[str, str]:
    from collectivesft.sources.convert import convert_source

    root = tmp_path_factory.mktemp("converted")
    for name in ("cmb", "medqa"):
        convert_source(name, root / name, input=raw_fixtures / name)
    return {name: str(root / name) for name in ("cmb", "medqa")}


def _gb18030_cmid(tmp_path: Path, raw: Path) -> str:
    folder = tmp_path / "cmid"
    folder.mkdir()
    text = (raw / "cmid" / "CMID.json").read_text(encoding="utf-8")
    (folder / "CMID.json").write_bytes(text.encode("gb18030"))
    return str(folder)


def _empty_records(tmp_path: Path, raw: Path) -> str:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "records.jsonl").write_text("", encoding="utf-8")
    return str(tmp_path / "x")


CASES = [
    # id, sources (cmb/medqa are converted folders; callables build an input), top-level keys, code, words
    ("a source wholly filtered", [{"name": "cmb"}, {"name": "medqa"}], {"filters": {"langs": ["en"]}}, 2,
     ("mix source 'cmb' contributes no records", "filter:lang", "allow_empty")),
    ("a wholly filtered source allowed", [{"name": "cmb", "allow_empty": True}, {"name": "medqa"}],
     {"filters": {"langs": ["en"]}}, 0, ()),
    ("an empty mixture, even when allowed", [{"name": "cmb", "allow_empty": True}], {"filters": {"langs": ["es"]}},
     2, ("the mixture would hold no records",)),
    ("a source whose records file is empty", [{"name": "cmb"}, {"name": "x", "records": _empty_records}], {}, 2,
     ("mix source 'x' contributes no records", "records file is empty")),
    ("a raw source that converts to nothing", [{"name": "cmb"}, {"name": "cmid", "input": _gb18030_cmid}], {}, 2,
     ("mix source 'cmid'", "not utf-8")),
    ("a source given cap 0 on purpose", [{"name": "cmb", "cap": 0}, {"name": "medqa"}], {}, 0, ()),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_mix_case(case, converted, raw_fixtures, tmp_path, monkeypatch, capsys):
    _, sources, top, code, words = case
    resolved = []
    for spec in sources:
        spec = dict(spec)
        for key in ("records", "input"):
            if callable(spec.get(key)):
                spec[key] = spec[key](tmp_path, raw_fixtures)
        if "records" not in spec and "input" not in spec:
            spec["records"] = converted[spec["name"]]
        resolved.append(spec)
    out = tmp_path / "out"
    got, stdout, err = run_main(["data", "mix", _recipe(tmp_path, resolved, **top), "--out", out], monkeypatch, capsys)
    assert got == code, err or stdout
    for word in words:
        assert word in err, (word, err)
    assert not list(tmp_path.rglob(".*.tmp"))
    if code:
        assert err.splitlines()[-1].startswith("error:") and not (out / "train.jsonl").exists() and not (out / "manifest.json").exists()
    else:
        assert (out / "train.jsonl").stat().st_size > 0


def test_outputs_honour_the_umask(converted, tmp_path, monkeypatch, capsys):
    old = os.umask(0o022)
    try:
        code, _, err = run_main(["data", "mix", _recipe(tmp_path, [{"name": "cmb", "records": converted["cmb"]}]),
                                 "--out", tmp_path / "out"], monkeypatch, capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    for name in ("train.jsonl", "manifest.json", "accounting.jsonl"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o644, name


def test_a_rerun_removes_what_a_killed_mix_left(converted, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    (out / "parquet").mkdir(parents=True)
    # Names as atomic_write makes them, left by a run killed mid-write; and a user's own file.
    left = [out / ".train.jsonl.k1l2m3n4.tmp", out / "parquet" / ".train.parquet.ab_cd123.tmp"]
    for p in left:
        p.write_text("partial", encoding="utf-8")
    (out / "notes.tmp").write_text("mine", encoding="utf-8")
    code, _, err = run_main(["data", "mix", _recipe(tmp_path, [{"name": "cmb", "records": converted["cmb"]}]),
                             "--out", out], monkeypatch, capsys)
    assert code == 0, err
    assert not any(p.exists() for p in left)
    assert (out / "notes.tmp").read_text(encoding="utf-8") == "mine"


@pytest.mark.slow
def test_a_killed_mix_reruns_to_the_uninterrupted_result(converted, tmp_path):
    """SIGKILL while the exports are being written, then rerun: same files, no temporary left."""
    import signal
    import subprocess
    import time

    recipe = _recipe(tmp_path, [{"name": n, "records": converted[n]} for n in ("cmb", "medqa")],
                     exports={"llamafactory": True, "sharegpt": True, "parquet": True, "accounting": True})
    cmd = [sys.executable, "-m", "collectivesft", "data", "mix", str(recipe), "--out"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run(cmd + [str(tmp_path / "whole")], check=True, env=env, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd + [str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if list(out.glob(".*.tmp")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert proc.wait() == -signal.SIGKILL, "the mix ended before it could be killed mid-write"
    subprocess.run(cmd + [str(out)], check=True, env=env, capture_output=True)
    assert not list(out.rglob(".*.tmp"))

    def files(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert files(out) == files(tmp_path / "whole")



def test_off_a_terminal_progress_is_plain_lines(converted, tmp_path, monkeypatch, capsys):
    """In a log (no TTY) a stage prints `desc: n/total unit (s)` lines, never a redrawn bar."""
    code, _, err = run_main(["data", "mix", _recipe(tmp_path, [{"name": "cmb", "records": converted["cmb"]}]),
                             "--out", tmp_path / "out"], monkeypatch, capsys)
    assert code == 0, err
    assert "\r" not in err and "\x1b[" not in err
    assert "mix: write: " in err and " rec (" in err
