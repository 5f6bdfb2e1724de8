"""A small IEEE C37.118.2 PMU server: streams rows (simulated or from a file) to any PDC client.

Each served PMU listens on its own TCP port and answers command frames: turn data off and on, send the
header frame, send CFG-1 or CFG-2 (CFG-3 and extended frames are ignored). Data frames go out at the
configured rate to every client that turned data on, timestamped like a real PMU: frame k at exactly
(n0 + k) / rate seconds since 1970, as SOC and FRACSEC (TIME_BASE 1,000,000), where n0 is the first
frame boundary after the first client turned data on. Rows are paced against the wall clock, so a busy
machine sends late frames in a burst rather than dropping them. Commands are accepted whatever IDCODE
they carry (a lenient PMU).

One thread serves every PMU and client with `selectors`; writes are non-blocking, and a client that
stops reading (more than 4 MiB queued) is disconnected.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tsgan.errors import ConfigError
from tsgan.stream.c37118 import (
    TIME_BASE,
    Command,
    DataCodec,
    FrameReader,
    FrameType,
    PmuConfig,
    StreamConfig,
    decode_command,
    encode_config,
    encode_header,
)

log = logging.getLogger("tsgan.stream")

FORMATS = ("float", "int")
_MAX_QUEUED = 4 << 20


def pmu_config(station: str, idcode: int, channels: list[str], values: np.ndarray, fmt: str = "float"):
    """The PmuConfig that carries `channels`, and the column of `values` behind each of its channels.

    Pairs X_mag/X_ang become phasor X (a current when X starts with I, else a voltage); `freq` and
    `rocof` become FREQ and DFREQ (-1 where absent: sent as 60 Hz and 0 Hz/s); every other channel is an
    analog. With fmt="int", phasors, FREQ/DFREQ and analogs are 16-bit integers (PHUNIT chosen so the
    largest magnitude fits, analogs unscaled); with "float", all are 32-bit floats. Angles are polar.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    phasors = [c[:-4] for c in channels if c.endswith("_mag") and f"{c[:-4]}_ang" in channels]
    paired = {f"{p}_{part}" for p in phasors for part in ("mag", "ang")}
    analogs = [c for c in channels if c not in paired and c not in ("freq", "rocof")]
    units = []
    for p in phasors:
        largest = float(np.nanmax(np.abs(values[:, channels.index(f"{p}_mag")]), initial=1.0))
        units.append(
            ("I" if p.upper().startswith("I") else "V", max(1, int(np.ceil(largest * 1.5 / 65_535e-5))))
        )
    integer = fmt == "int"
    pmu = PmuConfig(
        station=station,
        idcode=idcode,
        phasors=phasors,
        phasor_units=units,
        analogs=analogs,
        analog_units=[0] * len(analogs),
        phasor_float=not integer,
        analog_float=not integer,
        freq_float=not integer,
    )
    columns = [channels.index(c) if c in channels else -1 for c in pmu.channels]
    return pmu, columns


@dataclass
class Feed:
    """One PMU to serve: its configuration and its rows (T, len(pmu.channels)), one per frame."""

    pmu: PmuConfig
    rows: np.ndarray

    @classmethod
    def from_table(
        cls, station: str, idcode: int, channels: list[str], values: np.ndarray, fmt: str = "float"
    ):
        pmu, columns = pmu_config(station, idcode, channels, values, fmt)
        rows = np.empty((len(values), len(columns)), dtype=np.float64)
        for i, c in enumerate(columns):
            rows[:, i] = values[:, c] if c >= 0 else (pmu.fnom if pmu.channels[i] == "freq" else 0.0)
        return cls(pmu, rows)


@dataclass
class _Client:
    feed: int
    reader: FrameReader = field(default_factory=FrameReader)
    streaming: bool = False
    out: bytearray = field(default_factory=bytearray)  # bytes the socket has not taken yet


