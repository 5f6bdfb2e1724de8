"""The one data object that travels through tsgan: values, channel names, timestamps and labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Series:
    """A multivariate time series.

    values: float32 array (T, C). channels: C names. timestamps: datetime64[ns] array (T,) or None.
    labels: 0/1 array (T,) or None, kept for evaluation only and never used for fitting.
    channel_labels: optional 0/1 array (T, C) saying which channels an anomaly touches (for root-cause
    metrics). name: where the series came from (a file path or dataset name), used in messages.
    """

    values: np.ndarray
    channels: list[str]
    timestamps: np.ndarray | None = None
    labels: np.ndarray | None = None
    channel_labels: np.ndarray | None = None
    name: str = ""
    time_col: str | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        if self.values.ndim == 1:
            self.values = self.values[:, None]
        if self.values.ndim != 2:
            raise ValueError(f"values must be (T, C), got shape {self.values.shape}")
        self.channels = [str(c) for c in self.channels]
        if len(self.channels) != self.values.shape[1]:
            raise ValueError(f"{len(self.channels)} channel names for {self.values.shape[1]} columns")

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def n_channels(self) -> int:
        return self.values.shape[1]

    def select(self, channels: list[str]) -> Series:
        """The same series restricted to `channels`, in that order."""
        idx = [self.channels.index(c) for c in channels]
        return Series(
            values=self.values[:, idx],
            channels=list(channels),
            timestamps=self.timestamps,
            labels=self.labels,
            channel_labels=None if self.channel_labels is None else self.channel_labels[:, idx],
            name=self.name,
            time_col=self.time_col,
            meta=dict(self.meta),
        )

    def slice(self, start: int, stop: int) -> Series:
        """Rows start..stop-1 as a new Series (views, no copy of the values)."""

        def cut(a):
            return None if a is None else a[start:stop]

        return Series(
            values=self.values[start:stop],
            channels=self.channels,
            timestamps=cut(self.timestamps),
            labels=cut(self.labels),
            channel_labels=cut(self.channel_labels),
            name=self.name,
            time_col=self.time_col,
            meta=dict(self.meta),
        )


def as_series(data, channels: list[str] | None = None, name: str = "") -> Series:
    """Accept a Series, a pandas/polars DataFrame of numeric columns, or an array (T, C)."""
    if isinstance(data, Series):
        return data
    if hasattr(data, "to_numpy") and hasattr(data, "columns"):
        cols = [str(c) for c in data.columns]
        return Series(values=data.to_numpy().astype(np.float32), channels=cols, name=name)
    values = np.asarray(data, dtype=np.float32)
    if values.ndim == 1:
        values = values[:, None]
    names = channels or [f"ch{i}" for i in range(values.shape[1])]
    return Series(values=values, channels=names, name=name)
