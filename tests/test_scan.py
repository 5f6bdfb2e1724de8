"""The scan of point scores over time scales: a long moderate rise ranks beside a spike."""

import numpy as np

from tsgan.scan import fit_scan, scan_scores, scan_widths
from tsgan.windows import moving_mean


def test_widths_are_scales_of_the_window_after_the_point_itself():
    assert scan_widths([0.5, 1, 2, 4], 32, 1000).tolist() == [1, 16, 32, 64, 128]
    assert scan_widths([0.5, 1], 2, 1000).tolist() == [1, 2]  # half a window of 2 is the point itself
    assert scan_widths([], 32, 1000).tolist() == [1]
    assert scan_widths([1, 4, 1e9], 32, 100).tolist() == [1, 32, 100]  # no wider than validation


def test_each_width_is_matched_to_the_point_scores_units_on_validation():
    val = np.random.default_rng(0).normal(0, 1, 5000)
    widths = scan_widths([1, 4], 25, 10_000)
    center, spread = fit_scan(val, widths)
    for width, c, s in zip(widths, center, spread, strict=True):
        median, upper = np.percentile(moving_mean(val, width), [50, 99])
        assert np.isclose(c, median, atol=1e-6) and np.isclose(s, upper - median, rtol=1e-5)
    # The moving mean of noise is narrower: a longer width gets a smaller spread to be as rare.
    assert spread[0] > spread[1] > spread[2]


def test_a_long_moderate_rise_outranks_the_noise_only_when_scanned():
    rng = np.random.default_rng(1)
    widths = scan_widths([1, 4], 25, 10_000)
    center, spread = fit_scan(rng.normal(0, 1, 5000), widths)
    test = rng.normal(0, 1, 3000)
    test[1000:1400] += 1.0  # a sustained rise of one spread: below the noise's own spikes point by point
    test[2500] += 8.0  # a spike
    scanned = scan_scores(test, widths, center, spread)
    inside, outside = slice(1000, 1400), np.r_[0:950, 1450:2450, 2550:3000]
    assert np.median(test[inside]) < np.max(test[outside])
    assert np.median(scanned[inside]) > np.max(scanned[outside])
    assert scanned[2500] == np.float32(test[2500])  # a spike keeps its own score: width 1 is the point
    assert (scanned >= test.astype(np.float32)).all()


def test_without_longer_widths_the_scan_is_the_point_score():
    point = np.random.default_rng(2).normal(0, 1, 100).astype(np.float32)
    center, spread = fit_scan(point, scan_widths([], 10, 10_000))
    assert np.array_equal(scan_scores(point, scan_widths([], 10, 10_000), center, spread), point)


def test_a_flat_validation_score_gives_a_usable_spread():
    center, spread = fit_scan(np.zeros(100), scan_widths([1], 10, 10_000))
    assert np.array_equal(spread, [1.0, 1.0]) and np.array_equal(center, [0.0, 0.0])
