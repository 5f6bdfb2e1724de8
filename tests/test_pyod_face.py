"""The PyOD / scikit-learn face of every detector: decision_function, predict, the fitted attributes,
get_params / set_params, clone, and use inside a scikit-learn Pipeline."""

import numpy as np
import pytest
from conftest import TINY_MADGAN
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tsgan.detectors import DETECTORS, make_detector
from tsgan.errors import ConfigError

GAN = dict(window=8, stride=2, score_stride=2, hidden=8, latent_dim=3, layers=2, epochs=1, batch_size=32)
TINY = {
    "auto": dict(members=["pca", "zscore", "knn"], rounds=1, window=8),
    "madgan": TINY_MADGAN | {"epochs": 1},
    "rsmgan": dict(scales=[2, 4], history=2, stride=10, width=4, hidden=4, epochs=1, period=0),
    "random": {},
    "zscore": {},
    "pca": {},
    "iforest": dict(n_estimators=10),
    "knn": {},
    "seasonal": {},
    **{name: GAN for name in ("usad", "beatgan", "ganomaly", "egbad", "alad", "tadgan", "esad")},
    "anogan": GAN | {"search_steps": 5},
}


def sines(n, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 40 + np.array([0.0, 1.0, 2.0])) + 0.05 * rng.standard_normal((n, 3))


def test_every_detector_has_tiny_settings_here():
    assert set(TINY) == set(DETECTORS)


@pytest.mark.parametrize("name", list(DETECTORS))
def test_pyod_methods_and_attributes(name):
    train, test = sines(400, 0), sines(200, 1)
    test[100:110, 1] += 5
    det = make_detector(name, **TINY[name], seed=0)
    with pytest.raises(ConfigError, match="not fitted"):
        det.decision_function(test)
    copy = clone(det)
    assert type(copy) is type(det) and copy.get_params() == det.get_params() and copy is not det
    scores = det.fit(train).decision_function(test)
    assert scores.shape == (200,) and np.isfinite(scores).all()
    assert set(np.unique(det.predict(test))) <= {0, 1}
    assert det.decision_scores_.shape == (400,) and det.threshold_ == 0.0
    assert np.array_equal(det.labels_, (det.decision_scores_ > 0).astype(int))


def test_contamination_sets_pyod_threshold_and_survives_saving(tmp_path):
    det = make_detector("pca", contamination=0.1).fit(sines(400, 0))
    assert np.mean(det.labels_) == pytest.approx(0.1, abs=0.01)
    det.save(tmp_path / "pca.tsgan")
    from tsgan import load

    loaded = load(tmp_path / "pca.tsgan")
    assert loaded.threshold_ == pytest.approx(det.threshold_)
    with pytest.raises(ConfigError, match="loaded, not fitted here"):
        _ = loaded.decision_scores_


def test_set_params_checks_like_init():
    det = make_detector("zscore")
    assert det.set_params(smooth=3) is det and det.get_params()["smooth"] == 3
    with pytest.raises(ConfigError, match="zscore has no parameter lam"):
        det.set_params(lam=1)
    with pytest.raises(ConfigError, match="contamination must be in"):
        make_detector("pca", contamination=0.9)


def test_inside_a_scikit_learn_pipeline():
    pipe = Pipeline([("scale", StandardScaler()), ("detect", make_detector("knn", window=8))])
    train, test = sines(400, 0), sines(200, 1)
    test[100:110, 1] += 5
    scores = pipe.fit(train).decision_function(test)
    assert scores.shape == (200,) and scores[100:110].mean() > scores[:90].mean()
    assert clone(pipe).get_params()["detect__window"] == 8
