"""Train-stage fixtures: the tiny model built once per session (per xdist worker)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A qwen2 tiny model folder (random weights, tokenizer trained on the fixture world)."""
    from collectivesft.train.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "qwen2", arch="qwen2", size="tiny")
