"""The streaming service: sources in threads, one online detector, events out as JSON lines.

Each source runs in its own thread and hands its batches over a queue; the main thread feeds them to the
`OnlineDetector`, scores the stations that are due (all together, in rounds at most every 10 ms so that
PMUs reporting at the same instants share them), and writes every finished event as one JSON line,
flushed at once. It stops when every source has ended, after `duration` seconds, or on SIGINT
or SIGTERM; then it scores what is pending, closes the open events, writes them, and closes the optional
Parquet log of every score. Nothing that was detected is left unwritten.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tsgan.errors import TsganError
from tsgan.stream.online import OnlineDetector, StreamEvent
from tsgan.stream.sources import Source, Station


class EventLines:
    """Events as JSON lines on standard output or appended to a file, each flushed as it is written.

    `latencies_ms` holds, per event, the time from the row that closed it to its line being written."""

    def __init__(self, path: Path | None = None):
        self._out: TextIO = sys.stdout if path is None else open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._own = path is not None
        self.latencies_ms: list[float] = []

    def write(self, event: StreamEvent) -> None:
        self._out.write(json.dumps(event.to_dict()) + "\n")
        self._out.flush()
        if event.closed_by is not None:
            self.latencies_ms.append((time.time_ns() - event.closed_by) / 1e6)

    def close(self) -> None:
        if self._own:
            self._out.close()


class ScoreLog:
    """Every scored row (station, IDCODE, timestamp, score, flagged, score_<channel>) to a Parquet file.

    Scores are excesses over the thresholds of the time (> 0: flagged). Rows are written in row groups as
    they come, to a temporary file beside `path` that replaces it on `close`, so a crash never leaves a
    half-written file under the final name."""

    def __init__(self, path: Path, channels: list[str], rows_per_group: int = 50_000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f"{self.path.name}.tmp-{secrets.token_hex(4)}")
        self._channels = channels
        fields = [
            ("station", pa.string()),
            ("idcode", pa.int32()),
            ("timestamp", pa.timestamp("ns")),
            ("score", pa.float32()),
            ("flagged", pa.bool_()),
        ] + [(f"score_{c}", pa.float32()) for c in channels]
        self._schema = pa.schema(fields)
        self._writer = pq.ParquetWriter(self._tmp, self._schema)
        self._parts: list[tuple[Station, np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending = 0
        self._rows_per_group = rows_per_group

    def __call__(self, station: Station, times: np.ndarray, excess: np.ndarray, flags: np.ndarray) -> None:
        self._parts.append((station, times, excess, flags.any(axis=1)))
        self._pending += len(times)
        if self._pending >= self._rows_per_group:
            self._flush()

    def _flush(self) -> None:
        if not self._parts:
            return
        n = [len(p[1]) for p in self._parts]
        excess = np.concatenate([p[2] for p in self._parts]).astype(np.float32)
        columns = [
            pa.array(np.repeat([p[0].name for p in self._parts], n)),
            pa.array(np.repeat([p[0].idcode for p in self._parts], n), pa.int32()),
            pa.array(np.concatenate([p[1] for p in self._parts]), pa.timestamp("ns")),
            pa.array(excess.max(axis=1)),
            pa.array(np.concatenate([p[3] for p in self._parts])),
        ] + [pa.array(excess[:, i]) for i in range(len(self._channels))]
        self._writer.write_table(pa.Table.from_arrays(columns, schema=self._schema))
        self._parts, self._pending = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        os.replace(self._tmp, self.path)


def fan_out(*callbacks: Callable | None) -> Callable | None:
    """One callback that calls each of `callbacks` (the Nones left out) with the same arguments; None if
    none is left. Lets a score or an event go to several outputs (log, page, lines) at once."""
    chosen = [c for c in callbacks if c is not None]
    if len(chosen) <= 1:
        return chosen[0] if chosen else None

    def call_each(*args) -> None:
        for callback in chosen:
            callback(*args)

    return call_each


@contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGINT and SIGTERM set `stop` (in the main thread; elsewhere signals are left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_ENDED = object()
ROUND_SECONDS = 0.01  # the most often due stations are scored: a frame period at 100 fps


def run(
    online: OnlineDetector,
    sources: list[Source],
    emit: Callable[[StreamEvent], None],
    *,
    duration: float | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Stream until the sources end, `duration` seconds pass, `stop` is set or a signal comes; return a
    summary (the detector's counts and latencies, and the sources' counters)."""
    stop = stop or threading.Event()
    batches: queue.Queue = queue.Queue()

    def pump(source: Source) -> None:
        try:
            for batch in source.read(stop):
                batches.put(batch)
        except TsganError as exc:  # bad input (a CSV without a time column): reported by the main thread
            batches.put(exc)
        finally:
            batches.put(_ENDED)

    started = time.monotonic()
    failure: TsganError | None = None
    with stop_on_signals(stop):
        for source in sources:
            threading.Thread(target=pump, args=(source,), name=source.name, daemon=True).start()
        running = len(sources)
        next_round = time.monotonic()
        while running and not stop.is_set():
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                break
            if now >= next_round:  # rounds of scoring at most every ROUND_SECONDS: PMUs share them
                for event in online.score_due():
                    emit(event)
                next_round = now + ROUND_SECONDS
            try:
                batch = batches.get(timeout=max(0.0, min(0.1, next_round - time.monotonic())))
            except queue.Empty:
                continue
            if batch is _ENDED:
                running -= 1
            elif isinstance(batch, TsganError):
                failure = failure or batch
                stop.set()
            else:
                for item in batch:
                    online.handle(item)
        stop.set()
        for event in online.close():
            emit(event)
    if failure is not None:
        raise failure
    counters: dict = {}
    for source in sources:
        for key, value in source.counters.items():
            counters[key] = counters.get(key, 0) + value
    return online.summary() | {"sources": counters, "wall_s": round(time.monotonic() - started, 3)}
