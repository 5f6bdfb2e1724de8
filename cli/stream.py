"""`tsgan stream`, `tsgan pmu-serve` and `tsgan simulate pmu`: live micro-PMU data in, events out.

    tsgan simulate pmu --seconds 600 --events 0 --seed 100 -o normal.csv     # normal data to fit on
    tsgan fit normal.csv --detector pca --param window=10 -o pmu.tsgan \
        --channels VA_mag,VB_mag,VC_mag,IA_mag,IB_mag,IC_mag,freq,rocof
    tsgan pmu-serve --seconds 180 --truth-out truth.jsonl       # terminal 1: PMU1 on 127.0.0.1:4712
    tsgan stream -m pmu.tsgan --source c37118://127.0.0.1:4712 --calibration normal.csv   # terminal 2

The commands are registered on the main `tsgan` application (cli/main.py); `app` here holds the same
commands for `python -m tsgan_cli.stream`.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from tsgan.errors import ConfigError
from tsgan_cli.scale import RayAddress


def _handled(command):
    """tsgan_cli.main's `handles_errors`, looked up when the command runs: cli/main.py imports this
    module to register its commands, so importing main here at load time would be circular."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from tsgan_cli.main import handles_errors

        return handles_errors(command)(*args, **kwargs)

    return wrapper


def _log_to_stderr(verbose: bool) -> None:
    """Stream messages (gaps, reconnections, bad frames) as lines on standard error."""
    logger = logging.getLogger("tsgan.stream")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


