"""Simple baselines on the detector contract: the floor and the strong-simple bar every GAN must clear.

Published honest comparisons (reference/metrics.md sections 9 and 11) find PCA reconstruction, the raw
signal and isolation forests competitive with, or better than, many deep detectors, and a random score
far from useless under lenient metrics. So each of them is a full detector here: same scaling, same
validation split, same per-channel thresholds and intervals, so that a table compares models, not
pipelines.

    random    RandomBaseline         i.i.d. uniform scores: the chance level of every metric
    zscore    RobustZScore           |robust z| of each reading (the "raw signal" score)
    pca       PCAReconstruction      squared residual of a PCA reconstruction, per channel
    iforest   WindowIsolationForest  isolation forest on flattened windows, shared out over channels
    knn       WindowKNN              distance of each window to its nearest training windows, per channel
    seasonal  SeasonalResidual       distance from a per-channel seasonal profile (statsmodels)

Every detector receives values already robust-scaled with the training median and IQR, clipped, and
without the channels that were constant in training (see `base.Detector`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import detrend

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.errors import ConfigError
from tsgan.windows import FOLDS, WindowFold, sliding_windows, spread, window_starts

MAX_PERIOD = 10_000
"""Longest seasonal period looked for by `estimate_period`."""
SCORE_VALUES = 1 << 21
"""Values (windows x window x channels) PCA projects at a time: bounds its float64 temporaries on a long
series to tens of megabytes, whatever its window."""


# --- shared helpers --------------------------------------------------------------------------------


def _check_at_least(config: DetectorConfig, minimum: int, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {value}")


def _flat_windows(x: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and flattened windows (N, window * C) of scaled values x (T, C)."""
    starts = window_starts(len(x), window, stride)
    windows = sliding_windows(torch.from_numpy(x), window, stride).numpy()
    return starts, windows.reshape(len(starts), -1)


def _block_windows(blocks: np.ndarray, window: int) -> tuple[np.ndarray, torch.Tensor]:
    """Start indices and a view (N_windows, window, N, C) of the windows of N blocks (N, L, C) at
    stride 1: row t of the (L, N x C) view holds step t of every block, so one unfold covers them all
    (a single series is one block: no copy)."""
    n, length, channels = blocks.shape
    by_step = np.ascontiguousarray(blocks.transpose(1, 0, 2)).reshape(length, n * channels)
    windows = sliding_windows(torch.from_numpy(by_step), window, 1)
    return window_starts(length, window, 1), windows.reshape(len(windows), window, n, channels)


def _batch_rows(windows: torch.Tensor) -> torch.Tensor:
    """Windows (B, window, N, C) of N blocks as flat rows (B x N, window x C), window-major."""
    b, window, n, channels = windows.shape
    return windows.permute(0, 2, 1, 3).reshape(b * n, window * channels)


def _kept_windows(x: np.ndarray, window: int, stride: int, most: int, seed: int) -> np.ndarray:
    """Flattened training windows (N, window * C), at most `most` of them: a seeded subsample in time
    order, float32 and contiguous, as a detector that keeps its training windows saves them."""
    _, windows = _flat_windows(x, window, stride)
    if len(windows) > most:
        windows = windows[np.sort(np.random.default_rng(seed).choice(len(windows), most, replace=False))]
    return np.ascontiguousarray(windows, dtype=np.float32)


def _rolling(values: np.ndarray, window: int, how: str) -> np.ndarray:
    """Centred rolling `how` ("mean" or "median") down each column of (T, C) values; the windows at
    the ends are partial rather than padded, so no value is invented."""
    import pandas as pd  # imported here: only the smoothing options need it

    rolling = pd.DataFrame(values).rolling(window, center=True, min_periods=1)
    return getattr(rolling, how)().to_numpy(dtype=np.float32)


# --- random ----------------------------------------------------------------------------------------


@dataclass
class RandomConfig(DetectorConfig):
    """No parameters of its own: the scores are drawn from `seed`."""


class RandomBaseline(Detector):
    """I.i.d. uniform scores per point and channel, the same for the same seed and series length.

    It knows nothing, so whatever a metric gives it is that metric's chance level under the identical
    thresholding; a detector is only as good as its distance from this floor.
    """

    name = "random"
    config_class = RandomConfig

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        """Nothing to learn."""

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        return np.random.default_rng(self.config.seed).random(x.shape, dtype=np.float32)


# --- zscore ----------------------------------------------------------------------------------------


