"""Per-channel thresholds on anomaly scores, calibrated on validation scores of normal data.

A point is anomalous when its score is strictly greater than the threshold. Thresholds are fitted on
scores of held-out *normal* data (never on test labels): an empirical quantile, mean + k*std, or the
extreme-value (POT) quantile of Siffer et al. (KDD 2017), whose streaming forms SPOT and DSPOT keep
adapting the threshold as normal data arrives. Formulas: reference/methods.md section 8.

POT models the excesses over a high empirical quantile t with a generalised Pareto distribution (GPD)
and extrapolates to the quantile z_q that a normal score exceeds with probability q:

    z_q = t + sigma/gamma * ((q*n/N_t)^(-gamma) - 1)      (z_q = t - sigma*ln(q*n/N_t) when gamma = 0)

with n scores of which N_t exceed t. Non-finite scores (NaN from windows not yet full) are ignored.

A fixed threshold fails when the scored series sits in another regime than the calibration data (a test
run at another operating point): every score exceeds it. The "drift" method follows the scored series
online instead, with DSPOT's drift model (Siffer et al., X' = X - M, threshold M + z_q): M is the median
of each channel's `depth` previous scores (never below the calibration median) and z_q the POT threshold
of the calibration scores minus their own M. The paper's M, the mean of the last normal (unflagged)
values, never moves again once an abrupt shift flags everything; the median of all recent values moves
past a shift in about depth/2 points and, as the paper's exclusion of alarms does, ignores spikes and
anomalies much shorter than that. The price: an anomaly longer than about depth/2 points becomes the new
normal too, and the scores (excess over a moving threshold) rank its later points low. Online and
without labels, a lasting change is a new regime or a long anomaly by its duration alone; so "pot" stays
the default, and drift suits series whose anomalies are short next to `depth` (benchmarks/
threshold_shift.py measures both cases on synthetic data).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.optimize import brentq

from tsgan.errors import ConfigError, InputError

METHODS = ("pot", "quantile", "ksigma", "drift")

MIN_PEAKS = 10
"""Fewest excesses over t that a GPD is fitted on; with fewer, POT falls back (see `pot_threshold`)."""

_GRID = 48
# Where the Grimshaw function is scanned for sign changes, on scores scaled to mean excess 1.
# Negative roots lie in (-1/Y_max, 0): scan x = -s/Y_max with s dense near both ends of (0, 1).
_NEG_S = np.concatenate([np.geomspace(1e-6, 0.5, _GRID // 2), 1.0 - np.geomspace(0.5, 1e-8, _GRID // 2)[1:]])
# Positive roots: geometric grid from _POS_START to x_max = 2(Ybar - Y_min)/Y_min^2, capped at _POS_CAP
# (x = gamma/sigma beyond 1e10 means gamma > 20, a tail no score has; the cap also avoids overflow).
_POS_START, _POS_CAP = 1e-6, 1e10


def _check_probability(name: str, value: float, hint: str) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name}={value!r} must lie strictly between 0 and 1; {hint}")
    return value


def _check_pot(q: float, level: float) -> tuple[float, float]:
    """Validate POT parameters: q must be rarer than the tail that the GPD is fitted on."""
    q = _check_probability("q", q, "use e.g. q=1e-3 (one false alarm per thousand normal points)")
    level = _check_probability("level", level, "use e.g. level=0.98 (the GPD is fitted on the top 2%)")
    if q >= 1.0 - level:
        raise ConfigError(
            f"q={q} must be smaller than 1 - level={1.0 - level:.6g}: POT extrapolates beyond the "
            "level quantile; lower q or lower level"
        )
    return q, level


def _grimshaw_w(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """u(x)*v(x) - 1 for each x; its roots are the stationary points of the GPD likelihood."""
    xy = np.multiply.outer(x, y)
    u = np.mean(1.0 / (1.0 + xy), axis=-1)
    v = 1.0 + np.mean(np.log1p(xy), axis=-1)
    return u * v - 1.0


def _roots_on_grid(grid: np.ndarray, y: np.ndarray) -> list[float]:
    """Roots of the Grimshaw function between consecutive grid points where it changes sign."""
    w = _grimshaw_w(grid, y)
    roots = [float(g) for g in grid[w == 0.0]]
    for i in np.flatnonzero(w[:-1] * w[1:] < 0.0):
        roots.append(brentq(lambda x: float(_grimshaw_w(np.array([x]), y)[0]), grid[i], grid[i + 1]))
    return roots


def fit_gpd(excesses: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood GPD (gamma, sigma) of positive excesses, by Grimshaw's reduction to 1-D.

    With x = gamma/sigma, the likelihood equations reduce to u(x)v(x) = 1 where
    u = mean(1/(1+xY)), v = 1 + mean(log(1+xY)); each root gives gamma = v(x) - 1, sigma = gamma/x.
    All roots in (-1/Y_max, 0) and (0, 2(Ybar - Y_min)/Y_min^2] are found by scanning a grid for sign
    changes and refining with Brent's method; x = 0 (exponential tail, sigma = Ybar) is always a
    candidate. The candidate with the highest log-likelihood -N(log sigma + 1 + gamma) wins.
    """
    y = np.asarray(excesses, dtype=np.float64).ravel()
    if y.size < 2 or not np.all(np.isfinite(y)) or y.min() <= 0.0:
        raise InputError(
            f"fit_gpd needs at least 2 finite, strictly positive excesses, got {y.size} values "
            f"(min {y.min() if y.size else 'n/a'}); pass the scores minus the threshold, above it"
        )
    scale = y.mean()  # fit on Y/Ybar so that the grids do not depend on the score's units
    y = y / scale
    y_min, y_max = y.min(), y.max()
    candidates = [0.0] + _roots_on_grid(-_NEG_S / y_max, y)
    x_max = min(2.0 * (1.0 - y_min) / y_min**2, _POS_CAP)
    if x_max > _POS_START:
        candidates += _roots_on_grid(np.geomspace(_POS_START, x_max, _GRID), y)

    best = (-np.inf, 0.0, 1.0)
    for x in candidates:
        gamma = float(np.mean(np.log1p(x * y))) if x != 0.0 else 0.0
        sigma = gamma / x if x != 0.0 else 1.0
        if sigma > 0.0:
            loglik = -(np.log(sigma) + 1.0 + gamma)
            if loglik > best[0]:
                best = (loglik, gamma, sigma)
    return best[1], float(best[2] * scale)


