"""Evaluation metrics for time-series anomaly detection, written from the formulas in
reference/metrics.md (section numbers below refer to it).

Conventions, the same in every function:

- `y` holds 0/1 labels; a *segment* (event, range) is a maximal run of 1s, stored as an inclusive index
  pair `[a, b]` (see `segments`).
- Scores: higher means more anomalous. A threshold `tau` predicts `scores >= tau` (as sklearn and VUS do;
  tadpak and TSB-AD use `>`, which differs only on tied scores).
- `best_f1`, and `pak_auc` / `nab_score` when given scores, pick the threshold on the test labels: they
  are **oracle** upper bounds, not deployable results.
- Where a metric needs labels it does not have (no positive label), it returns NaN, never 0. With no
  positive prediction, precision is 0 (so is F1).
- Functions taking `scores_or_pred` treat an input whose values are all 0 or 1 as a fixed prediction and
  anything else as scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from tsgan.errors import ConfigError, InputError


class PRF(NamedTuple):
    precision: float
    recall: float
    f1: float


class RocPr(NamedTuple):
    roc: float
    pr: float


class AffiliationDetail(NamedTuple):
    """Per ground-truth event: probabilities (the metric) and average distances (diagnostics, in steps).

    Zones without a prediction have precision NaN, precision distance NaN, recall 0, recall distance inf.
    """

    precision: np.ndarray
    recall: np.ndarray
    precision_distance: np.ndarray
    recall_distance: np.ndarray


class NabScore(NamedTuple):
    score: float  # normalised: 100 = perfect detector, 0 = null detector (no detections)
    raw: float
    threshold: float  # NaN when a fixed prediction was given


# --- input checks and small helpers -------------------------------------------------------------------


def _labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"labels must be one-dimensional, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0/1 (or bool); found other values")
    return y.astype(bool)


def _pred(pred, n: int) -> np.ndarray:
    pred = _labels(pred)
    if pred.shape[0] != n:
        raise InputError(f"prediction has {pred.shape[0]} points, labels have {n}")
    return pred


def _scores(scores, n: int) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.shape != (n,):
        raise InputError(f"scores must have shape ({n},) like the labels, got {s.shape}")
    if not np.isfinite(s).all():
        raise InputError("scores contain NaN or inf; fill or drop those points before evaluating")
    return s


def _is_pred(x) -> bool:
    return bool(np.isin(np.asarray(x), (0, 1)).all())


def _f1(p: float, r: float) -> float:
    if np.isnan(p) or np.isnan(r):
        return float("nan")
    return 0.0 if p + r == 0 else float(2 * p * r / (p + r))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def segments(y: ArrayLike) -> np.ndarray:
    """Maximal runs of 1s in `y` as an (k, 2) array of inclusive `[start, end]` index pairs."""
    y = _labels(y).astype(np.int8)
    edges = np.diff(np.concatenate(([0], y, [0])))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1], axis=1)


def _sweep(w: np.ndarray, s: np.ndarray):
    """For every distinct threshold tau (descending): tau, the sum of w over s >= tau, and that count."""
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    last = np.append(np.flatnonzero(np.diff(s_sorted)), len(s) - 1)  # end of each block of tied scores
    return s_sorted[last], np.cumsum(w[order])[last], last + 1


# --- point-wise and threshold-free (section 1.1) --------------------------------------------------------


def point_prf(y: ArrayLike, pred: ArrayLike) -> PRF:
    """Point-wise precision, recall and F1 of a 0/1 prediction."""
    y = _labels(y)
    pred = _pred(pred, len(y))
    tp, n_pred, n_pos = np.sum(y & pred), np.sum(pred), np.sum(y)
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_pos if n_pos else float("nan")
    return PRF(float(p), float(r), _f1(p, r))


def best_f1(y: ArrayLike, scores: ArrayLike) -> dict:
    """Oracle best point-wise F1 over every distinct threshold (`scores >= threshold`).

    The threshold is chosen on the test labels, so this is an upper bound, not a deployable result.
    Returns dict(f1, precision, recall, threshold); the highest threshold wins ties.
    """
    y = _labels(y)
    s = _scores(scores, len(y))
    n_pos = y.sum()
    if n_pos == 0:
        return dict(f1=float("nan"), precision=float("nan"), recall=float("nan"), threshold=float("nan"))
    thresholds, tp, n_pred = _sweep(y, s)
    i = int(np.argmax(2 * tp / (n_pred + n_pos)))
    p, r = tp[i] / n_pred[i], tp[i] / n_pos
    return dict(f1=_f1(p, r), precision=float(p), recall=float(r), threshold=float(thresholds[i]))


def auc_roc(y: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (exact, ties handled as sklearn's roc_auc_score). NaN with one class."""
    y = _labels(y)
    s = _scores(scores, len(y))
    n_pos = y.sum()
    if n_pos in (0, len(y)):
        return float("nan")
    _, tp, n_pred = _sweep(y, s)
    tpr = np.concatenate(([0.0], tp / n_pos))
    fpr = np.concatenate(([0.0], (n_pred - tp) / (len(y) - n_pos)))
    return _trapezoid(tpr, fpr)


