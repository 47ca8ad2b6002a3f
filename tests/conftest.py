"""Shared test fixtures: generated raw data (never committed), the tiny model and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def raw_fixtures(tmp_path_factory) -> Path:
    """Raw fixture files for every registered source (30 good rows each, seed 0)."""
    from collectivesft.fixtures.writer import write_fixtures

    out = tmp_path_factory.mktemp("raw")
    write_fixtures(out, rows=30, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A qwen2 tiny model folder (random weights, tokenizer trained on the fixture world, chat
    template), built once per session (per xdist worker) for the train and eval tests."""
    from collectivesft.fixtures.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "qwen2", arch="qwen2", size="tiny")


@pytest.fixture()
def cli():
    """Run the real `collectivesft` CLI in-process: cli(["data", "convert", ...]) -> Result."""
    from collectivesft.cli.main import app

    runner = CliRunner()

    def invoke(args: list[str]):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def remote_model(tmp_path_factory) -> Path:
    """A tiny model whose classes come from its own modeling_*.py (auto_map): needs trust_remote_code."""
    from collectivesft.fixtures.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "remote", arch="qwen2", size="tiny", remote_code=True)
