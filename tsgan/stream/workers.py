"""PMUs spread over Ray actors: `tsgan stream --engine ray` watches more PMUs than one process can score.

The PMUs of the `--source` values are dealt out to `actors` Ray actors. Each actor, a `StreamWorker`,
loads the model once and runs the same service loop as a single process (`tsgan.stream.runner.run`) over
its share: its own connections, ring buffers, thresholds and events. Only finished events travel (and, for
a live page, each row's point score): the driver collects them from every actor every `poll` seconds and
writes them as they come. At the end (`duration`, SIGINT or SIGTERM, or every source ended) the driver
asks each actor to stop, which closes its open events and hands them over with its counters, so nothing
detected is lost. With `scores_out`, each actor logs its own PMUs' scores to a file of its own.

    summary = run_on_ray("pmu.tsgan", ["c37118://10.0.0.5:4712,10.0.0.6:4712"], EventLines().write,
                         options={"hop": 6}, actors=2, duration=60)
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tsgan.artifacts import load_detector
from tsgan.errors import ConfigError, TsganError
from tsgan.scale import ray_session
from tsgan.stream.online import OnlineDetector, StreamEvent, latency_summary
from tsgan.stream.runner import ScoreLog, fan_out, run, stop_on_signals
from tsgan.stream.sources import Station, open_sources

PointScores = tuple[str, np.ndarray, np.ndarray]  # (PMU as str(Station), times ns, point scores)


class StreamWorker:
    """One actor's share of the PMUs, streamed from a thread once started.

    A plain class, so it runs (and is tested) without Ray too; `run_on_ray` makes it a Ray actor."""

    def __init__(
        self,
        model_path: str,
        sources: list[str],
        options: dict,
        init_scores: np.ndarray | None = None,
        scores_out: str | None = None,
        keep_scores: bool = False,
        threads: int = 1,
    ):
        import torch

        torch.set_num_threads(threads)  # an actor has one CPU: more threads only fight over it
        detector = load_detector(model_path)
        self._sources = [s for spec in sources for s in open_sources(spec)]
        self._online = OnlineDetector(detector, **options, init_scores=init_scores)
        self._log = ScoreLog(Path(scores_out), self._online.channels) if scores_out else None
        self._online.on_scores = fan_out(self._log, self._keep_scores if keep_scores else None)
        self._events: list[StreamEvent] = []
        self._scores: list[PointScores] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._summary: dict = {}
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="stream-worker", daemon=True)

    def start(self) -> None:
        """Connect and stream (once every actor has loaded its model, so that all PMUs start together)."""
        self._thread.start()

    def _run(self) -> None:
        try:
            self._summary = run(self._online, self._sources, self._keep_event, stop=self._stop)
        except TsganError as exc:
            self._error = str(exc)

    def _keep_event(self, event: StreamEvent) -> None:
        with self._lock:
            self._events.append(event)

    def _keep_scores(self, station: Station, times: np.ndarray, excess: np.ndarray, flags) -> None:
        with self._lock:
            self._scores.append((str(station), times, excess.max(axis=1)))

    def collect(self) -> tuple[list[StreamEvent], list[PointScores], bool]:
        """The events (and point scores) finished since the last call, and whether the stream has ended."""
        with self._lock:
            events, self._events = self._events, []
            scores, self._scores = self._scores, []
        return events, scores, not self._thread.is_alive()

    def stop(self) -> dict:
        """Stop streaming, close the open events (collect them next) and return the counters, with the
        latencies (ns) themselves so that the driver can take percentiles over all actors."""
        self._stop.set()
        self._thread.join()
        if self._log is not None:
            self._log.close()
        if self._error is not None:
            raise TsganError(self._error)
        latencies = list(self._online.latencies)
        return self._summary | {"latencies_ns": np.concatenate(latencies) if latencies else np.empty(0)}


def pmu_addresses(specs: list[str]) -> list[str]:
    """One entry per PMU of the --source values: each C37.118 address, and each other source's whole spec.

    Checked here, before Ray starts, so a typo fails at once. Standard input belongs to this process, so
    it cannot go to an actor."""
    addresses: list[str] = []
    for spec in specs:
        scheme, _, rest = spec.partition("://")
        if scheme == "stdin":
            raise ConfigError(f"source {spec!r}: standard input cannot go to Ray actors; use --engine local")
        open_sources(spec)
        addresses += [a.strip() for a in rest.split(",") if a.strip()] if scheme == "c37118" else [spec]
    return addresses


def deal(addresses: list[str], parts: int) -> list[list[str]]:
    """`pmu_addresses` dealt out to at most `parts` shares, round robin, each share as source specs: the
    C37.118 addresses of a share are joined again, so an actor reads its PMUs with one source."""
    n = max(1, min(parts, len(addresses)))
    shares = []
    for share in (addresses[k::n] for k in range(n)):
        pmus = [a for a in share if "://" not in a]
        shares.append(([f"c37118://{','.join(pmus)}"] if pmus else []) + [a for a in share if "://" in a])
    return shares


def run_on_ray(
    model_path: str | Path,
    sources: list[str],
    emit: Callable[[StreamEvent], None],
    *,
    options: dict,
    actors: int | None = None,
    address: str | None = None,
    duration: float | None = None,
    init_scores: np.ndarray | None = None,
    scores_out: Path | None = None,
    on_point_scores: Callable[[str, np.ndarray, np.ndarray], None] | None = None,
    threads: int = 1,
    poll: float = 0.05,
) -> dict:
    """Stream `sources` on Ray actors (one per CPU of the cluster by default, at most one per PMU) and
    hand every event to `emit`; return the summed counters, the latency over all actors, and
    `score_files` (with `scores_out`: `NAME.partK.parquet`, one per actor)."""
    if actors is not None and actors < 1:
        raise ConfigError(f"--actors must be at least 1, got {actors}")
    addresses = pmu_addresses(sources)
    with ray_session(address):
        import ray

        shares = deal(addresses, actors or max(1, int(ray.cluster_resources().get("CPU", 1))))
        files = [
            None
            if scores_out is None
            else scores_out.with_name(f"{scores_out.stem}.part{k}{scores_out.suffix}")
            for k in range(1, len(shares) + 1)
        ]
        remote = ray.remote(num_cpus=1)(StreamWorker)
        workers = [
            remote.remote(
                str(Path(model_path).resolve()),
                share,
                options,
                init_scores,
                None if path is None else str(path.resolve()),
                on_point_scores is not None,
                threads,
            )
            for share, path in zip(shares, files, strict=True)
        ]

        try:
            summaries, wall_s = _stream(ray, workers, emit, on_point_scores, duration, poll)
        finally:  # also when an actor failed: the others must not stream on, unseen
            for worker in workers:
                ray.kill(worker)
    return _merge(summaries, wall_s) | {
        "actors": len(workers),
        "score_files": [str(f) for f in files if f is not None],
    }


def _stream(ray, workers: list, emit, on_point_scores, duration: float | None, poll: float):
    """Start the actors together, hand over their events every `poll` seconds until the end, stop them;
    return their summaries and the seconds streamed."""

    def deliver() -> bool:
        """Hand over what every actor has finished; True when all their streams have ended."""
        ended = True
        for events, scores, done in _get(ray, [w.collect.remote() for w in workers]):
            for pmu, times, point in scores:
                on_point_scores(pmu, times, point)
            for event in events:
                emit(event)
            ended &= done
        return ended

    _get(ray, [w.start.remote() for w in workers])  # each returns once its actor has loaded the model
    stop = threading.Event()
    started = time.monotonic()
    with stop_on_signals(stop):
        while not stop.is_set() and not deliver():
            if duration is not None and time.monotonic() - started >= duration:
                break
            stop.wait(poll)
    summaries = _get(ray, [w.stop.remote() for w in workers])
    deliver()  # the events closed by stopping
    return summaries, time.monotonic() - started


def _get(ray, refs: list) -> list:
    """ray.get, with an actor's error (a model file it cannot read, a source that fails) as one line."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayError as exc:
        # Ray's message ends with the actor's own exception as "Class: message", after its traceback.
        lines = [
            line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()
        ]
        raise TsganError(f"a stream actor failed: {lines[-1] if lines else type(exc).__name__}") from None


def _merge(summaries: list[dict], wall_s: float) -> dict:
    """The actors' summaries as one: counts and seconds summed, latency percentiles over all rows."""
    merged: dict = {"stations": 0, "sources": {}, "seconds": {}}
    for s in summaries:
        for key, value in s.items():
            if key in ("sources", "seconds"):
                for name, n in value.items():
                    merged[key][name] = merged[key].get(name, 0) + n
            elif isinstance(value, int):
                merged[key] = merged.get(key, 0) + value
    latencies = np.concatenate([s["latencies_ns"] for s in summaries])
    return merged | {"latency_ms": latency_summary(latencies), "wall_s": round(wall_s, 3)}
