"""Stop a training run at the first non-finite loss or gradient norm.

transformers' Trainer logs a NaN loss as the average of earlier ones (logging_nan_inf_filter),
clips a NaN gradient norm into NaN weights, saves them, and exits 0: a run that trained on
nothing reports numbers. Here the first non-finite loss (any micro-batch) or gradient norm (any
optimizer step, before the optimizer applies it) raises NonFiniteTrainingError naming the step;
the last checkpoint on disk was saved before it, so it is the last good one.
"""

from __future__ import annotations

import math
from pathlib import Path

from collectivesft.errors import CollectiveSFTError


class NonFiniteTrainingError(CollectiveSFTError):
    """The loss or the gradient norm of a training step was NaN or infinite."""


def _advice(trainer) -> str:
    folder = Path(trainer.args.output_dir)
    done = sorted((p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                  key=lambda p: int(p.name.split("-")[-1])) if folder.is_dir() else []
    kept = (f"the last good checkpoint is {done[-1]} (continue from it with --resume once the cause is fixed)"
            if done else "no checkpoint was saved before it")
    return (f"{kept}. Usual causes: a learning rate too high for the precision (try a lower lr or "
            "warm-up), fp16 overflow (use bf16 or fp32), a batch whose labels are all masked, or corrupted "
            "input ids (run `collectivesft model check`).")


def guarded(trainer_class: type) -> type:
    """`trainer_class` with the loss of every micro-batch and the gradient norm of every
    optimizer step checked for NaN / infinity."""

    class GuardedTrainer(trainer_class):
        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = super().training_step(model, inputs, num_items_in_batch)
            value = float(loss.detach().float().sum())
            if not math.isfinite(value):
                step = self.state.global_step + 1
                raise NonFiniteTrainingError(f"training stopped at optimizer step {step}: the loss is {value} "
                                             f"(epoch {self.state.epoch or 0:.2f}); {_advice(self)}")
            return loss

        def _get_grad_norm(self, model, grad_norm=None):
            norm = super()._get_grad_norm(model, grad_norm=grad_norm)
            value = float(norm) if norm is not None else 0.0
            # fp16 loss scaling overflows on purpose now and then: the scaler skips that step and
            # lowers the scale, so an infinite norm there is routine (a NaN loss is still caught).
            if not math.isfinite(value) and not self.args.fp16:
                step = self.state.global_step + 1
                raise NonFiniteTrainingError(f"training stopped at optimizer step {step} before applying it: "
                                             f"the gradient norm is {value}; {_advice(self)}")
            return norm

    GuardedTrainer.__name__ = GuardedTrainer.__qualname__ = f"Guarded{trainer_class.__name__}"
    return GuardedTrainer
