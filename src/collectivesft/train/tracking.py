"""Experiment trackers: training metrics through transformers' own integrations, and CMB scores
into the same TensorBoard run.

`train.report_to` takes the names transformers knows (tensorboard, wandb, mlflow, swanlab,
trackio); each needs its package installed (tensorboard: `pip install tensorboard` or
tensorboardX) and, for hosted ones, its login or environment (WANDB_PROJECT, MLFLOW_TRACKING_URI,
SWANLAB_PROJECT ...). TensorBoard writes to RUN/tensorboard, beside the run's other files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from collectivesft.errors import ConfigError

TRACKERS = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",),
            "swanlab": ("swanlab",), "trackio": ("trackio",)}
TENSORBOARD_DIR = "tensorboard"


def check_trackers(names: list[str]) -> list[str]:
    """`names` when every tracker's package is installed; ConfigError naming what to install otherwise."""
    for name in names:
        packages = TRACKERS.get(name)
        if packages is None:
            raise ConfigError(f"report_to: unknown tracker {name!r}; known: {', '.join(TRACKERS)}")
        if not any(importlib.util.find_spec(p) is not None for p in packages):
            raise ConfigError(f"report_to: {name} needs the {packages[0]} package: pip install {packages[0]}")
    return names


def point_tensorboard_at(trainer: Any, run_dir: Path) -> None:
    """Make transformers' TensorBoard callback write to RUN/tensorboard (its default is a dated
    folder under the checkpoints)."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = str(run_dir / TENSORBOARD_DIR)


def log_scores(train_dir: Path, report_to: list[str], scores: dict[str, dict[str, Any]], step: int) -> bool:
    """CMB scores by model label (overall and per exam type) into the train run's TensorBoard folder
    as cmb/<label>/...; True when written (only tensorboard is written after training ends). One
    writer for all labels: two writers opened in the same second would write the same file name."""
    scored = {label: s for label, s in scores.items() if "overall_micro" in s}
    if "tensorboard" not in report_to or not scored:
        return False
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        from tensorboardX import SummaryWriter

    writer = SummaryWriter(log_dir=str(train_dir / TENSORBOARD_DIR), filename_suffix=".cmb")
    try:
        for label, values in scored.items():
            writer.add_scalar(f"cmb/{label}/accuracy_micro", values["overall_micro"], step)
            writer.add_scalar(f"cmb/{label}/accuracy_mean_of_types", values["overall_macro_types"], step)
            for exam_type, value in (values.get("by_type") or {}).items():
                writer.add_scalar(f"cmb/{label}/{exam_type}", value, step)
    finally:
        writer.close()
    return True
