"""The full metric table of one detector on one labelled series, every number labelled by how its
threshold was chosen.

- `deployable`: the detector's own flags (thresholds calibrated on validation data, never on labels).
- `threshold-free`: computed from the scores over all thresholds (AUC, VUS); no threshold to choose.
- `oracle`: the threshold chosen on the test labels; an upper bound, never a result to deploy.
- `legacy`: point-adjusted F1, kept only to show how it inflates results (a random score gets a high one).
Next to each threshold-free metric stands the same metric of a random score under the same settings,
because the chance level of VUS and AUC-PR depends on the labels and the buffer (reference/metrics.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsgan import metrics


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # deployable | threshold-free | oracle | legacy
    value: float


def metric_table(labels, scores, flags, vus_buffer: int = 20, seed: int = 0) -> list[Metric]:
    """Every metric of tsgan.metrics for point `scores` (T,) and the detector's `flags` (T,) against
    0/1 `labels` (T,). `vus_buffer` is the maximal VUS buffer L (keep it at most the typical anomaly
    length); the random reference score is drawn from `seed`."""
    y = np.asarray(labels).astype(np.int8)
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-1e30, neginf=-1e30, posinf=1e30)
    pred = np.asarray(flags).astype(np.int8)
    chance = np.random.default_rng(seed).random(len(y))
    point, rng_vus, vus = (
        metrics.point_prf(y, pred),
        metrics.vus(y, chance, vus_buffer),
        metrics.vus(y, scores, vus_buffer),
    )
    ranged, affiliation = metrics.range_pr(y, pred), metrics.affiliation_pr(y, pred)
    best = metrics.best_f1(y, scores)
    rows = [
        ("VUS-PR", "threshold-free", vus.pr),
        ("VUS-PR of a random score", "threshold-free", rng_vus.pr),
        ("VUS-ROC", "threshold-free", vus.roc),
        ("AUC-PR", "threshold-free", metrics.auc_pr(y, scores)),
        ("AUC-PR of a random score", "threshold-free", metrics.auc_pr(y, chance)),
        ("AUC-ROC", "threshold-free", metrics.auc_roc(y, scores)),
        ("point precision", "deployable", point.precision),
        ("point recall", "deployable", point.recall),
        ("point F1", "deployable", point.f1),
        ("range F1 (Tatbul)", "deployable", ranged.f1),
        ("affiliation F1", "deployable", affiliation.f1),
        ("composite F1 (Garg)", "deployable", metrics.composite_f1(y, pred).f1),
        ("PA%K area", "deployable", metrics.pak_auc(y, pred)),
        ("NAB score", "deployable", metrics.nab_score(y, pred).score),
        ("point F1, best threshold", "oracle", best["f1"]),
        ("point-adjusted F1", "legacy", metrics.pak_f1(y, pred, 0).f1),
    ]
    return [Metric(name, kind, float(value)) for name, kind, value in rows]


def as_dict(table: list[Metric]) -> dict[str, float]:
    return {f"{m.name} [{m.kind}]": m.value for m in table}
