"""A series in another regime than the training data: drift thresholds (online use, saving, errors) and
reference rows (each series recalibrated on its own normal start)."""

import dataclasses

import numpy as np
import pytest

from tsgan.artifacts import load_detector
from tsgan.bench import detection_metrics
from tsgan.datasets import make_industrial
from tsgan.detectors import make_detector
from tsgan.errors import ConfigError, InputError
from tsgan.series import Series
from tsgan.stream.online import OnlineDetector

SHIFT_AT, SPIKE_AT, DEPTH = 400, 1500, 50
REFERENCE, RESTART_SPIKE = 300, 1100
TINY_USAD = dict(
    window=8, stride=2, score_stride=2, hidden=8, latent_dim=3, layers=2, epochs=2, batch_size=32
)


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


def periodic(n: int, seed: int) -> Series:
    """Four noisy sines of period 50 at different phases: any 300 rows show all of their variation."""
    t = np.arange(n)[:, None]
    values = np.sin(2 * np.pi * t / 50 + np.array([0, 0.8, 1.6, 2.6])) + np.arange(4)
    return Series(values + 0.05 * np.random.default_rng(seed).normal(size=values.shape), ["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def periodic_train() -> Series:
    return periodic(2000, seed=1)


@pytest.fixture(scope="module")
def restarted() -> Series:
    """A run that starts at another operating point: channels a and b 8 units higher, c swinging 1.5
    times as wide, and one spike of 3 on d at RESTART_SPIKE."""
    series = periodic(1600, seed=2)
    values = series.values.copy()
    values[:, :2] += 8
    values[:, 2] = 2 + 1.5 * (values[:, 2] - 2)
    values[RESTART_SPIKE, 3] += 3
    return dataclasses.replace(series, values=values)


@pytest.mark.parametrize("name, params", [("zscore", {}), ("pca", {}), ("usad", TINY_USAD)])
def test_reference_rows_recalibrate_on_the_series_start_and_the_spike_stands_out(
    name, params, periodic_train, restarted
):
    assert make_detector(name, **params).fit(periodic_train).detect(restarted).flags.mean() > 0.5
    det = make_detector(name, reference_rows=REFERENCE, **params).fit(periodic_train)
    found = det.detect(restarted)
    near = slice(RESTART_SPIKE - 4, RESTART_SPIKE + 5)
    assert found.flags[near].any() and found.channel_flags[near, 3].any()
    assert found.flags.mean() < 0.02
    assert found.reference_rows == REFERENCE and np.isfinite(found.thresholds).all()
    # Scoring leaves the fitted detector as it was: its own thresholds are those of a plain fit.
    plain = make_detector(name, **params).fit(periodic_train)
    assert np.array_equal(det.thresholds_, plain.thresholds_)


def test_reference_rows_survive_saving_and_metrics_skip_them(periodic_train, restarted, tmp_path):
    det = make_detector("zscore", reference_rows=REFERENCE).fit(periodic_train)
    det.save(tmp_path / "m.tsgan")
    first, again = det.detect(restarted), load_detector(tmp_path / "m.tsgan").detect(restarted)
    np.testing.assert_array_equal(first.scores.channel, again.scores.channel)
    # A label inside the reference rows is not judged: it was given as normal, not found.
    labels = np.zeros(len(restarted), dtype=np.int8)
    labels[RESTART_SPIKE] = 1
    inside = labels.copy()
    inside[10] = 1
    assert detection_metrics(first, labels) == detection_metrics(first, inside)


def test_reference_rows_errors_name_the_rows(periodic_train, restarted):
    train = periodic_train
    with pytest.raises(ConfigError, match="reference_rows must be >= 0"):
        make_detector("zscore", reference_rows=-1)
    det = make_detector("zscore", reference_rows=REFERENCE).fit(train)
    with pytest.raises(InputError, match=f"100 rows is shorter than the {REFERENCE} reference rows"):
        det.detect(dataclasses.replace(restarted, values=restarted.values[:100], timestamps=None))
    with pytest.raises(ConfigError, match="reference_rows=4 is shorter than one window of 8"):
        make_detector("usad", reference_rows=4, **TINY_USAD).fit(train).detect(restarted)
    with pytest.raises(ConfigError, match="a stream does not have"):
        OnlineDetector(det)


def test_max_flagged_caps_the_share_of_a_shifted_series_that_is_flagged(periodic_train):
    values = periodic_train.values[:600] + 5.0  # another regime: a fixed threshold flags all of it
    values[300:320, 0] += 10.0
    shifted = Series(values, periodic_train.channels)
    plain = make_detector("zscore").fit(periodic_train).detect(shifted)
    capped = make_detector("zscore", max_flagged=0.2).fit(periodic_train).detect(shifted)
    assert plain.flags.mean() > 0.9 and plain.scores.threshold_offset == 0.0
    assert capped.flags.mean() <= 0.2 + 1e-9 and capped.flags[300:320].all()
    assert capped.scores.threshold_offset > 0
    assert np.allclose(capped.thresholds, plain.thresholds + capped.scores.threshold_offset)
    # a series that stays under the cap is left alone
    normal = make_detector("zscore", max_flagged=0.2).fit(periodic_train).detect(periodic(600, seed=5))
    assert normal.scores.threshold_offset == 0.0
    with pytest.raises(ConfigError, match="max_flagged must be in"):
        make_detector("zscore", max_flagged=1.0)


def test_series_floor_lifts_the_thresholds_of_a_series_noisier_than_validation(periodic_train):
    rng = np.random.default_rng(3)
    values = periodic(600, seed=4).values
    values = values + rng.normal(0.0, 3.0 * values.std(axis=0), values.shape)  # noisier than validation
    values[300:310, 0] += 40.0
    noisy = Series(values.astype(np.float32), periodic_train.channels)
    plain = make_detector("zscore").fit(periodic_train).detect(noisy)
    floored = make_detector("zscore", series_floor=3.0).fit(periodic_train).detect(noisy)
    assert plain.flags.mean() > 0.3 and plain.scores.threshold_offset == 0.0
    assert floored.scores.threshold_offset > 0 and floored.flags[300:310].all()
    assert floored.flags.mean() < 0.1
    assert np.allclose(floored.thresholds, plain.thresholds + floored.scores.threshold_offset)
    # a series like the training data keeps its clean bill: nothing flagged with or without the floor
    for floor in (None, 3.0):
        normal = make_detector("zscore", series_floor=floor).fit(periodic_train).detect(periodic(600, seed=5))
        assert not normal.flags.any()
    with pytest.raises(ConfigError, match="series_floor must be >= 0"):
        make_detector("zscore", series_floor=-1.0)
