"""Where streamed measurements come from: IEEE C37.118.2 over TCP, a growing CSV file, lines on stdin.

Every source has one interface: `read(stop)` yields lists of items, each item one of

- `Config(station, channels, rate)`: what a station (a PMU) reports, before its first frames and again
  whenever that changes (a new configuration frame, a CSV header);
- `Frames(station, times, values)`: rows of measurements (times in ns since 1970 UTC, values in the
  Config's channel order, NaN where a value is missing or flagged not to be used);
- `Gap(station, reason)`: the data stopped (a disconnect, a truncated file): what follows is not
  continuous with what came before.

Sources yield as soon as data arrives and return when their input ends (stdin at EOF); a C37.118 source
reconnects with exponential backoff until `stop` is set. Counters (bad lines, reconnects, and each kind
of fault in `FAULTS`) are kept in `counters`.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import selectors
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np

from tsgan.errors import ConfigError, InputError
from tsgan.stream.c37118 import (
    CONFIG_TYPES,
    STAT_CONFIG_CHANGED,
    Command,
    DataCodec,
    FrameReader,
    FrameType,
    decode_config,
    encode_command,
    time_of,
)

log = logging.getLogger("tsgan.stream")

TIME_COLUMNS = ("timestamp", "time", "t", "ts", "datetime", "date")
STATION_COLUMNS = ("pmu", "station", "pmu_id")
LABEL_COLUMNS = ("is_anomaly", "label", "anomaly")

# What a C37118Source counts, by counter name: each kind is logged once, when first seen, then only
# counted (a PMU that keeps failing must not flood the log); the summary at the end gives the counts.
FAULTS = {
    "bad_crc": "frames with a bad CRC skipped",
    "truncated": "frames cut short skipped",
    "bad_size": "losses of sync on a frame of impossible size",
    "config_changes": "new configurations mid-stream",
    "bad_config": "unusable configuration frames",
    "timeouts": "connections silent for longer than the data timeout",
    "disconnects": "connections closed or broken",
    "refused": "connection attempts refused or failed",
}


def fault_summary(counters: Counter | dict) -> str:
    """The faults counted, e.g. "3 frames with a bad CRC skipped, 1 new configurations mid-stream"."""
    return ", ".join(f"{counters[k]} {text}" for k, text in FAULTS.items() if counters.get(k)) or "no faults"


@dataclass(frozen=True)
class Station:
    """One PMU: its station name, its IDCODE (None when the source has none) and the source it came from."""

    name: str
    idcode: int | None
    source: str

    def __str__(self) -> str:
        return self.name if self.idcode is None else f"{self.name} (IDCODE {self.idcode})"


@dataclass
class Config:
    station: Station
    channels: list[str]
    rate: float | None  # frames per second, when the source says


@dataclass
class Frames:
    station: Station
    times: np.ndarray  # (n,) int64 ns since 1970 UTC
    values: np.ndarray  # (n, len(channels)) float64


@dataclass
class Gap:
    station: Station
    reason: str


Item = Config | Frames | Gap


class Source(Protocol):
    name: str
    counters: Counter

    def read(self, stop: threading.Event) -> Iterator[list[Item]]: ...


def open_sources(spec: str) -> list[Source]:
    """Sources from a --source value: c37118://HOST:PORT[/IDCODE][,HOST:PORT...], csv-tail://PATH
    (add ?from=end to skip the rows already there), stdin://csv or stdin://json."""
    scheme, sep, rest = spec.partition("://")
    if not sep or not rest:
        raise ConfigError(f"source {spec!r}: expected SCHEME://..., e.g. c37118://127.0.0.1:4712")
    if scheme == "c37118":
        return [C37118Source([_address(a) for a in rest.split(",") if a.strip()])]
    if scheme == "csv-tail":
        parts = urlsplit(spec)
        start = parse_qs(parts.query).get("from", ["start"])[0]
        if start not in ("start", "end"):
            raise ConfigError(f"source {spec!r}: from= must be start or end, got {start!r}")
        path = Path(parts.netloc + parts.path)
        parser = CsvParser(path.stem, spec)
        return [LineSource(spec, lambda stop: tail_chunks(path, stop, start == "end"), parser)]
    if scheme == "stdin" and rest in ("csv", "json"):
        parser = CsvParser("stdin", spec) if rest == "csv" else JsonParser("stdin", spec)
        return [LineSource(spec, lambda stop: fd_chunks(sys.stdin.fileno()), parser)]
    raise ConfigError(
        f"unknown source {spec!r}: use c37118://HOST:PORT[,HOST:PORT...], csv-tail://PATH, stdin://csv "
        "or stdin://json"
    )


