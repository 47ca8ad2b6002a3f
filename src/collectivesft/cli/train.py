"""`collectivesft train RECIPE.yaml [--set key=value ...]`, `model tiny OUT` and `model from-gguf FILE OUT`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

model_app = typer.Typer(help="Models: build the tiny offline model for tests and the demo; convert GGUF files.",
                        no_args_is_help=True)


@model_app.command("tiny")
def tiny_command(
    out: Path = typer.Argument(..., help="Folder to save the model and tokenizer into (Hugging Face layout)."),
    arch: str = typer.Option("qwen2", "--arch", help="Architecture: qwen2, llama, or internlm2 (Llama with InternLM2's "
                             "<s>/</s>, the paper recipe's stand-in)."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Extra tokenizer corpus: records .jsonl "
                                          "(message texts) or a plain text file (one text per line)."),
    size: str = typer.Option("tiny", "--size", help="tiny (tests), small (CPU demo) or base."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initialisation."),
    remote_code: bool = typer.Option(False, "--remote-code", help="Classes from the folder's own Python files "
                                     "(auto_map), so it loads only with trust_remote_code, like InternLM2."),
) -> None:
    """Build a randomly initialised causal LM with a tokenizer trained on the fixture corpus."""
    from collectivesft.fixtures.tiny_model import build_tiny_model, corpus_from_file

    texts = corpus_from_file(corpus) if corpus is not None else None
    build_tiny_model(out, corpus=texts, arch=arch, size=size, seed=seed, remote_code=remote_code)
    typer.echo(f"wrote {arch}/{size}{' remote-code' if remote_code else ''} tiny model to {out}")


@model_app.command("from-gguf")
def from_gguf_command(
    gguf_file: Path = typer.Argument(..., help="A .gguf checkpoint (llama.cpp format)."),
    out: Path = typer.Argument(..., help="New folder for the Hugging Face model (must not exist or be empty)."),
    dtype: str = typer.Option("float32", "--dtype", help="Weights after de-quantisation: float32, bfloat16, float16."),
) -> None:
    """Convert a GGUF checkpoint to a Hugging Face folder (de-quantised, with tokenizer and chat template);
    the saved folder is reloaded and its logits checked against the GGUF model's."""
    from collectivesft.models.gguf import convert_gguf

    report = convert_gguf(gguf_file, out, dtype=dtype)
    typer.echo(f"wrote {out} ({', '.join(report['architecture'] or [])}, {report['parameters']:,} parameters, "
               f"{dtype}); reloaded logits match the GGUF model's (max |diff| {report['max_abs_logit_diff']})")


def train_command(
    recipe: Optional[Path] = typer.Argument(None, help="Train config YAML, bare or a run recipe with a train: "
                                            "section. May be omitted when --set names the model."),
    overrides: Optional[list[str]] = typer.Argument(None, hidden=True, help="Deprecated: bare key=value "
                                                    "overrides; use --set."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a config key, e.g. --set lr=1e-4 "
                                             "--set lora.r=8 (value parsed as YAML; repeatable)."),
    mixture: Optional[Path] = typer.Option(None, "--mixture", help="Mixture folder with train.jsonl and val.jsonl "
                                           "(default: the recipe's mixture key)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: the recipe's output_dir key)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in OUT/checkpoints."),
) -> None:
    """Fine-tune a model on a mixture (full, LoRA or QLoRA), loss on assistant turns only."""
    import json

    from collectivesft.config import deprecated_overrides
    from collectivesft.errors import ConfigError
    from collectivesft.train.config import load_config
    from collectivesft.train.runner import run_training

    # A recipe-less call passes overrides only; typer puts the first of them in `recipe`.
    if recipe is not None and "=" in str(recipe) and not recipe.exists():
        overrides = [str(recipe), *(overrides or [])]
        recipe = None
    config = load_config(recipe, deprecated_overrides(overrides, "positional key=value overrides") + list(set_ or []))
    mixture = mixture or (Path(config.mixture) if config.mixture else None)
    out = out or (Path(config.output_dir) if config.output_dir else None)
    if mixture is None or out is None:
        raise ConfigError("name the mixture folder and the run folder: --mixture DIR --out DIR "
                          "(or mixture: / output_dir: in the recipe)")
    metrics = run_training(config, mixture, out, resume=resume)
    final = metrics["final"]
    typer.echo(json.dumps({k: final[k] for k in ("global_step", "epochs", "train_loss", "eval_loss")}))
    typer.echo(f"run folder: {out}")


def register(app: typer.Typer) -> None:
    """Attach `train` and `model` to the root app."""
    app.command("train")(train_command)
    app.add_typer(model_app, name="model")
