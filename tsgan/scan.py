"""A scan of point scores over time scales, so that a long, moderate rise ranks beside a sharp spike.

A point score judges each point (or window) alone. Many real anomalies are long and only moderately
above normal at any one point, below the spikes of normal noise: a valve that drifts, a traffic level
that stays wrong for hours. Their moving mean over a longer span stands out where single points do
not, because averaging shrinks the noise more than it shrinks a sustained rise. The scan looks at the
point score's centred moving mean at each width and keeps, at each point, the most anomalous of them.

To compare widths, each moving mean is mapped into the units of the point score itself by matching two
quantiles of clean validation scores: the median and the 99th percentile. A point scores as high as
its most unusual scale, where "unusual" means "as rare as on the validation tail". The map is affine
with a positive slope, so at width 1 it is the identity and the point score's own units (0 at its
threshold) are kept.
"""

from __future__ import annotations

import numpy as np

from tsgan.windows import moving_mean

MATCHED_QUANTILE = 99.0  # the upper quantile at which every width's validation scores are matched


def scan_widths(scales: list[float], window: int, longest: int) -> np.ndarray:
    """Widths in points, the first 1 (the point score itself): each scale times `window`, rounded, at
    most `longest` (the validation rows: a wider mean cannot be matched on them), without repeats."""
    widths = [1] + [min(max(1, round(scale * window)), max(1, longest)) for scale in scales]
    return np.array(sorted(set(widths)), dtype=np.int64)


def fit_scan(val_point: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per width, the median and the spread (99th percentile minus median) of the moving mean of
    normal point scores `val_point` (the validation tail's)."""
    center, spread = np.empty(len(widths), np.float32), np.empty(len(widths), np.float32)
    val_point = np.asarray(val_point, dtype=np.float64)
    for i, width in enumerate(widths):
        median, upper = np.percentile(moving_mean(val_point, width), [50, MATCHED_QUANTILE])
        center[i], spread[i] = median, upper - median
    # A flat validation score (every point alike) gives no spread; any positive one keeps the order.
    return center, np.where(spread > 0, spread, 1.0).astype(np.float32)


def scan_scores(point: np.ndarray, widths: np.ndarray, center: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """At each point, the largest of the moving means of `point` over `widths`, each mapped into the
    point score's units (width 1's center and spread, from `fit_scan`)."""
    out, point = np.asarray(point, dtype=np.float32).copy(), np.asarray(point, dtype=np.float64)
    for width, c, s in zip(widths, center, spread, strict=True):
        if width > 1:
            mapped = center[0] + (moving_mean(point, width) - c) * (spread[0] / s)
            np.maximum(out, mapped.astype(np.float32), out=out)
    return out
