"""A NaN loss or gradient norm stops training, full and LoRA, with the step named and the last
good checkpoint kept; transformers alone averages a NaN loss away and exits 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from collectivesft.train.guard import NonFiniteTrainingError

QUICK = ["cutoff=256", "batch_size=4", "grad_accum=1", "logging_steps=1", "warmup_ratio=0.0", "cpu_threads=1",
         "validation=false", "max_steps=4", "save_steps=1", "lr=1e-3"]


def _poison_cross_entropy(monkeypatch, after: int, value: float = float("nan")) -> None:
    """The loss of every forward pass after the first `after` ones is `value` (keeps the graph)."""
    original = torch.nn.functional.cross_entropy
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        loss = original(*args, **kwargs)
        calls["n"] += 1
        return loss * value if calls["n"] > after else loss

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", poisoned)


@pytest.mark.parametrize("finetuning", ["full", "lora"])
def test_a_nan_loss_stops_the_run_naming_the_step_and_the_last_good_checkpoint(
        cli, tiny_model, fixture_mixture, tmp_path, monkeypatch, finetuning):
    _poison_cross_entropy(monkeypatch, after=2)
    out = tmp_path / "run"
    from typer.testing import CliRunner

    from collectivesft.cli.main import app

    result = CliRunner().invoke(app, ["train", "--set", f"model={tiny_model}", "--set", f"finetuning={finetuning}",
                                      *[a for kv in QUICK for a in ("--set", kv)], "--mixture", str(fixture_mixture),
                                      "--out", str(out)])
    assert isinstance(result.exception, NonFiniteTrainingError), result.output
    message = str(result.exception)
    assert "optimizer step 3" in message and "loss is nan" in message
    assert "checkpoint-2" in message  # the two good steps were saved; nothing after them
    saved = sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*"))
    assert saved == ["checkpoint-1", "checkpoint-2"]
    assert not (out / "model").exists() and not (out / "metrics.json").exists()


def test_an_infinite_gradient_norm_stops_before_the_optimizer_applies_it(tiny_model, fixture_mixture, tmp_path,
                                                                          monkeypatch):
    from collectivesft.train.config import load_config
    from collectivesft.train.runner import run_training

    # A finite loss whose gradient is infinite: d/dx of x * inf.
    original = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy",
                        lambda *a, **k: original(*a, **k) + 0.0 * (original(*a, **k) * float("inf")).clamp(max=0))
    config = load_config(None, [f"model={tiny_model}", *QUICK])
    with pytest.raises(NonFiniteTrainingError, match="optimizer step 1 before applying it: the gradient norm"):
        run_training(config, fixture_mixture, tmp_path / "run")
    assert not list((tmp_path / "run" / "checkpoints").glob("checkpoint-*"))


def test_the_cli_exits_non_zero_on_a_nan_loss(tiny_model, fixture_mixture, tmp_path):
    """Through the installed command (a separate process), as a scheduler would see it."""
    import subprocess
    import sys

    script = (
        "import torch, sys\n"
        "f = torch.nn.functional.cross_entropy\n"
        "torch.nn.functional.cross_entropy = lambda *a, **k: f(*a, **k) * float('nan')\n"
        "from collectivesft.cli.main import main\n"
        "sys.argv = ['collectivesft'] + sys.argv[1:]\n"
        "main()\n")
    args = ["train", "--set", f"model={tiny_model}", *[a for kv in QUICK for a in ("--set", kv)],
            "--mixture", str(fixture_mixture), "--out", str(tmp_path / "run")]
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "training stopped at optimizer step 1: the loss is nan" in proc.stderr
