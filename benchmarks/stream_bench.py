"""Streaming micro-PMU detection over loopback IEEE C37.118.2: speed, latency, and event-level quality.

    .venv/bin/python benchmarks/stream_bench.py speed [--pmus 1,10,50] [--seconds 30] [--detector pca]
        [--actors 2]
    .venv/bin/python benchmarks/stream_bench.py eval  [--pmus 3] [--seconds 180] [--detector pca]

Both fit a small detector (--detector pca: PCA on windows of 10 rows, pca-w1: on single rows, madgan: 5
epochs of a small MAD-GAN; or --model FILE) on 10 minutes of normal PMU1 data (magnitudes, freq and
rocof) and initialise the streaming thresholds on its validation tail, as `tsgan stream --calibration`
does. A `tsgan pmu-serve --same-feeder` subprocess streams simulated PMUs (all on PMU1's feeder, each its
own seed and events) at 120 frames/s; this process runs the same service as `tsgan stream` on them.

speed: for each number of PMUs, the frames per second kept up with, the latency from a frame's timestamp
to its flag (p50/p99, both including the wait for the hop) and from the frame that closes an event to its
JSON line (both after the first 5 s), CPU used by the stream and the server (cores, and CPU time per
frame, which does not depend on what else the machine runs), and where the stream's time goes. Then the
capacity: frames per second one process scores when fed as fast as it takes them (no network, no pacing).

eval: event-level recall and precision against the server's labelled events (a detected event matches a
true one when their intervals overlap), the detection delay (detected start minus true start) and
whether the top-ranked channel is one the event changed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tsgan.datasets import make_pmu
from tsgan.detectors import make_detector
from tsgan.stream import Config, Frames, OnlineDetector, Station, run
from tsgan.stream.sources import C37118Source, parse_time
from tsgan.stream.workers import run_on_ray

REPO = Path(__file__).resolve().parents[1]
RATE = 120
CHANNELS = [f"{q}{p}_mag" for q in "VI" for p in "ABC"] + ["freq", "rocof"]
DETECTORS = {  # small and fast: PCA on lagged windows (the default) or on single rows, a small MAD-GAN, auto
    "pca": ("pca", {"window": 10}),
    "pca-w1": ("pca", {"window": 1}),
    "madgan": ("madgan", {"window": 30, "stride": 10, "epochs": 5, "hidden": 32, "gen_layers": 1}),
    "zscore": ("zscore", {}),
    "auto": ("auto", {}),  # the default: its anchors (kNN, windowed PCA) stream
}
WARMUP_S = 5.0  # latencies of the first seconds (connections, thresholds being set up) are left out


def fitted(detector: str, model: str | None):
    """A detector fitted on 10 minutes of normal PMU1 data (or loaded), and its validation scores."""
    train = make_pmu(600.0, events=False, seed=100).select(CHANNELS)
    if model:
        from tsgan.artifacts import load_detector

        det = load_detector(model)
    else:
        t0 = time.perf_counter()
        name, params = DETECTORS[detector]
        det = make_detector(name, **params).fit(train)
        print(f"fitted {name} {params} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return det, det.normalised_scores(train, tail=len(train) // 5)


def serve(pmus: int, seconds: float, seed: int, events: int, truth: Path | None = None):
    """Start `tsgan pmu-serve` for `pmus` PMUs on free ports; return the process and the ports."""
    args = ["pmu-serve", "--port", "0", "--pmus", str(pmus), "--seconds", str(seconds), "--seed", str(seed)]
    args += ["--same-feeder"]  # the model is fitted on PMU1's feeder
    args += ["--events", str(events)] + (["--truth-out", str(truth)] if truth else [])
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsgan_cli.stream", *args], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    ports = []
    while len(ports) < pmus:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError(f"pmu-serve ended early (exit {proc.wait()})")
        if match := re.search(r"serving PMU\d+ .* on 127\.0\.0\.1:(\d+)", line):
            ports.append(int(match.group(1)))
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining it
    return proc, ports


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream_from(ports, det, init, hop: int, duration: float, events: list | None = None, actors: int = 0):
    """Run the stream service on the served PMUs for `duration` seconds; return its summary and the
    latencies (ms) from the closing frame of each event to its line. With `actors`, the PMUs are dealt
    out to that many Ray actors (`tsgan stream --engine ray`): then the frame-to-flag latencies include the
    first seconds, and the CPU of the actors' processes is not counted."""
    closing: list[float] = []
    steady_from = time.time_ns() + WARMUP_S * 1e9

    def emit(event):
        line = json.dumps(event.to_dict())  # what `tsgan stream` writes
        if event.closed_by is not None and event.closed_by > steady_from:
            closing.append((time.time_ns() - event.closed_by) / 1e6)
        if events is not None:
            events.append(json.loads(line))

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    if actors:
        model = Path(tempfile.mkdtemp()) / "stream_bench.tsgan"
        det.save(model)
        spec = "c37118://" + ",".join(f"127.0.0.1:{p}" for p in ports)
        options = {"hop": hop}
        summary = run_on_ray(
            model, [spec], emit, options=options, actors=actors, duration=duration, init_scores=init
        )
    else:
        online = OnlineDetector(det, hop=hop, init_scores=init)
        threading.Timer(WARMUP_S, online.latencies.clear).start()
        sources = [C37118Source([("127.0.0.1", p, 1) for p in ports])]
        summary = run(online, sources, emit, duration=duration)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    summary["cpu_s"] = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    summary["close_to_line_ms"] = closing
    return summary