def auc_pr(y: ArrayLike, scores: ArrayLike) -> float:
    """Average precision, the step-wise area under the PR curve (as sklearn's average_precision_score).

    Unlike a trapezoidal PR area it does not interpolate optimistically. NaN without positive labels.
    """
    y = _labels(y)
    s = _scores(scores, len(y))
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    _, tp, n_pred = _sweep(y, s)
    recall_steps = np.diff(np.concatenate(([0.0], tp / n_pos)))
    return float(np.sum(recall_steps * tp / n_pred))


# --- point adjustment and PA%K (sections 1.2, 1.3) --------------------------------------------------------


def _check_k(k: float) -> None:
    if not 0 <= k <= 100:
        raise ConfigError(f"PA%K needs 0 <= k <= 100 (a percentage), got k={k}")


def pak_adjust(y: ArrayLike, scores: ArrayLike, k: float) -> np.ndarray:
    """Scores with PA%K folded in: `pak_adjust(y, s, k) >= tau` is the PA%K-adjusted `s >= tau`.

    A true segment counts as fully detected once *strictly more* than k% of its points are predicted
    (tadpak's rule); k=0 is classic point adjustment. Every point of a segment is raised to the score at
    which that happens, so one threshold sweep over the result gives the oracle PA%K F1.
    """
    _check_k(k)
    y = _labels(y)
    s = _scores(scores, len(y)).copy()
    seg = segments(y)
    if len(seg) == 0:
        return s
    lengths = seg[:, 1] - seg[:, 0] + 1
    needed = np.floor(k * lengths / 100).astype(int) + 1  # hits needed: smallest count > k% of the length
    inside = np.flatnonzero(y)
    seg_id = np.repeat(np.arange(len(seg)), lengths)
    by_segment_desc = s[inside][np.lexsort((-s[inside], seg_id))]
    first = np.cumsum(lengths) - lengths
    reachable = needed <= lengths
    raise_to = np.full(len(seg), -np.inf)
    raise_to[reachable] = by_segment_desc[first[reachable] + needed[reachable] - 1]
    s[inside] = np.maximum(s[inside], raise_to[seg_id])
    return s


def pak_f1(y: ArrayLike, pred: ArrayLike, k: float) -> PRF:
    """Point-wise P/R/F1 after PA%K adjustment of a 0/1 prediction (k=0: classic PA, k=100: none).

    Classic PA (k=0) inflates scores badly: a random detector reaches PA-F1 near 1 on long segments.
    """
    y = _labels(y)
    pred = _pred(pred, len(y))
    return point_prf(y, pak_adjust(y, pred.astype(float), k) >= 1)


