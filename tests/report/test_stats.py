"""stats.py: bootstrap intervals and McNemar's test against values worked out by hand."""

import math

import numpy as np
import pytest

from collectivesft.stats import bootstrap_interval, mcnemar, paired_bootstrap


def _pairs(b01: int, b10: int, both_right: int = 0, both_wrong: int = 0) -> tuple[list[int], list[int]]:
    """Scores of models a and b with the given discordant and concordant counts."""
    a = [0] * b01 + [1] * b10 + [1] * both_right + [0] * both_wrong
    b = [1] * b01 + [0] * b10 + [1] * both_right + [0] * both_wrong
    return a, b


@pytest.mark.parametrize("b01, b10, p_value", [
    pytest.param(0, 0, 1.0, id="no discordant items"),
    pytest.param(1, 0, 1.0, id="one discordant item: 2 * 1/2, capped"),
    pytest.param(0, 5, 2 / 32, id="five against none: 2 * C(5,0) / 2^5"),
    pytest.param(1, 9, 2 * (1 + 10) / 1024, id="one against nine: 2 * (C(10,0) + C(10,1)) / 2^10"),
    pytest.param(8, 2, 2 * (1 + 10 + 45) / 1024, id="symmetric in a and b"),
    pytest.param(3, 3, 1.0, id="balanced: 2 * 42/64 capped at 1"),
])
def test_mcnemar_exact_p_values(b01, b10, p_value):
    a, b = _pairs(b01, b10, both_right=7, both_wrong=4)
    result = mcnemar(a, b)
    assert (result["b01"], result["b10"], result["method"]) == (b01, b10, "exact")
    assert result["p_value"] == pytest.approx(p_value, rel=1e-12)


def test_mcnemar_chi_square_above_the_exact_limit():
    a, b = _pairs(0, 5)
    result = mcnemar(a, b, exact_max=4)
    # (|0 - 5| - 1)^2 / 5 = 3.2; P(chi2_1 > 3.2) = 0.0736383 (statistical tables).
    assert result["method"] == "chi2"
    assert result["p_value"] == pytest.approx(0.0736383, abs=1e-6)


def test_mcnemar_approximation_agrees_with_the_exact_test_on_many_pairs():
    a, b = _pairs(400, 480)
    exact, approx = mcnemar(a, b), mcnemar(a, b, exact_max=0)
    assert exact["method"] == "exact" and approx["method"] == "chi2"
    assert approx["p_value"] == pytest.approx(exact["p_value"], rel=0.01)


@pytest.mark.parametrize("a, b, message", [
    pytest.param([1, 0], [1], "same items", id="different lengths"),
    pytest.param([1, 0.5], [1, 0], "0/1", id="not wrong/right"),
    pytest.param([], [], "non-empty", id="empty"),
])
def test_mcnemar_rejects_bad_input(a, b, message):
    with pytest.raises(ValueError, match=message):
        mcnemar(a, b)


def test_identical_scores_give_a_zero_difference_with_a_zero_interval():
    a = np.random.default_rng(3).integers(0, 2, 500)
    assert paired_bootstrap(a, a) == {"diff": 0.0, "low": 0.0, "high": 0.0}


def test_paired_difference_is_the_difference_of_means_and_its_interval_covers_it():
    a, b = _pairs(40, 10, both_right=300, both_wrong=650)  # b is right on 30 more of 1000 items
    result = paired_bootstrap(a, b)
    assert result["diff"] == pytest.approx(0.03)
    assert result["low"] < 0.03 < result["high"]
    assert result["low"] > 0  # 40 gains against 10 losses: the gain is clear
    assert mcnemar(a, b)["p_value"] < 0.001


def test_interval_of_a_known_mean_covers_it_with_the_normal_width():
    correct = [1] * 300 + [0] * 700
    low, high = bootstrap_interval(correct)
    half_width = 1.96 * math.sqrt(0.3 * 0.7 / 1000)  # 0.0284
    assert low < 0.3 < high
    assert low == pytest.approx(0.3 - half_width, abs=0.006)
    assert high == pytest.approx(0.3 + half_width, abs=0.006)


@pytest.mark.parametrize("values, expected", [
    pytest.param([1] * 20, (1.0, 1.0), id="all right"),
    pytest.param([0] * 20, (0.0, 0.0), id="all wrong"),
    pytest.param([0.5], (0.5, 0.5), id="one item"),
])
def test_interval_of_constant_scores_is_a_point(values, expected):
    assert bootstrap_interval(values) == expected


