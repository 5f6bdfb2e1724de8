"""Stream faults over loopback: one faulty PMU of three, one fault kind per test.

Each test serves three simulated PMUs (all on PMU1's feeder, a step on VA_mag every 1.5 s) from a
`FaultyPmuServer` that injects one fault into PMU1, streams them for a few seconds through the real
service loop (`run`), and checks that the healthy PMUs were scored without a break, that the fault was
counted under its kind, that PMU1 was scored again afterwards, and that every event opened was reported.
Every wait is bounded: the stream runs for a fixed duration and threads are joined with timeouts.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from tsgan.datasets import make_pmu
from tsgan.detectors import RobustZScore
from tsgan.errors import ConfigError
from tsgan.stream import OnlineDetector, run, simulated_feeds
from tsgan.stream.c37118 import DataCodec, FrameReader, FrameType, StreamConfig, encode_config
from tsgan.stream.faults import COUNTED_AS, KINDS, Fault, FaultyPmuServer, random_faults
from tsgan.stream.sources import C37118Source, fault_summary

RATE = 120
PERIOD_NS = 1e9 / RATE
CHANNELS = [f"{q}{p}_mag" for q in "VI" for p in "ABC"] + ["freq", "rocof"]
STEP_EVERY, STEP_ROWS = int(1.5 * RATE), int(0.25 * RATE)  # an event to detect every 1.5 s


@pytest.fixture(scope="module")
def model():
    return RobustZScore().fit(make_pmu(60.0, events=False, seed=100).select(CHANNELS))


@pytest.fixture(scope="module")
def feeds():
    """Three PMUs, 4 s of rows each (served in a loop), VA_mag 10% up for 0.25 s every 1.5 s."""
    out = [feed for feed, _ in simulated_feeds(3, 4.5, RATE, 0, 0, same_feeder=True)]
    for feed in out:
        for start in range(STEP_EVERY // 2, len(feed.rows) - STEP_ROWS, STEP_EVERY):
            feed.rows[start : start + STEP_ROWS, 0] *= 1.1
    return out


@dataclass
class Outcome:
    summary: dict
    counters: dict
    injected: list[dict]
    ports: list[int]
    scored: dict[str, list[np.ndarray]] = field(default_factory=dict)
    events: list = field(default_factory=list)

    def times(self, station: str) -> np.ndarray:
        return np.concatenate(self.scored.get(station, [np.empty(0, np.int64)]))


def stream_with(model, feeds, faults: list[Fault], seconds: float = 3.0) -> Outcome:
    """Serve `feeds` with `faults` injected and run the stream service on them for `seconds`."""
    server = FaultyPmuServer(feeds, faults, port=0, rate=RATE, loop=True)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    thread.start()
    source = C37118Source([("127.0.0.1", p, 1) for p in server.ports], data_timeout=0.5, backoff=(0.05, 0.2))
    online = OnlineDetector(model, hop=6, threshold="static", quiet_period=0.2)
    outcome = Outcome({}, source.counters, server.injected, server.ports)
    online.on_scores = lambda station, times, *_: outcome.scored.setdefault(station.name, []).append(times)
    try:
        outcome.summary = run(online, [source], outcome.events.append, duration=seconds)
        outcome.counters = dict(source.counters)  # before the server stops: its closing is no fault
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    return outcome


def assert_healthy(outcome: Outcome, stations=("PMU2", "PMU3"), seconds: float = 3.0) -> None:
    """The healthy stations were scored all along: no row missing, no break."""
    for station in stations:
        times = outcome.times(station)
        assert len(times) > (seconds - 0.6) * RATE, (station, len(times))
        assert np.allclose(np.diff(times), PERIOD_NS, atol=2e3), station


def assert_events_complete(outcome: Outcome) -> None:
    """Every event opened was reported (or suppressed as a blip), and each healthy PMU reported the steps
    that it was sent and that ended before the stream did."""
    counts = outcome.summary
    assert counts["events_opened"] == counts.get("events", 0) + counts.get("events_suppressed", 0)
    assert len(outcome.events) == counts.get("events", 0)
    for station in ("PMU2", "PMU3"):
        found = [e for e in outcome.events if e.station.name == station]
        assert len(found) >= int((outcome.times(station)[-1] - outcome.times(station)[0]) / 1e9 / 1.5) - 1


def recovered(outcome: Outcome, station: str, after_s: float) -> bool:
    """Whether `station` was scored again more than `after_s` seconds after its first scored row."""
    times = outcome.times(station)
    return len(times) > 0 and (times[-1] - times[0]) / 1e9 > after_s


@pytest.mark.parametrize("kind", ["truncated", "bad_crc", "bad_size"])
def test_a_damaged_frame_is_counted_once_under_its_kind(model, feeds, kind, caplog):
    with caplog.at_level(logging.WARNING, logger="tsgan.stream"):
        outcome = stream_with(model, feeds, [Fault(1.0, kind), Fault(1.5, kind), Fault(2.0, kind)])
    assert [f["kind"] for f in outcome.injected] == [kind] * 3
    assert {k: v for k, v in outcome.counters.items() if k in COUNTED_AS.values()} == {kind: 3}
    assert len([r for r in caplog.records if f"({kind};" in r.getMessage()]) == 1  # logged once
    steps = np.round(np.diff(outcome.times("PMU1")) / PERIOD_NS)
    assert (steps == 2).sum() == 3 and set(steps) == {1, 2}  # PMU1 lost the damaged frames, no others
    assert_healthy(outcome)
    assert_events_complete(outcome)


def test_a_new_configuration_mid_stream_is_followed(model, feeds):
    outcome = stream_with(model, feeds, [Fault(1.0, "config_change"), Fault(2.0, "config_change")])
    assert outcome.counters["config_changes"] == 2
    assert "bad_size" not in outcome.counters  # frames of the new size right behind the CFG-2 were read
    times = outcome.times("PMU1")
    steps = np.diff(times)
    assert np.isclose(steps, 2 * PERIOD_NS, atol=2e3).sum() >= 0.4 * RATE  # a second at half the rate
    assert (times[-1] - times[0]) / 1e9 > 2.3  # and back at full rate after the second change
    assert_healthy(outcome)
    assert_events_complete(outcome)


def test_a_stalled_pmu_times_out_and_comes_back(model, feeds):
    outcome = stream_with(model, feeds, [Fault(0.5, "stall", size=1.0)])
    assert outcome.counters["timeouts"] >= 1 and outcome.counters["reconnects"] >= 1
    assert recovered(outcome, "PMU1", after_s=2.0)
    assert_healthy(outcome)
    assert_events_complete(outcome)


def test_a_flood_of_repeated_frames_is_dropped(model, feeds, caplog):
    with caplog.at_level(logging.WARNING, logger="tsgan.stream"):
        # Early in a longer run, so that a loaded machine still reads the whole flood before the end.
        outcome = stream_with(model, feeds, [Fault(0.5, "flood", size=5000)], seconds=4.0)
    assert outcome.summary["duplicates"] == 5000
    assert len([r for r in caplog.records if "repeated or late frames dropped" in r.getMessage()]) == 1
    times = outcome.times("PMU1")
    assert np.all(np.diff(times) > 0)  # none scored twice
    assert_healthy(outcome, ("PMU1", "PMU2", "PMU3"))
    assert_events_complete(outcome)


def test_a_reconnect_storm_is_ridden_out_and_logged_once(model, feeds, caplog):
    with caplog.at_level(logging.WARNING, logger="tsgan.stream"):
        outcome = stream_with(model, feeds, [Fault(0.5, "reconnect_storm", size=4)])
    assert outcome.counters["disconnects"] == 4 and outcome.counters["reconnects"] == 4
    assert [r.getMessage() for r in caplog.records if "closed by the PMU" in r.getMessage()] == [
        f"c37118://127.0.0.1:{outcome.ports[0]}: connection closed by the PMU; reconnecting in 0.1 s "
        "(disconnects; logged once, then counted)"
    ]
    assert recovered(outcome, "PMU1", after_s=1.5)
    assert_healthy(outcome)
    assert_events_complete(outcome)


def test_a_killed_and_restarted_server_is_reconnected_to(model, feeds):
    outcome = stream_with(model, feeds, [Fault(0.8, "restart", size=0.5)], seconds=3.5)
    assert outcome.counters["disconnects"] == 3 and outcome.counters["refused"] >= 3
    for station in ("PMU1", "PMU2", "PMU3"):
        assert recovered(outcome, station, after_s=2.0), station
    assert_events_complete(outcome)


def test_every_kind_at_once_on_one_pmu(model, feeds):
    """All kinds on PMU1 within 3 s (the stall first: frames sent during it would end its silence; the
    restart of every PMU last): each is counted, nothing hangs."""
    kinds = [k for k in KINDS if k not in ("stall", "restart")]
    faults = [Fault(1.5 + 0.2 * i, k) for i, k in enumerate(kinds)]
    faults += [Fault(0.3, "stall", size=1.0), Fault(2.8, "restart", size=0.3)]
    outcome = stream_with(model, feeds, faults, seconds=4.0)
    assert sorted(f["kind"] for f in outcome.injected) == sorted(KINDS)
    counted = outcome.counters | outcome.summary
    assert all(counted.get(COUNTED_AS[k], 0) >= 1 for k in KINDS), fault_summary(outcome.counters)
    assert_events_complete(outcome)


def test_an_event_still_open_at_the_end_is_reported(model, feeds):
    """The stream stops in the middle of the first step (0.75 to 1 s): its event is closed by the end."""
    outcome = stream_with(model, feeds, [], seconds=0.9)
    assert outcome.summary["events_opened"] >= 3
    assert {e.station.name for e in outcome.events if e.closed_by is None} == {"PMU1", "PMU2", "PMU3"}
    assert_events_complete(outcome)


# --- bad input: the injector's own checks, and the reader on hand-made damage ------------------------


def test_unknown_fault_kind_and_missing_pmu_are_refused(feeds):
    with pytest.raises(ConfigError, match="fault kind 'melt': use one of truncated"):
        Fault(1.0, "melt")
    with pytest.raises(ConfigError, match="need at >= 0"):
        Fault(-1.0, "stall")
    with pytest.raises(ConfigError, match="names PMU 5; this server has 3"):
        FaultyPmuServer(feeds, [Fault(1.0, "stall", pmu=5)], port=0)


def test_the_fault_summary_gives_each_kind_with_its_count():
    """What the summary line of `tsgan stream` ends with (each kind was logged only once)."""
    counters = {"bad_crc": 2, "timeouts": 1, "decoded_frames": 9, "reconnects": 1}
    assert fault_summary(counters) == (
        "2 frames with a bad CRC skipped, 1 connections silent for longer than the data timeout"
    )
    assert fault_summary({"decoded_frames": 9}) == "no faults"


def test_random_faults_are_reproducible_and_cover_the_kinds():
    faults = random_faults(0, pmus=50, seconds=1800, every=10)
    assert faults == random_faults(0, pmus=50, seconds=1800, every=10)
    assert faults != random_faults(1, pmus=50, seconds=1800, every=10)
    assert {f.kind for f in faults} == set(KINDS) and 100 < len(faults) < 250
    assert all(10 < f.at < 1800 and 0 <= f.pmu < 50 for f in faults)


def test_reader_tells_a_truncated_frame_from_a_bad_crc(feeds):
    codec = DataCodec(StreamConfig(1, [feeds[0].pmu], RATE))
    frames = [codec.encode(1_000, k * 8_333, [feeds[0].rows[k]]) for k in range(6)]
    bad_crc = frames[1][:-1] + bytes([frames[1][-1] ^ 1])
    lying = bytearray(frames[4])
    lying[2:4] = (len(lying) + 3).to_bytes(2, "big")
    stream = frames[0] + bad_crc + frames[2][:20] + frames[3] + bytes(lying) + frames[5]
    reader = FrameReader(codec.frame_size)
    got = [f for i in range(0, len(stream), 11) for f in reader.feed(stream[i : i + 11])]
    assert [f.fracsec // 8_333 for f in got] == [0, 3, 5]  # the frame after the cut one is not lost
    assert (reader.bad_crc, reader.truncated, reader.bad_size) == (1, 1, 1)  # one loss of sync, once


def test_reader_is_not_held_up_by_stray_sync_bytes_after_a_lying_frame_size(feeds):
    """Every fifth frame lies about its size; the frames between are all read, each lie counted once,
    however the bytes are cut (stray 0xAA bytes inside the liars look like headers of long frames)."""
    codec = DataCodec(StreamConfig(1, [feeds[0].pmu], RATE))
    rng = np.random.default_rng(0)
    frames = [
        bytearray(codec.encode(1_000 + k // RATE, k % RATE * 8_333, [feeds[0].rows[k]])) for k in range(500)
    ]
    for frame in frames[2::5]:
        frame[2:4] = (len(frame) + int(rng.choice([-8, -3, -1, 1, 5, 8]))).to_bytes(2, "big")
    stream = b"".join(frames)
    for chunk in (len(stream), 7):
        reader = FrameReader(codec.frame_size)
        got = [f for i in range(0, len(stream), chunk) for f in reader.feed(stream[i : i + chunk])]
        assert len(got) == 400 and (reader.bad_size, reader.truncated, reader.bad_crc) == (100, 0, 0)


def test_reader_stops_after_a_configuration_frame(feeds):
    """Data frames right behind a CFG-2 wait until the caller has set their new size, instead of being
    thrown away as frames of the old size."""
    new = StreamConfig(1, [feeds[0].pmu], RATE)
    old = StreamConfig(1, [dataclasses.replace(feeds[0].pmu, analogs=["x"], analog_units=[0])], RATE)
    reader = FrameReader(DataCodec(old).frame_size)
    data = DataCodec(new).encode(1_000, 0, [feeds[0].rows[0]])
    assert [f.type for f in reader.feed(encode_config(new) + data)] == [FrameType.CFG2]
    reader.data_size = DataCodec(new).frame_size
    assert [f.type for f in reader.feed(b"")] == [FrameType.DATA] and reader.bad_size == 0
