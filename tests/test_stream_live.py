"""The live page of `tsgan stream --plot`: panels per PMU, events shaded, a rolling window, rewrites."""

import time

import numpy as np
import pytest

from tsgan.errors import ConfigError
from tsgan.events import Interval
from tsgan.stream.live import LivePage
from tsgan.stream.online import StreamEvent
from tsgan.stream.sources import Station, format_time

RATE = 120
T0 = np.datetime64("2026-12-04T10:00:00", "ns").astype(np.int64)


def feed(page: LivePage, station: Station, seconds: float, level: float = -2.0) -> None:
    """`seconds` of rows at RATE, 6 at a time, as OnlineDetector hands them over."""
    rng = np.random.default_rng(station.idcode)
    for start in range(0, int(seconds * RATE), 6):
        times = T0 + ((start + np.arange(6)) * 1e9 / RATE).astype(np.int64)
        excess = (level + 0.3 * rng.standard_normal((6, 4))).astype(np.float32)
        page.on_scores(station, times, excess, excess > 0)


def event(station: Station, start_s: float, end_s: float, peak: float = 3.0) -> StreamEvent:
    first, last = T0 + int(start_s * 1e9), T0 + int(end_s * 1e9)
    interval = Interval(
        0, 1, peak, ["VA_mag", "IA_mag"], format_time(first), format_time(last), channel_scores=[2.0, 1.0]
    )
    return StreamEvent(station, interval, first, last, first, 12, None)


def pmus(n: int) -> list[Station]:
    return [Station(f"PMU{k}", k, "c37118://127.0.0.1:4712") for k in range(1, n + 1)]


def shapes_of(fig) -> list[dict]:
    return [s for s in fig.layout.shapes if s.name == "event"]


def snapshot(page: LivePage):
    with page._lock:
        return page.figure({p: list(c) for p, c in page._scores.items()}, list(page._events))


def test_one_panel_per_pmu_and_one_band_per_event():
    page = LivePage("unused.html", minutes=1)
    one, two, three = pmus(3)
    for station in (one, two, three):
        feed(page, station, 30)
    page.on_event(event(two, 10, 11))
    page.on_event(event(two, 20, 20.5))
    page.on_event(event(three, 5, 6).to_dict())  # the JSON line, as Ray actors hand events over
    fig = snapshot(page)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:3] == ["PMU2 (IDCODE 2)", "PMU3 (IDCODE 3)", "PMU1 (IDCODE 1)"]  # latest event first
    assert len(shapes_of(fig)) == 3
    table = [t for t in fig.data if t.type == "table"][0]
    assert list(table.cells.values[0]) == ["PMU3 (IDCODE 3)", "PMU2 (IDCODE 2)", "PMU2 (IDCODE 2)"]
    assert "3 PMUs, 3 events so far" in fig.layout.title.subtitle.text


def test_only_the_last_minutes_are_kept_and_drawn():
    page = LivePage("unused.html", minutes=0.5, max_points=100)
    (station,) = pmus(1)
    feed(page, station, 120)
    fig = snapshot(page)
    line = fig.data[0]
    first = np.datetime64(line.x[0], "ns").astype(np.int64)
    assert first >= T0 + int(89.9e9)  # 30 s before the newest row at 120 s
    assert len(line.x) <= 104  # min/max downsampled: buckets of the window, plus the ends


def test_many_pmus_draw_the_most_active_and_say_so():
    page = LivePage("unused.html", max_pmus=2)
    stations = pmus(5)
    for k, station in enumerate(stations):
        feed(page, station, 5, level=-3.0 + k * 0.5)  # PMU5 has the highest scores
    fig = snapshot(page)
    titles = [a.text for a in fig.layout.annotations][:2]
    assert titles == ["PMU5 (IDCODE 5)", "PMU4 (IDCODE 4)"]
    assert "the 2 most active PMUs drawn" in fig.layout.title.subtitle.text


def test_page_is_rewritten_and_reloads_itself(tmp_path):
    path = tmp_path / "live.html"
    (station,) = pmus(1)
    with LivePage(path, every=0.05) as page:
        feed(page, station, 2)
        page.on_event(event(station, 1, 1.5))
        deadline = time.monotonic() + 30
        while page.pages < 3 and time.monotonic() < deadline:  # the writer rewrites it every 50 ms
            time.sleep(0.01)
        assert page.pages >= 3
    text = path.read_text()
    assert "setTimeout(() => location.reload(), 50)" in text
    assert "1 PMUs, 1 events so far" in text  # the last page, written on close, has every event
    assert [p.name for p in tmp_path.iterdir()] == ["live.html"]  # no temporary file left


@pytest.mark.parametrize("option", [{"minutes": 0}, {"every": -1}, {"max_pmus": 0}, {"max_points": 1}])
def test_bad_options_are_refused(option):
    with pytest.raises(ConfigError, match="live page: need"):
        LivePage("live.html", **option)