def _address(text: str) -> tuple[str, int, int]:
    """(host, port, idcode) of HOST:PORT[/IDCODE]; the IDCODE that commands are sent to defaults to 1."""
    address, _, idcode = text.strip().partition("/")
    host, _, port = address.rpartition(":")
    try:
        return host.strip("[]") or "127.0.0.1", int(port), int(idcode or 1)
    except ValueError:
        raise ConfigError(f"c37118 address {text!r}: expected HOST:PORT or HOST:PORT/IDCODE") from None


# --- C37.118.2 over TCP -------------------------------------------------------------------------------


class _Link:
    """One TCP connection of a C37118Source: to one PMU (or PDC) stream."""

    def __init__(self, host: str, port: int, idcode: int, delay: float):
        self.host, self.port, self.idcode = host, port, idcode
        self.name = f"c37118://{host}:{port}"
        self.sock: socket.socket | None = None
        self.connected = False
        self.reader = FrameReader()
        self.codec: DataCodec | None = None
        self.stations: list[Station] = []
        self.asked_again = False  # CFG-2 asked for again after a STAT "configuration changed"
        self.payloads: list[bytes] = []  # data frames received, decoded at the end of the round
        self.times: list[int] = []
        self.sessions = 0
        self.delay = delay
        self.retry_at = 0.0
        self.last_heard = 0.0


