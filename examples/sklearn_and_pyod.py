"""Use tsgan detectors from scikit-learn and PyOD-style code.

    python examples/sklearn_and_pyod.py

Every tsgan detector has PyOD's face: fit(X), decision_function(X) (higher = more anomalous),
predict(X) (1 = anomalous), decision_scores_ / labels_ / threshold_ for the training rows, and
`contamination` when you want a share of the training rows called anomalous instead of tsgan's own
per-channel thresholds. It also has scikit-learn's get_params / set_params, so clone() and Pipeline work.
"""

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tsgan.detectors import PCAReconstruction, WindowKNN


def sensors(rows: int, seed: int) -> np.ndarray:
    """Three correlated noisy sines, like a pump's pressure, flow and current."""
    t = np.arange(rows)[:, None]
    noise = np.random.default_rng(seed).standard_normal((rows, 3))
    return np.sin(2 * np.pi * t / 60 + np.array([0.0, 0.5, 1.0])) + 0.05 * noise


def main() -> None:
    X_train, X_test = sensors(2000, 0), sensors(600, 1)
    X_test[300:320, 1] += 3.0  # the flow sensor jumps for 20 rows

    # PyOD style: fit, then scores and labels.
    detector = PCAReconstruction(contamination=0.01).fit(X_train)
    print("training rows called anomalous:", detector.labels_.mean())  # about the contamination
    scores = detector.decision_function(X_test)
    print("test rows flagged:", np.flatnonzero(detector.predict(X_test))[:10], "...")
    print("mean score inside / outside the jump:", scores[300:320].mean(), scores[:290].mean())

    # scikit-learn style: a Pipeline with a scaler in front, and clone() for a fresh, unfitted copy.
    pipeline = Pipeline([("scale", StandardScaler()), ("detect", WindowKNN(window=16))])
    pipeline.fit(X_train)
    knn_scores = pipeline.decision_function(X_test)
    print("kNN in a Pipeline, inside / outside:", knn_scores[300:320].mean(), knn_scores[:290].mean())
    fresh = clone(pipeline).set_params(detect__window=32)
    print("cloned with another window:", fresh.get_params()["detect__window"])


if __name__ == "__main__":
    main()