def pak_auc(y: ArrayLike, scores_or_pred: ArrayLike, k_step: int = 10) -> float:
    """Area under F1_PA%K over K = 0, k_step, ..., 100 (trapezoid, divided by 100), Kim et al.'s protocol.

    Given scores, each K uses the oracle best F1 over thresholds (as tadpak's best_f1_w_pa); given a 0/1
    prediction, each K uses that prediction. Range [0, 1]; NaN without positive labels.
    """
    if k_step <= 0 or 100 % k_step:
        raise ConfigError(f"k_step must divide 100, got {k_step}")
    y = _labels(y)
    ks = np.arange(0, 101, k_step)
    if _is_pred(scores_or_pred):
        f1s = [pak_f1(y, scores_or_pred, k).f1 for k in ks]
    else:
        f1s = [best_f1(y, pak_adjust(y, scores_or_pred, k))["f1"] for k in ks]
    return _trapezoid(np.array(f1s), ks) / 100


# --- range-based precision and recall, Tatbul et al. (section 2) ------------------------------------------

_BIASES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "flat": lambda i, n: np.ones_like(i, dtype=float),
    "front": lambda i, n: (n - i + 1).astype(float),
    "back": lambda i, n: i.astype(float),
    "middle": lambda i, n: np.where(i <= n / 2, i, n - i + 1).astype(float),
}
_CARDINALITIES = ("one", "reciprocal")


def _range_terms(a: np.ndarray, b: np.ndarray, alpha: float, cardinality: str, bias: str) -> np.ndarray:
    """Tatbul's per-range term for each range of `a` scored against the ranges of `b`:
    alpha * existence + (1 - alpha) * cardinality_factor * positional overlap."""
    seg = segments(a)
    if len(seg) == 0:
        return np.zeros(0)
    lengths = seg[:, 1] - seg[:, 0] + 1
    first = np.cumsum(lengths) - lengths
    points = np.flatnonzero(a)
    seg_id = np.repeat(np.arange(len(seg)), lengths)
    weights = _BIASES[bias](points - seg[seg_id, 0] + 1, lengths[seg_id])
    hit = b[points]
    overlap = np.add.reduceat(weights * hit, first) / np.add.reduceat(weights, first)
    b_starts = b & ~np.concatenate(([False], b[:-1]))
    n_overlapping = np.add.reduceat(b_starts[points], first) + (hit[first] & ~b_starts[seg[:, 0]])
    factor = np.ones(len(seg))
    if cardinality == "reciprocal":
        factor = 1 / np.maximum(n_overlapping, 1)
    existence = np.add.reduceat(hit, first) > 0
    return alpha * existence + (1 - alpha) * factor * overlap


def range_pr(
    y: ArrayLike,
    pred: ArrayLike,
    alpha: float = 0.0,
    cardinality: str = "one",
    bias: str = "flat",
    precision_bias: str | None = None,
) -> PRF:
    """Range-based precision/recall/F1 of Tatbul et al. (NeurIPS 2018) for a 0/1 prediction.

    alpha weighs the existence reward in recall (precision always uses 0); cardinality is "one" or
    "reciprocal" (1/x for a range overlapping x ranges); bias ("flat", "front", "back", "middle") places
    the positional weight, for recall and, unless precision_bias is given, for precision.
    Defaults are the reference's (alpha 0, one, flat); TSB-AD's R-F1 is alpha=0.2, "reciprocal", "flat".
    """
    precision_bias = bias if precision_bias is None else precision_bias
    if cardinality not in _CARDINALITIES:
        raise ConfigError(f"cardinality must be one of {_CARDINALITIES}, got {cardinality!r}")
    for name in (bias, precision_bias):
        if name not in _BIASES:
            raise ConfigError(f"bias must be one of {tuple(_BIASES)}, got {name!r}")
    if not 0 <= alpha <= 1:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
    y = _labels(y)
    pred = _pred(pred, len(y))
    recall_terms = _range_terms(y, pred, alpha, cardinality, bias)
    precision_terms = _range_terms(pred, y, 0.0, cardinality, precision_bias)
    r = recall_terms.mean() if len(recall_terms) else float("nan")
    p = precision_terms.mean() if len(precision_terms) else 0.0
    return PRF(float(p), float(r), _f1(p, r))


