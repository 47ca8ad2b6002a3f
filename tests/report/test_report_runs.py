"""What the report says about runs made by separate commands: an eval folder joined to the training
run it evaluated, which stages ran, and the training summary a person reads first."""

import json
import os
import re
from pathlib import Path

import yaml

CURVES = {"train_curve": [{"step": 20, "loss": 1.6}, {"step": 40, "loss": 1.1}],
          "val_curve": [{"step": 40, "loss": 1.3}]}


def _train_run(root: Path, name: str = "lora", finetuning: str = "lora", base: str = "Qwen/Qwen2.5-7B") -> Path:
    """A folder as `collectivesft train --out runs/NAME` leaves it (the files the report reads)."""
    run = root / "runs" / name
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"model": base, "finetuning": finetuning, "mixture": "mixes/m1",
                                                     "output_dir": f"runs/{name}"}))
    (run / "metrics.json").write_text(json.dumps({
        "final": {"global_step": 40, "epochs": 2.0, "train_loss": 1.4, "first_logged_loss": 2.5,
                  "last_logged_loss": 1.1, "eval_loss": 1.3, "runtime_s": 125.0, "tokens_per_s": 812.5},
        "setup": {"world_size": 1, "packing_mode": "rows", "generation_eos_token_ids": [2]},
        "data": {"train": {"records": 500, "kept": 498, "tokens": 64000, "dropped": {}}}, **CURVES}))
    if finetuning == "lora":
        (run / "model" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base,
                                                                         "peft_type": "LORA"}))
    return run


def _eval_folder(root: Path, name: str, model: str, acc: float) -> Path:
    """A folder as `collectivesft eval cmb --model MODEL --out evals/NAME` leaves it."""
    folder = root / "evals" / name
    folder.mkdir(parents=True)
    (folder / "scores.json").write_text(json.dumps({
        "overall_micro": acc, "overall_macro_types": acc, "n": 4, "n_answered": 4,
        "by_type": {"医师考试": acc}, "by_class": {"医师考试": {"临床执业医师": acc}}}, ensure_ascii=False))
    (folder / "run.json").write_text(json.dumps({"fingerprint": {"model": model}, "status": "done",
                                                 "config": {"model": model, "method": "loglik"}}))
    return folder


def _rows(md: str, first: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith(f"| {first} |")]


def test_an_eval_folder_is_joined_to_the_training_run_whose_model_it_evaluated(tmp_path, cli, monkeypatch):
    # The user's commands, with the paths relative to where they were run.
    monkeypatch.chdir(tmp_path)
    _train_run(tmp_path)
    _eval_folder(tmp_path, "lora_loglik", "runs/lora/model", 0.5)
    result = cli(["report", "runs/lora", "evals/lora_loglik", "--out", "out"])
    assert result.exit_code == 0, result.output
    md = Path("out/report.md").read_text(encoding="utf-8")
    assert md.startswith("# Run report: lora\n")  # one run: the training and its evaluation
    assert "Evaluation joined from evals/lora_loglik" in md
    # The model is named by its base model and adapter, not by the folder name "model".
    assert _rows(md, "Qwen/Qwen2.5-7B + LoRA adapter")[0].startswith(
        "| Qwen/Qwen2.5-7B + LoRA adapter | collectivesft | 0.5000 | 0.5000 |")
    assert "| model | collectivesft" not in md


