"""Labelled synthetic anomalies: one mechanism that edits rows of a series and says what it changed.

An `AnomalyKind` is an edit of the rows it covers that returns the channels it changed; `inject` places
anomalies of several kinds in a series without overlap and returns point labels, channel labels and a
record of each (kind, start, end, channels). Three users share it: the synthetic industrial generator
(`tsgan.datasets.make_industrial`, kinds `INDUSTRIAL_ANOMALIES`), the micro-PMU generator (its own
power-quality kinds) and the auto detector's self-supervised validation (`inject_validation`, the
industrial kinds plus a contextual one), which needs anomalies with known answers in data it has no
labels for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tsgan.errors import ConfigError


@dataclass
class Context:
    """What an anomaly edit may use: the random generator, channel names and scales, the sampling rate."""

    rng: np.random.Generator
    channels: list[str]
    sigma: np.ndarray  # (C,) standard deviation of each clean channel: the unit of anomaly sizes
    rate: float  # rows per second

    def cols(self, *names: str) -> list[int]:
        """Column indices of the named channels."""
        return [self.channels.index(n) for n in names]

    def pick(self, most: int = 3) -> np.ndarray:
        """1 to `most` distinct random channels, sorted."""
        k = int(self.rng.integers(1, min(most, len(self.channels)) + 1))
        return np.sort(self.rng.choice(len(self.channels), size=k, replace=False))

    def signs(self, k: int) -> np.ndarray:
        """k random signs (+1 or -1)."""
        return self.rng.choice(np.array([-1.0, 1.0]), size=k)


@dataclass(frozen=True)
class AnomalyKind:
    """One kind of labelled anomaly.

    length: (shortest, longest) duration in the generator's unit (rows for industrial, seconds for PMU).
    apply: edits the rows it is given (a (L, C) view of the series) in place and returns the indices of the
    channels it changed, which become the channel labels.
    """

    length: tuple[float, float]
    apply: Callable[[np.ndarray, Context], list[int]]


def inject(
    values: np.ndarray, kinds: dict[str, AnomalyKind], n: int, ctx: Context, rows_per_unit: float
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Place `n` anomalies in `values` (edited in place) and return labels, channel labels and their list.

    The first 10% of rows stay clean; the rest is cut into n equal slots holding one anomaly each (at most
    a quarter of a slot long), so anomalies never overlap and cover at most 22.5% of the rows. Kinds are
    dealt in shuffled rounds, so every kind appears once n >= len(kinds).
    """
    rows, n_channels = values.shape
    labels = np.zeros(rows, dtype=np.int8)
    channel_labels = np.zeros((rows, n_channels), dtype=np.int8)
    records: list[dict] = []
    if n <= 0:
        return labels, channel_labels, records
    first = rows // 10
    slot = (rows - first) // n
    if slot < 8:
        raise ConfigError(f"{n} anomalies do not fit in {rows} rows: use fewer anomalies or more rows")
    names = list(kinds)
    order = [str(k) for _ in range(math.ceil(n / len(names))) for k in ctx.rng.permutation(names)][:n]
    for i, kind in enumerate(order):
        lo, hi = kinds[kind].length
        length = int(np.clip(round(ctx.rng.uniform(lo, hi) * rows_per_unit), 1, slot // 4))
        start = first + i * slot + int(ctx.rng.integers(0, slot - length + 1))
        end = start + length - 1
        touched = sorted(int(c) for c in kinds[kind].apply(values[start : end + 1], ctx))
        labels[start : end + 1] = 1
        channel_labels[start : end + 1, touched] = 1
        records.append(
            {"kind": kind, "start": start, "end": end, "channels": [ctx.channels[c] for c in touched]}
        )
    return labels, channel_labels, records


def _spike(x: np.ndarray, ctx: Context) -> list[int]:
    ch = ctx.pick()
    x[:, ch] += ctx.signs(len(ch)) * ctx.rng.uniform(5, 8, len(ch)) * ctx.sigma[ch]
    return list(ch)


def _level_shift(x: np.ndarray, ctx: Context) -> list[int]:
    ch = ctx.pick()
    x[:, ch] += ctx.signs(len(ch)) * ctx.rng.uniform(2, 4, len(ch)) * ctx.sigma[ch]
    return list(ch)


def _drift(x: np.ndarray, ctx: Context) -> list[int]:
    ch = ctx.pick()
    ramp = np.linspace(0.0, 1.0, len(x))[:, None]
    x[:, ch] += ramp * ctx.signs(len(ch)) * ctx.rng.uniform(3, 5, len(ch)) * ctx.sigma[ch]
    return list(ch)


def _variance_change(x: np.ndarray, ctx: Context) -> list[int]:
    ch = ctx.pick()
    x[:, ch] += ctx.rng.standard_normal((len(x), len(ch))) * ctx.rng.uniform(1.5, 3, len(ch)) * ctx.sigma[ch]
    return list(ch)


def _correlation_break(x: np.ndarray, ctx: Context) -> list[int]:
    """Mirror each channel about its mean over the window: same level and spread, opposite co-movement."""
    ch = ctx.pick()
    x[:, ch] = 2.0 * x[:, ch].mean(axis=0) - x[:, ch]
    return list(ch)


def _stuck_sensor(x: np.ndarray, ctx: Context) -> list[int]:
    ch = ctx.pick()
    x[:, ch] = x[0, ch]
    return list(ch)


INDUSTRIAL_ANOMALIES: dict[str, AnomalyKind] = {
    "spike": AnomalyKind((1, 3), _spike),
    "level_shift": AnomalyKind((20, 120), _level_shift),
    "drift": AnomalyKind((40, 200), _drift),
    "variance_change": AnomalyKind((20, 120), _variance_change),
    "correlation_break": AnomalyKind((40, 160), _correlation_break),
    "stuck_sensor": AnomalyKind((20, 120), _stuck_sensor),
}


def _contextual(x: np.ndarray, ctx: Context) -> list[int]:
    """Rotate the rows in time by half their length: every value is one the channel takes, in its usual
    range, but out of its place in the pattern (a phase break of a periodic signal, a swapped segment)."""
    ch = ctx.pick()
    x[:, ch] = np.roll(x[:, ch], len(x) // 2, axis=0)
    return list(ch)


# The catalogue the auto detector validates its members on: every industrial kind, plus a contextual
# break that only a detector of temporal patterns can see.
VALIDATION_ANOMALIES: dict[str, AnomalyKind] = INDUSTRIAL_ANOMALIES | {
    "contextual": AnomalyKind((20, 120), _contextual),
}


def inject_validation(
    values: np.ndarray, seed: int, kinds: dict[str, AnomalyKind] = VALIDATION_ANOMALIES, size: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """A copy of `values` (T, C) with one anomaly of each kind (as many as fit), their point labels (T,),
    channel labels (T, C) and records; sizes are the kinds' own, in units of `size` times each
    channel's standard deviation in `values`. The same values and seed give the same anomalies."""
    values = np.array(values, dtype=np.float64)
    sigma = values.std(axis=0)
    sigma = size * np.where(sigma > 0, sigma, 1.0)  # a flat channel gets edits of one scaled unit
    channels = [str(c) for c in range(values.shape[1])]
    ctx = Context(np.random.default_rng(seed), channels, sigma, 1.0)
    # Each anomaly needs a slot of at least 8 rows in the 90% of rows after the clean start.
    n = min(len(kinds), int(0.9 * len(values)) // 8)
    labels, channel_labels, records = inject(values, kinds, n, ctx, 1)
    return values.astype(np.float32), labels, channel_labels, records
