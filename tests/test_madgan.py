"""MAD-GAN end to end on tiny models: fit, score, detect, inversion modes, determinism, bad input."""

import numpy as np
import pytest
from conftest import TINY_MADGAN

from tsgan.detectors import MADGAN, make_detector
from tsgan.errors import ConfigError, InputError
from tsgan.series import Series


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(1)
    t = np.arange(800)
    base = np.sin(2 * np.pi * t / 40)
    train = np.stack([base, 0.5 * base + 1, np.cos(2 * np.pi * t / 40)], 1) + 0.05 * rng.normal(size=(800, 3))
    return MADGAN(**TINY_MADGAN).fit(Series(train, ["a", "b", "c"])), train


def test_scores_have_one_row_per_point_and_one_column_per_channel(fitted):
    det, train = fitted
    scores = det.score(Series(train[:100], ["a", "b", "c"]))
    assert scores.point.shape == (100,) and scores.channel.shape == (100, 3)
    assert np.allclose(scores.point, scores.channel.max(axis=1))


def test_a_scoring_stride_longer_than_the_window_still_scores_every_point(fitted):
    _, train = fitted
    params = TINY_MADGAN | {"score_stride": 20}  # the default stride (10) is longer than --window 8 too
    scores = MADGAN(**params).fit(Series(train, ["a", "b", "c"])).score(Series(train[:100], ["a", "b", "c"]))
    assert np.isfinite(scores.channel).all()


@pytest.mark.parametrize("objective", ["bce", "mim", "wgan-gp"])
def test_each_objective_trains_and_flags_a_large_spike(objective, fitted):
    _, train = fitted
    det = MADGAN(**TINY_MADGAN, objective=objective).fit(train)
    test = train[:200].copy()
    test[100:104, 2] += 8.0
    result = det.detect(test)
    assert all(np.isfinite(h["loss_d"]) and h["diversity"] > 0 for h in det.history_)
    assert result.flags[100:104].any()
    hit = [i for i in result.intervals if i.start <= 103 and i.end >= 100]
    assert hit and hit[0].channels[0] == "ch2"


def test_same_seed_same_scores(fitted):
    _, train = fitted
    a = MADGAN(**TINY_MADGAN, seed=3).fit(train).score(train[:80]).point
    b = MADGAN(**TINY_MADGAN, seed=3).fit(train).score(train[:80]).point
    assert np.array_equal(a, b)


def test_inversion_modes_reconstruct_and_refining_helps(fitted):
    det, train = fitted
    x = det.scaler_.transform(train[:200])
    import torch

    from tsgan.windows import sliding_windows

    windows = sliding_windows(torch.from_numpy(x), det.config.window, 4)
    errors = {}
    for mode in ("encoder", "hybrid", "gradient"):
        _, recon = det.invert(windows, mode)
        assert recon.shape == windows.shape
        errors[mode] = float((recon - windows).pow(2).mean())
    assert errors["hybrid"] <= errors["encoder"]


def test_channel_mismatch_lists_missing_and_extra(fitted):
    det, train = fitted
    with pytest.raises(InputError, match="missing: c; extra: d"):
        det.score(Series(train[:50], ["a", "b", "d"]))
    with pytest.warns(UserWarning, match="ignoring channels the model was not fitted on: e"):
        det.score(Series(np.c_[train[:50], train[:50, :1]], ["a", "b", "c", "e"]))


def test_too_short_series(fitted):
    det, train = fitted
    with pytest.raises(InputError, match="shorter than one window of 8"):
        det.score(Series(train[:5], ["a", "b", "c"]))
    with pytest.raises(InputError, match="too few to fit"):
        MADGAN(**TINY_MADGAN).fit(train[:20])


def test_constant_channel_is_excluded_with_a_warning(fitted):
    _, train = fitted
    data = np.c_[train, np.full(len(train), 5.0)]
    with pytest.warns(UserWarning, match="excluded from scoring: flat"):
        det = MADGAN(**TINY_MADGAN).fit(Series(data, ["a", "b", "c", "flat"]))
    scores = det.score(Series(data[:50], ["a", "b", "c", "flat"]))
    assert np.isneginf(scores.channel[:, 3]).all() and np.isfinite(scores.point).all()


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="no parameter windw"):
        MADGAN(windw=10)
    with pytest.raises(ConfigError, match="unknown inversion"):
        MADGAN(inversion="magic")
    with pytest.raises(ConfigError, match="unknown detector"):
        make_detector("nope")
    with pytest.raises(ConfigError, match="not fitted"):
        MADGAN().score(np.zeros((40, 2)))