@dataclass
class ZScoreConfig(DetectorConfig):
    smooth: int = 1  # points in a centred rolling mean of |z|; 1 scores each reading alone

    def validate(self) -> None:
        super().validate()
        _check_at_least(self, 1, "smooth")


class RobustZScore(Detector):
    """Per-channel |x| of the robust-scaled reading: how many robust sigmas it is from the training
    median. The "raw signal" baseline of Garg et al.; `smooth` > 1 averages it over neighbours, which
    trades single-point spikes for sustained shifts. Nothing is learned beyond the base's scaler."""

    name = "zscore"
    config_class = ZScoreConfig

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        """Nothing to learn: the base's scaler holds the median and IQR."""

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        deviation = np.abs(x)
        return deviation if self.config.smooth == 1 else _rolling(deviation, self.config.smooth, "mean")


# --- pca -------------------------------------------------------------------------------------------


@dataclass
class PCAConfig(DetectorConfig):
    # Principal components kept; None: the fewest that explain `variance` of the training data, at most
    # one fewer than the features (all of them would reconstruct anything perfectly).
    n_components: int | None = None
    variance: float = 0.9  # explained-variance share that chooses n_components when it is None
    window: int = 1  # consecutive points per PCA sample (window x channels features); 1: plain PCA

    def validate(self) -> None:
        super().validate()
        _check_at_least(self, 1, "window")
        if self.n_components is not None:
            _check_at_least(self, 1, "n_components")
        if not 0.0 < self.variance <= 1.0:
            raise ConfigError(f"variance must be in (0, 1], got {self.variance}")


