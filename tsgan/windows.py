"""Sliding windows as strided views, and folding per-window values back onto time points."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from tsgan.errors import ConfigError

FOLDS = ("mean", "median", "max")


def moving_mean(values: np.ndarray, width: int) -> np.ndarray:
    """The centred moving mean of `values` along time (axis 0) over `width` points, in their dtype; the
    ends repeat the first and last value, so a series keeps its length and its edges their level."""
    return uniform_filter1d(values, int(width), axis=0, mode="nearest")


def window_starts(n_points: int, window: int, stride: int) -> np.ndarray:
    """Start index of every window; a last window aligned to the end is added so no point is left out."""
    if stride < 1:
        raise ConfigError(f"stride must be >= 1, got {stride}")
    if n_points < window:
        raise ConfigError(f"a series of {n_points} points is shorter than one window of {window}")
    starts = np.arange(0, n_points - window + 1, stride)
    if starts[-1] != n_points - window:
        starts = np.append(starts, n_points - window)
    return starts


def covering_stride(stride: int, window: int) -> int:
    """The stride between scored windows: as asked, but at most the window, so that every point is
    covered by at least one scored window (a default stride longer than a short `--window` would leave
    points without a score)."""
    return min(stride, window)


def sliding_windows(values: torch.Tensor, window: int, stride: int = 1) -> torch.Tensor:
    """Windows (N, window, C) of a (T, C) tensor as a view sharing its memory (no copy per window).

    `Tensor.unfold` gives a strided view; the end-aligned extra window of `window_starts` is the one
    case that is gathered (a copy), and only when the stride does not land on the end.
    """
    starts = window_starts(values.shape[0], window, stride)
    view = values.unfold(0, window, stride).transpose(1, 2)  # (N, window, C), no copy
    if len(starts) > view.shape[0]:
        view = torch.cat([view, values[-window:].unsqueeze(0)])
    return view


def fold(window_values: np.ndarray, starts: np.ndarray, n_points: int, how: str = "mean") -> np.ndarray:
    """Map per-window, per-step values (N, window, ...) back to points (T, ...).

    A point covered by several windows gets the mean (MAD-GAN's choice), the median (TadGAN's, robust to
    one bad window) or the max of their values.
    """
    folded = WindowFold(starts, window_values.shape[1], n_points, how)
    folded.add(window_values)
    return folded.result()


def _gathered(window_values: np.ndarray, starts: np.ndarray, n_points: int, how: str) -> np.ndarray:
    """The median or max fold: the reduction of each point's covering values (`covering_table`)."""
    reduce = np.nanmedian if how == "median" else np.nanmax
    return reduce(covering_table(window_values, starts, n_points), axis=1).astype(np.float32)


def covering_table(window_values: np.ndarray, starts: np.ndarray, n_points: int) -> np.ndarray:
    """The values of the windows covering each point, side by side: (n_points, most windows covering a
    point, ...) from per-step values (N, window, ...) of the windows at `starts` (sorted), in window
    order, padded with NaN. Built by index arithmetic on the starts, so it needs no sort and only the
    table's own size in indices (a per-window value repeated over its steps can be a broadcast view)."""
    window = window_values.shape[1]
    points = np.arange(n_points)
    first = np.searchsorted(starts, points - window + 1)  # the first window that covers each point
    count = np.searchsorted(starts, points, side="right") - first
    rank = np.arange(count.max())
    index = np.minimum(first[:, None] + rank, len(starts) - 1)  # (T, k): the windows, clamped past the last
    step = np.clip(points[:, None] - starts[index], 0, window - 1)  # each point's step within them
    table = window_values[index, step].astype(np.result_type(window_values.dtype, np.float32), copy=False)
    table[rank >= count[:, None]] = np.nan
    return table


def spread(
    window_values: np.ndarray, starts: np.ndarray, window: int, n_points: int, how: str = "mean"
) -> np.ndarray:
    """Per-window values (N, ...) that hold for every step of their window, folded back to points (T, ...)
    as `fold(..., how)` would the same values repeated over the steps, without laying them out where it
    can: the mean from running sums, the max at stride 1 from a running max (O(T) memory and time each);
    the median (and the max at other strides) through `fold` on a broadcast view."""
    tail = window_values.shape[1:]
    if how == "max" and len(starts) == n_points - window + 1:
        # Every start at stride 1: the windows covering point t start at t - window + 1 ... t, so the
        # fold is a running max over the starts, each point's run ending at its own start.
        padded = np.concatenate([window_values, np.full((window - 1, *tail), -np.inf, window_values.dtype)])
        return maximum_filter1d(
            padded, window, axis=0, mode="constant", cval=-np.inf, origin=(window - 1) // 2
        )
    if how != "mean":
        return fold(
            np.broadcast_to(window_values[:, None], (len(starts), window, *tail)), starts, n_points, how
        )
    # Starts are distinct (`window_starts`), so plain indexed updates add each window exactly once.
    total = np.zeros((n_points + 1, *tail), dtype=np.float64)
    total[starts] += window_values  # a window's value enters at its start ...
    total[starts + window] -= window_values  # ... and leaves after its last step
    np.cumsum(total, axis=0, out=total)  # in place: a long series' float64 sums are its largest array
    total = total[:n_points]
    total /= coverage(starts, window, n_points, tail)
    return total.astype(np.float32)


class WindowFold:
    """`fold`, a block of windows at a time: `add` the per-step values (B, window, ...) of the next
    windows in order, then `result` gives the points (T, ...). The mean keeps only its float64 sums per
    point, so a long series' window outputs never exist all at once; the median and the max need every
    covering value of a point together, so their blocks are kept until `result`."""

    def __init__(self, starts: np.ndarray, window: int, n_points: int, how: str = "mean"):
        if how not in FOLDS:
            raise ConfigError(f"unknown fold {how!r}: expected one of {', '.join(FOLDS)}")
        self.starts, self.window, self.n_points, self.how = starts, window, n_points, how
        self.added = 0  # windows added so far: the next block starts at starts[added]
        self.total: np.ndarray | None = None  # the mean's sums per point
        self.blocks: list[np.ndarray] = []  # the median's or max's blocks

    def add(self, window_values: np.ndarray) -> None:
        starts = self.starts[self.added : self.added + len(window_values)]
        self.added += len(window_values)
        if self.how != "mean":
            self.blocks.append(window_values)
            return
        if self.total is None:
            self.total = np.zeros((self.n_points, *window_values.shape[2:]), dtype=np.float64)
        for step in range(window_values.shape[1]):  # one pass per step, no index per value
            self.total[starts + step] += window_values[:, step]  # starts are distinct: each added once

    def result(self) -> np.ndarray:
        if self.how != "mean":
            return _gathered(np.concatenate(self.blocks), self.starts, self.n_points, self.how)
        self.total /= coverage(self.starts, self.window, self.n_points, self.total.shape[1:])
        return self.total.astype(np.float32)


def coverage(starts: np.ndarray, window: int, n_points: int, tail: tuple = ()) -> np.ndarray:
    """How many windows cover each point, shaped (T, 1, ...) to divide (T, *tail) sums by."""
    count = np.zeros(n_points + 1, dtype=np.int64)
    count[starts] += 1
    count[starts + window] -= 1
    return np.cumsum(count)[:n_points].reshape(-1, *([1] * len(tail)))