class C37118Source:
    """A PDC client of PMU (or PDC) streams: turn data off, ask for CFG-2, turn data on, decode frames.

    All connections are served by one thread with `selectors`, so frames that arrive together (PMUs
    report at the same instants) are handed on together, and decoded in one call per data format. Frames
    with a bad CRC or size, or cut short, are skipped (see `FrameReader`). Every kind of fault in `FAULTS`
    is counted in `counters` and logged the first time only. When a connection drops, or
    nothing comes for `data_timeout` seconds, every station of its stream gets a Gap and the client
    reconnects after a delay that doubles from `backoff[0]` up to `backoff[1]` seconds, back to
    `backoff[0]` once data flows again.
    A STAT word that flags a configuration change makes the client ask for the CFG-2 again.
    """

    def __init__(
        self,
        addresses: list[tuple[str, int, int]],
        connect_timeout: float = 5.0,
        data_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.2, 5.0),
    ):
        self.links = [_Link(host, port, idcode, backoff[0]) for host, port, idcode in addresses]
        self.name = "c37118://" + ",".join(f"{link.host}:{link.port}" for link in self.links)
        self.connect_timeout, self.data_timeout, self.backoff = connect_timeout, data_timeout, backoff
        self.counters: Counter = Counter()

    def read(self, stop: threading.Event) -> Iterator[list[Item]]:
        sel = selectors.DefaultSelector()
        try:
            while not stop.is_set():
                now = time.monotonic()
                batch: list[Item] = []
                for link in self.links:
                    if link.sock is None and now >= link.retry_at:
                        self._connect(link, sel, batch)
                    elif link.sock is not None and now - link.last_heard > self._limit(link):
                        self._fail(
                            link, sel, batch, TimeoutError(f"nothing received for {self._limit(link)} s")
                        )
                waits = [link.retry_at - now for link in self.links if link.sock is None]
                for key, _ in sel.select(max(0.0, min([0.2, *waits]))):
                    link = key.data
                    try:
                        if not link.connected:
                            self._handshake(link, sel)
                        else:
                            batch += self._receive(link, sel)
                    except (OSError, InputError) as exc:
                        self._fail(link, sel, batch, exc)
                batch += self._decode([link for link in self.links if link.payloads])
                if batch:
                    yield batch
        finally:
            for link in self.links:
                if link.sock is not None:
                    link.sock.close()
            sel.close()

    def _limit(self, link: _Link) -> float:
        return self.data_timeout if link.codec is not None else self.connect_timeout

    def _connect(self, link: _Link, sel: selectors.BaseSelector, batch: list[Item]) -> None:
        """Start a non-blocking connection; `_handshake` continues once it is established."""
        try:
            found = socket.getaddrinfo(link.host, link.port, type=socket.SOCK_STREAM)
            family, kind, proto, _, address = min(found, key=lambda a: a[0] != socket.AF_INET)  # IPv4 first
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            self._fail(link, sel, batch, exc)
            return
        sock.setblocking(False)
        sock.connect_ex(address)
        link.sock, link.connected, link.last_heard = sock, False, time.monotonic()
        link.reader, link.codec, link.asked_again = FrameReader(), None, False
        sel.register(sock, selectors.EVENT_WRITE, link)

    def _handshake(self, link: _Link, sel: selectors.BaseSelector) -> None:
        error = link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise ConnectionRefusedError(error, os.strerror(error))
        link.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link.connected = True
        if link.sessions:
            self.counters["reconnects"] += 1
        link.sessions += 1
        sel.modify(link.sock, selectors.EVENT_READ, link)
        self._send(link, Command.DATA_OFF)
        self._send(link, Command.SEND_CFG2)

    def _send(self, link: _Link, command: Command) -> None:
        now = time.time()
        link.sock.sendall(encode_command(link.idcode, command, int(now), int(now % 1 * 1e6)))

    def _fail(self, link: _Link, sel: selectors.BaseSelector, batch: list[Item], exc: Exception) -> None:
        """Close a broken connection, give its stations a Gap, and schedule the next attempt."""
        if isinstance(exc, TimeoutError):
            kind = "timeouts"
        elif isinstance(exc, InputError):
            kind = "bad_config"
        elif not link.connected:
            kind = "refused"
        else:
            kind = "disconnects"
        self._note(link, kind, 1, f"{exc}; reconnecting in {link.delay:.1f} s")
        if link.sock is not None:
            sel.unregister(link.sock)
            link.sock.close()
            link.sock = None
        link.connected = False
        batch += [Gap(s, "disconnected") for s in link.stations]
        link.stations = []
        link.retry_at = time.monotonic() + link.delay
        link.delay = min(2 * link.delay, self.backoff[1])

    def _receive(self, link: _Link, sel: selectors.BaseSelector) -> list[Item]:
        """Decode what arrived on a connection: CFG-2 frames become Configs, data frames Frames."""
        data = link.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("connection closed by the PMU")
        link.last_heard = time.monotonic()
        items: list[Item] = []
        frames = self._read_frames(link, data)
        while frames:  # the reader stops after a configuration frame: go on with the data size it sets
            for frame in frames:
                if frame.type == FrameType.DATA and link.codec is not None:
                    if frame.idcode == link.codec.cfg.idcode:
                        link.payloads.append(frame.payload)
                        link.times.append(time_of(frame.soc, frame.fracsec, link.codec.cfg.time_base))
                elif frame.type == FrameType.CFG2:
                    items += self._decode([link]) if link.payloads else []  # data before it, as it was
                    items += self._configure(link, decode_config(frame))
            frames = self._read_frames(link, b"") if frames[-1].type in CONFIG_TYPES else []
        return items

    def _read_frames(self, link: _Link, data: bytes) -> list:
        """The frames `data` completes, counting the damaged ones the reader skipped."""
        reader = link.reader
        before = {k: getattr(reader, k) for k in ("bad_crc", "truncated", "bad_size")}
        frames = reader.feed(data)
        for kind, old in before.items():
            if getattr(reader, kind) > old:
                self._note(link, kind, getattr(reader, kind) - old, FAULTS[kind])
        return frames

    def _note(self, link: _Link, kind: str, n: int, detail: str) -> None:
        """Count `n` faults of `kind`; the first of each kind is logged, the later ones only counted."""
        if not self.counters[kind]:
            log.warning("%s: %s (%s; logged once, then counted)", link.name, detail, kind)
        self.counters[kind] += n

    def _configure(self, link: _Link, cfg) -> list[Item]:
        first = link.codec is None
        old = None if first else link.codec.cfg
        if old is not None and (old.pmus, old.rate) != (cfg.pmus, cfg.rate):  # not a CFG-2 asked for again
            self._note(link, "config_changes", 1, f"new configuration mid-stream, at {cfg.rate:g} frames/s")
        link.codec = DataCodec(cfg)
        link.reader.data_size = link.codec.frame_size
        link.asked_again = False
        link.stations = [Station(p.station, p.idcode, link.name) for p in cfg.pmus]
        if first:
            self._send(link, Command.DATA_ON)
        return [Config(s, p.channels, cfg.rate) for s, p in zip(link.stations, cfg.pmus, strict=True)]

    def _decode(self, links: list[_Link]) -> list[Item]:
        """Frames of the data frames the links received, decoded in one call per data format."""
        t0 = time.perf_counter()
        groups: dict[tuple, list[_Link]] = {}
        for link in links:
            groups.setdefault(link.codec.signature, []).append(link)
        items: list[Item] = []
        for group in groups.values():
            stats, values = group[0].codec.decode([p for link in group for p in link.payloads])
            first = 0
            for link in group:
                n, rows = len(link.payloads), slice(first, first + len(link.payloads))
                stamps = np.array(link.times, dtype=np.int64)
                items += [Frames(s, stamps, v[rows]) for s, v in zip(link.stations, values, strict=True)]
                if (stats[rows] & STAT_CONFIG_CHANGED).any() and not link.asked_again:
                    self._send(link, Command.SEND_CFG2)
                    link.asked_again = True
                link.delay = self.backoff[0]  # data flows: the next failure starts a new backoff
                link.payloads, link.times = [], []
                first += n
            self.counters["decoded_frames"] += first
        self.counters["decode_ns"] += int((time.perf_counter() - t0) * 1e9)
        return items


