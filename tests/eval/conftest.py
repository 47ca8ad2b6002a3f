"""Eval-stage fixtures: the CMB eval set in the official layout, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cmb_data(tmp_path_factory) -> Path:
    """The generated CMB eval fixture (140 test questions, val, key, CMB-Clin)."""
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    return write_cmb_eval(tmp_path_factory.mktemp("cmb") / "CMB", n_test=140, seed=0)

