"""Baseline detectors on the shared contract: detection, channel attribution, saving, determinism, errors."""

import numpy as np
import pytest

import tsgan
from tsgan.detectors import DETECTORS, make_detector
from tsgan.detectors.baselines import estimate_period
from tsgan.errors import ConfigError
from tsgan.series import Series

NAMES = ["random", "zscore", "pca", "iforest", "knn", "seasonal"]
CHANNELS = ["a", "b", "c", "d"]
PERIOD = 50


def sines(n: int = 600, seed: int = 0) -> np.ndarray:
    """Four noisy sines of one period at different phases and offsets: correlated, but no two alike."""
    t = np.arange(n)
    clean = np.stack(
        [np.sin(2 * np.pi * t / PERIOD + phase) + i for i, phase in enumerate([0, 0.8, 1.6, 2.6])], 1
    )
    return clean + 0.05 * np.random.default_rng(seed).normal(size=clean.shape)


def named(values: np.ndarray) -> Series:
    return Series(values, CHANNELS)


@pytest.fixture(scope="module")
def train() -> np.ndarray:
    return sines()


@pytest.fixture(scope="module")
def fitted(train) -> dict:
    return {name: make_detector(name).fit(named(train)) for name in NAMES}


def test_all_baselines_are_registered_by_name():
    assert set(NAMES) <= set(DETECTORS)


@pytest.mark.parametrize("name", NAMES)
def test_scores_have_one_row_per_point_and_one_column_per_channel(name, fitted, train):
    scores = fitted[name].score(named(train[:120]))
    assert scores.point.shape == (120,) and scores.channel.shape == (120, 4)
    assert np.isfinite(scores.channel).all()
    assert np.allclose(scores.point, scores.channel.max(axis=1))


@pytest.mark.parametrize(
    "name, params",
    [
        ("zscore", {}),
        ("zscore", {"smooth": 5}),
        ("pca", {}),
        ("pca", {"window": 5}),
        ("iforest", {}),
        ("knn", {"window": 4}),  # a window's score covers all its rows: a short one keeps the flags tight
        ("seasonal", {}),
        ("seasonal", {"period": PERIOD}),
    ],
)
def test_flags_a_large_spike_on_the_right_channel(name, params, train):
    det = make_detector(name, **params).fit(named(train))
    test = train.copy()
    test[300:305, 1] += 8.0
    result = det.detect(named(test))
    assert result.flags[300:305].any()
    hit = [i for i in result.intervals if i.start <= 304 and i.end >= 300]
    assert hit and hit[0].channels[0] == "b"
    assert result.flags.mean() < 0.05  # and little else


def test_pca_flags_a_correlation_break_that_zscore_cannot_see(fitted, train):
    test = train.copy()
    rows = slice(300, 400)
    test[rows, 1] = 2 - test[rows, 1]  # channel b mirrored about its mean: same range, wrong phase
    assert test[rows, 1].min() >= train[:, 1].min() - 0.1 and test[rows, 1].max() <= train[:, 1].max() + 0.1
    pca = fitted["pca"].detect(named(test))
    zscore = fitted["zscore"].detect(named(test))
    assert pca.flags[rows].mean() > 0.5
    assert zscore.flags[rows].mean() < 0.05


def test_pca_keeps_enough_components_for_the_variance_or_the_number_asked(fitted, train):
    assert fitted["pca"].components_.shape == (2, 4)  # two latent signals: sin and cos of one period
    assert make_detector("pca", n_components=3).fit(train).components_.shape == (3, 4)
    assert make_detector("pca", window=3).fit(train).components_.shape[1] == 12


def test_knn_flags_a_pattern_out_of_place_that_zscore_cannot_see(fitted, train):
    # Channel c runs backwards for 40 rows: every value is one it takes, at its usual level.
    test = sines(seed=4)[:300]
    test[150:190, 2] = test[150:190, 2][::-1].copy()
    knn = fitted["knn"].score(named(test)).channel[:, 2]
    zscore = fitted["zscore"].score(named(test)).channel[:, 2]

    def lift(s):  # how far the broken rows stand above the clean ones, in spreads of the clean ones
        clean = np.r_[s[:140], s[200:]]
        return (s[150:190].mean() - clean.mean()) / clean.std()

    assert lift(knn) > 2 and lift(knn) > 3 * max(lift(zscore), 0.1)


def test_estimated_period_of_a_clean_sine():
    assert abs(estimate_period(np.sin(2 * np.pi * np.arange(1000) / PERIOD)) - PERIOD) <= 1
    assert estimate_period(np.random.default_rng(0).normal(size=1000)) is None


