"""The statistics of `vast plot`, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vast.plots import stats


def test_moving_average_is_the_references_valid_convolution():
    np.testing.assert_allclose(stats.moving_average(np.arange(12.0)), [4.5, 5.5, 6.5])
    np.testing.assert_allclose(stats.moving_average([1.0, 2.0, 6.0], window=2), [1.5, 4.0])
    np.testing.assert_allclose(stats.moving_average([1.0, 2.0, 6.0]), [3.0])  # shorter than the window


def test_bootstrap_ci_of_two_runs_is_the_range_of_resampled_means():
    # resamples of runs {0, 2}: means 0 (p 1/4), 1 (1/2), 2 (1/4) -> percentiles 2.5 and 97.5 are 0 and 2
    curves = np.array([[0.0, 10.0], [2.0, 10.0]])
    mean, low, high = stats.bootstrap_mean_ci(curves, resamples=10_000)
    np.testing.assert_allclose(mean, [1.0, 10.0])
    np.testing.assert_allclose(low, [0.0, 10.0])
    np.testing.assert_allclose(high, [2.0, 10.0])
    single = stats.bootstrap_mean_ci(curves[:1])
    np.testing.assert_allclose(single, [[0.0, 10.0]] * 3)


def test_bootstrap_ci_covers_the_sampling_spread():
    rng = np.random.default_rng(1)
    runs = rng.normal(5.0, 1.0, size=(30, 1))
    mean, low, high = stats.bootstrap_mean_ci(runs)
    se = runs.std(ddof=1) / np.sqrt(30)
    assert low[0] < mean[0] < high[0]
    assert high[0] - low[0] == pytest.approx(2 * 1.96 * se, rel=0.15)  # the normal-theory width


def test_interquartile_mean_drops_the_lowest_and_highest_quarter():
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert stats.iqm(np.array([[0.0, 100.0], [1.0, 2.0], [3.0, -50.0], [4.0, 5.0]])) == pytest.approx(
        2.5
    )  # middle of -50..100: 1, 2, 3, 4
    point, low, high = stats.iqm_ci(np.full((6, 2), 3.0))
    assert point == low == high == 3.0


def test_probability_of_improvement_counts_ties_as_one_half():
    assert stats.probability_of_improvement(np.array([1.0, 2.0]), np.array([0.0, 2.0])) == pytest.approx(
        0.625
    )
    # two tasks: 1.0 on the first, 0.0 on the second -> mean 0.5
    x, y = np.array([[3.0, 0.0], [4.0, 1.0]]), np.array([[1.0, 5.0], [2.0, 6.0]])
    assert stats.probability_of_improvement(x, y) == pytest.approx(0.5)
    point, low, high = stats.poi_ci(np.array([3.0, 3.0]), np.array([1.0, 1.0]))
    assert point == low == high == 1.0
    point, low, high = stats.poi_ci(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.5, 2.5, 2.5, 2.5]))
    assert point == pytest.approx(0.5) and low < 0.5 < high and low >= 0.0 and high <= 1.0


def test_min_max_normalisation_spans_every_run_of_a_task():
    out = stats.min_max_normalise({"a": np.array([2.0, 4.0]), "b": np.array([6.0])})
    np.testing.assert_allclose(out["a"], [0.0, 0.5])
    np.testing.assert_allclose(out["b"], [1.0])
