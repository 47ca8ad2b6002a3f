"""Supervised fine-tuning on a mixture (transformers + TRL + PEFT) and the tiny offline model.

Python API for the end-to-end runner:
    config = load_config("recipe.yaml", ["lr=1e-4", "epochs=1"])
    metrics = run_training(config, mixture_dir, out_dir, resume=False)
Heavy libraries load inside run_training, so importing this package stays cheap.
"""

from collectivesft.train.config import TrainConfig, load_config
from collectivesft.train.runner import run_training

__all__ = ["TrainConfig", "load_config", "run_training"]
