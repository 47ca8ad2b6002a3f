"""Helpers of the fault campaign (tests/faults/): the real console entry point, in-process."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import pytest


def run_main(args, monkeypatch, capsys) -> tuple[int, str, str]:
    """Run `collectivesft ARGS` through its console entry point: (exit code, stdout, stderr)."""
    from collectivesft.cli.main import main

    monkeypatch.setattr(sys, "argv", ["collectivesft", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    return exc.value.code or 0, captured.out, captured.err


@dataclass
class Case:
    """One row of a converter fault table: a source, how to build its input, the exit code and the
    words expected in the error line (exit 2) or in one quarantine reason (exit 0)."""

    id: str
    source: str
    build: Callable
    code: int
    words: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    stats: dict = field(default_factory=dict)  # expected stats.json entries
    memory_mb: int | None = None  # run in a child process with this address-space limit
