"""Faults injected into what a PMU server sends, to check that the stream client survives them.

`FaultyPmuServer` is a `PmuServer` that applies a schedule of `Fault`s, each to one PMU (feed) at a given
number of seconds after streaming started, once that PMU has a client streaming:

- truncated: one data frame cut short, the next frame right behind it (a sender that wrote part of one);
- bad_crc: one data frame with its CHK flipped;
- bad_size: one data frame whose FRAMESIZE lies (1 to 8 bytes off);
- config_change: a new CFG-2 sent unasked, with one more analog channel ("spare") and half the rate, then
  data frames in that layout (the PMU's next config_change changes it back);
- stall: no data frames for `size` seconds (default 6), the connection kept open;
- flood: the last frame sent again `size` times (default 2000) at once;
- reconnect_storm: the PMU's connections dropped as soon as they stream, `size` times (default 5);
- restart: the whole server killed (every connection and listener closed), then listening again on the
  same ports `size` seconds later (default 2); it hits every PMU.

`random_faults` draws a schedule from a seed; `injected` records each fault as it is applied (kind,
station, seconds after streaming started, frame number, size), so a run can be checked and repeated.
`COUNTED_AS` names the counter in which the client (`C37118Source.counters`, or the `OnlineDetector`'s
counts for floods) shows each kind.
"""

from __future__ import annotations

import dataclasses
import logging
import selectors
import time
from dataclasses import dataclass

import numpy as np

from tsgan.errors import ConfigError
from tsgan.stream.c37118 import DataCodec, StreamConfig, encode_config
from tsgan.stream.server import Feed, PmuServer

log = logging.getLogger("tsgan.stream")

KINDS = (
    "truncated",
    "bad_crc",
    "bad_size",
    "config_change",
    "stall",
    "flood",
    "reconnect_storm",
    "restart",
)
SIZES = {"stall": 6.0, "flood": 2000, "reconnect_storm": 5, "restart": 2.0}  # the defaults of `size`
COUNTED_AS = {
    "truncated": "truncated",
    "bad_crc": "bad_crc",
    "bad_size": "bad_size",
    "config_change": "config_changes",
    "stall": "timeouts",  # a stall longer than the client's data timeout
    "flood": "duplicates",  # one per repeated frame
    "reconnect_storm": "disconnects",  # one per dropped connection
    "restart": "refused",  # at least one per PMU while the server is down
}
_FRAME_FAULTS = ("truncated", "bad_crc", "bad_size")  # applied to the PMU's next data frame


@dataclass(frozen=True)
class Fault:
    """A fault of `kind` for feed `pmu` (ignored by restart) at `at` seconds after the first frame.
    size: seconds (stall, restart), frames (flood) or connections (reconnect_storm); 0: the default."""

    at: float
    kind: str
    pmu: int = 0
    size: float = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"fault kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.at < 0 or self.size < 0:
            raise ConfigError(f"fault {self.kind}: need at >= 0 and size >= 0, got {self.at} and {self.size}")


def random_faults(
    seed: int, pmus: int, seconds: float, every: float, kinds=KINDS, start: float = 10.0
) -> list[Fault]:
    """Faults from `start` to `seconds`, on average one every `every` seconds (exponential waits), each of
    a kind and on a PMU drawn uniformly, with default sizes."""
    rng = np.random.default_rng(seed)
    faults, at = [], start
    while (at := at + float(rng.exponential(every))) < seconds:
        kind = kinds[int(rng.integers(len(kinds)))]
        faults.append(Fault(round(at, 3), kind, int(rng.integers(pmus))))
    return faults


