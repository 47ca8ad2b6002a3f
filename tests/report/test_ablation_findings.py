"""The ablation report's plain sentences are read off the intervals, never assumed."""

from __future__ import annotations

import pytest

from collectivesft.report.ablation import findings


def _d(diff: float, low: float, high: float, p: float = 0.01, n: int = 200) -> dict:
    return {"diff": diff, "low": low, "high": high, "p_value": p, "n": n}


def _comparison(trained_vs_base: dict, vs_reference: dict, variant_sources: int = 1, records=(500, 500)) -> dict:
    return {"reference": "reference", "variants": {
        "reference": {"sources": [f"s{i}" for i in range(12)], "mixture_train_records": records[0],
                      "trained_vs_base": {"overall": trained_vs_base}},
        "one": {"sources": [f"s{i}" for i in range(variant_sources)], "mixture_train_records": records[1],
                "vs_reference": {"overall": vs_reference}},
    }}


@pytest.mark.parametrize("trained_vs_base, starts", [
    (_d(0.40, 0.34, 0.47, 1e-9), "Training helped"),
    (_d(-0.10, -0.15, -0.04), "Training hurt"),
    (_d(0.02, -0.03, 0.07, 0.5), "Training made no difference"),
])
def test_trained_minus_base_sentence_follows_the_interval(trained_vs_base, starts):
    said = findings(_comparison(trained_vs_base, _d(0.0, -0.05, 0.05, 1.0)))
    assert said[0].startswith(starts)
    assert "+0.400\u00a0[+0.340,\u00a0+0.470]" in said[0] or starts != "Training helped"
    assert "p<0.0001" in said[0] or starts != "Training helped"


@pytest.mark.parametrize("vs_reference, sources, records, expected, coverage", [
    (_d(-0.44, -0.50, -0.37), 1, (774, 774), "scores below the reference", True),
    (_d(-0.44, -0.50, -0.37), 1, (774, 500), "scores below the reference", False),  # fewer records: not only coverage
    (_d(-0.44, -0.50, -0.37), 12, (774, 774), "scores below the reference", False),  # same sources: another change
    (_d(0.10, 0.03, 0.16), 1, (774, 774), "scores above the reference", False),
    (_d(-0.01, -0.06, 0.04, 0.7), 1, (774, 774), "no difference these questions can resolve", False),
])
def test_variant_sentence_follows_the_interval(vs_reference, sources, records, expected, coverage):
    said = findings(_comparison(_d(0.4, 0.3, 0.5), vs_reference, sources, records))
    assert len(said) == 2 and expected in said[1]
    assert ("what it lacks is coverage" in said[1]) is coverage
    assert said[1].startswith(f"one ({sources} source{'s' if sources != 1 else ''}, {records[1]} training records)")