# --- line sources: a growing CSV file, CSV or JSON lines on stdin -------------------------------------


def fd_chunks(fd: int) -> Iterator[bytes]:
    """Bytes from a file descriptor as they arrive, until EOF. Raw reads: a thread blocked here holds no
    lock of a Python file object, so the process can exit while it waits (at SIGINT, say)."""
    while chunk := os.read(fd, 1 << 16):
        yield chunk


def tail_chunks(
    path: Path, stop: threading.Event, from_end: bool, poll: float = 0.05
) -> Iterator[bytes | None]:
    """Bytes appended to `path`, polled every `poll` seconds like `tail -F`; waits for the file to exist.
    None means the file was truncated or replaced: what follows starts again from its beginning (header
    included). With from_end, rows already there when it is first opened are skipped."""
    f = None
    try:
        while not stop.is_set():
            if f is None:
                try:
                    f = path.open("rb")
                except FileNotFoundError:
                    stop.wait(poll)
                    continue
                if from_end:
                    yield f.readline()  # the header
                    f.seek(0, 2)
                    from_end = False
            chunk = f.read(1 << 16)
            if chunk:
                yield chunk
                continue
            try:
                stat = path.stat()
                replaced = stat.st_size < f.tell() or stat.st_ino != os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                replaced = True
            if replaced:
                f.close()
                f = None
                yield None
            else:
                stop.wait(poll)
    finally:
        if f is not None:
            f.close()


def parse_time(text: str | float) -> int:
    """Nanoseconds since 1970 of an ISO 8601 time (UTC when no offset is given) or of epoch seconds."""
    if isinstance(text, str):
        try:
            text = float(text)
        except ValueError:
            return int(np.datetime64(text.strip().removesuffix("Z"), "ns").astype(np.int64))
    if not math.isfinite(text):
        raise ValueError(f"time {text!r} is not finite")
    whole = math.floor(text)  # seconds and their fraction apart: ns of 1.7e9 s do not fit a float64
    return whole * 1_000_000_000 + round((text - whole) * 1e9)


def format_time(ns: int) -> str:
    """ISO 8601 (UTC, no offset written) to the microsecond, as tsgan writes event times."""
    return str(np.datetime64(int(ns), "ns").astype("datetime64[us]"))


class LineParser(Protocol):
    def reset(self) -> None: ...

    def stations(self) -> list[Station]: ...

    def parse(self, lines: list[str], counters: Counter) -> list[Item]: ...


class LineSource:
    """Lines of text (from a tailed file or stdin) turned into items by a CSV or JSON parser."""

    def __init__(
        self, name: str, chunks: Callable[[threading.Event], Iterator[bytes | None]], parser: LineParser
    ):
        self.name = name
        self._chunks = chunks
        self._parser = parser
        self.counters: Counter = Counter()

    def read(self, stop: threading.Event) -> Iterator[list[Item]]:
        rest = b""
        for chunk in self._chunks(stop):
            if chunk is None:  # the input started again: a new header, and no continuity
                rest = b""
                yield [Gap(s, "input restarted") for s in self._parser.stations()]
                self._parser.reset()
                continue
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            text = [line.decode("utf-8", errors="replace").rstrip("\r") for line in lines]
            items = self._parser.parse([t for t in text if t.strip()], self.counters)
            if items:
                yield items
            if stop.is_set():
                return
        if rest.strip():
            yield self._parser.parse([rest.decode("utf-8", errors="replace")], self.counters)


