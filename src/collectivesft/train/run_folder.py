"""What a training run leaves behind: final model, resolved config, metrics JSON, loss curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectivesft.io import atomic_write, write_json


def loss_curves(log_history: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Split the Trainer's log history into (train curve, validation curve) points."""
    train = [{"step": e["step"], "epoch": e.get("epoch"), "loss": e["loss"],
              "learning_rate": e.get("learning_rate")} for e in log_history if "loss" in e]
    val = [{"step": e["step"], "epoch": e.get("epoch"), "loss": e["eval_loss"]}
           for e in log_history if "eval_loss" in e]
    return train, val


def summarize(trainer, run: dict[str, Any], final_eval: dict, train_stats, val_stats,
              packing_mode: str, precision: str, attention: str | None) -> dict[str, Any]:
    """The metrics.json document of a finished run; `run` holds whole-run totals (train/totals.py)."""
    args, state = trainer.args, trainer.state
    train_curve, val_curve = loss_curves(state.log_history)
    epochs_done = float(state.epoch or 0.0)
    training_s = run["runtime_s"] - run["eval_s"]
    return {
        "final": {
            "global_step": state.global_step,
            "epochs": round(epochs_done, 4),
            "train_loss": run["train_loss"],  # mean over every step of the run, resumed or not
            "first_logged_loss": train_curve[0]["loss"] if train_curve else None,
            "last_logged_loss": train_curve[-1]["loss"] if train_curve else None,
            "eval_loss": final_eval.get("eval_loss"),
            "runtime_s": run["runtime_s"],  # the whole run's training loop, periodic evaluations included
            "eval_s": run["eval_s"],
            # Encoded tokens x epochs over the training time without evaluations.
            "tokens_per_s": round(train_stats.tokens * epochs_done / training_s, 1) if training_s > 0 else None,
            "resumed_from_step": run["resumed_from_step"],
            "runtime_complete": run["runtime_complete"],  # False: resumed from a checkpoint without totals
        },
        "setup": {
            "world_size": args.world_size,
            "per_device_batch_size": args.per_device_train_batch_size,
            "per_device_eval_batch_size": args.per_device_eval_batch_size,
            "grad_accum": args.gradient_accumulation_steps,
            "effective_batch": args.per_device_train_batch_size * args.gradient_accumulation_steps
            * args.world_size,
            "packing": packing_mode != "none",
            "packing_mode": packing_mode,  # none | rows (packed rows kept apart) | padding-free (flattened)
            "precision": precision,
            "attention": attention or "default",
            "max_steps": state.max_steps,
        },
        "data": {"train": train_stats.as_dict(), "val": val_stats.as_dict() if val_stats else None},
        "train_curve": train_curve,
        "val_curve": val_curve,
    }


def save_final_model(trainer, tokenizer, out: Path, merge: bool, source: str | Path) -> None:
    """Save the trained model (a LoRA adapter, or merged weights when `merge`) and tokenizer, with
    the base model's sentencepiece tokenizer.model beside it when it has one (`source`), every
    file readable as the umask says."""
    _save_final_model(trainer, tokenizer, out, merge, source)
    if trainer.is_world_process_zero():
        from collectivesft.io import honour_umask

        honour_umask(out)


def _save_final_model(trainer, tokenizer, out: Path, merge: bool, source: str | Path) -> None:
    from collectivesft.models.faithful_tokenizer import save_faithful

    model = trainer.accelerator.unwrap_model(trainer.model)
    model.config.use_cache = True  # training switched it off; inference wants it back
    if not merge:
        trainer.save_model(str(out))  # handles DeepSpeed / FSDP gathering; saves the tokenizer too
        if trainer.is_world_process_zero():
            save_faithful(tokenizer, out, source)
            # An adapter save has no generation config; without this one the template's end-of-turn
            # token (added to eos above) would be lost and a chatml-trained base model never stop.
            model.generation_config.save_pretrained(out)
        return
    if trainer.is_world_process_zero():
        merged = model.merge_and_unload()
        merged.save_pretrained(out)
        save_faithful(tokenizer, out, source)


def plot_loss(path: Path, train_curve: list[dict], val_curve: list[dict], title: str) -> None:
    """Training (and validation) loss by optimizer step, as `path` (PNG) and the same name .svg."""
    from collectivesft.report import plots

    curves = {}
    if train_curve:
        curves["train"] = ([p["step"] for p in train_curve], [p["loss"] for p in train_curve])
    if val_curve:
        curves["validation"] = ([p["step"] for p in val_curve], [p["loss"] for p in val_curve])
    plots.save_figure(plots.line_chart(curves, title=title, xlabel="optimizer step", ylabel="loss"), path)


def write_run_folder(out: Path, resolved_config: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Write config.yaml, metrics.json and loss_curve.png (+ .svg) into the run folder."""
    import yaml

    with atomic_write(out / "config.yaml") as fh:
        yaml.safe_dump(resolved_config, fh, allow_unicode=True, sort_keys=False)
    write_json(out / "metrics.json", metrics)
    plot_loss(out / "loss_curve.png", metrics["train_curve"], metrics["val_curve"],
              f"{Path(str(resolved_config.get('model'))).name} on {Path(str(resolved_config.get('mixture'))).name}")
