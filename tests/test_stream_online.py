"""Online detection (tsgan.stream.online) fed in process: scoring, gaps, thresholds, events, batching."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_MADGAN

from tsgan.datasets import make_pmu
from tsgan.detectors import MADGAN, PCAReconstruction, RobustZScore
from tsgan.errors import ConfigError
from tsgan.series import Series
from tsgan.stream import Config, Frames, Gap, OnlineDetector, Station

RATE = 120
MAGNITUDES = [f"{q}{p}_mag" for q in "VI" for p in "ABC"] + ["freq", "rocof"]


@pytest.fixture(scope="module")
def pca() -> tuple[PCAReconstruction, np.ndarray]:
    """PCA fitted on 10 minutes of a normal PMU, and its normalised validation scores."""
    train = make_pmu(600.0, events=False, seed=100).select(MAGNITUDES)
    det = PCAReconstruction().fit(train)
    return det, det.normalised_scores(train, tail=len(train) // 5)


@pytest.fixture(scope="module")
def quiet() -> RobustZScore:
    """|z| of channels ch0, ch1, ch2 fitted on uniform noise in [-1, 1]: data in [-0.5, 0.5] never flags."""
    return RobustZScore().fit(np.random.default_rng(0).uniform(-1, 1, size=(5000, 3)))


def noise(seconds: float, seed: int = 0) -> Series:
    """Calm data for `quiet`, at 120 frames/s."""
    rows = int(seconds * RATE)
    values = np.random.default_rng(seed).uniform(-0.5, 0.5, size=(rows, 3))
    times = np.datetime64("2026-01-01", "ns") + (np.arange(rows) * 1e9 / RATE).astype("timedelta64[ns]")
    return Series(values=values, channels=["ch0", "ch1", "ch2"], timestamps=times)


def feed(online: OnlineDetector, series, station: Station, block: int = 6, start: int = 0, stop=None) -> list:
    """Send the series' rows as frames of `block` rows, scoring after each; return the finished events."""
    times = series.timestamps.astype(np.int64)
    events = []
    for i in range(start, stop or len(series), block):
        online.handle(Frames(station, times[i : i + block], series.values[i : i + block].astype(np.float64)))
        events += online.score_due()
    return events


def test_flags_injected_events_with_their_channels(pca):
    kinds = ["voltage_sag", "voltage_swell", "motor_start", "pv_trip"]
    test = make_pmu(40.0, n_events=4, seed=7, kinds=kinds)
    station = Station("PMU1", 1, "test")
    online = OnlineDetector(pca[0], init_scores=pca[1])
    online.handle(Config(station, test.channels, RATE))
    events = feed(online, test, station) + online.close()
    times = test.timestamps.astype(np.int64)
    for truth in test.meta["anomalies"]:
        start, end = times[truth["start"]], times[truth["end"]]
        hits = [e for e in events if e.start_ns <= end and e.end_ns >= start]
        assert len(hits) == 1, f"{truth['kind']} detected {len(hits)} times"
        assert hits[0].interval.channels[0] in truth["channels"]
        assert abs(hits[0].start_ns - start) < 0.1e9  # within 100 ms of its start
    assert len(events) == len(test.meta["anomalies"])  # and no false alarm
    assert online.counts["scored"] == len(test)  # every row scored exactly once
    line = events[0].to_dict()
    assert line["station"] == "PMU1" and line["idcode"] == 1 and line["start"].startswith("2026-01-01T")
    assert set(line) >= {"start", "end", "channels", "peak_score", "source"}


def test_gaps_restart_scoring_and_late_rows_are_dropped(quiet):
    data = noise(4.0)
    station = Station("PMU9", None, "test")
    online = OnlineDetector(quiet, hop=4)
    online.handle(Config(station, data.channels, None))  # rate unknown: the period is learned
    times = data.timestamps.astype(np.int64)
    values = data.values.astype(np.float64)
    online.handle(Frames(station, times[:100], values[:100]))
    online.handle(Frames(station, times[[99, 50]], values[[99, 50]]))  # a repeat and a late row
    online.handle(Frames(station, times[200:300], values[200:300]))  # 100 frames missing
    values[350] = np.nan
    online.handle(Frames(station, times[300:400], values[300:400]))  # a frame with a missing value
    online.handle(Gap(station, "disconnected"))
    online.handle(Frames(station, times[400:402], values[400:402]))  # too few to score before the end
    online.score_due()
    online.close()
    assert online.counts["duplicates"] == 1 and online.counts["out_of_order"] == 1
    assert online.counts["gaps"] == 3
    assert online.counts["scored"] == 299  # every accepted row but the missing one and the last two
    assert online.counts["events"] == 0


def test_events_stay_open_across_a_gap_and_close_after_the_quiet_period(quiet):
    data = noise(8.0)
    data.values[400:430, 1] = 5.0
    data.values[480:500, 1] = -5.0  # again right after a gap, within the quiet period: the same event
    station = Station("PMU2", 2, "test")
    online = OnlineDetector(quiet, threshold="static", quiet_period=0.5)
    online.handle(Config(station, data.channels, RATE))
    events = feed(online, data, station, stop=450)
    online.handle(Gap(station, "disconnected"))
    events += feed(online, data, station, start=480)
    times = data.timestamps.astype(np.int64)
    assert len(events) == 1
    event = events[0]
    assert event.interval.channels == ["ch1"] and event.frames == 50
    assert (event.start_ns, event.end_ns) == (times[400], times[499])
    assert event.closed_by == times[499 + 60]  # the first row 0.5 s after the last flagged one
    assert online.counts["gaps"] == 1  # the jump in time after the disconnect is the same gap