def _pot_quantile(t, gamma, sigma, q: float, n, n_peaks):
    """z_q from a fitted tail (works elementwise on arrays). Never below t: when ties at the top leave
    N_t/n <= q, the formula would fall below t, and t itself is then the best available bound."""
    ratio = q * np.asarray(n, dtype=np.float64) / np.asarray(n_peaks, dtype=np.float64)
    gamma = np.asarray(gamma, dtype=np.float64)
    small = np.abs(gamma) < 1e-12
    safe = np.where(small, 1.0, gamma)
    excess = np.where(small, -sigma * np.log(ratio), sigma / safe * (ratio ** (-safe) - 1.0))
    return np.maximum(t + excess, t)


def _fallback(top: float, t: float) -> float:
    """Threshold when no GPD can be fitted: just above the largest calibration score.

    The margin is the width of the observed tail (top - t), at least 1e-6 of max(|top|, 1), so constant
    calibration scores give a threshold strictly above the constant.
    """
    return top + max(top - t, 1e-6 * max(abs(top), 1.0))


def _finite(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise InputError(f"{what} has no finite score to calibrate a threshold on; check the scores")
    return x


def _pot_tail(x: np.ndarray, q: float, level: float) -> tuple[float, np.ndarray, float, float, float]:
    """POT on finite scores x: (t, excesses, gamma, sigma, z_q); gamma and sigma are NaN on fallback."""
    t = float(np.quantile(x, level))
    excesses = x[x > t] - t
    if excesses.size < MIN_PEAKS:
        return t, excesses, np.nan, np.nan, _fallback(float(x.max()), t)
    gamma, sigma = fit_gpd(excesses)
    z = float(_pot_quantile(t, gamma, sigma, q, x.size, excesses.size))
    return t, excesses, gamma, sigma, z


def pot_threshold(x: np.ndarray, q: float = 1e-3, level: float = 0.98) -> float:
    """The POT threshold z_q of calibration scores x: exceeded by normal scores with probability ~q.

    Degenerate inputs never give NaN: when fewer than MIN_PEAKS scores exceed the `level` quantile
    (constant scores, or too few scores: the paper suggests ~1000), the GPD cannot be fitted and the
    threshold is the largest score plus a margin (see `_fallback`).
    """
    q, level = _check_pot(q, level)
    return _pot_tail(_finite(x, "the calibration scores"), q, level)[4]


def check_method(
    method: str,
    q: float = 1e-3,
    level: float = 0.98,
    quantile: float = 0.995,
    k: float = 4.0,
    depth: int = 200,
) -> None:
    """Raise a ConfigError naming the value if `method` or one of the parameters it uses is unusable."""
    if method not in METHODS:
        raise ConfigError(f"unknown threshold method {method!r}; use one of {', '.join(METHODS)}")
    if method in ("pot", "drift"):
        _check_pot(q, level)
    elif method == "quantile" and not 0.0 < float(quantile) <= 1.0:
        raise ConfigError(f"quantile={quantile!r} must lie in (0, 1]; use e.g. quantile=0.995")
    elif method == "ksigma" and not (np.isfinite(k) and k >= 0):
        raise ConfigError(f"k={k!r} must be a finite number >= 0; use e.g. k=4")
    if method == "drift" and (
        isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1
    ):
        raise ConfigError(f"depth={depth!r} must be an integer >= 1; use e.g. depth=200")


def drift_baseline(
    scores: np.ndarray, depth: int, floor: float | np.ndarray, history: np.ndarray | None = None
) -> np.ndarray:
    """The level (T, C) that drift thresholds sit above: for each row of `scores` (T, C), the median of
    the `depth` rows before it, column by column, but never below `floor`.

    The first rows' windows reach back into `history` (the rows just before `scores`, e.g. calibration
    scores), so a row is only ever compared with the past; fewer than `depth` earlier rows: the median of
    those there are. NaN is ignored. Pass the calibration scores' median as `floor`: a series quieter than
    the calibration data is judged as the calibration data was, never more sensitively (and a row with
    no past at all is judged against the floor).
    """
    import pandas as pd  # imported here: only the drift thresholds need it

    scores = np.asarray(scores, dtype=np.float64)
    past = np.empty((0, scores.shape[1])) if history is None else np.asarray(history, np.float64)[-depth:]
    full = np.concatenate([past, scores])
    median = pd.DataFrame(full).rolling(depth, min_periods=1).median().to_numpy()
    # Row i of `full` is compared with the median of the window that ends at row i - 1.
    before = np.concatenate([np.full((1, full.shape[1]), np.nan), median[:-1]])
    return np.fmax(before[len(past) :], floor)


def fit_thresholds(
    scores: np.ndarray,
    method: str = "pot",
    q: float = 1e-3,
    level: float = 0.98,
    quantile: float = 0.995,
    k: float = 4.0,
    depth: int = 200,
) -> np.ndarray:
    """One threshold per column of validation scores (T,) or (T, C); returns shape (C,), (1,) for 1-D.

    method: "pot" (`pot_threshold` with q, level), "quantile" (empirical `quantile`), "ksigma"
    (mean + k * std), or "drift": the POT threshold (q, level) of the scores minus their own
    `drift_baseline` over `depth` rows, i.e. the offset above that baseline which a point of a scored
    series must exceed.
    """
    check_method(method, q, level, quantile, k, depth)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2:
        raise InputError(f"scores must be shaped (T,) or (T, C), got {scores.shape}")
    if method == "drift":
        scores = scores - drift_baseline(scores, depth, floor=np.nanmedian(scores, axis=0))

    out = np.empty(scores.shape[1])
    for c in range(scores.shape[1]):
        x = _finite(scores[:, c], f"column {c}")
        if method in ("pot", "drift"):
            out[c] = _pot_tail(x, q, level)[4]
        elif method == "quantile":
            out[c] = np.quantile(x, quantile)
        else:
            out[c] = x.mean() + k * x.std()
    return out


class SPOT:
    """Streaming POT (Siffer et al. 2017) for one score stream or C channels at once.

    `fit` on calibration scores (T,) or (T, C); then `update` with one value (returns bool) or one row
    (C,) (returns a bool array). As in the paper, a value above z_q is an alarm and leaves the model
    untouched; a value in (t, z_q] becomes a new peak and moves z_q; other values only count in n.

    Refit policy: z_q is recomputed on every new peak from the current GPD (n and N_t change, O(1)),
    but the GPD itself is refitted only once a channel has `refit_every` new peaks (1 = the paper).
    One new peak barely moves the maximum-likelihood estimate, and a full Grimshaw fit costs
    O(grid x peaks), so this keeps the streaming cost bounded. Only the last `max_peaks` excesses are
    kept for the fit (None: all, as in the paper), so memory and fit time stay bounded on endless
    streams; n and N_t still count the whole history. Channels that start with fewer than MIN_PEAKS
    peaks use the `pot_threshold` fallback until they have enough.

    Censoring: because alarms are left out, the GPD is fitted on a tail cut at z_q, and on purely normal
    scores z_q creeps down (exponential scores, q=1e-3: from about 6.9 to 6.0 over 50 000 values, so
    about 2.5 times the nominal false-alarm rate). This is the paper's algorithm; `learn_alarms=True`
    (the reference code's `with_alarm=False`) also learns from alarms, which removes that bias on normal
    data but lets real anomalies raise the threshold.
    """

    def __init__(
        self,
        q: float = 1e-4,
        level: float = 0.98,
        refit_every: int = 32,
        max_peaks: int | None = 2000,
        learn_alarms: bool = False,
    ):
        self.q, self.level = _check_pot(q, level)
        if int(refit_every) < 1:
            raise ConfigError(f"refit_every={refit_every!r} must be an integer >= 1; use e.g. 32")
        if max_peaks is not None and int(max_peaks) < MIN_PEAKS:
            raise ConfigError(f"max_peaks={max_peaks!r} must be None or >= {MIN_PEAKS}; use e.g. 2000")
        self.refit_every = int(refit_every)
        self.max_peaks = None if max_peaks is None else int(max_peaks)
        self.learn_alarms = bool(learn_alarms)
        self._z: np.ndarray | None = None

    def fit(self, init_scores: np.ndarray) -> SPOT:
        """Calibrate on scores of normal data: (T,) for a scalar stream, (T, C) for C channels."""
        scores = np.asarray(init_scores, dtype=np.float64)
        self._scalar = scores.ndim == 1
        if self._scalar:
            scores = scores[:, None]
        if scores.ndim != 2:
            raise InputError(f"init_scores must be shaped (T,) or (T, C), got {scores.shape}")
        n_channels = scores.shape[1]
        self._t, self._z, self._gamma, self._sigma = (np.empty(n_channels) for _ in range(4))
        self._n = np.empty(n_channels, dtype=np.int64)
        self._n_peaks = np.empty(n_channels, dtype=np.int64)
        self._stale = np.zeros(n_channels, dtype=np.int64)  # new peaks since the last GPD fit
        self._peaks: list[deque] = []
        for c in range(n_channels):
            x = _finite(scores[:, c], f"channel {c} of the calibration scores")
            t, excesses, gamma, sigma, z = _pot_tail(x, self.q, self.level)
            self._t[c], self._gamma[c], self._sigma[c], self._z[c] = t, gamma, sigma, z
            self._n[c], self._n_peaks[c] = x.size, excesses.size
            self._peaks.append(deque(excesses.tolist(), maxlen=self.max_peaks))
        return self

    @property
    def threshold(self) -> float | np.ndarray:
        """The current threshold: a float for a scalar stream, an array (C,) otherwise."""
        return self._out(self._thresholds())

    def update(self, x: float | np.ndarray) -> bool | np.ndarray:
        """Process the next value (or row of C values); True where it is an alarm. NaN is skipped."""
        return self._out(self._step(self._row(x)))

    def _thresholds(self) -> np.ndarray:
        return self._z.copy()

    def _row(self, x: float | np.ndarray) -> np.ndarray:
        if self._z is None:
            raise ConfigError(f"{type(self).__name__} is not calibrated yet; call .fit(init_scores) first")
        row = np.asarray(x, dtype=np.float64).reshape(-1)
        if row.shape != self._z.shape:
            raise InputError(f"expected {self._z.size} value(s) per update, got shape {np.shape(x)}")
        return row

    def _out(self, a: np.ndarray):
        return a[0].item() if self._scalar else a

    def _step(self, x: np.ndarray) -> np.ndarray:
        seen = ~np.isnan(x)
        alarm = seen & (x > self._z)
        learn = seen if self.learn_alarms else seen & ~alarm
        self._n += learn
        peaks = np.flatnonzero(learn & (x > self._t))
        if peaks.size == 0:
            return alarm
        self._n_peaks[peaks] += 1
        self._stale[peaks] += 1
        for c in peaks:
            self._peaks[c].append(x[c] - self._t[c])
            due = self._stale[c] >= self.refit_every or np.isnan(self._gamma[c])  # or first chance to fit
            if due and len(self._peaks[c]) >= MIN_PEAKS:
                self._gamma[c], self._sigma[c] = fit_gpd(np.fromiter(self._peaks[c], np.float64))
                self._stale[c] = 0
        f = peaks[~np.isnan(self._gamma[peaks])]  # channels with a fitted GPD (others keep the fallback)
        self._z[f] = _pot_quantile(
            self._t[f], self._gamma[f], self._sigma[f], self.q, self._n[f], self._n_peaks[f]
        )
        return alarm


class DSPOT(SPOT):
    """SPOT on drifting scores: runs SPOT on x minus the mean of the last `depth` normal values.

    Alarms are always kept out of the moving window (whatever `learn_alarms` says), so an anomaly does
    not drag the baseline along; the threshold reported is the SPOT threshold plus the current baseline.
    """

    def __init__(
        self,
        q: float = 1e-4,
        level: float = 0.98,
        depth: int = 50,
        refit_every: int = 32,
        max_peaks: int | None = 2000,
        learn_alarms: bool = False,
    ):
        super().__init__(q, level, refit_every, max_peaks, learn_alarms)
        if int(depth) < 1:
            raise ConfigError(f"depth={depth!r} must be an integer >= 1; use e.g. depth=50")
        self.depth = int(depth)

    def fit(self, init_scores: np.ndarray) -> DSPOT:
        """Calibrate on (T,) or (T, C) normal scores; the first `depth` rows only seed the baseline."""
        scores = np.asarray(init_scores, dtype=np.float64)
        if scores.ndim not in (1, 2) or scores.shape[0] <= self.depth:
            raise InputError(
                f"DSPOT with depth={self.depth} needs calibration scores (T,) or (T, C) with "
                f"T > {self.depth}, got shape {scores.shape}; pass more calibration scores or lower depth"
            )
        if not np.all(np.isfinite(scores)):
            raise InputError(
                "DSPOT calibration scores contain NaN or infinity; drop or fill those rows first"
            )
        cols = scores.reshape(scores.shape[0], -1)
        csum = np.concatenate([np.zeros((1, cols.shape[1])), np.cumsum(cols, axis=0)])
        baseline = (csum[self.depth : -1] - csum[: -self.depth - 1]) / self.depth  # mean of the d before
        super().fit((cols[self.depth :] - baseline).reshape((-1,) + scores.shape[1:]))
        self._window = cols[-self.depth :].T.copy()  # (C, depth) ring buffer of the last normal values
        self._pos = np.zeros(cols.shape[1], dtype=np.int64)
        self._sum = self._window.sum(axis=1)
        return self

    def _thresholds(self) -> np.ndarray:
        return self._z + self._sum / self.depth

    def _step(self, x: np.ndarray) -> np.ndarray:
        alarm = super()._step(x - self._sum / self.depth)
        cols = np.flatnonzero(~alarm & ~np.isnan(x))
        pos = self._pos[cols]
        self._sum[cols] += x[cols] - self._window[cols, pos]
        self._window[cols, pos] = x[cols]
        self._pos[cols] = (pos + 1) % self.depth
        return alarm