class PCAReconstruction(Detector):
    """Squared residual of each channel after projecting onto the training data's principal subspace.

    It catches readings that break the correlations between channels even when each stays in its usual
    range, which a per-channel score cannot see; Sarfraz et al. (ICML 2024) find it at or near the top
    of honest benchmarks. With `window` > 1 the samples are lagged windows (so it also models short
    temporal patterns) and each point's residual is the mean over the windows that cover it.
    """

    name = "pca"
    config_class = PCAConfig

    def min_length(self) -> int:
        return self.config.window

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        _, samples = _flat_windows(x_train, self.config.window, 1)
        samples = samples.astype(np.float64)
        mean = samples.mean(axis=0)
        centred = samples - mean
        # The SVD of the small (features x features) scatter matrix gives the same principal axes as
        # that of the tall data matrix, with the squared singular values, in a fraction of the time.
        _, explained, components = np.linalg.svd(centred.T @ centred)
        k = self._n_components(explained, samples.shape[1], x_train.shape[1])
        self.mean_ = mean.astype(np.float32)
        self.components_ = components[:k].astype(np.float32)

    def _n_components(self, explained: np.ndarray, n_features: int, n_channels: int) -> int:
        """Components to keep: the number asked for, or the fewest reaching `variance` (capped)."""
        cfg = self.config
        if cfg.n_components is not None:
            if cfg.n_components >= n_features:
                raise ConfigError(
                    f"pca: n_components={cfg.n_components} must be smaller than the number of features, "
                    f"{n_features} ({n_channels} non-constant channels x window {cfg.window}); "
                    "lower n_components or leave it unset to choose by explained variance"
                )
            return cfg.n_components
        total = explained.sum()
        if total == 0:
            return 0
        enough = int(np.searchsorted(np.cumsum(explained) / total, cfg.variance)) + 1
        return min(enough, n_features - 1)

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        return self._block_scores(x[None])[0]

    def _block_scores(self, blocks: np.ndarray) -> np.ndarray:
        window = self.config.window
        n, length, channels = blocks.shape
        starts, windows = _block_windows(blocks, window)
        components = self.components_.astype(np.float64)
        folded = WindowFold(starts, window, length)
        # In batches of windows, so that the float64 residuals of a long series never exist all at once.
        per_batch = max(1, SCORE_VALUES // (n * window * channels))
        for first in range(0, len(starts), per_batch):
            batch = windows[first : first + per_batch]
            centred = _batch_rows(batch).numpy().astype(np.float64) - self.mean_
            residual = centred - (centred @ components.T) @ components
            # (B x N, window x C) back to (B, window, N, C): each step of each block's windows
            folded.add((residual**2).reshape(len(batch), n, window, channels).transpose(0, 2, 1, 3))
        return folded.result().transpose(1, 0, 2)  # (L, N, C) -> (N, L, C)

    def _state(self) -> dict[str, torch.Tensor]:
        return {"mean": torch.from_numpy(self.mean_), "components": torch.from_numpy(self.components_)}

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.mean_ = state["mean"].numpy()
        self.components_ = state["components"].numpy()


# --- iforest ---------------------------------------------------------------------------------------


@dataclass
class IForestConfig(DetectorConfig):
    window: int = 10  # points per window; the forest sees each window flattened to window x channels
    stride: int = 1  # between training windows
    n_estimators: int = 100  # trees (Liu et al.'s default)
    max_samples: int = 256  # windows drawn per tree (Liu et al.'s default); fewer if there are fewer
    # Training windows kept, a seeded subsample: they are saved with the model so that loading can
    # refit the very same forest (an IsolationForest is not a tensor, and models are never pickled).
    max_windows: int = 4096

    def validate(self) -> None:
        super().validate()
        _check_at_least(self, 1, "window", "stride", "n_estimators")
        _check_at_least(self, 2, "max_samples", "max_windows")


class WindowIsolationForest(Detector):
    """scikit-learn's IsolationForest on flattened windows; window scores are folded back to points.

    The forest gives one score per window and has no per-channel score, so each channel gets the window
    score times its share of the window's absolute robust deviation (sum over the window of |x| of that
    channel over the same sum for all channels): the channels furthest from their training median carry
    the blame. Each point then takes the mean over the windows that cover it.

    Saving: the model file holds the training windows the forest was fitted on (at most `max_windows`,
    a float32 tensor), and loading refits the forest on them with the same seed, which grows the same
    trees, so a reloaded detector scores identically.
    """

    name = "iforest"
    config_class = IForestConfig

    def min_length(self) -> int:
        return self.config.window

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        cfg = self.config
        self.train_windows_ = _kept_windows(x_train, cfg.window, cfg.stride, cfg.max_windows, cfg.seed)
        self._grow_forest()

    def _grow_forest(self) -> None:
        from sklearn.ensemble import IsolationForest  # imported here: most runs never need scikit-learn

        cfg = self.config
        self.forest_ = IsolationForest(
            n_estimators=cfg.n_estimators,
            max_samples=min(cfg.max_samples, len(self.train_windows_)),
            random_state=cfg.seed,
        ).fit(self.train_windows_)

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        window = self.config.window
        starts, windows = _flat_windows(x, window, 1)
        isolation = -self.forest_.score_samples(windows)  # higher = isolated sooner = more anomalous
        # (N, C); the small constant shares a window that sits exactly on the medians out equally.
        deviation = np.abs(windows.reshape(len(starts), window, -1)).sum(axis=1) + 1e-6
        share = deviation / deviation.sum(axis=1, keepdims=True)
        return spread(isolation[:, None] * share, starts, window, len(x))

    def _state(self) -> dict[str, torch.Tensor]:
        return {"train_windows": torch.from_numpy(self.train_windows_)}

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.train_windows_ = state["train_windows"].numpy()
        self._grow_forest()


# --- knn -------------------------------------------------------------------------------------------


@dataclass
class KNNConfig(DetectorConfig):
    window: int = 10  # points per window, compared flattened (window x channels)
    k: int = 5  # nearest training windows averaged over
    # Training windows kept as the reference set, a seeded subsample saved with the model.
    max_windows: int = 4096
    score_batch: int = 1024  # scored windows per distance computation (bounds memory)
    # True: each channel's neighbours are found among that channel's training windows alone (a shape
    # that is normal for the channel, whatever the others do at the time); False: among whole windows.
    per_channel: bool = False
    # How the scores of the windows covering a point become its score: their mean (a spike's score
    # ramps down over the window on either side), their max (the most anomalous window covering it:
    # a plateau as wide as the window) or their median.
    fold: str = "mean"

    def validate(self) -> None:
        super().validate()
        _check_at_least(self, 1, "window", "k", "score_batch")
        _check_at_least(self, 2, "max_windows")
        if self.fold not in FOLDS:
            raise ConfigError(f"unknown fold {self.fold!r}: expected one of {', '.join(FOLDS)}")


class WindowKNN(Detector):
    """Distance of each window to its k nearest training windows (Ramaswamy et al.'s kNN detector on
    sliding windows, as TSB-AD and PyOD run it), kept apart per channel.

    A window's score for channel c is the squared distance of that channel's steps to the same steps of
    each of its k nearest training windows, averaged over the neighbours; summed over channels it is the
    mean squared kNN distance, so the channels that differ from every normal pattern carry the score.
    With `per_channel`, each channel's neighbours are searched among that channel's training windows
    alone: a shape normal for the channel scores low even when the other channels do something unusual.
    Each point takes the mean over the windows that cover it (with `fold`, their max or median). It sees
    shapes (a spike, a wrong pattern at a usual level) that a per-reading score cannot, and needs no
    training beyond keeping windows.
    """

    name = "knn"
    config_class = KNNConfig

    def min_length(self) -> int:
        return self.config.window

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        cfg = self.config
        self.train_windows_ = _kept_windows(x_train, cfg.window, 1, cfg.max_windows, cfg.seed)

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        return self._block_scores(x[None])[0]

    def _block_scores(self, blocks: np.ndarray) -> np.ndarray:
        cfg = self.config
        n, length, channels = blocks.shape
        # A view of the windows; each batch is flattened (copied) on its own, so memory stays bounded
        # by the batch however long the series is.
        starts, windows = _block_windows(blocks, cfg.window)
        # Written in place batch by batch: small results kept between the batches' large temporaries
        # fragment the heap, which on a million-row series cost gigabytes of resident memory.
        scores = torch.empty((len(starts), n, channels))
        per_batch = max(1, cfg.score_batch // n)
        nearest = self._channel_knn if cfg.per_channel else self._window_knn
        for first in range(0, len(starts), per_batch):
            batch = windows[first : first + per_batch]
            scores[first : first + len(batch)] = nearest(batch).reshape(len(batch), n, channels)
        # (N_windows, N, C), each window's score held over its steps, folded to points
        return spread(scores.numpy() / cfg.window, starts, cfg.window, length, cfg.fold).transpose(1, 0, 2)

    def _window_knn(self, batch: torch.Tensor) -> torch.Tensor:
        """(B x N, C) of windows (B, window, N, C): each channel's squared distance to the same steps
        of the k training windows nearest the whole window, averaged over them."""
        reference = torch.from_numpy(self.train_windows_)
        flat = _batch_rows(batch)
        k = min(self.config.k, len(reference))
        nearest = torch.cdist(flat, reference).topk(k, largest=False).indices  # (B x N, k)
        gaps = reference[nearest].sub_(flat[:, None, :]).square_()  # (B x N, k, window * C)
        return gaps.reshape(len(flat), k, self.config.window, -1).sum(dim=2).mean(dim=1)

    def _channel_knn(self, batch: torch.Tensor) -> torch.Tensor:
        """(B x N, C) of windows (B, window, N, C): each channel's squared distance to its own k
        nearest training windows of that channel, averaged over them."""
        window, channels = self.config.window, batch.shape[-1]
        reference = torch.from_numpy(self.train_windows_).reshape(-1, window, channels)
        k = min(self.config.k, len(reference))
        out = torch.empty((batch.shape[0] * batch.shape[2], channels))
        for c in range(channels):
            rows = batch[..., c].permute(0, 2, 1).reshape(-1, window)  # ordered as _batch_rows
            gaps = torch.cdist(rows, reference[:, :, c].contiguous()).topk(k, largest=False).values
            out[:, c] = gaps.square_().mean(dim=1)
        return out

    def _state(self) -> dict[str, torch.Tensor]:
        return {"train_windows": torch.from_numpy(self.train_windows_)}

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.train_windows_ = state["train_windows"].numpy()


# --- seasonal --------------------------------------------------------------------------------------


def estimate_period(values: np.ndarray, min_acf: float = 0.3, max_period: int = MAX_PERIOD) -> int | None:
    """The seasonal period of a 1-D series: the lag of the highest autocorrelation peak between 2 and
    min(T/2, max_period), or None when there is no clear period.

    The series is linearly detrended first (a trend alone makes every lag look correlated). Only peaks
    after the autocorrelation first turns negative count, since the ones before are wiggles in the
    decay from lag 0, and the peak must reach `min_acf`.
    """
    from statsmodels.tsa.stattools import acf  # imported here: statsmodels takes a second to import

    centred = detrend(np.asarray(values, dtype=np.float64))
    max_lag = min(len(centred) // 2, max_period)
    if max_lag < 3 or not centred.any():
        return None
    r = acf(centred, nlags=max_lag, fft=True)
    negative = np.flatnonzero(r < 0)
    if len(negative) == 0:
        return None
    lags = np.arange(max(2, negative[0]), max_lag)  # both neighbours of each lag are known
    peaks = lags[(r[lags] > r[lags - 1]) & (r[lags] >= r[lags + 1])]
    if len(peaks) == 0:
        return None
    best = int(peaks[np.argmax(r[peaks])])
    return best if r[best] >= min_acf else None


def _circular_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """c[o] = sum_j a[j] * b[(j + o) % p] for every offset o, by FFT."""
    return np.fft.irfft(np.conj(np.fft.rfft(a)) * np.fft.rfft(b), n=len(a))


def _aligned_profile(profile: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The seasonal profile laid along y at the phase offset that fits y best (least squares).

    The phase of row t is (t + offset) mod period; the offset is chosen on y itself because a scored
    series (and the validation tail) need not start at the phase the training data started at.
    """
    period = len(profile)
    phase = np.arange(len(y)) % period
    sums = np.bincount(phase, weights=y, minlength=period)
    counts = np.bincount(phase, minlength=period).astype(np.float64)
    # sum_t (y_t - profile[(t + o) % p])^2 = const - 2 * corr(sums, profile)[o] + corr(counts, profile^2)[o]
    gain = 2 * _circular_correlation(sums, profile) - _circular_correlation(counts, profile**2)
    return profile[(phase + int(np.argmax(gain))) % period]


@dataclass
class SeasonalConfig(DetectorConfig):
    period: int | None = None  # seasonal period in points for every channel; None: estimated per channel
    min_acf: float = 0.3  # an autocorrelation peak below this is "no clear period"
    median_window: int = 25  # rolling-median window for channels without a clear period

    def validate(self) -> None:
        super().validate()
        if self.period is not None:
            _check_at_least(self, 2, "period")
        _check_at_least(self, 1, "median_window")
        if not 0.0 < self.min_acf < 1.0:
            raise ConfigError(f"min_acf must be in (0, 1), got {self.min_acf}")


class SeasonalResidual(Detector):
    """Distance of each reading from its channel's seasonal profile: |x - level - profile[phase]|.

    Per channel, the training data is split by statsmodels' `seasonal_decompose` (additive, moving-
    average trend) with `period` or, when None, the period `estimate_period` finds. The profile is the
    mean detrended value at each phase of the period, and the level is the mean of the trend.

    Phase: row t of a scored series has phase (t + offset) mod period, with one offset per channel and
    series fitted to that series by least squares. A scored series must therefore hold a stable
    seasonal pattern; a phase jump inside it is seen as an anomaly until the end of the series, and a
    series shorter than a period aligns less reliably.

    Channels without a clear period (estimate None) fall back to |x - centred rolling median over
    `median_window` points|, which catches spikes and short bursts but only the edges of a level shift.
    """

    name = "seasonal"
    config_class = SeasonalConfig

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        from statsmodels.tsa.seasonal import seasonal_decompose  # imported here, as in estimate_period

        cfg = self.config
        if cfg.period is not None and 2 * cfg.period > len(x_train):
            raise ConfigError(
                f"seasonal: period={cfg.period} needs two periods ({2 * cfg.period} rows) of training data "
                f"but the training part has {len(x_train)} rows; give more data or a shorter period"
            )
        if cfg.period is None:
            periods = [estimate_period(column, cfg.min_acf) or 0 for column in x_train.T]  # 0: no period
        else:
            periods = [cfg.period] * x_train.shape[1]
        self.periods_ = np.array(periods, dtype=np.int64)
        self.levels_ = np.zeros(len(periods), dtype=np.float32)
        self.profiles_ = np.zeros((len(periods), max(periods)), dtype=np.float32)
        for c, period in enumerate(periods):
            if period:
                parts = seasonal_decompose(x_train[:, c].astype(np.float64), model="additive", period=period)
                self.levels_[c] = np.nanmean(parts.trend)
                self.profiles_[c, :period] = parts.seasonal[:period]

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        scores = np.empty(x.shape, dtype=np.float32)
        for c, period in enumerate(self.periods_):
            if period:
                y = x[:, c].astype(np.float64) - self.levels_[c]
                scores[:, c] = np.abs(y - _aligned_profile(self.profiles_[c, :period].astype(np.float64), y))
        flat = self.periods_ == 0
        if flat.any():
            scores[:, flat] = np.abs(x[:, flat] - _rolling(x[:, flat], self.config.median_window, "median"))
        return scores

    def _state(self) -> dict[str, torch.Tensor]:
        return {
            "periods": torch.from_numpy(self.periods_),
            "levels": torch.from_numpy(self.levels_),
            "profiles": torch.from_numpy(self.profiles_),
        }

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.periods_ = state["periods"].numpy()
        self.levels_ = state["levels"].numpy()
        self.profiles_ = state["profiles"].numpy()
