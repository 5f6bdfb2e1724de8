"""The streaming service over loopback: PMU server and client, bad frames, reconnection, signals, the CLI.

Everything listens on 127.0.0.1 only, and every wait is bounded: threads are joined with timeouts and
subprocesses run under `timeout`.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tsgan.datasets import make_pmu
from tsgan.detectors import PCAReconstruction, RobustZScore
from tsgan.stream import Config, Feed, Frames, Gap, PmuServer
from tsgan.stream.c37118 import (
    Command,
    DataCodec,
    FrameReader,
    FrameType,
    StreamConfig,
    decode_command,
    decode_header,
    encode_command,
    encode_config,
)
from tsgan.stream.sources import C37118Source

REPO = Path(__file__).resolve().parents[1]
RATE = 120


def read_until(source, stop: threading.Event, until, timeout: float = 20.0) -> list:
    """Items from `source` (read in a thread) until until(items) holds or `timeout` seconds pass."""
    items: list = []
    thread = threading.Thread(target=lambda: [items.extend(b) for b in source.read(stop)], daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not until(items) and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    return items


def frames_of(items) -> tuple[np.ndarray, np.ndarray]:
    frames = [i for i in items if isinstance(i, Frames)]
    if not frames:
        return np.empty(0, np.int64), np.empty((0, 0))
    return np.concatenate([f.times for f in frames]), np.concatenate([f.values for f in frames])


@pytest.fixture
def served():
    """A PmuServer streaming 5 s of a simulated PMU from a thread; stopped after the test."""
    series = make_pmu(5.0, events=False, seed=1)
    server = PmuServer([Feed.from_table("PMU1", 7, series.channels, series.values)], port=0, rate=RATE)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join(timeout=5)


def test_server_and_client_round_trip(served):
    source = C37118Source([("127.0.0.1", served.ports[0], 1)])
    items = read_until(source, threading.Event(), lambda items: len(frames_of(items)[0]) >= 60)
    config = items[0]
    assert isinstance(config, Config) and config.rate == RATE
    assert (config.station.name, config.station.idcode) == ("PMU1", 7)
    assert config.channels == served.feeds[0].pmu.channels
    times, values = frames_of(items)
    rows = (times - served.frame_time_ns(0)) * RATE / 1e9
    assert np.allclose(rows, np.round(rows), atol=1e-3)  # on the frame grid: SOC + k / rate
    assert np.all(np.diff(np.round(rows)) == 1)  # none lost, none repeated
    expected = served.feeds[0].rows[np.round(rows).astype(int)]
    assert np.allclose(values, expected.astype(np.float32), rtol=1e-6, atol=1e-4)


def test_server_answers_header_and_configuration_commands(served):
    with socket.create_connection(("127.0.0.1", served.ports[0]), timeout=5) as sock:
        sock.sendall(encode_command(7, Command.SEND_HEADER) + encode_command(7, Command.SEND_CFG1))
        reader, frames = FrameReader(), []
        deadline = time.monotonic() + 5
        while len(frames) < 2 and time.monotonic() < deadline:
            frames += reader.feed(sock.recv(4096))
    assert [f.type for f in frames] == [FrameType.HEADER, FrameType.CFG1]
    assert "tsgan" in decode_header(frames[0])


def fake_pmu(sessions: list[list[bytes]], cfg: StreamConfig) -> tuple[int, threading.Thread]:
    """A scripted PMU: per connection, answer the CFG-2 request, then after DATA_ON send that session's
    frames and hang up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve():
        with listener:
            for frames in sessions:
                sock, _ = listener.accept()
                with sock:
                    sock.settimeout(10)
                    reader = FrameReader()
                    while True:
                        commands = [decode_command(f) for f in reader.feed(sock.recv(1024))]
                        if Command.SEND_CFG2 in commands:
                            sock.sendall(encode_config(cfg))
                        if Command.DATA_ON in commands:
                            break
                    sock.sendall(b"".join(frames))
                    time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def data_frames(cfg: StreamConfig, first: int, n: int) -> list[bytes]:
    codec = DataCodec(cfg)
    row = Feed.from_table("X", 3, ["VA_mag", "VA_ang"], np.array([[7200.0, 10.0]])).rows[0]
    return [codec.encode(1_800_000_000, (first + k) * 10_000, [row * (1 + k / 1000)]) for k in range(n)]


