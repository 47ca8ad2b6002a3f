"""Training runs on the tiny model and a fixture mixture: full and LoRA runs learn, the run
folder is complete, resume continues the step count, 2 CPU processes match 1 with the
doubled batch, packing keeps records apart, and bad inputs stop with clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collectivesft.errors import ConfigError, InputLayoutError
from collectivesft.train.config import load_config
from collectivesft.train.runner import run_training

# Small and fast: a few optimizer steps on short records with a high learning rate.
# One torch thread: the suite runs under xdist on 2 cores, and oversubscribed OpenMP threads spin.
QUICK = ["cutoff=256", "batch_size=8", "grad_accum=1", "logging_steps=1", "warmup_ratio=0.0", "cpu_threads=1"]


def quick_config(model: Path, *overrides: str):
    return load_config(None, [f"model={model}", *QUICK, *overrides])


@pytest.fixture(scope="module")
def full_run(tiny_model, fixture_mixture, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    config = quick_config(tiny_model, "lr=3e-3", "max_steps=12", "eval_steps=6", "packing=false")
    return out, run_training(config, fixture_mixture, out)


def test_full_run_reduces_loss_and_fills_the_run_folder(full_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, metrics = full_run
    final = metrics["final"]
    assert final["global_step"] == 12
    assert final["eval_loss"] < metrics["val_curve"][0]["loss"] < final["first_logged_loss"]
    assert final["last_logged_loss"] < final["first_logged_loss"] - 0.5
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "metrics.json", "loss_curve.png", "model",
                                                "checkpoints"}
    assert json.loads((out / "metrics.json").read_text())["final"]["global_step"] == 12
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "lr: 0.003" in (out / "config.yaml").read_text()
    data = metrics["data"]["train"]
    assert data["kept"] + sum(data["dropped"].values()) == data["records"] > 0
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert model.config.use_cache is True
    prompt = tok.apply_chat_template([{"role": "user", "content": "治疗高血压的首选药物是"}],
                                     add_generation_prompt=True, return_dict=True, return_tensors="pt")
    assert model.generate(**prompt, max_new_tokens=4).shape[1] > prompt["input_ids"].shape[1]


def test_lora_run_reduces_loss_and_merges(tiny_model, fixture_mixture, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    config = quick_config(tiny_model, "finetuning=lora", "lora.r=8", "lora.alpha=16", "lr=1e-2",
                          "max_steps=12", "merge_lora=true", "validation=false", "packing=true")
    metrics = run_training(config, fixture_mixture, tmp_path / "run")
    final = metrics["final"]
    assert final["last_logged_loss"] < final["first_logged_loss"] - 0.2
    assert metrics["setup"]["packing"] is True and metrics["setup"]["packing_mode"] == "rows"
    assert metrics["setup"]["attention"] == "packed_sdpa"  # segment attention over rows filled to the cutoff
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model")  # a plain model, no adapter
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged.state_dict()[name], base.state_dict()[name])


def test_resume_continues_the_step_count(tiny_model, fixture_mixture, tmp_path):
    out = tmp_path / "run"
    first = run_training(quick_config(tiny_model, "max_steps=4", "save_steps=2", "validation=false"),
                         fixture_mixture, out)
    assert first["final"]["global_step"] == 4
    with pytest.raises(ConfigError, match="--resume"):
        run_training(quick_config(tiny_model, "max_steps=6", "validation=false"), fixture_mixture, out)
    second = run_training(quick_config(tiny_model, "max_steps=6", "save_steps=2", "validation=false"),
                          fixture_mixture, out, resume=True)
    assert second["final"]["global_step"] == 6
    steps = [p["step"] for p in second["train_curve"]]
    assert steps == sorted(set(steps)) and steps[-1] == 6  # history carried over, no step repeated
    assert (out / "checkpoints" / "checkpoint-6").is_dir()


def test_resume_skips_a_checkpoint_the_kill_left_half_written(tiny_model, fixture_mixture, tmp_path):
    import shutil

    out = tmp_path / "run"
    run_training(quick_config(tiny_model, "max_steps=2", "save_steps=2", "validation=false"), fixture_mixture, out)
    # A kill while checkpoint-4 was being written: its files are there but trainer_state.json
    # (which the Trainer writes last) is not.
    half = out / "checkpoints" / "checkpoint-4"
    shutil.copytree(out / "checkpoints" / "checkpoint-2", half)
    (half / "trainer_state.json").unlink()
    resumed = run_training(quick_config(tiny_model, "max_steps=4", "save_steps=2", "validation=false"),
                           fixture_mixture, out, resume=True)
    assert resumed["final"]["global_step"] == 4
    assert (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file()


@pytest.mark.slow
def test_two_cpu_processes_take_the_steps_of_one_with_the_doubled_batch(tiny_model, fixture_mixture, tmp_path):
    common = ["max_records=48", "epochs=1", "validation=false", "packing=false"]
    single = run_training(quick_config(tiny_model, *common, "batch_size=8"), fixture_mixture, tmp_path / "one")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "collectivesft", "train", f"model={tiny_model}", *QUICK, *common, "batch_size=4",
           "--mixture", str(fixture_mixture), "--out", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    double = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert double["setup"]["world_size"] == 2
    assert double["setup"]["effective_batch"] == single["setup"]["effective_batch"] == 8
    assert double["final"]["global_step"] == single["final"]["global_step"] == 6


def test_packed_records_do_not_attend_to_each_other(tiny_model):
    """Padding-free packing (TRL's collator + position ids) gives each record the loss it has alone."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model.config.use_cache = False
    gen = torch.Generator().manual_seed(0)
    records = [torch.randint(10, 1000, (n,), generator=gen).tolist() for n in (7, 12, 5)]
    examples = [{"input_ids": r, "labels": r} for r in records]
    packed = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(examples)
    assert packed["input_ids"].shape == (1, 24)
    with torch.no_grad():
        logits = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"]).logits[0]
        start = 0
        for r in records:
            alone = model(input_ids=torch.tensor([r])).logits[0]
            assert torch.allclose(logits[start:start + len(r)], alone, atol=1e-4)
            start += len(r)


def test_cpu_packed_rows_keep_records_apart(tiny_model):
    """The CPU row packing (per-row position ids, no attention mask) gives each record its
    logits alone, and never makes a record's first token a target."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from collectivesft.train.packing import RowPackingCollator, pack_rows

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model.config.use_cache = False
    gen = torch.Generator().manual_seed(1)
    records = [torch.randint(10, 1000, (n,), generator=gen).tolist() for n in (9, 14, 6, 11, 3)]
    ds = Dataset.from_dict({"input_ids": records, "labels": records})
    rows = pack_rows(ds, 20).to_list()
    assert sorted(n for r in rows for n in r["seq_lengths"]) == sorted(map(len, records))
    batch = RowPackingCollator(pad_token_id=0)(rows)
    assert batch["input_ids"].shape[0] == len(rows) < len(records)
    assert "attention_mask" not in batch
    assert (batch["labels"][batch["position_ids"] == 0] == -100).all()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
        for j, row in enumerate(rows):
            start = 0
            for n in row["seq_lengths"]:
                alone = model(input_ids=batch["input_ids"][j:j + 1, start:start + n]).logits[0]
                assert torch.allclose(logits[j, start:start + n], alone, atol=1e-4)
                start += n


def test_packed_rows_mix_records_rather_than_sorting_them_by_length():
    """Rows are filled in a seeded shuffled order, so a row holds records of every length (and
    source) in proportion. Best-fit-decreasing packing put records of equal length together:
    in the demo a row was five copies of one source's template, each optimizer step saw one
    source, and the tiny model learned nothing of the facts (CMB cloze 0.20, same as untrained)."""
    from datasets import Dataset

    from collectivesft.train.packing import pack_rows

    lengths = [12] * 40 + [30] * 40  # two kinds of record, e.g. short QA and long MCQ
    records = [[7] * n for n in lengths]
    rows = pack_rows(Dataset.from_dict({"input_ids": records, "labels": records}), 96, seed=0).to_list()
    assert sorted(n for r in rows for n in r["seq_lengths"]) == sorted(lengths)  # nothing lost or cut
    assert all(sum(r["seq_lengths"]) == len(r["input_ids"]) <= 96 for r in rows)
    mixed = sum(len(set(r["seq_lengths"])) > 1 for r in rows)
    assert mixed >= len(rows) // 2, [r["seq_lengths"] for r in rows]
    again = pack_rows(Dataset.from_dict({"input_ids": records, "labels": records}), 96, seed=0).to_list()
    assert [r["seq_lengths"] for r in again] == [r["seq_lengths"] for r in rows]  # deterministic per seed


def test_missing_mixture_files_and_cpu_qlora_are_clear_errors(tiny_model, fixture_mixture, tmp_path):
    with pytest.raises(InputLayoutError, match="train.jsonl"):
        run_training(quick_config(tiny_model), tmp_path / "nowhere", tmp_path / "run")
    (tmp_path / "mix").mkdir()
    (tmp_path / "mix" / "train.jsonl").write_bytes((fixture_mixture / "train.jsonl").read_bytes())
    with pytest.raises(InputLayoutError, match="val.jsonl.*validation: false"):
        run_training(quick_config(tiny_model), tmp_path / "mix", tmp_path / "run")
    (tmp_path / "mix" / "val.jsonl").write_text("")
    with pytest.warns(UserWarning, match="no records"):
        metrics = run_training(quick_config(tiny_model, "max_steps=1"), tmp_path / "mix", tmp_path / "run0")
    assert metrics["final"]["eval_loss"] is None and metrics["final"]["global_step"] == 1
    with pytest.raises(ConfigError, match="cutoff 8 is shorter than the prompt"):
        run_training(quick_config(tiny_model, "cutoff=8", "validation=false"), tmp_path / "mix", tmp_path / "run")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="qlora needs a CUDA GPU"):
            run_training(quick_config(tiny_model, "finetuning=qlora", "validation=false"),
                         tmp_path / "mix", tmp_path / "run")


def test_train_cli_runs_a_recipe_with_overrides(cli, tiny_model, fixture_mixture, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"mix: {{}}\ntrain:\n  model: {tiny_model}\n  mixture: {fixture_mixture}\n")
    result = cli(["train", recipe, *QUICK, "max_steps=2", "validation=false", "--out", tmp_path / "run"])
    assert result.exit_code == 0, result.output
    # Progress bars share the captured stream; the summary is the JSON object on its own.
    summary = result.output[result.output.index('{"global_step"'):].splitlines()[0]
    assert json.loads(summary)["global_step"] == 2
    with pytest.raises(ConfigError, match="--mixture DIR --out DIR"):
        cli(["train", f"model={tiny_model}"])


def test_a_resumed_run_reports_the_whole_runs_loss_runtime_and_throughput(tiny_model, fixture_mixture, tmp_path):
    """Kill after checkpoint-3 (a copy of it in a fresh folder), resume: metrics.json describes the
    whole run as the uninterrupted one does, not the resumed part."""
    import shutil

    config = quick_config(tiny_model, "max_steps=6", "save_steps=3", "logging_steps=2", "validation=false",
                          "packing=false")
    whole = run_training(config, fixture_mixture, tmp_path / "whole")["final"]
    killed = tmp_path / "killed" / "checkpoints"
    killed.mkdir(parents=True)
    shutil.copytree(tmp_path / "whole" / "checkpoints" / "checkpoint-3", killed / "checkpoint-3")
    saved = json.loads((killed / "checkpoint-3" / "collectivesft_totals.json").read_text())
    resumed = run_training(config, fixture_mixture, tmp_path / "killed", resume=True)["final"]
    assert resumed["global_step"] == whole["global_step"] == 6
    assert resumed["train_loss"] == pytest.approx(whole["train_loss"], rel=1e-6)
    assert resumed["resumed_from_step"] == 3 and resumed["runtime_complete"] is True
    assert resumed["runtime_s"] > saved["train_s"] > 0  # the seconds before the kill are counted
    data = json.loads((tmp_path / "killed" / "metrics.json").read_text())["data"]["train"]
    expected = data["tokens"] * resumed["epochs"] / (resumed["runtime_s"] - resumed["eval_s"])
    assert resumed["tokens_per_s"] == pytest.approx(expected, rel=1e-2)


def test_the_final_evaluation_is_not_repeated_when_the_last_step_evaluated(tiny_model, fixture_mixture, tmp_path,
                                                                          capfd):
    metrics = run_training(quick_config(tiny_model, "max_steps=4", "eval_steps=2", "packing=false"),
                           fixture_mixture, tmp_path / "run")
    err = capfd.readouterr().err
    assert "\r" not in err, "off a terminal the Trainer's progress bars are off"
    assert [p["step"] for p in metrics["val_curve"]] == [2, 4]
    assert metrics["final"]["eval_loss"] == metrics["val_curve"][-1]["loss"]
    assert metrics["final"]["eval_s"] > 0