def test_the_joined_run_is_one_row_of_a_comparison_with_its_losses(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _train_run(tmp_path, "full", finetuning="full")
    _train_run(tmp_path, "lora")
    _eval_folder(tmp_path, "lora_loglik", str(tmp_path / "runs" / "lora" / "model"), 0.5)
    result = cli(["report", "runs/full", "evals/lora_loglik", "runs/lora", "--out", "out"])
    assert result.exit_code == 0, result.output
    md = Path("out/report.md").read_text(encoding="utf-8")
    comparison = md.split("## Comparison")[1].split("## Run")[0]
    assert _rows(comparison, "lora") == ["| lora | Qwen/Qwen2.5-7B + LoRA adapter | - | - | 1.1000 | 1.3000 | 0.5000 | 0.5000 |"]
    # A run that was not evaluated keeps its row, named by what it trained.
    assert _rows(comparison, "full") == ["| full | Qwen/Qwen2.5-7B, fully fine-tuned | - | - | 1.1000 | 1.3000 | - | - |"]
    assert len(re.findall(r"^\| (?!run |---)", comparison, re.M)) == 2


def test_an_eval_folder_alone_brings_the_training_run_it_evaluated(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _train_run(tmp_path)
    _eval_folder(tmp_path, "lora_loglik", "runs/lora/model", 0.5)
    assert cli(["report", "evals/lora_loglik", "--out", "out"]).exit_code == 0
    md = Path("out/report.md").read_text(encoding="utf-8")
    assert md.startswith("# Run report: lora\n") and "### Training" in md and "| final validation loss | 1.3000 |" in md


def test_the_training_section_starts_with_what_a_person_wants_and_folds_the_rest(tmp_path, cli):
    run = _train_run(tmp_path)
    assert cli(["report", run, "--out", tmp_path / "out"]).exit_code == 0
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    summary = md.split("### Training")[1].split("\n\n")[1].splitlines()[2:]
    assert summary == [
        "| model | Qwen/Qwen2.5-7B + LoRA adapter |",
        "| mixture | mixes/m1: 498 training records, 64,000 tokens |",
        "| steps | 40 (2.0 epochs) |",
        "| time | 2 min 05 s |",
        "| final train loss (last logged) | 1.1000 |",
        "| train loss, mean over the run | 1.4000 |",
        "| final validation loss | 1.3000 |",
        "| tokens/s | 812.5 |",
    ]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    folded = html.split("<details>")[1].split("</details>")[0]
    assert "<summary>Every training metric and setting (metrics.json)</summary>" in folded
    for key in ("setup.packing_mode", "setup.generation_eos_token_ids", "final.first_logged_loss", "data.train.tokens"):
        assert html.count(key) == 1 and key in folded, key


SMALL_RECIPE = {
    "name": "small",
    "fixtures": {"rows": 12, "seed": 0, "cmb_test": 24},
    "sources": [{"name": "cmb"}, {"name": "medqa"}],
    "mix": {"strategy": "cap", "cap": 20, "seed": 0, "val_fraction": 0.1, "decontamination": {"action": "drop"}},
    "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
    "train": {"lr": 1e-3, "max_steps": 3, "batch_size": 4, "cutoff": 256, "validation": False},
    "eval": {"split": "test", "method": "loglik", "limit": 8, "compare_base": True},
}


def test_a_run_that_stopped_after_mix_says_training_and_evaluation_never_ran(tmp_path, cli):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(SMALL_RECIPE), encoding="utf-8")
    run = tmp_path / "run"
    assert cli(["data", "mix", recipe, "--out", run]).exit_code == 0
    assert cli(["report", run, "--out", tmp_path / "out"]).exit_code == 0
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert ("> Stages: fixtures done · convert (2 sources) done · mix done · model not run · check not run · "
            "train not run · eval/base not run · eval/trained not run") in md
    assert "> Training and evaluation never ran in this folder (it stops after mix): it has no loss curves and no " \
           "CMB scores." in md
    assert '<p class="warn">Training and evaluation never ran' in (tmp_path / "out" / "report.html").read_text()

    # Killed (or failed) during training: the runner left train/stage.pending.json and no stage.json.
    (run / "train").mkdir()
    (run / "train" / "stage.pending.json").write_text(json.dumps({"key": "k"}))
    assert cli(["report", run, "--out", tmp_path / "out"]).exit_code == 0
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "· train failed · eval/base not run ·" in md
    assert "train started but never finished" in md and "Training and evaluation never finished" in md


def test_stages_a_rerun_did_not_redo_are_reported_as_reused(tmp_path, cli):
    run = tmp_path / "run"
    (run / "convert" / "cmb").mkdir(parents=True)
    (run / "recipe.json").write_text(json.dumps({"name": "r", "sources": [{"name": "cmb"}], "model": {"path": "m"},
                                                 "preflight": False, "eval": {}}))
    (run / "convert" / "cmb" / "stats.json").write_text(json.dumps({"read": 3, "kept": 3}))
    for stage in ("convert/cmb", "mix", "train", "eval/trained"):
        (run / stage).mkdir(parents=True, exist_ok=True)
        (run / stage / "stage.json").write_text(json.dumps({"key": "k", "result": {}}))
        os.utime(run / stage / "stage.json", (1_000_000, 1_000_000))
    # The last run trained and evaluated again; conversion and mixing were reused.
    (run / "run.json").write_text(json.dumps({"name": "r", "timings": {"train": 5.0, "eval/trained": 1.0}}))
    assert cli(["report", run, "--out", tmp_path / "out"]).exit_code == 0
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "> Stages: convert (1 source) reused · mix reused · train done · eval/trained done" in md
    assert "never" not in md
