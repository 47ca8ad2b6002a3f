"""train.report_to reaches transformers' trackers: TensorBoard (offline) gets the training curves in
RUN/tensorboard, and a run recipe's CMB scores join them; an unknown or missing tracker is refused
before any work."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import yaml


def scalars(folder: Path) -> dict[str, list[float]]:
    """Every scalar in the TensorBoard event files under `folder` (TFRecord framing, Event protos)."""
    from tensorboardX.proto import event_pb2

    found: dict[str, list[float]] = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(value.simple_value)
    return found


QUICK = ["cutoff=256", "batch_size=8", "grad_accum=1", "logging_steps=1", "warmup_ratio=0.0", "cpu_threads=1",
         "max_steps=3", "validation=false"]


def test_tensorboard_gets_the_training_curve_in_the_run_folder(cli, tiny_model, fixture_mixture, tmp_path):
    args = ["train", "--mixture", fixture_mixture, "--out", tmp_path / "run"]
    for kv in [f"model={tiny_model}", *QUICK, "report_to=[tensorboard]"]:
        args += ["--set", kv]
    result = cli(args)
    assert result.exit_code == 0, result.output
    curves = scalars(tmp_path / "run" / "tensorboard")
    assert len(curves["train/loss"]) == 3 and all(v == v for v in curves["train/loss"])


@pytest.mark.parametrize("tracker, words", [("tensorbored", "unknown tracker 'tensorbored'"),
                                             ("wandb", "pip install wandb")])
def test_an_unknown_or_missing_tracker_is_refused_before_training(tracker, words, tiny_model, fixture_mixture,
                                                                    tmp_path, monkeypatch, capsys):
    import importlib.util

    from fault_checks import run_main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    code, _, err = run_main(["train", "--set", f"model={tiny_model}", "--set", f"report_to=[{tracker}]",
                             "--mixture", fixture_mixture, "--out", tmp_path / "run"], monkeypatch, capsys)
    assert code == 2 and words in err and not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_a_runs_cmb_scores_join_its_training_curves(tmp_path):
    from collectivesft.pipeline.run import run_recipe

    recipe = {"name": "tracked", "fixtures": {"rows": 8, "seed": 0, "cmb_test": 12}, "sources": [{"name": "cmb"}],
              "mix": {"cap": 10, "val_fraction": 0.0}, "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
              "train": {"max_steps": 2, "validation": False, "cpu_threads": 1, "batch_size": 4, "lr": 1e-3,
                        "report_to": ["tensorboard"]},
              "eval": {"method": "loglik", "limit": 4, "compare_base": True}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    run_recipe(path, tmp_path / "run", log=lambda m: None)
    curves = scalars(tmp_path / "run" / "train" / "tensorboard")
    assert "train/loss" in curves
    assert {"cmb/trained/accuracy_micro", "cmb/base/accuracy_micro"} <= set(curves)
    import json

    for label in ("trained", "base"):  # the very scores the eval wrote, not just any number
        scores = json.loads((tmp_path / "run" / "eval" / label / "scores.json").read_text(encoding="utf-8"))
        assert curves[f"cmb/{label}/accuracy_micro"][-1] == pytest.approx(scores["overall_micro"], abs=1e-6)
