"""Fault campaign, part 4: kills at a point inside each stage (SIGKILL while it writes), then a rerun.

Only the killed run is a child process (the real CLI, SIGKILLed when a file shows it is
mid-way); the uninterrupted run and the rerun go through the same entry point in-process.
The rerun must give the uninterrupted result: nothing lost, no temporary file left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_checks import run_main


def _cli(args: list) -> list[str]:
    return [sys.executable, "-m", "collectivesft", *map(str, args)]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")


def kill_when(args: list, ready, timeout: float = 120) -> None:
    """Run the CLI and SIGKILL it as soon as `ready()` is true; fail if it finished first."""
    proc = subprocess.Popen(_cli(args), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    assert proc.wait() == -signal.SIGKILL, "the command ended before it could be killed"


def files(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(skip)}


@pytest.fixture(scope="module")
def cmb(tmp_path_factory) -> Path:
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    # 96 questions: an idle machine must still be mid-run when the killed eval is polled.
    return write_cmb_eval(tmp_path_factory.mktemp("cmb") / "CMB", n_test=96, seed=0)


def test_a_resumed_eval_says_how_many_answers_it_reused(tiny_model, cmb, tmp_path, monkeypatch, capsys):
    base = ["eval", "cmb", "--model", tiny_model, "--data", cmb, "--set", "method=loglik", "--out", tmp_path / "e"]
    code, _, err = run_main([*base, "--limit", "3"], monkeypatch, capsys)
    assert code == 0, err
    code, _, err = run_main([*base, "--limit", "5"], monkeypatch, capsys)
    assert code == 0 and "reused 3 of 5 answers" in err, err
    assert json.loads((tmp_path / "e" / "run.json").read_text())["n_reused"] == 3


@pytest.mark.slow
def test_a_killed_convert_reruns_to_the_same_files(tmp_path, monkeypatch, capsys):
    from collectivesft.fixtures.writer import write_fixtures

    # Enough rows that the conversion is still writing when the poll sees its temporary file (with
    # the session's small fixture an idle machine finished before it could be killed).
    write_fixtures(tmp_path / "raw", rows=20000, seed=0, sources=["cmb"])
    args = ["data", "convert", "cmb", "--input", tmp_path / "raw" / "cmb"]
    assert run_main([*args, "--out", tmp_path / "whole"], monkeypatch, capsys)[0] == 0
    out = tmp_path / "killed"
    kill_when([*args, "--out", out], lambda: bool(list(out.glob(".*.tmp"))))
    assert run_main([*args, "--out", out], monkeypatch, capsys)[0] == 0
    assert not list(out.rglob(".*.tmp"))
    assert files(out) == files(tmp_path / "whole")


@pytest.mark.slow
def test_a_killed_eval_resumes_to_the_uninterrupted_scores(tiny_model, cmb, tmp_path, monkeypatch, capsys):
    args = ["eval", "cmb", "--model", tiny_model, "--data", cmb, "--set", "method=loglik", "--batch-size", "2"]
    assert run_main([*args, "--out", tmp_path / "whole"], monkeypatch, capsys)[0] == 0
    out = tmp_path / "killed"
    partial = out / "predictions.partial.jsonl"
    kill_when([*args, "--out", out], lambda: partial.is_file() and partial.read_bytes().count(b"\n") >= 4)
    code, _, err = run_main([*args, "--out", out], monkeypatch, capsys)
    assert code == 0 and "resuming: reused" in err, err
    assert not list(out.rglob(".*.tmp"))
    for name in ("scores.json", "submission.json"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


@pytest.mark.slow
def test_a_killed_train_resumes_to_the_uninterrupted_loss(tiny_model, tmp_path, monkeypatch, capsys):
    from collectivesft.fixtures.writer import write_fixtures
    from collectivesft.sources.convert import convert_source

    raw = write_fixtures(tmp_path / "raw", rows=20, seed=0, sources=["cmb"])["cmb"]
    convert_source("cmb", tmp_path / "conv", input=raw)
    mixture = tmp_path / "mix"
    mixture.mkdir()
    (mixture / "train.jsonl").write_bytes((tmp_path / "conv" / "records.jsonl").read_bytes())
    args = ["train", "--set", f"model={tiny_model}", "--set", "max_steps=6", "--set", "save_steps=2",
            "--set", "batch_size=4", "--set", "cutoff=128", "--set", "logging_steps=1", "--set", "validation=false",
            "--set", "cpu_threads=1", "--mixture", mixture]
    assert run_main([*args, "--out", tmp_path / "whole"], monkeypatch, capsys)[0] == 0
    out = tmp_path / "killed"
    kill_when([*args, "--out", out], lambda: (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file())
    assert run_main([*args, "--out", out, "--resume"], monkeypatch, capsys)[0] == 0
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())["final"]
    resumed = json.loads((out / "metrics.json").read_text())["final"]
    assert resumed["global_step"] == whole["global_step"] == 6
    assert resumed["resumed_from_step"] == 4
    assert resumed["train_loss"] == pytest.approx(whole["train_loss"], rel=1e-5)
