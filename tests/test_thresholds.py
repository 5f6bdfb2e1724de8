"""Thresholds: POT against known tails, per-channel methods, degenerate inputs, streaming SPOT/DSPOT."""

import numpy as np
import pytest

from tsgan.errors import ConfigError, InputError
from tsgan.thresholds import DSPOT, SPOT, drift_baseline, fit_gpd, fit_thresholds, pot_threshold


def gpd_sample(rng, n, gamma, sigma):
    """Inverse-CDF draws from a GPD (gamma = 0: exponential)."""
    u = rng.random(n)
    return -sigma * np.log(u) if gamma == 0 else sigma / gamma * (u ** (-gamma) - 1.0)


@pytest.mark.parametrize("q", [1e-3, 1e-4])
def test_pot_matches_exponential_quantile(q):
    x = np.random.default_rng(0).exponential(size=100_000)
    assert pot_threshold(x, q=q) == pytest.approx(-np.log(q), rel=0.05)


@pytest.mark.parametrize("q", [1e-3, 1e-4])
def test_pot_matches_heavy_tailed_gpd_quantile(q):
    gamma, sigma = 0.2, 1.0
    x = gpd_sample(np.random.default_rng(1), 1_000_000, gamma, sigma)  # heavy tail: more peaks needed
    assert pot_threshold(x, q=q) == pytest.approx(sigma / gamma * (q ** (-gamma) - 1.0), rel=0.05)


@pytest.mark.parametrize("gamma", [-0.3, 0.0, 0.25])
def test_fit_gpd_recovers_parameters(gamma):
    y = gpd_sample(np.random.default_rng(2), 5000, gamma, 2.0)
    g, s = fit_gpd(y)
    assert g == pytest.approx(gamma, abs=0.06)
    assert s == pytest.approx(2.0, rel=0.08)


def test_fit_gpd_rejects_non_excesses():
    with pytest.raises(InputError):
        fit_gpd(np.array([1.0, -0.5, 2.0]))


def test_fit_thresholds_per_channel():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(5000, 3)) * np.array([1.0, 2.0, 5.0])
    np.testing.assert_allclose(
        fit_thresholds(scores, "quantile", quantile=0.99), np.quantile(scores, 0.99, axis=0)
    )
    np.testing.assert_allclose(
        fit_thresholds(scores, "ksigma", k=3.0), scores.mean(axis=0) + 3.0 * scores.std(axis=0)
    )
    pot = fit_thresholds(scores, "pot", q=1e-3)
    assert pot.shape == (3,)
    assert np.all(pot > np.quantile(scores, 0.98, axis=0))
    assert fit_thresholds(scores[:, 0]).shape == (1,)


def test_fit_thresholds_ignores_nan():
    scores = np.random.default_rng(4).exponential(size=(2000, 2))
    with_nan = scores.copy()
    with_nan[:10] = np.nan
    np.testing.assert_allclose(fit_thresholds(with_nan), fit_thresholds(scores[10:]))
    with pytest.raises(InputError, match="column 1"):
        fit_thresholds(np.column_stack([scores[:, 0], np.full(2000, np.nan)]))


def test_bad_parameters_raise_config_error():
    scores = np.ones((100, 2))
    with pytest.raises(ConfigError, match="pot, quantile, ksigma"):
        fit_thresholds(scores, method="otsu")
    with pytest.raises(ConfigError, match="q=0.05"):
        pot_threshold(scores[:, 0], q=0.05, level=0.98)
    with pytest.raises(ConfigError, match="quantile"):
        fit_thresholds(scores, "quantile", quantile=1.5)
    with pytest.raises(ConfigError, match="k="):
        fit_thresholds(scores, "ksigma", k=-1)
    with pytest.raises(ConfigError):
        SPOT(q=0.0)


@pytest.mark.parametrize("x", [np.full(1000, 3.0), np.zeros(1000), np.arange(30.0)])
def test_degenerate_inputs_give_finite_threshold_above_data(x):
    z = pot_threshold(x)
    assert np.isfinite(z) and z > x.max()


def test_spot_flags_injected_values_and_ignores_them():
    rng = np.random.default_rng(5)
    spot = SPOT(q=1e-4).fit(rng.exponential(size=5000))
    stream = rng.exponential(size=20_000)
    spikes = rng.choice(stream.size, 20, replace=False)
    stream[spikes] = 40.0
    alarms = []
    for x in stream:
        before = spot.threshold
        alarms.append(spot.update(x))
        if alarms[-1]:
            assert spot.threshold == before  # an alarm does not move the model
    alarms = np.array(alarms)
    assert isinstance(spot.update(0.5), bool) and isinstance(spot.threshold, float)
    assert alarms[spikes].all()
    assert alarms.sum() - spikes.size <= 10  # about q * 20 000 = 2 false alarms expected


