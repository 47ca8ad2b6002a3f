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
    from collectivesft.cli import mixture

    mixture.register(app)


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
    except OSError as exc:
        # A disk that is full or read-only, an --out that is a file or under /proc: one line.
        typer.secho(f"error: {os_problem(exc)}", fg="red", err=True)
        sys.exit(2)


def os_problem(exc: OSError) -> str:
    """What went wrong with which path, and what to do, for an operating-system error."""
    import errno

    path = exc.filename if exc.filename is not None else "a file"
    advice = {
        errno.ENOSPC: "the disk is full: free space or write elsewhere (--out)",
        errno.EROFS: "the file system is read-only: choose another --out",
        errno.EACCES: "permission denied: choose a folder you can write (--out)",
        errno.EPERM: "operation not permitted: choose a folder you can write (--out)",
        errno.EEXIST: "a file stands where a folder is needed: choose another --out",
        errno.ENOTDIR: "a file stands where a folder is needed on that path: choose another --out",
        errno.ENOENT: "no such file or folder (and it cannot be created there)",
        errno.EISDIR: "a folder stands where a file is needed",
    }.get(exc.errno, exc.strerror or type(exc).__name__)
    return f"cannot use {path}: {advice} ({exc.strerror or type(exc).__name__}, errno {exc.errno})"