def test_bad_crc_frame_is_counted_and_skipped():
    cfg = StreamConfig(3, [Feed.from_table("X", 3, ["VA_mag", "VA_ang"], np.ones((1, 2))).pmu], 100)
    frames = data_frames(cfg, 0, 5)
    damaged = bytearray(frames[2])
    damaged[-5] ^= 0x40
    frames[2] = bytes(damaged)
    port, thread = fake_pmu([frames], cfg)
    source = C37118Source([("127.0.0.1", port, 1)])
    items = read_until(source, threading.Event(), lambda items: len(frames_of(items)[0]) >= 4)
    thread.join(timeout=5)
    times, _ = frames_of(items)
    assert ((times - 1_800_000_000 * 10**9) // 10**7).tolist() == [0, 1, 3, 4]
    assert source.counters["bad_crc"] == 1


def test_disconnect_gives_a_gap_then_reconnects():
    cfg = StreamConfig(3, [Feed.from_table("X", 3, ["VA_mag", "VA_ang"], np.ones((1, 2))).pmu], 100)
    port, thread = fake_pmu([data_frames(cfg, 0, 3), data_frames(cfg, 50, 3)], cfg)
    source = C37118Source([("127.0.0.1", port, 1)], backoff=(0.05, 0.2))
    items = read_until(source, threading.Event(), lambda items: len(frames_of(items)[0]) >= 6)
    thread.join(timeout=5)
    kinds = [type(i).__name__ for i in items if not isinstance(i, Frames)]
    assert kinds[:3] == ["Config", "Gap", "Config"]
    assert isinstance(items[[i for i, x in enumerate(items) if isinstance(x, Gap)][0]], Gap)
    assert source.counters["reconnects"] == 1 and len(frames_of(items)[0]) == 6


def run_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tsgan_cli.stream", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for_line(stream, pattern: str, timeout: float) -> str:
    """The first line of `stream` matching `pattern`, read in a thread so the wait stays bounded."""
    found: list[str] = []

    def scan():
        for line in stream:
            if re.search(pattern, line):
                found.append(line)
                return

    thread = threading.Thread(target=scan, daemon=True)
    thread.start()
    thread.join(timeout)
    assert found, f"no line matching {pattern!r} within {timeout} s"
    return found[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_closes_the_open_event_and_exits_0(tmp_path, sig):
    model, events = tmp_path / "calm.tsgan", tmp_path / "events.jsonl"
    RobustZScore().fit(np.random.default_rng(0).uniform(-1, 1, size=(3000, 3))).save(model)
    proc = run_cli(
        "stream", "-m", str(model), "--source", "stdin://csv", "--events-out", str(events),
        "--threshold", "static", "-v", stdin=subprocess.PIPE,
    )  # fmt: skip
    try:
        t = np.arange(240) / RATE
        values = np.random.default_rng(1).uniform(-0.5, 0.5, size=(240, 3))
        values[200:, 1] = 4.0  # an anomaly on ch1 that is still going on
        lines = ["t,ch0,ch1,ch2"] + [
            f"{t[i]:.6f},{a:.4f},{b:.4f},{c:.4f}" for i, (a, b, c) in enumerate(values)
        ]
        proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.flush()
        wait_for_line(proc.stderr, "event opened", timeout=60)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    (line,) = events.read_text().splitlines()
    event = json.loads(line)
    assert event["channels"] == ["ch1"] and event["frames"] == 40 and event["station"] == "stdin"


def test_serve_and_stream_commands_end_to_end(tmp_path):
    from tsgan_cli.stream import app

    normal = tmp_path / "normal.csv"
    runner = CliRunner()
    result = runner.invoke(
        app, ["simulate", "pmu", "--seconds", "300", "--events", "0", "--seed", "100", "-o", str(normal)]
    )
    assert result.exit_code == 0, result.output
    model = tmp_path / "pmu.tsgan"
    train = make_pmu(300.0, events=False, seed=100)
    PCAReconstruction().fit(train.select([c for c in train.channels if not c.endswith("_ang")])).save(model)
    truth, events = tmp_path / "truth.jsonl", tmp_path / "events.jsonl"
    server = run_cli(
        "pmu-serve",
        "--port",
        "0",
        "--seconds",
        "8",
        "--events",
        "1",
        "--seed",
        "7",
        "--truth-out",
        str(truth),
    )
    try:
        port = re.search(r"127\.0\.0\.1:(\d+)", wait_for_line(server.stderr, "serving PMU1", 60)).group(1)
        source, scores = f"c37118://127.0.0.1:{port}", str(tmp_path / "scores.parquet")
        result = runner.invoke(
            app,
            ["stream", "-m", str(model), "--source", source, "--calibration", str(normal),
             "--events-out", str(events), "--duration", "12", "--scores-out", scores,
             "--plot", str(tmp_path / "live.html"), "--plot-every", "1"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert server.wait(timeout=30) == 0
    finally:
        server.kill()
    assert "stream: " in result.output and "latency p50" in result.output
    (expected,) = [json.loads(line) for line in truth.read_text().splitlines()]
    found = [json.loads(line) for line in events.read_text().splitlines()]
    assert {(e["station"], e["idcode"]) for e in found} == {("PMU1", 1)}
    assert any(e["start"] <= expected["end"] and e["end"] >= expected["start"] for e in found), (
        expected,
        found,
    )
    import polars as pl

    scores = pl.read_parquet(tmp_path / "scores.parquet")
    assert scores.height > 0.8 * 8 * RATE and "score_VA_mag" in scores.columns
    page = (tmp_path / "live.html").read_text()
    assert "PMU1 (IDCODE 1)" in page and "location.reload()" in page
    assert f"1 PMUs, {len(found)} events so far" in page
