"""The detector contract every tsgan detector follows (scikit-learn / PyOD conventions).

    det = MADGAN(window=30, objective="mim")
    det.fit(train)            # learns the model, then calibrates on a held-out tail of `train`
    s = det.score(test)       # s.point (T,), s.channel (T, C): higher = more anomalous
    r = det.detect(test)      # r.flags, r.channel_flags, r.intervals, r.thresholds

A subclass implements `_fit` (train its model on scaled values, clipped to +-clip) and `_channel_scores`
(raw per-point, per-channel anomaly scores of scaled values that are not clipped, so that a value far
outside the training range scores as far as it is); everything else is shared: scaling fitted on
training data only, the validation split, score normalisation, per-channel thresholds, intervals,
channel checks and saving.

Scores are reported as the excess over the threshold in force for that channel at that point, in units
of that channel's robust spread on validation data. The point score is the largest channel score (a
point is flagged exactly when at least one channel is) or, with `point_share`, the mean of that share of
the most anomalous channels; channels are flagged where they are over their threshold at flagged points.
`max_flagged` caps the share of a series that is flagged, and `series_floor` asks a flagged point to stand
out of the series' own bulk of scores: each raises every threshold of that series by one offset.
The threshold is fixed (pot, quantile, ksigma: calibrated on validation scores) or, with "drift", moves
along the scored series: the median of the channel's `depth` previous scores plus an offset calibrated on
validation, so a series that sits in another regime than the training data is judged against its own
recent level, online (each point only against the past).

A series can also bring its own reference: with `reference_rows` = N, the first N rows of every scored
series are taken as normal operation (the user vouches for them, as SKAB's protocol does for the start of
each run), and the scaling, score normalisation and thresholds are fitted again on them before the series
is scored; the model itself stays as trained. It answers a restart in a new regime, which a fixed
threshold flags whole and a moving one absorbs along with long anomalies. Metrics skip those rows.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import numbers
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from tsgan.errors import ConfigError, InputError, TsganWarning
from tsgan.events import Interval, find_intervals
from tsgan.preprocess import Scaler, robust_stats
from tsgan.series import Series, as_series
from tsgan.thresholds import check_method, drift_baseline, fit_thresholds


@dataclass
class DetectorConfig:
    """Parameters every detector shares. Subclasses add their own fields."""

    val_fraction: float = 0.2  # tail of the training data held out to calibrate scores and thresholds
    scaler: str = "robust"
    clip: float = 10.0  # training values and network inputs are clipped to +-clip robust spreads
    threshold: str = "pot"  # pot | quantile | ksigma (fixed) | drift (follows the series), per channel
    q: float = 1e-3  # POT risk level
    level: float = 0.98  # POT initial quantile
    quantile: float = 0.995  # for threshold="quantile"
    depth: int = 200  # for threshold="drift": previous scores whose median the threshold sits above
    min_interval: int = 1  # shortest interval reported, in points
    max_gap: int = 0  # unflagged points allowed inside one interval
    reference_rows: int = 0  # > 0: each scored series opens with this many normal rows to recalibrate on
    # At most this share of a scored series is flagged: where more would be, the series' thresholds rise
    # together until only that share is (anomalies are the minority of any series; a larger share means
    # the series sits in another regime than the training data). None: no cap.
    max_flagged: float | None = None
    # A flagged point stands at least this many robust spreads above the median point score of its own
    # series, the spread measured on the points below the median (anomalies, a minority, cannot widen
    # it): where the validation thresholds sit lower, as on a series noisier than the validation tail,
    # the series' thresholds rise together to it. None: the validation thresholds alone.
    series_floor: float | None = None
    # The point score: the mean excess of this share of the channels, the most anomalous ones at that
    # point (an anomaly that moves many channels a little ranks above one channel's noise); None: the
    # largest channel excess alone, so a point is flagged exactly when one channel is.
    point_share: float | None = None
    # PyOD's meaning: the share of training rows predict() calls anomalous (threshold_ is that quantile
    # of the training scores); None: predict() follows tsgan's own per-channel thresholds.
    contamination: float | None = None
    seed: int = 0
    device: str = "auto"

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), f.type)
        if not 0.05 <= self.val_fraction <= 0.5:
            raise ConfigError(f"val_fraction must be in [0.05, 0.5], got {self.val_fraction}")
        if self.max_flagged is not None and not 0.0 < self.max_flagged < 1.0:
            raise ConfigError(f"max_flagged must be in (0, 1) or None (no cap), got {self.max_flagged}")
        if self.series_floor is not None and not self.series_floor >= 0.0:
            raise ConfigError(f"series_floor must be >= 0 or None (no floor), got {self.series_floor}")
        if self.point_share is not None and not 0.0 < self.point_share <= 1.0:
            raise ConfigError(
                f"point_share must be in (0, 1] or None (the largest channel), got {self.point_share}"
            )
        if self.contamination is not None and not 0.0 < self.contamination <= 0.5:
            raise ConfigError(f"contamination must be in (0, 0.5] or None, got {self.contamination}")
        if self.reference_rows < 0:
            raise ConfigError(f"reference_rows must be >= 0 (0: no reference), got {self.reference_rows}")
        # Checked here, not after training: a bad threshold setting should not cost a training run.
        check_method(self.threshold, self.q, self.level, self.quantile, depth=self.depth)
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for but no CUDA device is available: use --device cpu")


# What a value may be, per type named in a config's annotations (they are strings: `from __future__
# import annotations`). Numbers from numpy count; a bool is not a number here, though Python says it is.
_TYPE_CHECKS = {
    "int": lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, (bool, np.bool_)),
    "str": lambda v: isinstance(v, str),
    "None": lambda v: v is None,
    "list[int]": lambda v: isinstance(v, (list, tuple)) and all(_TYPE_CHECKS["int"](x) for x in v),
    "list[float]": lambda v: isinstance(v, (list, tuple)) and all(_TYPE_CHECKS["float"](x) for x in v),
    # a comma-separated string of names is a list too (what --param members=a,b gives)
    "list[str]": lambda v: (
        isinstance(v, str) or isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)
    ),
}


def _check_type(name: str, value, annotation: str) -> None:
    """A ConfigError naming the parameter when `value` is not of its annotated type (e.g. k=abc)."""
    kinds = [kind.strip() for kind in str(annotation).split("|")]
    if not any(_TYPE_CHECKS[kind](value) for kind in kinds):
        expected = " or ".join("true/false" if kind == "bool" else kind for kind in kinds)
        raise ConfigError(f"{name}={value!r}: expected {expected}, found {type(value).__name__}")


@dataclass
class Scores:
    """Per-point and per-channel scores (excess over threshold; > 0 means flagged)."""

    point: np.ndarray  # (T,)
    channel: np.ndarray  # (T, C); channels excluded from scoring hold -inf
    channels: list[str]
    timestamps: np.ndarray | None = None
    threshold_offset: float = 0.0  # how far this series' thresholds rose (max_flagged, series_floor)


@dataclass
class Detection:
    flags: np.ndarray  # (T,) bool
    channel_flags: np.ndarray  # (T, C) bool
    intervals: list[Interval]
    thresholds: np.ndarray  # (C,) fixed thresholds in normalised score units; NaN where they move (drift)
    scores: Scores
    reference_rows: int = 0  # leading rows taken as normal to recalibrate on; metrics do not judge them


class Detector:
    """Base class: subclasses set `name`, `config_class`, and implement `_fit` and `_channel_scores`."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[DetectorConfig]] = DetectorConfig
    uses_labels: ClassVar[bool] = False  # semi-supervised detectors learn from training labels
    # What a shared command-line option that the detector lacks (say --window) maps to instead, if anything.
    instead: ClassVar[dict[str, str]] = {}
    # The score normalisation's sigma is at least this share of its tails' (`robust_stats`); None: as
    # the IQR gives it. A detector's own scores keep their IQR's sigma, however still a channel sits.
    score_tail_floor: ClassVar[float | None] = None

    def __init__(self, **params):
        self.config = self._make_config(params)

    def _make_config(self, params: dict) -> DetectorConfig:
        fields = {f.name for f in dataclasses.fields(self.config_class)}
        unknown = sorted(set(params) - fields)
        if unknown:
            hints = "".join(f" ({self.instead[k]})" for k in unknown if k in self.instead)
            raise ConfigError(
                f"{self.name or type(self).__name__} has no parameter {', '.join(unknown)}{hints}; "
                f"valid: {', '.join(sorted(fields))}"
            )
        config = self.config_class(**params)
        config.validate()
        return config

    # --- what subclasses provide -------------------------------------------------------------------

    def min_length(self) -> int:
        """Fewest points the detector can score (a window for windowed detectors)."""
        return 1

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        raise NotImplementedError

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        """Raw anomaly scores (T, C_active) of scaled values x (T, C_active); higher = more anomalous."""
        raise NotImplementedError

    def _block_scores(self, blocks: np.ndarray) -> np.ndarray:
        """Raw scores (N, L, C_active) of N blocks of scaled values (N, L, C_active), each scored as if
        alone: how a stream scores its stations' latest rows. Detectors that can score many blocks in
        one computation (the windowed kNN and PCA) do so; the others score them one by one."""
        return np.stack([self._channel_scores(block, False) for block in blocks])

    def _calibrate(self, x_val: np.ndarray, verbose: bool) -> np.ndarray:
        """Learn whatever the scores need from validation data; return the raw validation scores."""
        return self._channel_scores(x_val, verbose)

    def _state(self) -> dict[str, torch.Tensor]:
        """Learned tensors to save (network weights and fitted arrays)."""
        return {}

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Rebuild the learned model from `_state()` output; the shared state is restored already."""

    def _info(self) -> dict:
        """What the fit decided that is not a tensor (JSON-serialisable), saved in the model's header."""
        return {}

    def _load_info(self, info: dict) -> None:
        """Restore `_info()` output; called before `_load_state`."""

    # --- the contract ------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        if self.config.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.config.device)

    def fit(self, train, y=None, verbose: bool = False) -> Detector:
        """Fit on normal (or mostly normal) data. Labels are ignored, except by detectors with
        `uses_labels` (ESAD), which learn from the labels of the training rows only. `y` is accepted and
        ignored, as in PyOD, so that scikit-learn's Pipeline can call fit(X, y)."""
        series = as_series(train)
        cfg = self.config
        n_val = int(len(series) * cfg.val_fraction)
        need = self.min_length()
        if len(series) - n_val < need or n_val < need:
            raise InputError(
                f"{series.name or 'training data'}: {len(series)} rows are too few to fit on "
                f"{len(series) - n_val} rows and calibrate on {n_val} (each part needs at least {need}); "
                "give more training data or a smaller --window"
            )
        self.channels_ = list(series.channels)
        self.scaler_ = Scaler(cfg.scaler, cfg.clip).fit(series.values[:-n_val], self.channels_)
        if not self.scaler_.active_.any():
            raise InputError(f"{series.name or 'training data'}: every channel is constant; nothing to learn")
        x_train = self.scaler_.clip_values(self.scaler_.transform(series.values[:-n_val]))
        # Only a semi-supervised detector sees labels, and only those of the rows it trains on.
        has_labels = self.uses_labels and series.labels is not None
        self._train_labels = series.labels[:-n_val] if has_labels else None
        _seed_everything(cfg.seed)
        self._fit(x_train, verbose)
        self._calibrate_thresholds(self.scaler_.transform(series.values[-n_val:]), verbose)
        self._train_series = series  # a reference, for PyOD's decision_scores_ (computed when asked)
        self.__dict__.pop("decision_scores_", None)
        if cfg.contamination is not None:
            self.contamination_threshold_ = float(np.quantile(self.decision_scores_, 1 - cfg.contamination))
        return self

    def _calibrate_thresholds(self, x_val: np.ndarray, verbose: bool) -> None:
        """Score normalisation and thresholds from scaled normal values (the validation split, or a
        scored series' reference rows)."""
        self._calibrate_on_scores(self._calibrate(x_val, verbose))

    def _calibrate_on_scores(self, raw_val: np.ndarray) -> None:
        """Score normalisation and thresholds from the raw scores (T, C_active) of normal values."""
        cfg = self.config
        self.score_center_, self.score_scale_ = robust_stats(raw_val, tail_floor=self.score_tail_floor)
        val = self._normalise(raw_val)
        # Fixed methods: the thresholds. Drift: each channel's offset above its moving median.
        self.thresholds_ = fit_thresholds(
            val, cfg.threshold, q=cfg.q, level=cfg.level, quantile=cfg.quantile, depth=cfg.depth
        ).astype(np.float32)
        # A scored series' first moving medians reach back into the end of validation, so its first
        # points are judged against the training regime, not against nothing.
        self.score_history_ = val[-cfg.depth :]

    def normalised_scores(self, data, tail: int | None = None) -> np.ndarray:
        """Channel scores (T, active channels) before any threshold, in each channel's validation units
        (0 at its validation median, 1 per robust spread): what a stream's thresholds are fitted on.
        With `tail`, only the last `tail` rows are scored (at least one window)."""
        series = self._scorable(data)
        values = series.values[-max(tail, self.min_length()) :] if tail is not None else series.values
        return self._normalise(self._channel_scores(self.scaler_.transform(values), False))

    def score(self, data, verbose: bool = False) -> Scores:
        series = self._scorable(data)
        return self._for_series(series, verbose)._score_series(series, verbose)

    def _scorable(self, data) -> Series:
        self._check_fitted()
        series = self._check_channels(as_series(data))
        need = max(self.min_length(), self.config.reference_rows)
        if len(series) < need:
            what = (
                f"the {self.config.reference_rows} reference rows (reference_rows)"
                if self.config.reference_rows > self.min_length()
                else f"one window of {self.min_length()}"
            )
            raise InputError(
                f"{series.name or 'data'}: {len(series)} rows is shorter than {what}; give a longer series"
            )
        return series

    def _for_series(self, series: Series, verbose: bool) -> Detector:
        """This detector, or with `reference_rows` a copy recalibrated on the series' first rows: its
        scaler re-centred and re-scaled on them, then its score normalisation and thresholds. The
        networks are shared, not copied: recalibration never changes them."""
        n = self.config.reference_rows
        if not n:
            return self
        if n < self.min_length():
            raise ConfigError(
                f"reference_rows={n} is shorter than one window of {self.min_length()}; "
                f"give reference_rows >= {self.min_length()}"
            )
        model = copy.copy(self)
        model.scaler_ = self.scaler_.rebased(series.values[:n])
        model._calibrate_thresholds(model.scaler_.transform(series.values[:n]), verbose)
        return model

    def _score_series(self, series: Series, verbose: bool) -> Scores:
        raw = self._channel_scores(self.scaler_.transform(series.values), verbose)
        excess = self._excess(self._normalise(raw))
        point = self._series_point(excess)
        offset = np.float32(self._series_offset(point))
        channel = np.full((len(series), len(self.channels_)), -np.inf, dtype=np.float32)
        channel[:, self.scaler_.active_] = excess - offset
        return Scores(point - offset, channel, self.channels_, series.timestamps, float(offset))

    def _point(self, excess: np.ndarray) -> np.ndarray:
        """Point scores (T,) of channel excesses (T, C_active): the largest, or with `point_share` the
        mean of that share of the channels (at least one), the largest at each point."""
        if self.config.point_share is None:
            return excess.max(axis=1)
        top = max(1, int(np.ceil(self.config.point_share * excess.shape[1])))
        return np.partition(excess, excess.shape[1] - top, axis=1)[:, -top:].mean(axis=1)

    def _row_points(self, raw: np.ndarray) -> np.ndarray:
        """Point scores (T,) of raw channel scores (T, C_active), each row judged alone, as a stream does."""
        return self._point(self._excess(self._normalise(raw)))

    def _series_point(self, excess: np.ndarray) -> np.ndarray:
        """Point scores of a whole scored series, where a detector may look along time (the auto
        detector's scan over time scales); a stream's rows are judged by `_point` alone."""
        return self._point(excess)

    def _series_offset(self, point: np.ndarray) -> float:
        """How far every threshold rises for this series (0: not at all): to the point score's
        (1 - max_flagged) quantile where more than that share would be flagged, and to the series floor
        (`series_floor` spreads above the median), whichever is higher."""
        cfg = self.config
        offset = 0.0
        if cfg.max_flagged is not None and np.mean(point > 0) > cfg.max_flagged:
            offset = float(np.quantile(point, 1 - cfg.max_flagged))
        if cfg.series_floor is not None:
            quartile, median = np.quantile(point, [0.25, 0.5])
            # (median - lower quartile) / 0.6745 is the standard deviation, were the lower half normal
            offset = max(offset, float(median + cfg.series_floor * (median - quartile) / 0.6745))
        return offset

    def detect(self, data, verbose: bool = False) -> Detection:
        series = self._scorable(data)
        model = self._for_series(series, verbose)
        scores = model._score_series(series, verbose)
        flags = scores.point > 0
        # A channel is flagged where it is over its threshold at a flagged point (with point_share a
        # channel may pass its threshold where the point does not).
        channel_flags = (scores.channel > 0) & flags[:, None]
        intervals = find_intervals(
            flags,
            scores.point,
            scores.channel,
            scores.channels,
            timestamps=scores.timestamps,
            min_length=self.config.min_interval,
            max_gap=self.config.max_gap,
        )
        thresholds = np.full(len(self.channels_), np.nan, dtype=np.float32)
        if not self._thresholds_move():
            thresholds[self.scaler_.active_] = model.thresholds_ + scores.threshold_offset
        return Detection(flags, channel_flags, intervals, thresholds, scores, self.config.reference_rows)

    def describe(self) -> str:
        """What the fit chose, for people (the auto detector's members); empty when there is nothing."""
        return ""

    # --- the PyOD / scikit-learn face --------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict:
        """scikit-learn: the parameters, as given to __init__."""
        return {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}

    def set_params(self, **params) -> Detector:
        """scikit-learn: change parameters (checked like __init__'s); a fitted model keeps its fit."""
        self.config = self._make_config(self.get_params() | params)
        return self

    def __sklearn_tags__(self):
        """scikit-learn >= 1.6 asks every estimator in a Pipeline for its tags: an outlier detector that
        needs no target and checks its own input."""
        from sklearn.utils import Tags, TargetTags  # imported here: only scikit-learn code asks

        return Tags(
            estimator_type="outlier_detector", target_tags=TargetTags(required=False), no_validation=True
        )

    def decision_function(self, X) -> np.ndarray:
        """PyOD: the anomaly score of each row of X, higher = more anomalous (`score(X).point`)."""
        return self.score(X).point

    def predict(self, X) -> np.ndarray:
        """PyOD: 1 for the rows of X that are anomalous, 0 for the others (scores above `threshold_`)."""
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    @functools.cached_property
    def decision_scores_(self) -> np.ndarray:
        """PyOD: the anomaly scores of the training rows (scored on first use)."""
        self._check_fitted()
        if getattr(self, "_train_series", None) is None:
            raise ConfigError(
                f"this {self.name} model was loaded, not fitted here: its training scores are not kept; "
                "score the training data with decision_function()"
            )
        return self.decision_function(self._train_series)

    @property
    def threshold_(self) -> float:
        """PyOD: the score above which a row is anomalous: the training scores' 1 - contamination
        quantile when `contamination` is set, else 0 (scores are the excess over tsgan's thresholds)."""
        self._check_fitted()
        return getattr(self, "contamination_threshold_", 0.0)

    @property
    def labels_(self) -> np.ndarray:
        """PyOD: 1 for the training rows that are anomalous, 0 for the others."""
        return (self.decision_scores_ > self.threshold_).astype(np.int64)

    def save(self, path) -> None:
        from tsgan.artifacts import save_detector

        save_detector(self, path)

    # --- shared helpers ----------------------------------------------------------------------------

    def _normalise(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.score_center_) / self.score_scale_).astype(np.float32)

    def _thresholds_move(self) -> bool:
        """Whether the threshold in force changes along a scored series (then Detection.thresholds is NaN)."""
        return self.config.threshold == "drift"

    def _excess(self, normalised: np.ndarray) -> np.ndarray:
        """Normalised channel scores (T, C_active) minus the threshold in force at each point."""
        if self.config.threshold != "drift":
            return normalised - self.thresholds_
        # Normalised validation scores have median 0: the floor of the baseline.
        baseline = drift_baseline(normalised, self.config.depth, floor=0.0, history=self.score_history_)
        return (normalised - (baseline + self.thresholds_)).astype(np.float32)

    def _check_fitted(self) -> None:
        if not hasattr(self, "thresholds_"):
            raise ConfigError(f"this {self.name} detector is not fitted yet: call fit() or load a model")

    def _check_channels(self, series: Series) -> Series:
        """The series restricted to the fitted channels in fitted order; missing ones are an error."""
        if series.channels == self.channels_:
            return series
        missing = [c for c in self.channels_ if c not in series.channels]
        extra = [c for c in series.channels if c not in self.channels_]
        where = series.name or "data"
        if missing:
            raise InputError(
                f"{where}: channels differ from the fitted ones; missing: {', '.join(missing)}"
                + (f"; extra: {', '.join(extra)}" if extra else "")
                + "; give data with the channels the model was fitted on"
            )
        if extra:
            warnings.warn(
                f"{where}: ignoring channels the model was not fitted on: {', '.join(extra)}",
                TsganWarning,
                stacklevel=3,
            )
        return series.select(self.channels_)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
