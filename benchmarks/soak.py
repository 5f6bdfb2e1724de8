"""Soak: many simulated PMUs streamed for a long time with faults injected at random; does it hold up?

    .venv/bin/python benchmarks/soak.py --pmus 50 --minutes 30 [--seed 0] [--every 10] [--out FILE]
    .venv/bin/python benchmarks/soak.py --pmus 50 --minutes 1            # a short try

A `FaultyPmuServer` in its own process serves `--pmus` simulated PMUs (all on PMU1's feeder, 2 minutes of
rows with 4 labelled events each, served in a loop) at 120 frames/s and injects faults of every kind of
`tsgan.stream.faults` (`random_faults`: on average one every `--every` seconds, 10 by default, on a PMU
drawn at random, none in the first 10 s or the last 60 s). This process runs the service of
`tsgan stream --calibration` on them (PCA on 10-row windows fitted on 10 minutes of normal data, as
benchmarks/stream_bench.py does).

It reports: frames received and scored; faults injected by kind (the server's record) next to what the
client counted (`COUNTED_AS`); faults survived (the PMU, or every PMU for a restart, was scored again
after the fault ended) and the longest recovery; events opened, reported, suppressed as blips, and lost
(opened but neither reported nor suppressed: must be 0); the stream process's memory (RSS) at the start
of streaming, after the first minute, every 5 minutes, at the end and its largest, sampled every 10 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil
from stream_bench import RATE, fitted  # this script's folder is on sys.path when it runs

from tsgan.stream import OnlineDetector, run, simulated_feeds
from tsgan.stream.faults import COUNTED_AS, SIZES, FaultyPmuServer, random_faults
from tsgan.stream.sources import C37118Source

FEED_SECONDS = 120.0  # rows per PMU, served in a loop: the server's memory stays small
QUIET_TAIL = 60.0  # no faults in the last minute (a quarter of shorter runs): the last ones can be survived
EVENT_KEYS = {"station", "idcode", "start", "end", "frames", "peak_score", "channels"}


def serve(pmus: int, seconds: float, seed: int, every: float, channel, stop, record: str) -> None:
    """The server process: send the ports, then the time of frame 0 once streaming starts; write what was
    injected to `record` when `stop` is set."""
    feeds = [f for f, _ in simulated_feeds(pmus, FEED_SECONDS, RATE, seed, 4, same_feeder=True)]
    faults = random_faults(seed, pmus, seconds - min(QUIET_TAIL, seconds / 4), every)
    server = FaultyPmuServer(feeds, faults, port=0, rate=RATE, loop=True, seed=seed)
    channel.put(server.ports)
    server.serve(stop, lambda s: channel.put(s.frame_time_ns(0)))
    rss = psutil.Process().memory_info().rss
    Path(record).write_text(json.dumps({"injected": server.injected, "sent": server.sent, "rss": rss}))


class Watch:
    """What the stream did, kept small: per PMU and second, whether rows of it were scored; events counted
    and checked as they come; the stream process's RSS every `every` seconds."""

    def __init__(self, pmus: int, seconds: float, every: float = 10.0):
        self.scored = np.zeros((pmus, int(seconds) + 120), dtype=bool)
        self.t0: int | None = None  # ns of frame 0
        self.events: Counter = Counter()
        self.rss: list[tuple[float, int]] = []
        self._process, self._every, self._stop = psutil.Process(), every, threading.Event()
        self._started = time.monotonic()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.rss.append((time.monotonic() - self._started, self._process.memory_info().rss))
            if self._stop.wait(self._every):
                return

    def stop(self) -> None:
        self._stop.set()
        self.rss.append((time.monotonic() - self._started, self._process.memory_info().rss))

    def on_scores(self, station, times, *_) -> None:
        if self.t0 is not None:
            seconds = np.clip((times - self.t0) // 1_000_000_000, 0, self.scored.shape[1] - 1)
            self.scored[int(station.name[3:]) - 1, seconds] = True

    def on_event(self, event) -> None:
        line = event.to_dict()
        complete = EVENT_KEYS <= line.keys() and event.start_ns <= event.end_ns and event.frames > 0
        self.events["reported" if complete else "incomplete"] += 1
        self.events["closed_by_the_end" if event.closed_by is None else "closed_by_a_row"] += 1

    def recovery(self, fault: dict, pmus: int) -> float | None:
        """Seconds from the end of a fault to the next second in which its PMU (every PMU for a restart)
        was scored again; None if it never was."""
        end = int(fault["at"] + (fault["size"] if fault["kind"] in ("stall", "restart") else 0)) + 1
        rows = range(pmus) if fault["kind"] == "restart" else [int(fault["station"][3:]) - 1]
        waits = []
        for row in rows:
            later = np.flatnonzero(self.scored[row, end:])
            if not len(later):
                return None
            waits.append(int(later[0]) + 1)
        return float(max(waits))


def soak(args) -> dict:
    seconds = args.minutes * 60
    det, init = fitted("pca", None)
    spawn = multiprocessing.get_context("spawn")
    channel, stop = spawn.Queue(), spawn.Event()
    record = Path(args.workdir) / f"soak-record-{os.getpid()}.json"
    server = spawn.Process(
        target=serve, args=(args.pmus, seconds, args.seed, args.every, channel, stop, str(record))
    )
    server.start()
    ports = channel.get(timeout=120)
    watch = Watch(args.pmus, seconds)
    threading.Thread(target=lambda: setattr(watch, "t0", channel.get(timeout=60)), daemon=True).start()
    online = OnlineDetector(det, hop=6, init_scores=init, on_scores=watch.on_scores)
    source = C37118Source([("127.0.0.1", p, 1) for p in ports])
    started, load = time.time(), os.getloadavg()
    try:
        summary = run(online, [source], watch.on_event, duration=seconds)
    finally:
        watch.stop()
        stop.set()
        server.join(timeout=60)
        if server.is_alive():
            server.kill()
    done = json.loads(record.read_text())
    record.unlink()
    injected = Counter(f["kind"] for f in done["injected"])
    counted = summary["sources"] | summary
    recoveries = {k: [] for k in injected}
    for fault in done["injected"]:
        recoveries[fault["kind"]].append(watch.recovery(fault, args.pmus))
    survived = {k: sum(r is not None for r in v) for k, v in recoveries.items()}
    opened = summary.get("events_opened", 0)
    reported, suppressed = summary.get("events", 0), summary.get("events_suppressed", 0)
    rss = watch.rss
    after_a_minute = next((r for t, r in rss if t >= 60), rss[-1][1])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
        "pmus": args.pmus,
        "minutes": args.minutes,
        "seed": args.seed,
        "fault_every_s": args.every,
        "wall_s": summary["wall_s"],
        "load_average_start_end": [round(load[0], 2), round(os.getloadavg()[0], 2)],
        "frames_sent_per_pmu": done["sent"],
        "frames_received": summary.get("frames", 0),
        "frames_scored": summary.get("scored", 0),
        "frames_offered": args.pmus * RATE * summary["wall_s"],
        "faults_injected": dict(injected),
        "fault_sizes": SIZES,
        "counted": {k: counted.get(COUNTED_AS[k], 0) for k in COUNTED_AS} | {"as": COUNTED_AS},
        "source_counters": {k: v for k, v in summary["sources"].items() if k != "decode_ns"},
        "faults_survived": survived,
        "faults_survived_total": f"{sum(survived.values())} of {sum(injected.values())}",
        "longest_recovery_s": {
            k: max((r for r in v if r is not None), default=None) for k, v in recoveries.items()
        },
        "events": {
            "opened": opened,
            "reported": reported,
            "suppressed": suppressed,
            "lost": opened - reported - suppressed,
            "lines_written": watch.events["reported"],
            "incomplete_lines": watch.events["incomplete"],
            "closed_by_the_end": watch.events["closed_by_the_end"],
        },
        "gaps": summary.get("gaps", 0),
        "duplicates_dropped": summary.get("duplicates", 0),
        "latency_ms": summary["latency_ms"],
        "rss_mb": {
            "start": round(rss[0][1] / 2**20, 1),
            "after_1_min": round(after_a_minute / 2**20, 1),
            "end": round(rss[-1][1] / 2**20, 1),
            "max": round(max(r for _, r in rss) / 2**20, 1),
            "every_5_min": [round(r / 2**20, 1) for t, r in rss if t // 10 % 30 == 0],
            "samples": len(rss),
        },
        "server_rss_mb_end": round(done["rss"] / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pmus", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=float, default=10.0, help="mean seconds between faults")
    parser.add_argument("--workdir", default="/tmp", help="where the server writes its record of faults")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    if args.minutes * 60 < 20 or args.pmus < 1:
        sys.exit(f"need --minutes >= 1/3 and --pmus >= 1, got {args.minutes} and {args.pmus}")
    import torch

    torch.set_num_threads(1)
    result = soak(args)
    print(json.dumps(result, indent=2), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
