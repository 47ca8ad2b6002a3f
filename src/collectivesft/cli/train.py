"""`collectivesft train RECIPE.yaml [key=value ...]` and `collectivesft model tiny OUT`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

model_app = typer.Typer(help="Models: build the tiny offline model for tests and the demo.", no_args_is_help=True)


@model_app.command("tiny")
def tiny_command(
    out: Path = typer.Argument(..., help="Folder to save the model and tokenizer into (Hugging Face layout)."),
    arch: str = typer.Option("qwen2", "--arch", help="Architecture: qwen2 or llama."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Extra tokenizer corpus: records .jsonl "
                                          "(message texts) or a plain text file (one text per line)."),
    size: str = typer.Option("tiny", "--size", help="tiny (tests), small (CPU demo) or base."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initialisation."),
) -> None:
    """Build a randomly initialised causal LM with a tokenizer trained on the fixture corpus."""
    from collectivesft.train.tiny import build_tiny_model, corpus_from_file

    texts = corpus_from_file(corpus) if corpus is not None else None
    build_tiny_model(out, corpus=texts, arch=arch, size=size, seed=seed)
    typer.echo(f"wrote {arch}/{size} tiny model to {out}")


def register(app: typer.Typer) -> None:
    """Attach `train` and `model` to the root app."""
    app.add_typer(model_app, name="model")
