"""Eval-stage fixtures: the CMB eval set in the official layout and a tiny model, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cmb_data(tmp_path_factory) -> Path:
    """The generated CMB eval fixture (140 test questions, val, key, CMB-Clin)."""
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    return write_cmb_eval(tmp_path_factory.mktemp("cmb") / "CMB", n_test=140, seed=0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A qwen2 tiny model folder (random weights, tokenizer trained on the fixture world, chat template)."""
    from collectivesft.fixtures.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "qwen2", arch="qwen2", size="tiny")