def _frames_by_station(rows: list[tuple[Station, int, list[float]]]) -> list[Item]:
    """Consecutive rows of one station grouped into one Frames item each."""
    items: list[Item] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][0] != rows[start][0]:
            times = np.array([r[1] for r in rows[start:i]], dtype=np.int64)
            values = np.array([r[2] for r in rows[start:i]], dtype=np.float64)
            items.append(Frames(rows[start][0], times, values))
            start = i
    return items


def _number(value) -> float:
    """A cell as a float: missing or non-numeric cells are NaN (a missing value, never a guess)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class CsvParser:
    """CSV lines: a header (a time column, an optional station column `pmu`, `station` or `pmu_id`,
    label columns ignored, every other column a channel), then one row per frame."""

    def __init__(self, default_station: str, source: str):
        self.default_station, self.source = default_station, source
        self.reset()

    def reset(self) -> None:
        self._header: list[str] | None = None
        self._known: dict[str, Station] = {}

    def stations(self) -> list[Station]:
        return list(self._known.values())

    def parse(self, lines: list[str], counters: Counter) -> list[Item]:
        rows = list(csv.reader(lines))
        if self._header is None:
            if not rows:
                return []
            self._use_header([c.strip() for c in rows.pop(0)])
        items: list[Item] = []
        parsed: list[tuple[Station, int, list[float]]] = []
        for row in rows:
            if len(row) != len(self._header):
                counters["bad_lines"] += 1
                continue
            try:
                t = parse_time(row[self._time])
            except ValueError:
                counters["bad_lines"] += 1
                continue
            name = row[self._station] if self._station is not None else self.default_station
            station = self._known.get(name)
            if station is None:
                station = self._known[name] = Station(name, None, self.source)
                items += _frames_by_station(parsed)
                parsed = []
                items.append(Config(station, [self._header[i] for i in self._channels], None))
            parsed.append((station, t, [_number(row[i]) for i in self._channels]))
        return items + _frames_by_station(parsed)

    def _use_header(self, header: list[str]) -> None:
        lower = [h.lower() for h in header]
        time_col = next((lower.index(n) for n in TIME_COLUMNS if n in lower), None)
        if time_col is None:
            raise InputError(f"CSV header {header}: no time column (one of {', '.join(TIME_COLUMNS)})")
        self._header = header
        self._time = time_col
        self._station = next((lower.index(n) for n in STATION_COLUMNS if n in lower), None)
        skip = {time_col, self._station} | {i for i, h in enumerate(lower) if h in LABEL_COLUMNS}
        self._channels = [i for i in range(len(header)) if i not in skip]


class JsonParser:
    """JSON lines: {"timestamp": ..., "pmu": "PMU1", "VA_mag": 7200.1, ...} or with the channels under
    "values". A station's channels are those of its first line; a line with other channels is a new
    configuration for that station."""

    def __init__(self, default_station: str, source: str):
        self.default_station, self.source = default_station, source
        self.reset()

    def reset(self) -> None:
        self._known: dict[str, tuple[Station, list[str]]] = {}

    def stations(self) -> list[Station]:
        return [s for s, _ in self._known.values()]

    def parse(self, lines: list[str], counters: Counter) -> list[Item]:
        items: list[Item] = []
        parsed: list[tuple[Station, int, list[float]]] = []
        for line in lines:
            try:
                record = json.loads(line)
                time_key = next(k for k in TIME_COLUMNS if k in record)
                t = parse_time(record[time_key])
            except (ValueError, StopIteration, TypeError, AttributeError):
                counters["bad_lines"] += 1
                continue
            name = str(next((record[k] for k in STATION_COLUMNS if k in record), self.default_station))
            values = record.get("values")
            if not isinstance(values, dict):
                reserved = {time_key, *STATION_COLUMNS, *LABEL_COLUMNS}
                values = {k: v for k, v in record.items() if k not in reserved}
            known = self._known.get(name)
            if known is None or list(values) != known[1]:
                station = known[0] if known else Station(name, None, self.source)
                self._known[name] = (station, list(values))
                items += _frames_by_station(parsed)
                parsed = []
                items.append(Config(station, list(values), None))
            parsed.append((self._known[name][0], t, [_number(v) for v in values.values()]))
        return items + _frames_by_station(parsed)