class PmuServer:
    """Serves `feeds` on ports port, port+1, ... (port 0: any free ports, listed in `ports`)."""

    def __init__(
        self,
        feeds: list[Feed],
        host: str = "127.0.0.1",
        port: int = 4712,
        rate: int = 120,
        loop: bool = False,
        header: str = "tsgan simulated PMU",
    ):
        if rate < 1 or int(rate) != rate:
            raise ConfigError(f"rate must be a whole number of frames per second >= 1, got {rate}")
        if not feeds or len({len(f.rows) for f in feeds}) != 1:
            raise ConfigError("give at least one PMU to serve, all with the same number of rows")
        self.feeds, self.rate, self.loop, self.header = feeds, int(rate), loop, header
        self.host = host
        self.configs = [StreamConfig(f.pmu.idcode, [f.pmu], self.rate) for f in feeds]
        self.codecs = [DataCodec(c) for c in self.configs]
        self._listen([port + i if port else 0 for i in range(len(feeds))])
        self.ports = [s.getsockname()[1] for s in self._listeners]
        self.first_frame: int | None = None  # n0: frames since 1970 at the first frame sent
        self.sent = 0  # frames (rows) sent so far, per feed

    def _listen(self, ports: list[int]) -> None:
        """Listen on `ports` (0: any free port), one per feed; all or none."""
        self._listeners = []
        try:
            for p in ports:
                sock = socket.create_server((self.host, p))
                sock.setblocking(False)
                self._listeners.append(sock)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        for sock in self._listeners:
            sock.close()

    def frame_time_ns(self, k: int) -> int:
        """Time of frame k (row k of each feed) in ns since 1970, once streaming has started."""
        return (self.first_frame + k) * 1_000_000_000 // self.rate

    def serve(self, stop: threading.Event, on_start: Callable[[PmuServer], None] | None = None) -> None:
        """Serve until `stop` is set or, without `loop`, every row has been sent."""
        sel = selectors.DefaultSelector()
        for i, sock in enumerate(self._listeners):
            sel.register(sock, selectors.EVENT_READ, i)
        clients: dict[socket.socket, _Client] = {}
        try:
            while not stop.is_set():
                wait = 0.2
                if self.first_frame is not None:
                    wait = min(wait, max(0.0, (self.first_frame + self.sent) / self.rate - time.time()))
                for key, mask in sel.select(wait):
                    if key.fileobj in self._listeners:
                        self._accept(key.fileobj, key.data, sel, clients)
                    else:
                        self._serve_client(key.fileobj, mask, sel, clients, on_start)
                if self.first_frame is not None and not self._send_due(sel, clients):
                    break
        finally:
            for sock in list(clients):
                self._drop(sock, sel, clients)
            sel.close()
            self.close()

    def _accept(self, listener, feed: int, sel, clients) -> None:
        try:
            sock, address = listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        clients[sock] = _Client(feed)
        sel.register(sock, selectors.EVENT_READ, feed)
        log.info("%s: client %s:%d connected", self.feeds[feed].pmu.station, *address[:2])

    def _serve_client(self, sock, mask, sel, clients, on_start) -> None:
        client = clients[sock]
        if mask & selectors.EVENT_WRITE:
            self._write(sock, b"", sel, clients)
        if not mask & selectors.EVENT_READ or sock not in clients:
            return
        try:
            data = sock.recv(1 << 14)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock, sel, clients)
            return
        for frame in client.reader.feed(data):
            if frame.type == FrameType.COMMAND:
                self._command(sock, client, decode_command(frame), sel, clients, on_start)

    def _command(self, sock, client: _Client, command: int, sel, clients, on_start) -> None:
        cfg = self.configs[client.feed]
        now = time.time()
        soc, fracsec = int(now), int(now % 1 * TIME_BASE)
        if command == Command.DATA_ON:
            client.streaming = True
            if self.first_frame is None:
                self.first_frame = int(now * self.rate) + 1
                if on_start is not None:
                    on_start(self)
        elif command == Command.DATA_OFF:
            client.streaming = False
        elif command in (Command.SEND_CFG1, Command.SEND_CFG2):
            kind = FrameType.CFG1 if command == Command.SEND_CFG1 else FrameType.CFG2
            self._write(sock, encode_config(cfg, soc, fracsec, kind), sel, clients)
        elif command == Command.SEND_HEADER:
            self._write(sock, encode_header(cfg.idcode, self.header, soc, fracsec), sel, clients)

    def _send_due(self, sel, clients) -> bool:
        """Send every frame whose time has come; False once the rows are exhausted (without `loop`)."""
        due = int(time.time() * self.rate) - self.first_frame + 1  # frames whose time has passed
        while self.sent < due:
            k = self.sent
            n_rows = len(self.feeds[0].rows)
            if k >= n_rows and not self.loop:
                return False
            n = self.first_frame + k
            soc, fracsec = n // self.rate, (n % self.rate) * TIME_BASE // self.rate
            for i in range(len(self.feeds)):
                targets = [s for s, c in clients.items() if c.feed == i and c.streaming]
                if targets:
                    frame = self._frame(i, k, soc, fracsec)
                    for sock in targets:
                        self._write(sock, frame, sel, clients)
            self.sent += 1
        return True

    def _frame(self, feed: int, k: int, soc: int, fracsec: int) -> bytes:
        """The data frame of row k of a feed (what `tsgan.stream.faults` changes to inject faults)."""
        rows = self.feeds[feed].rows
        return self.codecs[feed].encode(soc, fracsec, [rows[k % len(rows)]])

    def _write(self, sock, data: bytes, sel, clients) -> None:
        """Send what is queued for a client plus `data`, without blocking; queue the rest."""
        client = clients.get(sock)
        if client is None:
            return
        client.out += data
        was_waiting = len(client.out) > len(data)  # EVENT_WRITE is registered exactly while bytes wait
        try:
            sent = sock.send(client.out) if client.out else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(sock, sel, clients)
            return
        del client.out[:sent]
        if len(client.out) > _MAX_QUEUED:
            log.warning("%s: a client stopped reading; disconnected", self.feeds[client.feed].pmu.station)
            self._drop(sock, sel, clients)
        elif was_waiting != bool(client.out):  # ask to be told when it can take more, or stop asking
            sel.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0), client.feed)

    def _drop(self, sock, sel, clients) -> None:
        clients.pop(sock, None)
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