def test_close_ends_an_open_event(quiet):
    data = noise(3.0)
    data.values[-20:, 2] = 3.0
    station = Station("PMU3", 3, "test")
    online = OnlineDetector(quiet, threshold="static")
    online.handle(Config(station, data.channels, RATE))
    assert feed(online, data, station) == []
    (event,) = online.close()
    assert event.closed_by is None and event.interval.channels == ["ch2"] and event.frames == 20


def test_point_share_decides_flagged_rows_as_in_batch_scoring():
    """With point_share=1 a row is flagged on the mean excess of all channels: one channel out of range
    is not an event, all three are, and the stream flags exactly the rows that batch scoring flags."""
    model = RobustZScore(point_share=1.0).fit(np.random.default_rng(0).uniform(-1, 1, size=(5000, 3)))
    data = noise(6.0)
    data.values[200:230, 1] = 2.0  # one channel, over its own threshold (ch1 alone would flag it)
    data.values[400:430] = 5.0  # every channel
    station = Station("PMU5", 5, "test")
    online = OnlineDetector(model, threshold="static")
    online.handle(Config(station, data.channels, RATE))
    (event,) = feed(online, data, station) + online.close()
    times = data.timestamps.astype(np.int64)
    assert (event.start_ns, event.end_ns, event.frames) == (times[400], times[429], 30)
    assert sorted(event.interval.channels) == ["ch0", "ch1", "ch2"]
    detection = model.detect(data)
    assert np.flatnonzero(detection.flags).tolist() == list(range(400, 430))
    assert (model.score(data).channel[200:230, 1] > 0).all()  # ch1 was over its threshold on its own


def test_thresholds_from_calibration_scores_then_adapting(pca):
    data = make_pmu(5.0, events=False, seed=8)
    station = Station("PMU4", 4, "test")
    online = OnlineDetector(pca[0], init_scores=pca[1], threshold="dspot", depth=100)
    online.handle(Config(station, data.channels, RATE))
    state = online._stations[station]
    before = state.bank.spot.threshold.copy()
    feed(online, data, station)
    assert not np.array_equal(before, state.bank.spot.threshold)  # the baseline moved with the stream


def test_warm_up_fits_spot_after_init_seconds(quiet):
    data = noise(6.0)
    station = Station("PMU5", 5, "test")
    online = OnlineDetector(quiet, init_seconds=4.0)
    online.handle(Config(station, data.channels, RATE))
    feed(online, data, station, stop=3 * RATE)
    assert online._stations[station].bank is None
    feed(online, data, station, start=3 * RATE)
    assert online._stations[station].bank is not None


def test_stations_due_together_share_one_model_call():
    train = make_pmu(20.0, events=False, seed=1).select(MAGNITUDES)
    det = MADGAN(**TINY_MADGAN).fit(train)
    data = make_pmu(2.0, events=False, seed=2)
    stations = [Station(f"PMU{i}", i, "test") for i in range(3)]
    stride = det.config.score_stride
    online = OnlineDetector(det, hop=8, threshold="static")
    assert online._stackable and online.window == 8
    assert det.config.score_stride == stride  # the stream steps by whole windows on a copy of its own
    alone = OnlineDetector(det, hop=8, threshold="static")
    scores = {id(online): [], id(alone): []}
    for od in (online, alone):
        od.on_scores = lambda st, t, ex, fl, od=od: scores[id(od)].append((st.name, t[0], ex))
        for s in stations:
            od.handle(Config(s, data.channels, RATE))
    times = data.timestamps.astype(np.int64)
    for i in range(0, 64, 8):
        for s in stations:
            frames = Frames(s, times[i : i + 8], data.values[i : i + 8].astype(np.float64))
            online.handle(frames)
            alone.handle(frames)
            alone.score_due()  # one station at a time
        online.score_due()  # all three together
    assert online.counts["model_calls"] == 8 and alone.counts["model_calls"] == 24
    together = {(n, t): ex for n, t, ex in scores[id(online)]}
    for n, t, ex in scores[id(alone)]:
        np.testing.assert_allclose(together[(n, t)], ex, rtol=1e-3, atol=1e-3)


def test_pointwise_detectors_stack_and_windowed_pca_does_not(pca):
    assert OnlineDetector(pca[0])._stackable
    windowed = PCAReconstruction(window=5).fit(make_pmu(20.0, events=False, seed=1).select(MAGNITUDES))
    assert not OnlineDetector(windowed)._stackable


def test_unusable_configurations_and_options(quiet):
    station = Station("PMU6", 6, "test")
    online = OnlineDetector(quiet)
    online.handle(Config(station, ["ch0", "ch2"], RATE))  # the model's ch1 is missing
    online.handle(Frames(station, np.array([1, 2]), np.ones((2, 2))))
    assert online.counts["frames_unusable"] == 2
    with pytest.raises(ConfigError, match="threshold"):
        OnlineDetector(quiet, threshold="median")
    with pytest.raises(ConfigError, match="window"):
        OnlineDetector(quiet, window=0)


def test_a_model_with_drift_thresholds_is_refused_with_what_to_do():
    # Its thresholds are offsets above a moving median, not levels a stream could compare with.
    drift = RobustZScore(threshold="drift").fit(np.random.default_rng(0).uniform(-1, 1, size=(2000, 3)))
    with pytest.raises(ConfigError, match="threshold=drift.*refit with --threshold pot"):
        OnlineDetector(drift, threshold="static")
