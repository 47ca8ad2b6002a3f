"""Supervised fine-tuning on a mixture (transformers + TRL + PEFT).

Python API:
    config = train.config.load_config("recipe.yaml", ["lr=1e-4", "epochs=1"])
    metrics = train.runner.run_training(config, mixture_dir, out_dir, resume=False)
Heavy libraries load inside run_training, so importing the config stays cheap.
"""
