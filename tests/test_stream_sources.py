"""Stream sources (tsgan.stream.sources): a tailed CSV file, CSV and JSON lines, time parsing, specs."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from tsgan.errors import ConfigError, InputError
from tsgan.stream.sources import (
    C37118Source,
    Config,
    CsvParser,
    Frames,
    Gap,
    JsonParser,
    LineSource,
    fd_chunks,
    open_sources,
    parse_time,
)

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00 in ns


def collect(source, stop: threading.Event, until, timeout: float = 10.0) -> list:
    """Items read by `source` in a thread until until(items) holds (or the timeout passes)."""
    items: list = []

    def read():
        for batch in source.read(stop):
            items.extend(batch)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not until(items) and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    return items


def pipe(data: bytes) -> int:
    """A file descriptor that reads `data`, then EOF."""
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    return read


def rows_of(items, kind=Frames):
    return [i for i in items if isinstance(i, kind)]


def test_parse_time():
    assert parse_time("2026-01-01T00:00:00.008333333") == T0 + 8_333_333
    assert parse_time("2026-01-01 00:00:01Z") == T0 + 10**9
    assert parse_time("1767225600.5") == parse_time(1767225600.5) == T0 + 500_000_000
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_csv_tail_follows_a_growing_file_and_restarts_on_truncation(tmp_path):
    path = tmp_path / "pmu.csv"
    source = open_sources(f"csv-tail://{path}")[0]
    stop = threading.Event()
    done = threading.Event()

    def write():
        time.sleep(0.1)  # the file does not exist yet when the source starts
        with path.open("w") as f:
            f.write("timestamp,VA_mag,freq,is_anomaly\n2026-01-01T00:00:00,7200.0,60.0,0\n")
            f.flush()
            time.sleep(0.2)
            f.write("2026-01-01T00:00:00.5,7201.0,")  # half a line: not read until finished
            f.flush()
            time.sleep(0.2)
            f.write("60.01,0\nnot a time,1,2,0\n")
        time.sleep(0.3)
        path.write_text("timestamp,VA_mag,freq\n2026-01-01T00:00:02,7100,59.9\n")  # rotated: shorter
        done.set()

    threading.Thread(target=write, daemon=True).start()
    items = collect(source, stop, lambda items: done.is_set() and len(rows_of(items)) >= 3)
    configs = rows_of(items, Config)
    assert configs[0].channels == ["VA_mag", "freq"] and configs[0].station.name == "pmu"
    frames = rows_of(items)
    times = np.concatenate([f.times for f in frames])
    values = np.concatenate([f.values for f in frames])
    assert times.tolist() == [T0, T0 + 500_000_000, T0 + 2 * 10**9]
    np.testing.assert_allclose(values, [[7200, 60], [7201, 60.01], [7100, 59.9]])
    assert rows_of(items, Gap) and source.counters["bad_lines"] == 1


def test_csv_tail_from_the_end_skips_existing_rows(tmp_path):
    path = tmp_path / "live.csv"
    path.write_text("time,x\n2026-01-01T00:00:00,1\n")
    stop = threading.Event()

    def append():
        time.sleep(0.3)
        with path.open("a") as f:
            f.write("2026-01-01T00:00:01,2\n")

    threading.Thread(target=append, daemon=True).start()
    items = collect(open_sources(f"csv-tail://{path}?from=end")[0], stop, lambda items: rows_of(items))
    assert [f.values.tolist() for f in rows_of(items)] == [[[2.0]]]


def test_csv_lines_with_several_stations():
    text = b"time,pmu,a,b\n0.0,P1,1,2\n0.0,P2,3,4\n0.5,P1,5,\n"
    items = list(
        LineSource("stdin://csv", lambda stop: fd_chunks(pipe(text)), CsvParser("stdin", "stdin://csv")).read(
            threading.Event()
        )
    )
    flat = [i for batch in items for i in batch]
    assert [(type(i).__name__, i.station.name) for i in flat] == [
        ("Config", "P1"), ("Frames", "P1"), ("Config", "P2"), ("Frames", "P2"), ("Frames", "P1"),
    ]  # fmt: skip
    assert np.isnan(flat[-1].values[0, 1])  # a missing cell is NaN, never a guess


def test_json_lines_flat_or_nested_and_bad_lines_counted():
    lines = [
        '{"timestamp": "2026-01-01T00:00:00", "pmu": "P1", "VA_mag": 7200.5, "freq": 60.0}',
        '{"timestamp": 1767225600.25, "station": "P1", "values": {"VA_mag": 7199.5, "freq": 59.99}}',
        "{not json",
        '{"no_time": 1}',
        '{"timestamp": "2026-01-01T00:00:01", "pmu": "P1", "VA_mag": 7000, "freq": 60, "extra": 1}',
    ]
    source = LineSource(
        "stdin://json",
        lambda stop: fd_chunks(pipe("\n".join(lines).encode())),
        JsonParser("stdin", "stdin://json"),
    )
    flat = [i for batch in source.read(threading.Event()) for i in batch]
    configs, frames = rows_of(flat, Config), rows_of(flat)
    assert [c.channels for c in configs] == [["VA_mag", "freq"], ["VA_mag", "freq", "extra"]]
    assert configs[0].station == configs[1].station  # the same PMU, reconfigured
    assert np.concatenate([f.times for f in frames]).tolist() == [T0, T0 + 250_000_000, T0 + 10**9]
    assert frames[0].values.tolist() == [[7200.5, 60.0], [7199.5, 59.99]]
    assert source.counters["bad_lines"] == 2


def test_csv_without_a_time_column_is_an_input_error():
    with pytest.raises(InputError, match="no time column"):
        CsvParser("x", "test").parse(["a,b", "1,2"], {})


def test_source_specs():
    (source,) = open_sources("c37118://127.0.0.1:4712,localhost:4713/9")
    assert isinstance(source, C37118Source)
    assert [(a.host, a.port, a.idcode) for a in source.links] == [
        ("127.0.0.1", 4712, 1),
        ("localhost", 4713, 9),
    ]
    assert open_sources("stdin://json")[0].name == "stdin://json"
    for bad in ("udp://x", "c37118://host", "stdin://xml", "csv-tail://f.csv?from=middle", "nothing"):
        with pytest.raises(ConfigError):
            open_sources(bad)