def test_same_seed_same_interval_other_seed_other_resamples():
    correct = np.random.default_rng(0).integers(0, 2, 200)
    assert bootstrap_interval(correct, seed=1) == bootstrap_interval(correct, seed=1)
    assert bootstrap_interval(correct, seed=1) != bootstrap_interval(correct, seed=2)


def test_higher_level_gives_a_wider_interval():
    correct = np.random.default_rng(0).integers(0, 2, 400)
    low90, high90 = bootstrap_interval(correct, level=0.9)
    low99, high99 = bootstrap_interval(correct, level=0.99)
    assert low99 < low90 and high90 < high99


@pytest.mark.parametrize("kwargs, message", [
    pytest.param({"level": 1.0}, "level", id="level 1"),
    pytest.param({"level": 0.0}, "level", id="level 0"),
    pytest.param({"n_boot": 0}, "n_boot", id="no resamples"),
])
def test_bootstrap_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_interval([1, 0, 1], **kwargs)


def test_paired_bootstrap_needs_the_same_items():
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([1, 0, 1], [1, 0])


def test_stratified_bootstrap_keeps_each_group_and_pairs_aligned_vectors():
    from collectivesft.stats import percentile_interval, stratified_bootstrap_means

    groups = {"all right": [1.0] * 30, "half": [1.0, 0.0] * 20, "paired": [[1.0, 0.0] * 20, [1.0, 0.0] * 20]}
    means = stratified_bootstrap_means(groups, n_boot=500, seed=3)
    assert means["all right"].shape == (500,) and set(means["all right"]) == {1.0}  # resampled inside the group only
    assert means["paired"].shape == (500, 2)
    assert (means["paired"][:, 0] == means["paired"][:, 1]).all()  # the same items for both vectors
    low, high = percentile_interval(means["half"])
    assert low < 0.5 < high
    again = stratified_bootstrap_means(groups, n_boot=500, seed=3)
    assert (again["half"] == means["half"]).all()
    with pytest.raises(ValueError, match="group 'empty'"):
        stratified_bootstrap_means({"empty": []})


def test_runs_bootstrap_with_one_run_each_is_the_paired_bootstrap_interval():
    from collectivesft.stats import paired_bootstrap, runs_bootstrap

    rng = np.random.default_rng(3)
    a = (rng.random(400) < 0.4).astype(float)
    b = (rng.random(400) < 0.55).astype(float)
    one = runs_bootstrap([a], [b], n_boot=4000)
    plain = paired_bootstrap(a, b, n_boot=4000)
    assert one["diff"] == pytest.approx(plain["diff"])
    assert one["low"] == pytest.approx(plain["low"], abs=0.01) and one["high"] == pytest.approx(plain["high"], abs=0.01)
    assert one["p_value"] < 0.01


def test_runs_bootstrap_widens_when_retrained_runs_disagree():
    """Three runs per side whose accuracies scatter by +-0.15 around the same mean: the question-only
    interval of one pair of runs can exclude 0, the runs-aware one must not."""
    from collectivesft.stats import paired_bootstrap, runs_bootstrap

    rng = np.random.default_rng(5)
    n = 300

    def run(p):
        return (rng.random(n) < p).astype(float)

    a_runs = [run(0.45), run(0.60), run(0.75)]
    b_runs = [run(0.75), run(0.45), run(0.60)]
    lucky = paired_bootstrap(a_runs[0], b_runs[0])
    assert lucky["low"] > 0  # one seed each: "significant"
    both = runs_bootstrap(a_runs, b_runs)
    assert both["low"] < 0 < both["high"] and both["p_value"] > 0.05
    assert both["high"] - both["low"] > 2 * (lucky["high"] - lucky["low"])


@pytest.mark.parametrize("a, b, message", [
    ([[1.0, 0.0]], [[1.0, 0.0, 1.0]], "same items"),
    ([], [[1.0]], "2-D"),
    ([[1.0, float("nan")]], [[1.0, 0.0]], "NaN"),
])
def test_runs_bootstrap_rejects_bad_tables(a, b, message):
    from collectivesft.stats import runs_bootstrap

    with pytest.raises(ValueError, match=message):
        runs_bootstrap(a, b)


def test_runs_bootstrap_says_when_p_is_below_its_resolution():
    from collectivesft.stats import runs_bootstrap

    far = runs_bootstrap([[0.0] * 50], [[1.0] * 50, [1.0] * 50], n_boot=500)
    assert far["p_below"] and far["p_value"] == pytest.approx(1 / 500)
    near = runs_bootstrap([[0.0, 1.0] * 25], [[1.0, 0.0] * 25], n_boot=500)
    assert not near["p_below"] and near["p_value"] > 0.5