class FaultyPmuServer(PmuServer):
    """A PmuServer that injects `faults` (see the module docstring); `seed` draws where frames are cut
    and how much FRAMESIZE lies."""

    def __init__(self, feeds: list[Feed], faults: list[Fault], *args, seed: int = 0, **kwargs):
        super().__init__(feeds, *args, **kwargs)
        wrong = [f for f in faults if not 0 <= f.pmu < len(feeds)]
        if wrong:
            raise ConfigError(f"fault {wrong[0]} names PMU {wrong[0].pmu}; this server has {len(feeds)}")
        self.injected: list[dict] = []
        self._schedule = sorted(faults, key=lambda f: f.at)
        self._waiting: list[Fault] = []  # due, but their PMU has no client streaming yet
        self._rng = np.random.default_rng(seed)
        n = len(feeds)
        self._original = list(feeds)
        self._damage_next: list[list[str]] = [[] for _ in range(n)]
        self._stalled_until = [0.0] * n
        self._drops = [0] * n
        self._every = [1] * n  # every how many rows a frame is sent: 2 at half rate
        self._last_frame = [b""] * n
        self._down_until: float | None = None

    def _send_due(self, sel, clients) -> bool:
        self._inject(sel, clients)
        return super()._send_due(sel, clients)

    def _inject(self, sel, clients) -> None:
        now = time.time()
        elapsed = now - self.first_frame / self.rate
        while self._schedule and self._schedule[0].at <= elapsed:
            self._waiting.append(self._schedule.pop(0))
        if self._down_until is not None and now >= self._down_until:
            self._listen(self.ports)
            for i, sock in enumerate(self._listeners):
                sel.register(sock, selectors.EVENT_READ, i)
            self._down_until = None
            log.info("restarted on ports %s", ", ".join(map(str, self.ports)))
        for fault in list(self._waiting):  # streaming looked up each time: a restart drops every client
            if fault.kind == "restart" or any(c.feed == fault.pmu and c.streaming for c in clients.values()):
                self._waiting.remove(fault)
                self._apply(fault, now, elapsed, sel, clients)
        for sock, client in list(clients.items()):
            if client.streaming and self._drops[client.feed]:
                self._drops[client.feed] -= 1
                self._drop(sock, sel, clients)

    def _apply(self, fault: Fault, now: float, elapsed: float, sel, clients) -> None:
        size = fault.size or SIZES.get(fault.kind, 0)
        i = fault.pmu
        station = "all" if fault.kind == "restart" else self.feeds[i].pmu.station
        self.injected.append(
            {
                "kind": fault.kind,
                "station": station,
                "at": round(elapsed, 3),
                "frame": self.sent,
                "size": size,
            }
        )
        log.info("injecting %s into %s (size %g)", fault.kind, station, size)
        targets = [s for s, c in clients.items() if c.feed == i and c.streaming]
        if fault.kind in _FRAME_FAULTS:
            self._damage_next[i].append(fault.kind)
        elif fault.kind == "stall":
            self._stalled_until[i] = now + size
        elif fault.kind == "flood":
            for sock in targets:
                self._write(sock, self._last_frame[i] * int(size), sel, clients)
        elif fault.kind == "reconnect_storm":
            self._drops[i] += int(size)
        elif fault.kind == "config_change":
            self._change_config(i, now, sel, targets, clients)
        else:  # restart
            for sock in list(clients):
                self._drop(sock, sel, clients)
            for sock in self._listeners:
                sel.unregister(sock)
            self.close()
            self._listeners = []
            self._down_until = now + size

    def _change_config(self, i: int, now: float, sel, targets, clients) -> None:
        """Switch feed i between its own configuration and one with a spare analog at half the rate; tell
        its clients with an unasked CFG-2 (and answer later requests with the new one)."""
        current = self.configs[i].pmus[0]
        changed = self._every[i] == 1
        base = self._original[i]
        if changed:
            pmu = dataclasses.replace(
                base.pmu, analogs=[*base.pmu.analogs, "spare"], analog_units=[*base.pmu.analog_units, 0]
            )
            rows = np.column_stack([base.rows, np.zeros(len(base.rows))])
        else:
            pmu, rows = base.pmu, base.rows
        pmu = dataclasses.replace(pmu, cfgcnt=(current.cfgcnt + 1) & 0xFFFF)
        self._every[i] = 2 if changed else 1
        self.feeds[i] = Feed(pmu, rows)
        self.configs[i] = StreamConfig(pmu.idcode, [pmu], self.rate / self._every[i])
        self.codecs[i] = DataCodec(self.configs[i])
        frame = encode_config(self.configs[i], int(now), int(now % 1 * 1_000_000))
        for sock in targets:
            self._write(sock, frame, sel, clients)

    def _frame(self, feed: int, k: int, soc: int, fracsec: int) -> bytes:
        if k % self._every[feed] or time.time() < self._stalled_until[feed]:
            return b""
        frame = self._last_frame[feed] = super()._frame(feed, k, soc, fracsec)
        if not self._damage_next[feed]:
            return frame
        kind, raw = self._damage_next[feed].pop(0), bytearray(frame)
        if kind == "truncated":  # at least SYNC, type and FRAMESIZE, at most all but the CHK's last byte
            return bytes(raw[: int(self._rng.integers(4, len(raw)))])
        if kind == "bad_crc":
            raw[-1] ^= 0xFF
        else:
            lie = int(self._rng.integers(1, 9)) * (1 if self._rng.random() < 0.5 else -1)
            raw[2:4] = (len(raw) + lie).to_bytes(2, "big")
        return bytes(raw)
