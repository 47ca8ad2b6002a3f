"""`collectivesft run`: every stage from one recipe, stage reuse, --force, resume, recipe errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

SMALL_RECIPE = {
    "name": "small",
    "fixtures": {"rows": 12, "seed": 0, "cmb_test": 24},
    "sources": [{"name": "cmb"}, {"name": "medqa"}, {"name": "discmed"}],
    "mix": {"strategy": "cap", "cap": 20, "seed": 0, "val_fraction": 0.1,
            "dedup": {"near": True}, "decontamination": {"action": "drop"}},
    "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
    "train": {"lr": 1e-3, "max_steps": 3, "batch_size": 4, "grad_accum": 1, "cutoff": 256,
              "packing": False, "logging_steps": 1, "validation": False},
    "eval": {"split": "test", "method": "loglik", "limit": 8, "compare_base": True},
}


def write_recipe(path: Path, recipe: dict) -> Path:
    """The recipe as YAML at `path` (folders made); shared by the run-stage tests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path


def _stage_keys(run: Path) -> dict[str, str]:
    return {p.parent.relative_to(run).as_posix(): json.loads(p.read_text())["key"] for p in run.rglob("stage.json")}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from collectivesft.pipeline.run import run_recipe

    root = tmp_path_factory.mktemp("run")
    recipe = write_recipe(root / "recipe.yaml", SMALL_RECIPE)
    summary = run_recipe(recipe, root / "run", log=lambda msg: None)
    return root, recipe, summary


def test_run_goes_from_raw_files_to_a_report_with_base_and_trained_model(finished_run):
    root, _, summary = finished_run
    run = root / "run"
    assert set(summary["evals"]) == {"base", "trained"}
    for stage in ("fixtures", "convert/cmb", "convert/medqa", "convert/discmed", "mix", "model", "train",
                  "eval/base", "eval/trained"):
        assert (run / stage / "stage.json").is_file(), stage
    assert (run / "mix" / "train.jsonl").stat().st_size > 0
    key = {k["id"]: k["answer"] for k in json.loads(
        (run / "fixtures/CMB/CMB-Exam/CMB-test/CMB-test-choice-answer.json").read_text(encoding="utf-8"))}
    for label in ("base", "trained"):
        scores = json.loads((run / "eval" / label / "scores.json").read_text())
        submitted = json.loads((run / "eval" / label / "submission.json").read_text())
        valid = [s for s in submitted if s["id"] in key and key[s["id"]].isalpha()]
        right = sum(sorted(set(s["model_answer"])) == sorted(set(key[s["id"]])) for s in valid)
        # The score is what the submitted answers earn against the key, recomputed here.
        assert scores["n"] == 8 == len(valid) and scores["overall_micro"] == pytest.approx(right / len(valid))
    md = (run / "report.md").read_text()
    assert "CMB-Exam scores" in md and "| base |" in md and "| trained |" in md
    assert "tiny randomly initialised model" in md
    # The report pairs the two models on the same questions: the difference is the scores' difference.
    micro = {label: json.loads((run / "eval" / label / "scores.json").read_text())["overall_micro"]
             for label in ("base", "trained")}
    paired = next(line for line in md.splitlines() if line.startswith("| accuracy (micro) |"))
    assert paired.split("|")[2].strip().startswith(f"{micro['trained'] - micro['base']:.3f}")
    assert "trained − base [95% CI]" in md and "McNemar p" in md
    assert (run / "report.html").read_text(encoding="utf-8").count("<svg ") >= 3  # plots inline as SVG


def test_rerun_reuses_every_stage(finished_run):
    from collectivesft.pipeline.run import run_recipe

    root, recipe, _ = finished_run
    before = _stage_keys(root / "run")
    messages: list[str] = []
    run_recipe(recipe, root / "run", log=messages.append)
    assert messages and all(m.endswith("unchanged, reused") for m in messages), messages
    assert _stage_keys(root / "run") == before


def test_edit_redoes_only_what_changed_and_force_redoes_a_stage(finished_run, tmp_path):
    import shutil

    from collectivesft.pipeline.run import run_recipe

    root, _, _ = finished_run
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    edited = json.loads(json.dumps(SMALL_RECIPE))
    edited["train"]["lr"] = 5e-4
    recipe = write_recipe(tmp_path / "edited.yaml", edited)
    messages: list[str] = []
    run_recipe(recipe, run, log=messages.append)
    redone = sorted(m.split("]")[0][1:] for m in messages if not m.endswith("reused"))
    assert redone == ["eval/trained", "train"]

    messages.clear()
    run_recipe(recipe, run, force=["mix"], log=messages.append)
    redone = sorted(m.split("]")[0][1:] for m in messages if not m.endswith("reused"))
    # The mix is deterministic: redoing it gives the same content, so training is still reused.
    assert redone == ["mix"]