def test_seasonal_estimates_each_channel_and_falls_back_without_a_period(train):
    noise = np.random.default_rng(1).normal(size=(len(train), 1))
    channels = [*CHANNELS, "noise"]
    det = make_detector("seasonal").fit(Series(np.c_[train, noise], channels))
    assert np.all(np.abs(det.periods_[:4] - PERIOD) <= 1) and det.periods_[4] == 0
    test = np.c_[train, noise]
    test[200:203, 4] += 10.0
    result = det.detect(Series(test, channels))
    hit = [i for i in result.intervals if i.start <= 202 and i.end >= 200]
    assert hit and hit[0].channels[0] == "noise"


def test_seasonal_aligns_the_phase_of_a_series_that_starts_mid_period(fitted):
    shifted = sines(900, seed=5)[13:]  # starts 13 points into a period, fresh noise
    assert fitted["seasonal"].detect(named(shifted)).flags.mean() < 0.02


@pytest.mark.parametrize("name", NAMES)
def test_a_reloaded_detector_scores_identically(name, fitted, train, tmp_path):
    test = train.copy()
    test[300:305, 1] += 8.0
    det = fitted[name]
    det.save(tmp_path / "model.tsgan")
    loaded = tsgan.load(tmp_path / "model.tsgan")
    assert type(loaded) is type(det)
    assert np.array_equal(loaded.score(named(test)).channel, det.score(named(test)).channel)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scores(name, fitted, train):
    again = make_detector(name).fit(named(train))
    assert np.array_equal(
        again.score(named(train[:200])).channel, fitted[name].score(named(train[:200])).channel
    )


@pytest.mark.parametrize("name", ["random", "iforest"])
def test_another_seed_other_scores(name, fitted, train):
    other = make_detector(name, seed=1).fit(named(train))
    assert not np.array_equal(
        other.score(named(train[:200])).channel, fitted[name].score(named(train[:200])).channel
    )


BLOCK_CASES = [(name, {"window": window}) for name in ("knn", "pca") for window in (1, 7)] + [
    ("knn", {"window": 7, "per_channel": True}),
    ("knn", {"window": 7, "fold": "max"}),
    ("knn", {"window": 7, "fold": "median"}),
    ("zscore", {}),
]


@pytest.mark.parametrize("name, params", BLOCK_CASES)
def test_blocks_scored_together_score_as_each_alone(name, params, train):
    # How a stream scores its stations at once; the kNN's and PCA's windows share one computation.
    det = make_detector(name, **params).fit(named(train))
    blocks = np.stack([det.scaler_.transform(sines(40, seed)) for seed in (3, 4, 5)]).astype(np.float32)
    alone = np.stack([det._channel_scores(block, False) for block in blocks])
    np.testing.assert_allclose(det._block_scores(blocks), alone, rtol=1e-5, atol=1e-6)


def test_per_channel_knn_judges_each_channel_by_its_own_shapes(train):
    # Rows 200-260: channel b runs half a period late. Its shape is a normal sine; only its relation
    # to the other channels is new. Rows 400-405: a spike on channel d.
    test = train[:600].copy()
    test[200:260, 1] = train[225:285, 1]
    test[400:405, 3] += 3.0
    whole = make_detector("knn", window=10).fit(named(train)).score(named(test))
    own = make_detector("knn", window=10, per_channel=True).fit(named(train)).score(named(test))
    b, d = 1, 3
    assert whole.channel[210:250, b].mean() > 0 > own.channel[210:250, b].mean()
    assert own.channel[400:405, d].min() > 0 and own.channel[400:405].argmax(axis=1).tolist() == [d] * 5


@pytest.mark.parametrize("how", ["max", "median"])
def test_knn_fold_gives_each_point_the_max_or_median_of_its_covering_windows(how, train):
    det = make_detector("knn", window=5, fold=how).fit(named(train))
    x = det.scaler_.transform(sines(30, seed=7))
    windows = det.train_windows_  # the same neighbours as the mean fold's: only the fold differs
    by_window = make_detector("knn", window=5).fit(named(train))
    assert np.array_equal(windows, by_window.train_windows_)
    # each window's score, held for its steps, then reduced per point by hand
    per_window = np.stack([by_window._channel_scores(x[s : s + 5], False)[0] for s in range(26)])
    reduce = np.max if how == "max" else np.median
    expected = np.stack([reduce(per_window[max(0, t - 4) : t + 1], axis=0) for t in range(30)])
    np.testing.assert_allclose(det._channel_scores(x, False), expected, rtol=1e-5, atol=1e-6)