Seconds = Annotated[float, typer.Option("--seconds", help="Seconds of simulated data.")]
Rate = Annotated[int, typer.Option("--rate", help="Frames per second.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed of the simulated data (PMU i uses seed + i).")]
Events = Annotated[
    int | None, typer.Option("--events", help="Labelled events to inject (default: one per 30 s; 0: none).")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also log connections, gaps and thresholds.")]

simulate = typer.Typer(help="Write simulated data with labelled events.", no_args_is_help=True)


@simulate.command("pmu")
@_handled
def simulate_pmu(
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet file to write.")],
    seconds: Seconds = 600.0,
    rate: Rate = 120,
    seed: Seed = 0,
    events: Events = None,
    station: Annotated[str, typer.Option("--station", help="Station name; it fixes the feeder.")] = "PMU1",
    events_out: Annotated[
        Path | None, typer.Option("--events-out", help="Also write the events (rows, channels) as JSON here.")
    ] = None,
) -> None:
    """Simulate a micro-PMU (V and I phasors of three phases, freq, rocof) with labelled events."""
    from tsgan.io import write_json_atomic
    from tsgan.stream.simulate import simulate_pmu as simulate_to_file
    from tsgan.stream.simulate import truth

    series = simulate_to_file(output, seconds, rate=rate, seed=seed, n_events=events, station=station)
    if events_out is not None:
        write_json_atomic(
            truth(series, None, lambda row: int(series.timestamps[row].astype("int64"))), events_out
        )
    kinds = sorted({a["kind"] for a in series.meta["anomalies"]})
    typer.echo(
        f"wrote {len(series)} frames ({seconds:g} s at {rate} fps) of {station} with "
        f"{len(series.meta['anomalies'])} events ({', '.join(kinds) or 'none'}) to {output}"
    )


@_handled
def pmu_serve(
    port: Annotated[
        int, typer.Option("--port", help="TCP port of the first PMU; PMU i listens on port + i.")
    ] = 4712,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    pmus: Annotated[int, typer.Option("--pmus", help="Simulated PMUs to serve (PMU1, PMU2, ...).")] = 1,
    data: Annotated[
        Path | None, typer.Option("--data", help="Serve the rows of this CSV or Parquet file instead.")
    ] = None,
    station: Annotated[str | None, typer.Option("--station", help="Station name for --data.")] = None,
    idcode: Annotated[int, typer.Option("--idcode", help="IDCODE of the first PMU (PMU i: idcode + i).")] = 1,
    seconds: Seconds = 600.0,
    rate: Rate = 120,
    seed: Seed = 0,
    events: Events = None,
    fmt: Annotated[
        str, typer.Option("--format", help="float (32-bit floats) or int (16-bit integers) in data frames.")
    ] = "float",
    same_feeder: Annotated[
        bool, typer.Option("--same-feeder", help="Simulate every PMU on PMU1's feeder (one model fits all).")
    ] = False,
    loop: Annotated[bool, typer.Option("--loop", help="Start the rows again when they run out.")] = False,
    truth_out: Annotated[
        Path | None,
        typer.Option(
            "--truth-out", help="When streaming starts, write the labelled events with their times."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Serve simulated (or recorded) micro-PMUs over IEEE C37.118.2 TCP to any PDC client."""
    from tsgan.io import read_series, write_atomic
    from tsgan.stream.runner import stop_on_signals
    from tsgan.stream.server import Feed, PmuServer
    from tsgan.stream.simulate import simulated_feeds, truth

    _log_to_stderr(verbose)
    if data is not None:
        series = read_series(data)
        name = station or data.stem
        series.meta["station"] = name
        feeds = [(Feed.from_table(name, idcode, series.channels, series.values, fmt), series)]
    else:
        feeds = simulated_feeds(pmus, seconds, rate, seed, events, fmt, idcode, same_feeder)
    server = PmuServer([f for f, _ in feeds], host, port, rate, loop)

    def started(server: PmuServer) -> None:
        typer.echo(f"streaming from {_time(server.frame_time_ns(0))}", err=True)
        if truth_out is not None:
            records = [r for f, s in feeds for r in truth(s, f.pmu.idcode, server.frame_time_ns)]
            text = "".join(json.dumps(r) + "\n" for r in records)
            write_atomic(truth_out, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    rows = len(feeds[0][0].rows)
    for (feed, _), p in zip(feeds, server.ports, strict=True):
        typer.echo(
            f"serving {feed.pmu.station} (IDCODE {feed.pmu.idcode}) on {host}:{p}: "
            f"{rows} frames at {rate} fps",
            err=True,
        )
    stop = threading.Event()
    with stop_on_signals(stop):
        server.serve(stop, started)
    typer.echo(f"sent {server.sent} frames per PMU", err=True)


def _time(ns: int) -> str:
    from tsgan.stream.sources import format_time

    return format_time(ns)


@_handled
def stream(
    model: Annotated[Path, typer.Option("--model", "-m", help="A model file written by `tsgan fit`.")],
    source: Annotated[
        list[str],
        typer.Option(
            "--source",
            "-s",
            # No square brackets: Typer's help reads them as markup.
            help="c37118://HOST:PORT (or HOST:PORT/IDCODE; several PMUs comma-separated), csv-tail://PATH, "
            "stdin://json or stdin://csv (repeatable).",
        ),
    ],
    events_out: Annotated[
        Path | None,
        typer.Option("--events-out", help="Append event JSON lines here (default: standard output)."),
    ] = None,
    scores_out: Annotated[
        Path | None, typer.Option("--scores-out", help="Also log every score to this Parquet file.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop after this many seconds.")
    ] = None,
    hop: Annotated[int, typer.Option("--hop", help="Score each PMU every this many frames.")] = 6,
    window: Annotated[
        int | None,
        typer.Option("--window", help="Rows of context per scoring (default: the model's window)."),
    ] = None,
    threshold: Annotated[str, typer.Option("--threshold", help="spot, dspot or static thresholds.")] = "spot",
    q: Annotated[float, typer.Option("--q", help="SPOT risk: chance that a normal score passes.")] = 1e-4,
    depth: Annotated[
        int, typer.Option("--depth", help="DSPOT: normal scores in its moving baseline (10 s at 120 fps).")
    ] = 1200,
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            help="Normal data (the training file) whose validation tail initialises the thresholds.",
        ),
    ] = None,
    init_seconds: Annotated[
        float,
        typer.Option("--init-seconds", help="Without --calibration: seconds of each PMU to initialise on."),
    ] = 60.0,
    quiet_period: Annotated[
        float, typer.Option("--quiet-period", help="Seconds without a flag that close an event.")
    ] = 1.0,
    min_frames: Annotated[
        int,
        typer.Option(
            "--min-frames", help="Flagged frames an event needs (3: single-frame blips are dropped)."
        ),
    ] = 3,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            help="torch threads; 1 by default: stream calls are small, and more threads only contend with "
            "the source threads and each other.",
        ),
    ] = 1,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Keep rewriting this HTML page with the last minutes and the events."),
    ] = None,
    plot_minutes: Annotated[
        float, typer.Option("--plot-minutes", help="Minutes of each PMU's score on the --plot page.")
    ] = 5.0,
    plot_every: Annotated[
        float, typer.Option("--plot-every", help="Seconds between rewrites of the --plot page.")
    ] = 5.0,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this process) or ray (PMUs dealt out to Ray actors).")
    ] = "local",
    actors: Annotated[
        int | None,
        typer.Option(
            "--actors", help="With --engine ray: actors (default: one per CPU, at most one per PMU)."
        ),
    ] = None,
    ray_address: RayAddress = None,
    verbose: Verbose = False,
) -> None:
    """Detect events in live PMU streams with a fitted model: one JSON line per event, flushed at once."""
    from tsgan.artifacts import load_detector
    from tsgan.stream.live import LivePage
    from tsgan.stream.online import OnlineDetector
    from tsgan.stream.runner import EventLines, ScoreLog, fan_out, run
    from tsgan.stream.sources import open_sources
    from tsgan.stream.workers import run_on_ray

    _log_to_stderr(verbose)
    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine {engine!r}: use local or ray")
    import torch

    torch.set_num_threads(threads)
    det = load_detector(model)
    opened = [s for spec in source for s in open_sources(spec)]
    if not opened:
        raise ConfigError("no source given: use --source c37118://HOST:PORT (or csv-tail://, stdin://)")
    init_scores = _validation_scores(det, calibration) if calibration is not None else None
    options = {
        "hop": hop,
        "window": window,
        "threshold": threshold,
        "q": q,
        "depth": depth,
        "init_seconds": init_seconds,
        "quiet_period": quiet_period,
        "min_frames": min_frames,
    }
    online = OnlineDetector(det, **options, init_scores=init_scores)  # options checked before streaming
    live = LivePage(plot, minutes=plot_minutes, every=plot_every) if plot else None
    sink = EventLines(events_out)
    emit = fan_out(sink.write, live and live.on_event)
    log = ScoreLog(scores_out, online.channels) if scores_out and engine == "local" else None
    if live is not None:
        live.start()
    try:
        if engine == "ray":
            summary = run_on_ray(
                model,
                source,
                emit,
                options=options,
                actors=actors,
                address=ray_address,
                duration=duration,
                init_scores=init_scores,
                scores_out=scores_out,
                on_point_scores=live and live.add_scores,
                threads=threads,
            )
        else:
            online.on_scores = fan_out(log, live and live.on_scores)
            summary = run(online, opened, emit, duration=duration)
    finally:
        sink.close()
        if log is not None:
            log.close()
        if live is not None:
            live.close()
    typer.echo(_summary_line(summary), err=True)
    for path in summary.get("score_files", []):
        typer.echo(f"scores of one actor's PMUs written to {path}", err=True)


def _validation_scores(det, path: Path):
    """Normalised channel scores of the last val_fraction of `path`: with the training file, the rows that
    `fit` calibrated on."""
    from tsgan.io import read_series

    series = read_series(path)
    return det.normalised_scores(series, tail=int(len(series) * det.config.val_fraction))


def _summary_line(summary: dict) -> str:
    """One line at the end: what was streamed and scored, and every kind of fault with its count (each
    was logged only the first time it happened)."""
    from tsgan.stream.sources import fault_summary

    n = summary | summary.get("sources", {})
    return (
        f"stream: {n.get('frames', 0)} frames from {n['stations']} PMUs in {n['wall_s']} s"
        + (f" on {n['actors']} Ray actors, " if "actors" in n else ", ")
        + f"{n.get('scored', 0)} scored, {n.get('events', 0)} events, {n.get('gaps', 0)} gaps, "
        f"{n.get('duplicates', 0) + n.get('out_of_order', 0)} repeated or late frames dropped, "
        f"{n.get('bad_lines', 0)} bad lines, {n.get('reconnects', 0)} reconnections; faults: "
        f"{fault_summary(n)}; " + _latency(n["latency_ms"])
    )


def _latency(ms: dict) -> str:
    """Frame-to-flag latency, unless the frames are old (replayed data): then it says nothing useful."""
    if not ms["p50"] < 3_600_000:
        return "latency not measured (no frame scored, or replayed data)"
    return f"latency p50 {ms['p50']:.1f} ms, p99 {ms['p99']:.1f} ms"


app = typer.Typer(
    help="Stream micro-PMU data: simulate, serve over IEEE C37.118.2, detect events.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(simulate, name="simulate")
app.command("pmu-serve")(pmu_serve)
app.command("stream")(stream)

if __name__ == "__main__":
    app()