def test_killed_run_resumes_without_redoing_finished_stages(finished_run, tmp_path, monkeypatch):
    import collectivesft.train.runner as train_pkg
    from collectivesft.pipeline.run import run_recipe

    recipe = write_recipe(tmp_path / "recipe.yaml", SMALL_RECIPE)
    real = train_pkg.run_training

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed during training")

    monkeypatch.setattr(train_pkg, "run_training", killed)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe, tmp_path / "run", log=lambda m: None)
    assert (tmp_path / "run" / "train" / "stage.pending.json").is_file()
    assert not (tmp_path / "run" / "train" / "stage.json").exists()

    monkeypatch.setattr(train_pkg, "run_training", real)
    messages: list[str] = []
    summary = run_recipe(recipe, tmp_path / "run", log=messages.append)
    assert "[train] resuming" in messages
    assert "[mix] unchanged, reused" in messages and "[convert/cmb] unchanged, reused" in messages
    assert set(summary["evals"]) == {"base", "trained"}


@pytest.mark.parametrize("change, message", [
    ({"colour": "blue"}, "colour: unknown key"),
    ({"sources": []}, "sources: List should have at least 1 item"),
    ({"sources": [{"name": "nosuch"}]}, "unknown source 'nosuch'"),
    ({"model": {}}, "give exactly one of path or tiny"),
    ({"train": {"model": "x"}}, "train.model: set the base model in the top-level model: section"),
    ({"fixtures": None}, "needs input or hub"),
    ({"mix": {"strategy": "zipf"}}, "strategy"),
    ({"train": {"lr": -1}}, "lr"),
])
def test_recipe_errors_name_the_key_and_nothing_runs(tmp_path, cli, change, message):
    recipe = dict(SMALL_RECIPE, **change)
    path = write_recipe(tmp_path / "bad.yaml", recipe)
    from collectivesft.errors import ConfigError
    from collectivesft.pipeline.run import run_recipe

    with pytest.raises(ConfigError) as err:
        run_recipe(path, tmp_path / "run", log=lambda m: None)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert not (tmp_path / "run" / "convert").exists()


def test_every_shipped_recipe_validates():
    from collectivesft.pipeline.recipe import load_run_recipe
    from collectivesft.pipeline.run import validate_sections

    checked = 0
    for path in sorted(Path(__file__).parents[2].joinpath("recipes").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "sources" in data and "model" in data:
            validate_sections(load_run_recipe(path), path)
            checked += 1
    assert checked >= 3


@pytest.mark.slow
def test_train_stage_under_accelerate_launch(finished_run, tmp_path):
    """`launch:` runs the train stage as `accelerate launch -m collectivesft train` worker processes."""
    import shutil

    from collectivesft.pipeline.run import run_recipe

    root, _, _ = finished_run
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    recipe = write_recipe(tmp_path / "launch.yaml", dict(SMALL_RECIPE, launch={"num_processes": 1, "args": ["--cpu"]}))
    messages: list[str] = []
    run_recipe(recipe, run, log=messages.append)
    assert "[train] running" in messages and "[mix] unchanged, reused" in messages
    metrics = json.loads((run / "train" / "metrics.json").read_text())
    assert metrics["final"]["global_step"] == 3
    assert (run / "train" / "train_config.yaml").is_file()


@pytest.mark.slow
def test_run_killed_with_sigkill_during_training_resumes_from_its_checkpoint(tmp_path):
    """A real kill: the stage folder keeps its pending marker and checkpoint; the rerun goes on from there."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from collectivesft.pipeline.run import run_recipe

    recipe = json.loads(json.dumps(SMALL_RECIPE))
    recipe["train"].update(max_steps=40, save_steps=2, save_total_limit=None, cpu_threads=1)
    path = write_recipe(tmp_path / "recipe.yaml", recipe)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "collectivesft", "run", str(path), "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list((run / "train" / "checkpoints").glob("checkpoint-*/trainer_state.json")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (run / "train" / "stage.pending.json").is_file() and not (run / "train" / "stage.json").exists()

    messages: list[str] = []
    summary = run_recipe(path, run, log=messages.append)
    assert "[train] resuming" in messages and "[mix] unchanged, reused" in messages
    metrics = json.loads((run / "train" / "metrics.json").read_text())
    assert metrics["final"]["global_step"] == 40
    assert set(summary["evals"]) == {"base", "trained"}