def test_knn_max_fold_holds_a_spike_over_every_window_that_covers_it(train):
    test = train[:300].copy()
    test[150, 2] += 5.0
    mean, most = (
        make_detector("knn", window=10, fold=how).fit(named(train)).score(named(test)).channel[:, 2]
        for how in ("mean", "max")
    )
    # The 19 points whose windows include the spike (141-159): the mean ramps down away from it, the max
    # holds the most anomalous window's score over all of them, a plateau; points outside stay low.
    assert mean[141] < mean[150] / 5 and mean[159] < mean[150] / 5
    assert np.ptp(most[141:160]) < 0.01 * most[150]
    assert max(most[140], most[160]) < most[150] / 100


def test_iforest_keeps_at_most_max_windows_for_refitting(train):
    det = make_detector("iforest", max_windows=100, max_samples=64).fit(train)
    assert det.train_windows_.shape == (100, 10 * 4)


def test_point_share_ranks_a_change_on_many_channels_above_a_larger_one_on_one(train):
    # Rows 100-110: channel a alone jumps 6 spreads. Rows 300-310: all four channels move 3 spreads.
    test = train[:400].copy()
    spread = train.std(axis=0)
    test[100:110, 0] += 6 * spread[0]
    test[300:310] += 3 * spread
    largest = make_detector("zscore").fit(named(train)).detect(named(test))
    shared = make_detector("zscore", point_share=0.5).fit(named(train)).detect(named(test))
    assert largest.scores.point[100:110].mean() > largest.scores.point[300:310].mean()
    assert shared.scores.point[300:310].mean() > shared.scores.point[100:110].mean()
    # the point score is the mean of the two largest channel excesses of the four
    top_two = np.sort(shared.scores.channel, axis=1)[:, -2:].mean(axis=1)
    assert np.allclose(shared.scores.point, top_two, atol=1e-5)
    # a channel is flagged only at a flagged point, and a flagged point has a channel over its threshold
    assert not shared.channel_flags[~shared.flags].any()
    assert shared.channel_flags[shared.flags].any(axis=1).all()
    with pytest.raises(ConfigError, match=r"point_share must be in \(0, 1\]"):
        make_detector("zscore", point_share=0)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("zscore", {"smooth": 0}, "smooth must be >= 1"),
        ("pca", {"window": 0}, "window must be >= 1"),
        ("pca", {"n_components": 0}, "n_components must be >= 1"),
        ("pca", {"n_components": 0.9}, r"n_components=0.9: expected int or None, found float"),
        ("knn", {"k": "abc"}, r"k='abc': expected int, found str"),
        ("knn", {"per_channel": "maybe"}, r"per_channel='maybe': expected true/false, found str"),
        ("knn", {"window": True}, r"window=True: expected int, found bool"),
        ("knn", {"fold": "min"}, r"unknown fold 'min': expected one of mean, median, max"),
        ("pca", {"variance": 1.5}, r"variance must be in \(0, 1\]"),
        ("iforest", {"window": 0}, "window must be >= 1"),
        ("iforest", {"max_samples": 1}, "max_samples must be >= 2"),
        ("seasonal", {"period": 1}, "period must be >= 2"),
        ("seasonal", {"min_acf": 0}, r"min_acf must be in \(0, 1\)"),
    ],
)
def test_bad_parameters_are_config_errors(name, params, message):
    with pytest.raises(ConfigError, match=message):
        make_detector(name, **params)


def test_parameters_that_do_not_fit_the_data_are_config_errors(train):
    with pytest.raises(ConfigError, match="n_components=5 must be smaller than the number of features, 4"):
        make_detector("pca", n_components=5).fit(train)
    with pytest.raises(ConfigError, match="period=400 needs two periods"):
        make_detector("seasonal", period=400).fit(train)


def test_normalised_scores_are_the_scores_before_thresholds(fitted, train):
    det = fitted["pca"]
    test = named(sines(300, seed=9))
    whole = det.normalised_scores(test)
    excess = det.score(test).channel  # the same scores less each channel's threshold
    np.testing.assert_allclose(whole - det.thresholds_, excess, atol=1e-5)
    assert det.normalised_scores(test, tail=50).shape == (50, 4)
    with pytest.raises(tsgan.InputError, match="no channel|missing"):
        det.normalised_scores(Series(sines(300)[:, :3], CHANNELS[:3]))