def speed(args) -> list[dict]:
    det, init = fitted(args.detector, args.model)
    results = []
    for n in args.pmus:
        proc, ports = serve(n, args.seconds + 15, seed=0, events=max(1, int(args.seconds // 30)))
        try:
            server_cpu0 = cpu_seconds(proc.pid)
            summary = stream_from(ports, det, init, args.hop, args.seconds, actors=args.actors)
            server_cpu = cpu_seconds(proc.pid) - server_cpu0
        finally:
            proc.kill()
            proc.wait()
        expected = n * RATE * summary["wall_s"]
        decode_s = summary["sources"].get("decode_ns", 0) / 1e9
        result = {
            "pmus": n,
            "frames_per_s": round(summary.get("scored", 0) / summary["wall_s"]),
            "offered_per_s": n * RATE,
            "kept_up": round(summary.get("scored", 0) / expected, 3),
            "latency_p50_ms": round(summary["latency_ms"]["p50"], 1),
            "latency_p99_ms": round(summary["latency_ms"]["p99"], 1),
            "event_line_p99_ms": round(float(np.percentile(summary["close_to_line_ms"], 99)), 1)
            if summary["close_to_line_ms"]
            else None,
            "actors": args.actors,
            "stream_cpu_cores": None if args.actors else round(summary["cpu_s"] / summary["wall_s"], 2),
            "stream_cpu_us_per_frame": None
            if args.actors
            else round(summary["cpu_s"] / max(summary.get("scored", 0), 1) * 1e6, 1),
            "server_cpu_cores": round(server_cpu / summary["wall_s"], 2),
            "load_average": os.getloadavg()[0],
            "seconds": summary["seconds"] | {"decode": round(decode_s, 3)},
            "model_calls": summary.get("model_calls", 0),
            "gaps": summary.get("gaps", 0),
        }
        print(json.dumps(result), flush=True)
        results.append(result)
    results.append(capacity(det, init, max(args.pmus), args.hop))
    print(json.dumps(results[-1]), flush=True)
    return results


def capacity(det, init, n: int, hop: int, seconds: float = 20.0) -> dict:
    """Frames per second scored by one process fed decoded frames of n PMUs as fast as it takes them."""
    data = [make_pmu(seconds, events=False, seed=i) for i in range(n)]  # PMU1's feeder, as served
    online = OnlineDetector(det, hop=hop, init_scores=init)
    stations = [Station(f"PMU{i + 1}", i + 1, "memory") for i in range(n)]
    for station, series in zip(stations, data, strict=True):
        online.handle(Config(station, series.channels, RATE))
    times = data[0].timestamps.astype(np.int64)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(times), hop):
        for station, series in zip(stations, data, strict=True):
            online.handle(Frames(station, times[i : i + hop], series.values[i : i + hop].astype(np.float64)))
        online.score_due()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "capacity_pmus": n,
        "capacity_frames_per_s": round(n * len(times) / elapsed),
        "capacity_frames_per_cpu_s": round(n * len(times) / cpu),
        "seconds": {k: round(v, 2) for k, v in online.seconds.items()},
        "elapsed_s": round(elapsed, 2),
    }


def evaluate(args) -> dict:
    det, init = fitted(args.detector, args.model)
    truth_path = Path(args.workdir) / "truth.jsonl"
    n = args.pmus[0]
    proc, ports = serve(n, args.seconds, seed=7, events=max(1, int(args.seconds // 30)), truth=truth_path)
    events: list[dict] = []
    try:
        summary = stream_from(ports, det, init, args.hop, args.seconds + 5, events)
    finally:
        proc.kill()
        proc.wait()
    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    result = score_events(truth, events) | {
        "detector": args.model or f"{args.detector} {DETECTORS[args.detector][1]}",
        "pmus": n,
        "seconds": args.seconds,
        "latency_p99_ms": round(summary["latency_ms"]["p99"], 1),
    }
    print(json.dumps(result, indent=2))
    return result


def score_events(truth: list[dict], found: list[dict]) -> dict:
    """Event-level recall, precision, detection delay and top-channel accuracy (intervals overlap)."""

    def span(e):
        return parse_time(e["start"]), parse_time(e["end"])

    def overlaps(a, b):
        return a["station"] == b["station"] and span(a)[0] <= span(b)[1] and span(b)[0] <= span(a)[1]

    matched = [[f for f in found if overlaps(t, f)] for t in truth]
    delays = [
        (min(span(f)[0] for f in m) - span(t)[0]) / 1e6 for t, m in zip(truth, matched, strict=True) if m
    ]
    top = [m[0]["channels"][0] in t["channels"] for t, m in zip(truth, matched, strict=True) if m]
    true_found = sum(any(overlaps(t, f) for t in truth) for f in found)
    missed = [t["kind"] for t, m in zip(truth, matched, strict=True) if not m]
    return {
        "true_events": len(truth),
        "detected_events": len(found),
        "recall": round(sum(map(bool, matched)) / max(len(truth), 1), 3),
        "precision": round(true_found / max(len(found), 1), 3),
        "delay_ms_median": round(float(np.median(delays)), 1) if delays else None,
        "delay_ms_max": round(float(np.max(delays)), 1) if delays else None,
        "top_channel_right": round(float(np.mean(top)), 3) if top else None,
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("speed", "eval"))
    parser.add_argument("--pmus", default=None, help="comma-separated PMU counts (speed: 1,10,50; eval: 3)")
    parser.add_argument("--seconds", type=float, default=None, help="streamed seconds (speed: 30; eval: 180)")
    parser.add_argument("--detector", default="pca", choices=sorted(DETECTORS))
    parser.add_argument("--model", default=None, help="a fitted model file instead of --detector")
    parser.add_argument("--hop", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--actors", type=int, default=0, help="speed: deal the PMUs out to this many Ray actors"
    )
    parser.add_argument("--workdir", default="/tmp", help="where the labelled events are written")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    args.pmus = [int(p) for p in (args.pmus or ("1,10,50" if args.mode == "speed" else "3")).split(",")]
    args.seconds = args.seconds or (30.0 if args.mode == "speed" else 180.0)
    import torch

    torch.set_num_threads(args.threads)
    results = speed(args) if args.mode == "speed" else evaluate(args)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
