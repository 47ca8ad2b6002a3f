"""The demo's claim, on the demo's own recipes with a smaller CMB test: training on the fixture
mixture measurably beats the untrained model, and all 12 sources beat one source at the same
number of training records (95 % paired-bootstrap intervals that exclude zero)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .test_run import write_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _smaller(name: str, root: Path) -> Path:
    recipe = yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))
    recipe["fixtures"]["cmb_test"] = 140  # half the demo's questions; the training is the demo's
    return write_recipe(root / name, recipe)


@pytest.mark.slow
def test_training_helps_and_coverage_matters(tmp_path):
    from collectivesft.pipeline.ablate import run_ablation

    reference, one_source = _smaller("demo.yaml", tmp_path), _smaller("demo-one-source.yaml", tmp_path)
    result = run_ablation(reference, tmp_path / "out", variant_files=[one_source], log=lambda line: None)
    ref, one = result["variants"]["reference"], result["variants"]["demo-one-source"]
    assert one["sources"] == ["webmedqa"] and len(ref["sources"]) == 12
    assert one["mixture_train_records"] == ref["mixture_train_records"]  # the same number of records
    trained_vs_base = ref["trained_vs_base"]["overall"]
    assert trained_vs_base["n"] >= 120
    assert trained_vs_base["low"] > 0, trained_vs_base  # the interval excludes zero
    one_vs_all = one["vs_reference"]["overall"]
    assert one_vs_all["high"] < 0, one_vs_all
