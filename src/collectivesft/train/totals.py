"""Whole-run totals that survive a resume: training seconds, evaluation seconds, loss sum.

The Trainer reports a resumed run's loss and runtime for the resumed part only. Each
checkpoint therefore gets `collectivesft_totals.json` (seconds so far), and a log line is
forced at every save so the log history, which checkpoints keep, sums the loss exactly up
to the checkpoint.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectivesft.io import write_json

TOTALS_FILE = "collectivesft_totals.json"


@dataclass
class Carried:
    """What a checkpoint says about the run before it."""

    step: int = 0
    train_s: float = 0.0
    eval_s: float = 0.0
    known: bool = True  # False: a checkpoint written without totals (its seconds are unknown)


def carried_from(checkpoint: Path | None) -> Carried:
    """The totals saved in `checkpoint` (a fresh run when None)."""
    if checkpoint is None:
        return Carried()
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    path = checkpoint / TOTALS_FILE
    if not path.is_file():
        return Carried(step=int(state["global_step"]), known=False)
    saved = json.loads(path.read_text(encoding="utf-8"))
    return Carried(step=int(state["global_step"]), train_s=float(saved["train_s"]), eval_s=float(saved["eval_s"]))


def totals_callback(carried: Carried):
    """A TrainerCallback keeping the run's seconds (evaluation apart) and saving them per checkpoint."""
    from transformers import TrainerCallback

    class RunTotals(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.eval_s = carried.eval_s

        @property
        def train_s(self) -> float:
            return carried.train_s + time.perf_counter() - self.started

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if control.should_save:
                control.should_log = True  # the logged losses then sum exactly to every checkpoint
            return control

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self.eval_s += float((metrics or {}).get("eval_runtime", 0.0))

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                write_json(folder / TOTALS_FILE, {"step": state.global_step, "train_s": round(self.train_s, 3),
                                                  "eval_s": round(self.eval_s, 3)})

    return RunTotals()


def logged_loss_sum(log_history: list[dict[str, Any]], upto: int) -> float:
    """Sum of per-step losses up to step `upto`, from logged window means (window = steps since the last log)."""
    total, last = 0.0, 0
    for entry in log_history:
        if "loss" in entry and entry["step"] <= upto:
            total += float(entry["loss"]) * (entry["step"] - last)
            last = entry["step"]
    return total


def whole_run(result, state, carried: Carried, callback) -> dict[str, Any]:
    """train_loss, runtime_s and eval_s of the whole run, resumed or not."""
    steps_now = state.global_step - carried.step
    loss = result.training_loss
    if carried.step:
        before = logged_loss_sum(state.log_history, carried.step)
        loss = (before + result.training_loss * steps_now) / max(state.global_step, 1)
    return {"train_loss": loss, "runtime_s": round(callback.train_s, 2), "eval_s": round(callback.eval_s, 2),
            "resumed_from_step": carried.step or None, "runtime_complete": carried.known}
