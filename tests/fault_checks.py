"""Helpers of the fault campaign (tests/faults/): the real console entry point, in-process."""

from __future__ import annotations

import sys

import pytest


def run_main(args, monkeypatch, capsys) -> tuple[int, str, str]:
    """Run `collectivesft ARGS` through its console entry point: (exit code, stdout, stderr)."""
    from collectivesft.cli.main import main

    monkeypatch.setattr(sys, "argv", ["collectivesft", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    return exc.value.code or 0, captured.out, captured.err
