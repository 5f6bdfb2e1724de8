"""Online anomaly detection on live streams, micro-PMUs over IEEE C37.118.2 first.

    sources  = open_sources("c37118://127.0.0.1:4712")      # or csv-tail://PATH, stdin://json, stdin://csv
    online   = OnlineDetector(load_detector("pmu.tsgan"), hop=6)
    summary  = run(online, sources, EventLines().write, duration=60)

`c37118` is the frame codec, `server` a small PMU server on it (`tsgan pmu-serve`), `faults` that server
injecting faults (for the fault tests and benchmarks/soak.py), `simulate` the simulated PMUs it streams,
`sources` the one source interface, `online` the ring buffers, scoring, adapting thresholds and events,
and `runner` the service loop with its outputs (`tsgan stream`).
"""

from tsgan.stream.online import OnlineDetector, StreamEvent
from tsgan.stream.runner import EventLines, ScoreLog, run
from tsgan.stream.server import Feed, PmuServer
from tsgan.stream.simulate import simulate_pmu, simulated_feeds, truth
from tsgan.stream.sources import Config, Frames, Gap, Station, open_sources

__all__ = [
    "Config",
    "EventLines",
    "Feed",
    "Frames",
    "Gap",
    "OnlineDetector",
    "PmuServer",
    "ScoreLog",
    "Station",
    "StreamEvent",
    "open_sources",
    "run",
    "simulate_pmu",
    "simulated_feeds",
    "truth",
]
