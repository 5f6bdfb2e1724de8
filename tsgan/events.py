"""From flagged points to anomaly intervals: when, how strong, and which channels are responsible.

Runs of flagged rows separated by at most `max_gap` unflagged rows are merged into one interval;
intervals shorter than `min_length` rows are dropped. Run finding is vectorised with numpy, so long
series cost no per-row Python work; only the (few) intervals are looped over.

Channel attribution: `channel_contrib` (T, C) is each channel's score as its excess over its own
threshold (the detectors' channel scores), so that > 0 means "above its own threshold". Inside an
interval, channels are ranked by their mean contribution over the interval's flagged rows (the same
order as the sum used for root-cause ranking by Garg et al., but on the scale of one row).
A sum or mean is steadier than the peak, which one noisy row decides.
Listed are the channels whose contribution exceeds 0 on at least one flagged row; if none does, the
top-ranked channel alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from tsgan.errors import ConfigError, InputError


@dataclass
class Interval:
    """One anomaly: rows start..end (both inclusive) and the channels that drove it, ranked."""

    start: int
    end: int
    peak_score: float
    channels: list[str]
    start_time: str | None = None
    end_time: str | None = None
    channel_scores: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (ints, floats, strings, lists)."""
        return asdict(self)


def _run_bounds(flags: np.ndarray, max_gap: int, min_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive (starts, ends) of the merged flagged runs, as int arrays."""
    if isinstance(max_gap, bool) or int(max_gap) != max_gap or max_gap < 0:
        raise ConfigError(f"max_gap={max_gap!r} must be an integer >= 0 (unflagged rows bridged); use e.g. 0")
    if isinstance(min_length, bool) or int(min_length) != min_length or min_length < 1:
        raise ConfigError(f"min_length={min_length!r} must be an integer >= 1 (rows); use e.g. 1")
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim != 1:
        raise InputError(f"flags must be a 1-D boolean array (T,), got shape {flags.shape}")
    edges = np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    if starts.size == 0:
        return starts, ends
    split = starts[1:] - ends[:-1] - 1 > max_gap  # gap after run i is too long to bridge
    starts = starts[np.concatenate([[True], split])]
    ends = ends[np.concatenate([split, [True]])]
    keep = ends - starts + 1 >= min_length
    return starts[keep], ends[keep]


def merge_runs(flags: np.ndarray, max_gap: int = 0, min_length: int = 1) -> list[tuple[int, int]]:
    """Inclusive (start, end) row ranges of flagged runs, bridging gaps of <= max_gap unflagged rows and
    dropping merged ranges shorter than min_length rows (gap rows count in the length)."""
    starts, ends = _run_bounds(flags, max_gap, min_length)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _iso(timestamps: np.ndarray) -> list[str | None]:
    """ISO 8601 strings at one common precision (seconds unless finer parts are present); NaT -> None."""
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    ns = ts.view(np.int64)[~np.isnat(ts)]
    steps = {"s": 10**9, "ms": 10**6, "us": 10**3}
    unit = next((u for u, step in steps.items() if np.all(ns % step == 0)), "ns")
    return [None if s == "NaT" else s for s in np.datetime_as_string(ts, unit=unit).tolist()]


def find_intervals(
    flags: np.ndarray,
    point_score: np.ndarray,
    channel_contrib: np.ndarray,
    channels: list[str],
    timestamps: np.ndarray | None = None,
    min_length: int = 1,
    max_gap: int = 0,
) -> list[Interval]:
    """Group flagged rows into `Interval`s with peak score, ranked channels and ISO times.

    flags (T,) bool; point_score (T,); channel_contrib (T, C), > 0 above threshold; channels: C names;
    timestamps: datetime64 array (T,) or None. peak_score and channel scores are taken over the flagged
    rows of each interval (bridged gap rows do not count).
    """
    flags = np.asarray(flags, dtype=bool)
    point_score = np.asarray(point_score, dtype=np.float64)
    contrib = np.asarray(channel_contrib)  # no float64 copy of the whole (T, C): only flagged rows are read
    n_rows = flags.shape[0] if flags.ndim == 1 else -1
    if point_score.shape != (n_rows,) or contrib.ndim != 2 or contrib.shape[0] != n_rows:
        raise InputError(
            f"flags {flags.shape}, point_score {point_score.shape} and channel_contrib {contrib.shape} "
            "must be shaped (T,), (T,) and (T, C) for the same T"
        )
    if len(channels) != contrib.shape[1]:
        raise InputError(f"{len(channels)} channel names for {contrib.shape[1]} channel_contrib columns")
    if timestamps is not None:
        timestamps = np.asarray(timestamps)
        if timestamps.shape != (n_rows,):
            raise InputError(f"{len(timestamps)} timestamps for {n_rows} rows; pass one per row or None")

    starts, ends = _run_bounds(flags, max_gap, min_length)
    if starts.size == 0:
        return []
    # Flagged rows that fall inside kept intervals, in order; `first` is where each interval's rows begin.
    flagged = np.flatnonzero(flags)
    owner = np.searchsorted(starts, flagged, side="right") - 1
    rows = flagged[(owner >= 0) & (flagged <= ends[np.maximum(owner, 0)])]
    first = np.searchsorted(rows, starts)
    counts = np.diff(np.append(first, rows.size))

    peaks = np.fmax.reduceat(point_score[rows], first)
    sub = contrib[rows].astype(np.float64)
    means = np.add.reduceat(sub, first, axis=0) / counts[:, None]
    exceeded = np.maximum.reduceat(sub, first, axis=0) > 0.0
    order = np.argsort(-means, axis=1, kind="stable")

    times = _iso(np.concatenate([timestamps[starts], timestamps[ends]])) if timestamps is not None else None
    out = []
    for i, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        ranked = order[i]
        listed = ranked[exceeded[i, ranked]] if exceeded[i].any() else ranked[:1]
        out.append(
            Interval(
                start=start,
                end=end,
                peak_score=float(peaks[i]),
                channels=[channels[c] for c in listed],
                start_time=times[i] if times else None,
                end_time=times[starts.size + i] if times else None,
                channel_scores=means[i, listed].tolist(),
            )
        )
    return out
