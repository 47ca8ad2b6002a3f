"""The `collectivesft` command: the root app, its sub-commands, and the entry point.

Each stage's commands live in their own module under cli/ and register themselves here.
Heavy libraries (torch, transformers, datasets) are imported inside commands only, so
`collectivesft --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from collectivesft.cli.help import TidyGroup
from collectivesft.errors import CollectiveSFTError

app = typer.Typer(
    cls=TidyGroup,
    name="collectivesft",
    help="Build medical LLMs the CollectiveSFT way: convert -> mix -> train -> eval (CMB) -> report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from collectivesft.cli import data

    data.register(app)
    from collectivesft.cli import mix

    mix.register(app)
    from collectivesft.cli import train as train_cli

    train_cli.register(app)
    from collectivesft.cli import run as run_cli

    run_cli.register(app)
    from collectivesft.cli import eval as eval_cli

    eval_cli.register(app)


_register_all()


def main() -> None:
    """Entry point: run the app; a CollectiveSFTError becomes a one-line message and exit code 2."""
    from collectivesft.progress import quiet_libraries

    quiet_libraries()
    try:
        app()
    except CollectiveSFTError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
