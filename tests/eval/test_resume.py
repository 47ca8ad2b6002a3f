"""A run killed with SIGKILL restarts where it stopped: nothing lost, nothing answered twice."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from collectivesft.errors import ConfigError
from collectivesft.eval.cmb.runner import evaluate_cmb
from collectivesft.eval.config import CMBEvalConfig


def test_sigkilled_run_resumes_without_loss_or_duplicates(cmb_data, tiny_model, tmp_path):
    out = tmp_path / "run"
    partial = out / "predictions.partial.jsonl"
    cmd = [sys.executable, "-m", "collectivesft", "eval", "cmb", "--model", str(tiny_model), "--data", str(cmb_data),
           "--method", "generate", "--max-new-tokens", "48", "--batch-size", "2", "--device", "cpu", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if partial.exists() and partial.read_text().count("\n") >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = [json.loads(line) for line in partial.read_text().splitlines()]
    with open(partial, "a") as fh:
        fh.write('{"id": 99, "model_answer": "A", "out')  # a write torn by the kill
    limit = len(before) + 3
    evaluate_cmb(CMBEvalConfig(model=str(tiny_model), data=str(cmb_data), method="generate", max_new_tokens=48,
                               batch_size=2, device="cpu", limit=limit), out)
    after = [json.loads(line) for line in partial.read_text().splitlines()]
    ids = [r["id"] for r in after]
    assert len(ids) == len(set(ids)) == limit  # each question answered exactly once
    assert after[: len(before)] == before  # earlier answers kept byte for byte
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds if p["correct"] is not None or p["id"] == 10] == list(range(1, limit + 1))
    assert json.loads((out / "run.json").read_text())["n_answered_this_session"] == 3


def test_resuming_with_different_settings_is_refused(cmb_data, tiny_model, tmp_path):
    base = dict(model=str(tiny_model), data=str(cmb_data), method="loglik", limit=2, device="cpu")
    evaluate_cmb(CMBEvalConfig(**base), tmp_path)
    with pytest.raises(ConfigError, match="different settings \\(shots\\)"):
        evaluate_cmb(CMBEvalConfig(**base, shots=1), tmp_path)
