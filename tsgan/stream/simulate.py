"""Simulated micro-PMUs for files and live streams, with the generator's labelled events.

`simulate_pmu` writes `make_pmu` data as CSV or Parquet (timestamp, the channels, is_anomaly);
`simulated_feeds` makes the PMUs that `tsgan pmu-serve` streams; `truth` lists the labelled events with
the times at which they are (or were) sent, so that streamed detections can be scored against them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from tsgan.datasets import make_pmu
from tsgan.io import write_table_atomic
from tsgan.metrics import segments
from tsgan.series import Series
from tsgan.stream.server import Feed
from tsgan.stream.sources import format_time

EVENT_EVERY_SECONDS = 30.0  # default event density: one every 30 s of simulated data


def default_events(seconds: float) -> int:
    return max(1, int(seconds // EVENT_EVERY_SECONDS))


def simulate_pmu(
    path: str | Path,
    seconds: float = 600.0,
    *,
    rate: int = 120,
    seed: int = 0,
    n_events: int | None = None,
    station: str = "PMU1",
) -> Series:
    """Write `seconds` of one simulated PMU to `path` (.csv or .parquet); n_events=0 for normal data.

    Returns the Series, whose meta["anomalies"] lists the events with their channels."""
    n_events = default_events(seconds) if n_events is None else n_events
    series = make_pmu(seconds, rate=rate, events=n_events > 0, n_events=n_events, seed=seed, station=station)
    table = pl.DataFrame(
        {"timestamp": series.timestamps}
        | {c: series.values[:, i] for i, c in enumerate(series.channels)}
        | {"is_anomaly": series.labels}
    )
    write_table_atomic(table, path)
    return series


def simulated_feeds(
    n_pmus: int,
    seconds: float,
    rate: int,
    seed: int,
    n_events: int | None,
    fmt: str = "float",
    first_idcode: int = 1,
    same_feeder: bool = False,
) -> list[tuple[Feed, Series]]:
    """PMUs PMU1..PMUn (IDCODE first_idcode + i) to serve, each with its own seed (seed + i) and its own
    feeder, or all on PMU1's feeder with `same_feeder` (so that one model fits every PMU)."""
    n_events = default_events(seconds) if n_events is None else n_events
    out = []
    for i in range(n_pmus):
        feeder = "PMU1" if same_feeder else f"PMU{i + 1}"
        series = make_pmu(
            seconds, rate=rate, events=n_events > 0, n_events=n_events, seed=seed + i, station=feeder
        )
        series.meta["station"] = f"PMU{i + 1}"
        feed = Feed.from_table(f"PMU{i + 1}", first_idcode + i, series.channels, series.values, fmt)
        out.append((feed, series))
    return out


def truth(series: Series, idcode: int | None, time_ns: Callable[[int], int]) -> list[dict]:
    """The labelled events of `series` with the times of their rows (time_ns(row)), as ISO 8601 strings:
    {station, idcode, kind, start, end, channels}. Without meta["anomalies"], the runs of its labels."""
    station = series.meta.get("station") or Path(series.name).stem
    records = series.meta.get("anomalies")
    if records is None:
        labels = series.labels if series.labels is not None else np.zeros(len(series), dtype=np.int8)
        records = [{"kind": "labelled", "start": a, "end": b, "channels": []} for a, b in segments(labels)]
    return [
        {
            "station": station,
            "idcode": idcode,
            "kind": r["kind"],
            "start": format_time(time_ns(int(r["start"]))),
            "end": format_time(time_ns(int(r["end"]))),
            "channels": r["channels"],
        }
        for r in records
    ]