def test_spot_adapts_to_wider_and_narrower_scores():
    rng = np.random.default_rng(6)
    init = rng.exponential(size=5000)
    start = SPOT(q=1e-3).fit(init).threshold
    ends = {}
    for scale in (2.0, 0.5):
        spot = SPOT(q=1e-3).fit(init)
        for x in rng.exponential(scale=scale, size=20_000):
            spot.update(x)
        ends[scale] = spot.threshold
    assert ends[2.0] > 1.05 * start and ends[0.5] < 0.9 * start


def test_spot_censoring_bias_and_learn_alarms():
    """Alarms left out (the paper) bias z_q down on normal data; learning them keeps it near -ln(q)."""
    rng = np.random.default_rng(9)
    init, stream = rng.exponential(size=5000), rng.exponential(size=50_000)
    paper, learning = SPOT(q=1e-3).fit(init), SPOT(q=1e-3, learn_alarms=True).fit(init)
    for x in stream:
        paper.update(x)
        learning.update(x)
    assert learning.threshold == pytest.approx(-np.log(1e-3), rel=0.05)
    assert paper.threshold < 0.95 * learning.threshold


def test_spot_multichannel_equals_per_channel_and_paper_refit_is_close():
    rng = np.random.default_rng(7)
    init, stream = rng.exponential(size=(3000, 3)), rng.exponential(size=(3000, 3)) * [1.0, 1.5, 3.0]
    multi = SPOT(q=1e-3).fit(init)
    singles = [SPOT(q=1e-3).fit(init[:, c]) for c in range(3)]
    paper = SPOT(q=1e-3, refit_every=1, max_peaks=None).fit(init)
    for row in stream:
        alarms = multi.update(row)
        assert alarms.tolist() == [s.update(x) for s, x in zip(singles, row, strict=True)]
        paper.update(row)
    np.testing.assert_allclose(multi.threshold, [s.threshold for s in singles])
    np.testing.assert_allclose(multi.threshold, paper.threshold, rtol=0.05)


def test_spot_input_errors():
    with pytest.raises(ConfigError, match="fit"):
        SPOT().update(1.0)
    spot = SPOT(q=1e-3).fit(np.ones((200, 2)))
    with pytest.raises(InputError):
        spot.update(np.ones(3))


def test_dspot_follows_drift_but_flags_spikes():
    rng = np.random.default_rng(8)
    n_init, n = 2000, 20_000
    level = 0.002 * np.arange(n_init + n)
    x = level + rng.normal(scale=0.1, size=level.size)
    x[n_init + 10_000] += 3.0
    dspot = DSPOT(q=1e-4, depth=50).fit(x[:n_init])
    spot = SPOT(q=1e-4).fit(x[:n_init])
    d_alarms = np.array([dspot.update(v) for v in x[n_init:]])
    s_alarms = np.array([spot.update(v) for v in x[n_init:]])
    assert s_alarms.mean() > 0.5  # plain SPOT mistakes the drift for an anomaly
    assert d_alarms[10_000] and d_alarms.mean() < 2e-3
    assert level[-1] < dspot.threshold < level[-1] + 1.5


def test_drift_baseline_is_the_floored_median_of_the_past():
    rng = np.random.default_rng(10)
    history, x = rng.normal(size=(30, 2)), rng.normal(size=(50, 2))
    x[20:] += 5.0
    base = drift_baseline(x, 8, floor=np.array([-9.0, 0.0]), history=history)
    full = np.concatenate([history, x])
    for i in range(len(x)):
        window = full[30 + i - 8 : 30 + i]  # the 8 rows before row i, reaching into history
        np.testing.assert_allclose(base[i], np.maximum(np.median(window, axis=0), [-9.0, 0.0]))
    assert base[25:, 0] == pytest.approx(5.0, abs=1.5)  # past the shift once most of the window is
    alone = drift_baseline(x, 8, floor=-9.0)  # no history: the first row has no past, so the floor
    assert alone[0, 0] == -9.0 and alone[1, 0] == x[0, 0]


def test_drift_offset_is_pot_above_the_moving_median_and_follows_a_shift():
    rng = np.random.default_rng(11)
    x = rng.exponential(size=(20_000, 1))
    offset = fit_thresholds(x, "drift", q=1e-3, depth=200)[0]
    assert offset == pytest.approx(-np.log(1e-3) - np.log(2.0), rel=0.1)  # exponential median: ln 2
    shifted = x[:2000] + 10.0
    flags = shifted > drift_baseline(shifted, 200, floor=np.log(2.0), history=x[-200:]) + offset
    assert flags[:50].all() and flags[200:].mean() < 5e-3  # then about q of the points, as on calibration
