"""Drift thresholds on the detector contract: a regime shift after training, online use, saving, errors."""

import dataclasses

import numpy as np
import pytest

from tsgan.artifacts import load_detector
from tsgan.datasets import make_industrial
from tsgan.detectors import make_detector
from tsgan.errors import ConfigError

SHIFT_AT, SPIKE_AT, DEPTH = 400, 1500, 50


@pytest.fixture(scope="module")
def train():
    return make_industrial(2000, 4, anomalies=False, seed=1)


@pytest.fixture(scope="module")
def shifted(train):
    """Another day of the same plant: two channels move 8 standard deviations at SHIFT_AT and stay
    there (a new operating point, not an anomaly), and a spike of 20 hits channel 3 at SPIKE_AT."""
    test = make_industrial(2000, 4, anomalies=False, seed=2)
    values, spread = test.values.copy(), train.values.std(axis=0)
    values[SHIFT_AT:, :2] += 8 * spread[:2]
    values[SPIKE_AT, 3] += 20 * spread[3]
    return dataclasses.replace(test, values=values)


def test_fixed_thresholds_flag_everything_after_a_shift_drift_flags_the_spike(train, shifted):
    fixed = make_detector("zscore", threshold="pot").fit(train).detect(shifted)
    assert fixed.flags[SHIFT_AT:].all()

    drift = make_detector("zscore", threshold="drift", depth=DEPTH).fit(train).detect(shifted)
    assert not drift.flags[:SHIFT_AT].any()
    # The new level is flagged until the moving median has crossed over (about DEPTH/2 points)...
    assert drift.flags[SHIFT_AT] and not drift.flags[SHIFT_AT + DEPTH : SHIFT_AT + 2 * DEPTH].any()
    # ...then it is the normal level: the spike is flagged, on its channel, and little else.
    assert drift.flags[SPIKE_AT] and drift.channel_flags[SPIKE_AT, 3]
    assert drift.flags[SHIFT_AT + DEPTH :].mean() < 0.01
    assert np.array_equal(drift.flags, drift.scores.point > 0)
    assert np.isnan(drift.thresholds).all()  # no single threshold: it moves along the series


def test_drift_judges_each_point_only_with_the_past(train, shifted):
    det = make_detector("zscore", threshold="drift", depth=DEPTH).fit(train)
    before = det.score(shifted).channel
    cut = 1000
    future = dataclasses.replace(shifted, values=shifted.values.copy())
    future.values[cut:] += 50 * train.values.std(axis=0)  # rewrite what comes after `cut`
    after = det.score(future).channel
    np.testing.assert_array_equal(before[:cut], after[:cut])
    assert not np.allclose(before[cut:], after[cut:])


def test_drift_scores_are_deterministic_and_survive_saving(train, shifted, tmp_path):
    det = make_detector("zscore", threshold="drift", depth=DEPTH).fit(train)
    det.save(tmp_path / "m.tsgan")
    loaded = load_detector(tmp_path / "m.tsgan")
    first, again = det.detect(shifted), loaded.detect(shifted)
    np.testing.assert_array_equal(first.scores.channel, again.scores.channel)
    np.testing.assert_array_equal(first.scores.channel, det.detect(shifted).scores.channel)


def test_validation_shorter_than_depth_still_calibrates(train, shifted):
    det = make_detector("zscore", threshold="drift", depth=1000).fit(train)  # 400 validation rows
    assert np.isfinite(det.thresholds_).all() and len(det.score_history_) == 400
    assert det.detect(shifted).flags[SPIKE_AT]


@pytest.mark.parametrize(
    "params, named",
    [
        ({"threshold": "otsu"}, "'otsu'"),
        ({"threshold": "drift", "depth": 0}, "depth=0"),
        ({"threshold": "drift", "depth": 2.5}, "depth=2.5"),
        ({"threshold": "drift", "q": 0.5}, "q=0.5"),
        ({"threshold": "quantile", "quantile": 1.5}, "quantile=1.5"),
    ],
)
def test_bad_threshold_settings_fail_before_training(params, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        make_detector("zscore", **params)