def composite_f1(y: ArrayLike, pred: ArrayLike) -> PRF:
    """Garg et al.'s composite F-score: point-wise precision with event-wise recall (share of true
    segments with at least one predicted point). Penalises every false-positive point, unlike PA."""
    y = _labels(y)
    pred = _pred(pred, len(y))
    seg = segments(y)
    p = point_prf(y, pred).precision
    if len(seg) == 0:
        return PRF(p, float("nan"), float("nan"))
    before = np.concatenate(([0], np.cumsum(pred)))
    r = float(np.mean(before[seg[:, 1] + 1] > before[seg[:, 0]]))
    return PRF(p, r, _f1(p, r))


# --- affiliation, Huet et al. (section 3) -----------------------------------------------------------------


def _distance_to(x: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Distance from each x to the union of the sorted, disjoint intervals [start, stop)."""
    i = np.searchsorted(starts, x, side="right") - 1
    left = np.where(i >= 0, x - stops[np.maximum(i, 0)], np.inf)
    right = np.where(i + 1 < len(starts), starts[np.minimum(i + 1, len(starts) - 1)] - x, np.inf)
    return np.minimum(np.maximum(left, 0), right)


def _mean_over(f, cuts: np.ndarray, lo: float, hi: float, keep=None) -> np.ndarray:
    """Mean of f over [lo, hi] (restricted to where keep(x) holds), exact for f linear between cuts.

    Evaluating at the middle of each piece also sidesteps jumps of f at the cuts."""
    c = np.unique(np.clip(cuts, lo, hi))
    mid, width = (c[:-1] + c[1:]) / 2, np.diff(c)
    if keep is not None:
        sel = keep(mid)
        mid, width = mid[sel], width[sel]
    return f(mid) @ width / width.sum()


def _affiliation_zone(a: float, b: float, lo: float, hi: float, u: np.ndarray, v: np.ndarray):
    """Precision/recall probabilities and distances of ground-truth event [a, b) in its affiliation zone
    [lo, hi), given the predicted pieces [u, v) cut to that zone."""
    zone = hi - lo

    def precision_terms(x):  # survival of dist(x, gt) under a uniform point of the zone
        d = np.maximum(np.maximum(a - x, x - b), 0)
        inside = 1 - (b - a + np.minimum(d, a - lo) + np.minimum(d, hi - b)) / zone
        return np.stack([np.where(d > 0, inside, 1.0), d])

    def recall_terms(t):  # P(a uniform point of the zone is at least dist(t, pred) from t)
        d = _distance_to(t, u, v)
        return np.stack([1 - (np.minimum(d, t - lo) + np.minimum(d, hi - t)) / zone, d])

    # cuts: everywhere the integrands change slope (edges, midpoints, where a min() switches branch)
    p_cuts = np.concatenate([u, v, [a, b, a - (hi - b), b + (a - lo)]])
    r_cuts = np.concatenate([u, v, (v[:-1] + u[1:]) / 2, (u + lo) / 2, (v + hi) / 2, [a, b]])
    precision, precision_distance = _mean_over(
        precision_terms, p_cuts, lo, hi, keep=lambda x: _distance_to(x, u, v) == 0
    )
    recall, recall_distance = _mean_over(recall_terms, r_cuts, a, b)
    return precision, recall, precision_distance, recall_distance


def affiliation_per_event(y: ArrayLike, pred: ArrayLike) -> AffiliationDetail:
    """Affiliation probabilities and distances (Huet et al., KDD 2022) for each true segment.

    Point i is the interval [i, i+1); each true event owns the zone of time closer to it than to any other
    event, bounded by [0, len(y)). AffiliationDetail says what events without a prediction get.
    """
    y = _labels(y)
    pred = _pred(pred, len(y))
    gt = segments(y) + [0, 1]  # half-open [a, b + 1)
    pr = (segments(pred) + [0, 1]).astype(float)
    borders = np.concatenate(([0.0], (gt[:-1, 1] + gt[1:, 0]) / 2, [float(len(y))]))
    out = np.full((4, len(gt)), np.nan)
    out[1], out[3] = 0.0, np.inf
    for j, (a, b) in enumerate(gt):
        lo, hi = borders[j], borders[j + 1]
        cut = slice(np.searchsorted(pr[:, 1], lo, side="right"), np.searchsorted(pr[:, 0], hi))
        u, v = np.maximum(pr[cut, 0], lo), np.minimum(pr[cut, 1], hi)
        u, v = u[u < v], v[u < v]
        if len(u):
            out[:, j] = _affiliation_zone(a, b, lo, hi, u, v)
    return AffiliationDetail(*out)


def affiliation_pr(y: ArrayLike, pred: ArrayLike) -> PRF:
    """Affiliation precision/recall/F1 (Huet et al.): means of the per-event probabilities.

    Precision averages only zones holding a prediction. Chance level is about 0.5 precision, not 0, and
    dense random predictions get recall near 1: always compare with a random detector.
    """
    y = _labels(y)
    pred = _pred(pred, len(y))
    if not y.any():
        return PRF(float("nan"), float("nan"), float("nan"))
    detail = affiliation_per_event(y, pred)
    p = float(np.nanmean(detail.precision)) if pred.any() else 0.0
    r = float(np.mean(detail.recall))
    return PRF(p, r, _f1(p, r))


# --- Range-AUC and VUS, Paparrizos et al. (section 4; TSB-AD's "opt" version) ----------------------------


def _range_auc_per_buffer(y: np.ndarray, s: np.ndarray, buffers: np.ndarray, n_thresholds: int):
    """Range-AUC-ROC and -PR for each buffer length, rows of an array (len(buffers), 2).

    The reference loops over thresholds and rebuilds soft labels each time; in closed form the label is 1
    inside true segments, the buffer ramp sqrt(1 - distance/buffer) (summed over segments, capped at 1)
    on predicted buffer points, and 0 elsewhere. So TP = point TP + B and P' = P + B/2, where B is the ramp
    summed over predicted buffer points. B and the existence counts come from scores sorted once, so no
    step is O(n) per threshold and a 50,000-point series takes well under a second.
    """
    n, n_pos = len(y), int(y.sum())
    seg = segments(y)
    starts, ends = seg[:, 0], seg[:, 1]
    tau = np.sort(s)[::-1][np.linspace(0, n - 1, n_thresholds).astype(int)]
    n_pred = n - np.searchsorted(np.sort(s), tau)  # predictions at each threshold (s >= tau)
    tp_points = n_pos - np.searchsorted(np.sort(s[y]), tau)

    # Buffer points outside every true segment, as (position, distance to the segment edge), nearest first.
    d = np.arange(1, int(buffers.max()) // 2 + 1)
    pos = np.concatenate([(ends[:, None] + d).ravel(), (starts[:, None] - d).ravel()])
    dist = np.tile(d, 2 * len(seg))
    ok = (pos >= 0) & (pos < n)
    ok[ok] = ~y[pos[ok]]
    order = np.argsort(dist[ok], kind="stable")
    pos, dist = pos[ok][order], dist[ok][order]
    buffer_points, which = np.unique(pos, return_inverse=True)
    by_score = np.argsort(-s[buffer_points], kind="stable")
    n_buffer_pred = len(buffer_points) - np.searchsorted(np.sort(s[buffer_points]), tau)

    # Highest score of each segment widened by h on each side (for the existence ratio).
    inside = np.flatnonzero(y)
    seg_max = np.maximum.reduceat(s[inside], np.cumsum(ends - starts + 1) - (ends - starts + 1))

    def running_max(p):  # (segments, h + 1): max score over the first h positions of p, -inf for h=0
        vals = np.where((p >= 0) & (p < n), s[np.clip(p, 0, n - 1)], -np.inf)
        return np.hstack([np.full((len(p), 1), -np.inf), np.maximum.accumulate(vals, axis=1)])

    left, right = running_max(starts[:, None] - d), running_max(ends[:, None] + d)

    out = np.empty((len(buffers), 2))
    for row, ell in enumerate(buffers):
        h = ell // 2
        m = np.searchsorted(dist, h, side="right")
        ramp = np.minimum(np.bincount(which[:m], np.sqrt(1 - dist[:m] / max(ell, 1)), len(buffer_points)), 1)
        extra = np.concatenate(([0.0], np.cumsum(ramp[by_score])))[n_buffer_pred]
        reach = np.maximum(seg_max, np.maximum(left[:, h], right[:, h]))
        merged = np.flatnonzero(np.concatenate(([True], ends[:-1] + h < starts[1:] - h)))
        range_max = np.sort(np.maximum.reduceat(reach, merged))
        found = len(range_max) - np.searchsorted(range_max, tau)
        tp, half = tp_points + extra, n_pos + extra / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            tpr = np.minimum(tp / half, 1) * found / len(range_max)
            fpr = (n_pred - tp) / (n - half)
        roc = _trapezoid(np.concatenate(([0.0], tpr, [1.0])), np.concatenate(([0.0], fpr, [1.0])))
        pr = np.diff(np.concatenate(([0.0], tpr))) @ (tp / n_pred)
        out[row] = roc, pr
    return out


def _range_auc(y, scores, buffer: int, n_thresholds: int, volume: bool) -> RocPr:
    """Range-AUC at `buffer`, or (volume) its mean over buffers 0..buffer; NaN without positive labels."""
    y = _labels(y)
    s = _scores(scores, len(y))
    if not isinstance(buffer, (int, np.integer)) or buffer < 0:
        raise ConfigError(f"the buffer length must be an integer >= 0, got {buffer!r}")
    if n_thresholds < 1:
        raise ConfigError(f"n_thresholds must be at least 1, got {n_thresholds}")
    if not y.any():
        return RocPr(float("nan"), float("nan"))
    buffers = np.arange(buffer + 1) if volume else np.array([buffer])
    return RocPr(*map(float, _range_auc_per_buffer(y, s, buffers, n_thresholds).mean(axis=0)))


def range_auc(y: ArrayLike, scores: ArrayLike, buffer: int, n_thresholds: int = 250) -> RocPr:
    """Range-AUC-ROC and Range-AUC-PR with soft label buffer `buffer` (Paparrizos et al., TSB-AD "opt").

    Thresholds are n_thresholds score quantiles. This is VUS's integrand at one buffer length; the older
    vus-package RangeAUC (trapezoidal PR) gives different values. NaN without positive labels.
    """
    return _range_auc(y, scores, buffer, n_thresholds, volume=False)


def vus(y: ArrayLike, scores: ArrayLike, max_buffer: int, n_thresholds: int = 250) -> RocPr:
    """VUS-ROC and VUS-PR: Range-AUC averaged over buffer lengths 0..max_buffer (TSB-AD "opt" version).

    Keep max_buffer at most the typical anomaly length: a longer buffer lifts a random score's VUS.
    Log max_buffer and n_thresholds with the result. NaN without positive labels.
    """
    return _range_auc(y, scores, max_buffer, n_thresholds, volume=True)


# --- NAB score (section 7) --------------------------------------------------------------------------------

NAB_PROFILES = {  # (A_TP, A_FP, A_FN), NAB config/profiles.json
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}


def _nab_sigmoid(x: np.ndarray) -> np.ndarray:
    """NAB's scaled sigmoid 2 / (1 + e^(5x)) - 1, clamped to -1 beyond x = 3."""
    with np.errstate(over="ignore"):
        return np.where(x > 3, -1.0, 2 / (1 + np.exp(5 * np.minimum(x, 3))) - 1)


def nab_score(
    y: ArrayLike, scores_or_pred: ArrayLike, profile: str = "standard", probation: int | None = None
) -> NabScore:
    """NAB score (Lavin & Ahmad 2015) of one series, each true segment of `y` being one NAB window.

    A window's earliest detection earns up to A_TP (less the later it comes), a missed window costs A_FN,
    a detection outside windows costs up to A_FP (less just after a window). Detections in the first
    `probation` points (default min(15% of n, 750)) are ignored, and so are windows starting there.
    Given scores, the threshold maximising the score is chosen on the labels (oracle, as NAB's optimiser).
    The score is normalised so that the null detector gets 0 and the perfect one 100 (NaN without windows);
    NAB's random detector scores about 11 on its corpus.
    """
    if profile not in NAB_PROFILES:
        raise ConfigError(f"NAB profile must be one of {tuple(NAB_PROFILES)}, got {profile!r}")
    a_tp, a_fp, a_fn = NAB_PROFILES[profile]
    y = _labels(y)
    n = len(y)
    fixed = _is_pred(scores_or_pred)
    s = _pred(scores_or_pred, n).astype(float) if fixed else _scores(scores_or_pred, n)
    if probation is None:
        probation = int(min(np.floor(0.15 * n), 0.15 * 5000))
    win = segments(y)
    win = win[win[:, 0] >= probation]
    # index -1 (no window) picks the sentinel appended last
    end, width = np.append(win[:, 1], -1), np.append(win[:, 1] - win[:, 0] + 1, 2)
    t = np.arange(n)
    ids = np.searchsorted(win[:, 0], t, side="right") - 1
    in_window = t <= end[ids]

    # gain[t]: change of the raw score when t joins the detections (thresholds fall, scores descending)
    gain = np.zeros(n)
    outside = ~in_window & (t >= probation)
    prev = np.searchsorted(win[:, 1], t) - 1  # last window ending before t
    with np.errstate(divide="ignore"):
        after = np.where(prev >= 0, _nab_sigmoid((t - end[prev]) / (width[prev] - 1)), -1.0)
    gain[outside] = a_fp * after[outside]
    # Only a window's earliest detection counts: with windows taken last to first, a running minimum of
    # the detected positions is each window's earliest detection so far.
    pts = np.flatnonzero(in_window)
    pts = pts[np.lexsort((-s[pts], -ids[pts]))]
    earliest = np.minimum.accumulate(pts)
    worth = a_tp * _nab_sigmoid(-(end[ids[earliest]] - earliest + 1) / width[ids[earliest]])
    worth /= _nab_sigmoid(np.array(-1.0))
    before = np.roll(worth, 1)
    before[np.unique(ids[pts], return_index=True)[1]] = -a_fn  # first detection of a window
    gain[pts] = worth - before

    null, perfect = -a_fn * len(win), a_tp * len(win)
    if fixed:
        raw, threshold = null + gain[s == 1].sum(), float("nan")
    else:
        thresholds, cumulative, _ = _sweep(gain, s)
        raws = null + np.concatenate(([0.0], cumulative))
        i = int(np.argmax(raws))
        raw, threshold = raws[i], float(np.concatenate(([np.inf], thresholds))[i])
    score = 100 * (raw - null) / (perfect - null) if len(win) else float("nan")
    return NabScore(float(score), float(raw), threshold)


# --- channel attribution (section 8) ----------------------------------------------------------------------


def hit_rate(true_channels: ArrayLike, scores: ArrayLike, p: float = 100) -> float:
    """HitRate@P% (Su et al., KDD 2019): share of an anomaly's true channels G found among the
    min(floor(P% * |G|), C) channels with the highest scores, averaged over rows.

    true_channels: 0/1 mask, shape (C,) for one anomaly or (E, C) for several (as Series.channel_labels
    rows); scores: per-channel scores of the same shape, higher = more responsible. Rows without a true
    channel are skipped; NaN if none is left. Tied scores rank the lower channel index first.
    """
    g = np.atleast_2d(np.asarray(true_channels))
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    if g.shape != s.shape or g.ndim != 2:
        raise InputError(f"true_channels {g.shape} and scores {s.shape} must share a (C,) or (E, C) shape")
    if p <= 0:
        raise ConfigError(f"p must be a positive percentage, got {p}")
    g = _labels(g.ravel()).reshape(g.shape)
    keep = g.any(axis=1)
    g, s = g[keep], s[keep]
    if not len(g):
        return float("nan")
    n_true = g.sum(axis=1)
    top = np.minimum(np.floor(p * n_true / 100).astype(int), g.shape[1])
    ranked = np.take_along_axis(g, np.argsort(-s, axis=1, kind="stable"), axis=1)
    found = np.hstack([np.zeros((len(g), 1), int), np.cumsum(ranked, axis=1)])[np.arange(len(g)), top]
    return float(np.mean(found / n_true))
