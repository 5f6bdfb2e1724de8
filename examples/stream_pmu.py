"""Stream a simulated micro-PMU feeder over IEEE C37.118.2 and watch the events on a live page.

    python examples/stream_pmu.py --pmus 3 --seconds 120 --page live.html

Three steps, each what the command line does (`tsgan simulate pmu`, `tsgan fit`, `tsgan pmu-serve`,
`tsgan stream --plot`), here in one process: simulate normal data and fit a model on it; serve PMUs on
one feeder from local TCP ports, with events in their data; read them as a phasor data concentrator
would, score every frame, and print each event as a JSON line while live.html redraws itself. Open the
page in a browser while it runs.
"""

import argparse
import json
import threading
import time
from pathlib import Path

from tsgan.datasets import make_pmu
from tsgan.detectors import make_detector
from tsgan.stream.live import LivePage
from tsgan.stream.online import OnlineDetector
from tsgan.stream.runner import fan_out, run
from tsgan.stream.server import PmuServer
from tsgan.stream.simulate import simulated_feeds
from tsgan.stream.sources import open_sources

RATE = 30  # frames per second of the simulated PMUs (real ones send 30 to 120)
CHANNELS = ["VA_mag", "VB_mag", "VC_mag", "IA_mag", "IB_mag", "IC_mag", "freq", "rocof"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pmus", type=int, default=3, help="PMUs on the feeder")
    parser.add_argument("--seconds", type=float, default=120.0, help="seconds of data each PMU sends")
    parser.add_argument("--page", type=Path, default=Path("live.html"), help="the live page")
    parser.add_argument("--detector", default="zscore", help="a detector cheap enough for every frame")
    args = parser.parse_args(argv)

    # 1. A model of normal operation on the feeder, fitted on simulated data without events.
    normal = make_pmu(120.0, rate=RATE, events=False, seed=100, station="PMU1").select(CHANNELS)
    detector = make_detector(args.detector).fit(normal)

    # 2. PMUs that stream their rows (with events) to whoever connects, on free local ports.
    feeds = simulated_feeds(args.pmus, args.seconds, RATE, seed=1, n_events=None, same_feeder=True)
    server = PmuServer([feed for feed, _ in feeds], port=0, rate=RATE)
    sent = threading.Event()  # set once every row has gone out: then the stream can end too

    def serve() -> None:
        server.serve(threading.Event())
        time.sleep(1.0)  # the last frames are still on their way
        sent.set()

    threading.Thread(target=serve, daemon=True).start()

    # 3. Read every PMU, score each frame against the model, report events and keep the page fresh.
    sources = open_sources("c37118://" + ",".join(f"127.0.0.1:{port}" for port in server.ports))
    online = OnlineDetector(detector, init_seconds=10.0)  # thresholds from each PMU's first seconds
    page = LivePage(args.page, minutes=2.0, every=2.0)
    online.on_scores = page.on_scores
    emit = fan_out(lambda event: print(json.dumps(event.to_dict())), page.on_event)
    page.start()
    try:
        summary = run(online, sources, emit, stop=sent)  # ends on Ctrl-C too, closing open events
    finally:
        page.close()
        server.close()
    print(
        f"{summary['frames']} frames from {summary['stations']} PMUs, {summary['events']} events; "
        f"page in {args.page}"
    )


if __name__ == "__main__":
    main()
