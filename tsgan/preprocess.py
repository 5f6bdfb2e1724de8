"""Scaling fitted on training data only, and the channels that cannot be scored.

The scaler is robust by default (median and inter-quartile range) because training data from the field
carries outliers, and a mean/std scaler lets one spike squeeze every normal value towards zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from tsgan.errors import ConfigError, TsganWarning

SCALERS = ("robust", "standard", "minmax")
TRANSFORM_ROWS = 65_536  # rows scaled at a time by `Scaler.transform`


def robust_stats(
    values: np.ndarray, fallback: float = 1.0, tail_floor: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column median and a robust sigma: IQR/1.349, or the standard deviation where the IQR is zero
    (a column that is mostly one value with rare changes), or `fallback` where both are zero. With
    `tail_floor`, the sigma is at least that share of the sigma its middle 98% gives ((q99 - q1) / 4.653,
    the same for normal data): a column that sits almost still around its median gets a sigma near zero
    from the IQR alone, and then any movement an enormous value."""
    values = np.asarray(values, dtype=np.float64)
    center = np.median(values, axis=0)
    q75, q25 = np.percentile(values, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    scale = np.where(scale > 0, scale, values.std(axis=0))
    if tail_floor is not None:
        q99, q1 = np.percentile(values, [99, 1], axis=0)
        scale = np.maximum(scale, tail_floor * (q99 - q1) / 4.653)
    # float32, like every array a detector saves, so a reloaded detector computes the same numbers.
    return center.astype(np.float32), np.where(scale > 0, scale, fallback).astype(np.float32)


@dataclass
class Scaler:
    """Per-channel affine scaling, fitted on training values only.

    Channels that are constant in the training data get `active_ = False`: they carry no information a
    model could learn from, so they are excluded from scoring (and the user is told).
    """

    method: str = "robust"
    clip: float = 10.0  # bound of model inputs in robust spreads (scores use the unclipped values)

    def fit(self, values: np.ndarray, channels: list[str]) -> Scaler:
        if self.method not in SCALERS:
            raise ConfigError(f"unknown scaler {self.method!r}: expected one of {', '.join(SCALERS)}")
        values = np.asarray(values, dtype=np.float64)
        std = values.std(axis=0)
        if self.method == "robust":
            center, scale = robust_stats(values, fallback=0.0)
        elif self.method == "standard":
            center, scale = values.mean(axis=0), std
        else:
            lo, hi = values.min(axis=0), values.max(axis=0)
            center, scale = (hi + lo) / 2, (hi - lo) / 2
        self.active_ = scale > 1e-12 * np.maximum(1.0, np.abs(center))
        constant = [c for c, a in zip(channels, self.active_, strict=True) if not a]
        if constant:
            warnings.warn(
                f"constant in the training data, excluded from scoring: {', '.join(constant)}",
                TsganWarning,
                stacklevel=2,
            )
        self.center_ = center.astype(np.float32)
        self.scale_ = np.where(self.active_, scale, 1.0).astype(np.float32)
        return self

    def rebased(self, values: np.ndarray) -> Scaler:
        """A copy re-fitted on `values` (rows of normal operation in another regime), keeping the active
        channels; a channel without spread in `values` keeps its training scale, whose units the model
        knows, instead of one that would blow its scores up."""
        fresh = Scaler(self.method, self.clip)
        with warnings.catch_warnings():  # constant channels here are handled below, not news to the user
            warnings.simplefilter("ignore", TsganWarning)
            fresh.fit(values, [str(i) for i in range(len(self.center_))])
        fresh.center_ = np.where(self.active_, fresh.center_, self.center_).astype(np.float32)
        fresh.scale_ = np.where(self.active_ & fresh.active_, fresh.scale_, self.scale_).astype(np.float32)
        fresh.active_ = self.active_
        return fresh

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled values of the active channels. Not clipped: a score must see how far a value really is
        (clipping at a few spreads made every point of a shifted regime look alike, see `clip_values`)."""
        active = np.flatnonzero(self.active_)
        center, scale = self.center_[active], self.scale_[active]
        scaled = np.empty((len(values), len(active)), dtype=np.float32)
        # In blocks of rows: the float64 intermediates of a million-row file would otherwise take a few
        # times its size at once.
        for first in range(0, len(values), TRANSFORM_ROWS):
            block = values[first : first + TRANSFORM_ROWS, active]
            scaled[first : first + TRANSFORM_ROWS] = (block - center) / scale
        return scaled

    def clip_values(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled values clipped to +-clip, for what a model learns from or takes as input, so one wild
        reading cannot blow up its fit or a network's activations."""
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"center": self.center_, "scale": self.scale_, "active": self.active_.astype(np.uint8)}

    @classmethod
    def from_state(cls, method: str, clip: float, state: dict[str, np.ndarray]) -> Scaler:
        scaler = cls(method=method, clip=clip)
        scaler.center_ = np.asarray(state["center"], dtype=np.float32)
        scaler.scale_ = np.asarray(state["scale"], dtype=np.float32)
        scaler.active_ = np.asarray(state["active"]).astype(bool)
        return scaler
