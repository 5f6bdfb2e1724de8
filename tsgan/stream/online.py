"""Online detection: a fitted tsgan detector scoring live PMU streams, with adapting thresholds and events.

Per station (PMU) the detector keeps a ring buffer of scaled rows. Once `window` rows have arrived since
the start or the last gap, and then every `hop` new rows, it scores the last max(window, new) rows with
the detector's own `_channel_scores` and keeps the scores of the new rows only, so every row is scored
exactly once, with `window` rows of context. Stations that are due together are scored in one call: their
blocks laid end to end when the detector scores them so exactly as it scores each alone (checked once at
start), else as a batch of blocks (`Detector._block_scores`; the windowed kNN and PCA, and auto with them,
share one distance or projection computation among the stations).

Scores are the detector's normalised channel scores. Each station's per-channel thresholds start as the
detector's validation-calibrated ones and become streaming POT thresholds (SPOT or DSPOT,
`tsgan.thresholds`) fitted on that station's first `init_seconds` of unflagged scores (or at once on
given calibration scores), which then keep adapting. Stations initialised on the same calibration scores
share one SPOT of many channels (a "bank", one slot of channels per station): SPOT treats channels
independently and skips NaN, so one update per row serves every station scored at that moment.

A row is flagged when any channel exceeds its threshold, or, for a model with `point_share`, as in batch
scoring: when the mean excess of that share of its channels (the most anomalous) is positive
(`max_flagged` and `series_floor`, rules over a whole series, have no meaning for a stream). An event
opens at a flagged row and closes at the first scored row `quiet_period` seconds after its last flagged
row; it is reported when it has at least `min_frames` flagged rows (3 by default: at 120 frames/s,
single-frame blips of one noisy channel are most of the false alarms); its channels are those that
exceeded their threshold on its flagged rows, ranked by their mean excess over them (as `tsgan.events`
ranks them).

Gaps (a disconnect, a jump in time of more than `gap_factor` frame periods, a row with a missing value)
restart the station's buffer: no row is invented and none is scored across a gap. Rows whose time is not
after the station's last row are dropped and counted. Open events stay open across gaps.

Frames are only queued by `handle`; a station's queued frames are checked and buffered together once
they would make it due (or at a gap, a new configuration, the end), so a row costs the same whether its
source delivers one frame at a time or many.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tsgan.detectors.base import Detector
from tsgan.errors import ConfigError, TsganError
from tsgan.events import Interval
from tsgan.stream.sources import Config, Frames, Gap, Item, Station, format_time
from tsgan.thresholds import DSPOT, SPOT

log = logging.getLogger("tsgan.stream")

THRESHOLDS = ("spot", "dspot", "static")
BANK_SLOTS = 16  # stations per shared SPOT: fitting one costs BANK_SLOTS x channels GPD fits
# New peaks per channel between GPD refits. The threshold moves with every peak (n and N_t change), but
# the shape is refitted on up to 2000 peaks only every 256 new ones (at 120 frames/s and 2% of scores
# above t, every ~2 minutes per channel): with 50 PMUs x 8 channels, SPOT's default of 32 costs a
# tenth of a core in refits alone, for a fit that 32 more peaks in 2000 barely move.
REFIT_EVERY = 256

ScoreCallback = Callable[[Station, np.ndarray, np.ndarray, np.ndarray], None]
"""Called with (station, times (n,), excess over threshold (n, C_active), flags (n, C_active))."""


@dataclass
class StreamEvent:
    """A finished event of one station. `closed_by` is the time of the row that closed it (None when it
    was closed by the end of the stream): the event line cannot be written before that row arrives."""

    station: Station
    interval: Interval
    start_ns: int
    end_ns: int
    peak_ns: int
    frames: int
    closed_by: int | None

    def to_dict(self) -> dict:
        """The JSON line: station, IDCODE, source, times (ISO 8601, UTC), ranked channels, peak score."""
        return {
            "station": self.station.name,
            "idcode": self.station.idcode,
            "source": self.station.source,
            "start": self.interval.start_time,
            "end": self.interval.end_time,
            "duration_s": round((self.end_ns - self.start_ns) / 1e9, 6),
            "frames": self.frames,
            "peak_score": round(self.interval.peak_score, 4),
            "peak_time": format_time(self.peak_ns),
            "channels": self.interval.channels,
            "channel_scores": [round(s, 4) for s in self.interval.channel_scores],
        }


@dataclass
class _OpenEvent:
    start: int  # station row numbers of the first and last flagged rows
    end: int
    first: int  # their times (ns)
    last: int
    peak: float
    peak_at: int
    sums: np.ndarray  # (C_active,) excess summed over the flagged rows
    exceeded: np.ndarray  # (C_active,) bool: exceeded its threshold on some flagged row
    frames: int = 0


@dataclass
class _Bank:
    """One SPOT (or DSPOT) over `slots` stations x C channels; station k owns columns k*C..(k+1)*C-1."""

    spot: SPOT
    slots: int
    free: list[int]


@dataclass
class _Station:
    station: Station
    columns: np.ndarray | None  # where the model's channels are in the source's channels; None: unusable
    period_ns: float | None  # from the source's rate, else the smallest step seen
    buf: np.ndarray  # (capacity, C_active) scaled rows; rows 0..n-1 hold the newest, oldest first
    times: np.ndarray  # (capacity,) int64
    n: int = 0
    rows: int = 0  # rows received since the station appeared
    filled: int = 0  # rows since the last (re)start
    unscored: int = 0
    last_time: int | None = None
    pending: list[Frames] = field(default_factory=list)  # frames received, not yet buffered
    pending_rows: int = 0
    bank: _Bank | None = None  # the streaming thresholds, once fitted: a slot of a bank
    slot: int = 0
    warmup: list[np.ndarray] = field(default_factory=list)  # unflagged scores until SPOT is fitted
    warmup_from: int | None = None
    event: _OpenEvent | None = None


class OnlineDetector:
    """Streams of many stations scored by one fitted detector; feed `handle`, then call `score_due`."""

    def __init__(
        self,
        detector: Detector,
        *,
        hop: int = 6,
        window: int | None = None,
        threshold: str = "spot",
        q: float = 1e-4,
        level: float = 0.98,
        depth: int = 1200,
        init_seconds: float = 60.0,
        init_scores: np.ndarray | None = None,
        quiet_period: float = 1.0,
        min_frames: int = 3,
        gap_factor: float = 1.5,
        on_scores: ScoreCallback | None = None,
    ):
        detector._check_fitted()
        if detector.config.reference_rows:
            raise ConfigError(
                f"this {detector.name} model recalibrates on the first {detector.config.reference_rows} "
                "rows of each series (reference_rows), which a stream does not have: streams calibrate their "
                "thresholds on each station's first --init-seconds instead; refit with reference_rows=0"
            )
        if detector._thresholds_move():
            # Its thresholds are offsets above a moving median: the static thresholds and the warm-up,
            # which compare with the model's own, would read them as levels.
            raise ConfigError(
                f"this {detector.name} model's thresholds follow each series (threshold=drift), which a "
                "stream does not apply: refit with --threshold pot, and stream with --threshold dspot for "
                "thresholds that follow each station's level"
            )
        if threshold not in THRESHOLDS:
            raise ConfigError(f"threshold {threshold!r}: use one of {', '.join(THRESHOLDS)}")
        if hop < 1 or min_frames < 1 or quiet_period < 0 or gap_factor <= 1:
            raise ConfigError(
                f"need hop >= 1, min_frames >= 1, quiet_period >= 0 and gap_factor > 1; got {hop}, "
                f"{min_frames}, {quiet_period} and {gap_factor}"
            )
        self.hop = hop
        self.window = max(detector.min_length(), hop) if window is None else window
        if self.window < detector.min_length():
            raise ConfigError(
                f"window {self.window} is shorter than the {detector.name} model's window "
                f"({detector.min_length()} rows); give --window {detector.min_length()} or more"
            )
        self.detector = detector = _scoring_whole_windows(detector, self.window)
        self.threshold, self.q, self.level, self.depth = threshold, q, level, depth
        self.init_seconds = init_seconds
        self.init_scores = init_scores
        self.quiet_ns = int(quiet_period * 1e9)
        self.min_frames = min_frames
        self.gap_factor = gap_factor
        self.on_scores = on_scores
        self.channels = [c for c, a in zip(detector.channels_, detector.scaler_.active_, strict=True) if a]
        self.counts: Counter = Counter()
        self.seconds: Counter = Counter()  # time spent per stage
        self.latencies: deque[np.ndarray] = deque(maxlen=20_000)  # recent ns from a row's time to its flag
        self._stations: dict[Station, _Station] = {}
        self._banks: list[_Bank] = []  # shared banks fitted on init_scores
        self._finished: list[StreamEvent] = []
        self._stackable = _scores_stack(detector, self.window)

    # --- input ------------------------------------------------------------------------------------

    def handle(self, item: Item) -> None:
        state = self._stations.get(item.station)
        if isinstance(item, Frames):
            self.counts["frames"] += len(item.times)
            if state is None or state.columns is None:
                self.counts["frames_unusable"] += len(item.times)
            else:
                state.pending.append(item)
                state.pending_rows += len(item.times)
        elif isinstance(item, Config):
            self._config(item, state)
        elif isinstance(item, Gap) and state is not None:
            self._ingest(state)
            self._restart(state, item.reason)

    def _config(self, cfg: Config, state: _Station | None) -> None:
        missing = [c for c in self.detector.channels_ if c not in cfg.channels]
        columns = None if missing else np.array([cfg.channels.index(c) for c in self.detector.channels_])
        if missing:
            log.error(
                "%s: no channel %s in its configuration; it is not scored", cfg.station, ", ".join(missing)
            )
        period = 1e9 / cfg.rate if cfg.rate else None
        if state is None:
            capacity = 4 * self.window
            state = _Station(
                cfg.station,
                columns,
                period,
                np.empty((capacity, len(self.channels)), dtype=np.float32),
                np.empty(capacity, dtype=np.int64),
            )
            if self.init_scores is not None and self.threshold != "static":
                self._take_slot(state)
            self._stations[cfg.station] = state
        else:
            self._ingest(state)
            self._restart(state, "new configuration")
            state.columns, state.period_ns = columns, period

    def _ingest(self, state: _Station) -> None:
        """Buffer a station's queued frames: drop repeated and late rows, cut at gaps, scale, push."""
        if not state.pending:
            return
        t0 = time.perf_counter()
        if len(state.pending) == 1:
            times, values = state.pending[0].times, state.pending[0].values
        else:
            times = np.concatenate([f.times for f in state.pending])
            values = np.concatenate([f.values for f in state.pending])
        state.pending, state.pending_rows = [], 0
        last = -1 if state.last_time is None else state.last_time
        previous = np.maximum.accumulate(np.concatenate([[last], times]))[:-1]
        keep = times > previous
        if not keep.all():
            if not self.counts["duplicates"] + self.counts["out_of_order"]:  # a flood must not flood the log
                log.warning(
                    "%s: %d repeated or late frames dropped (logged once, then counted)",
                    state.station,
                    int((~keep).sum()),
                )
            self.counts["duplicates"] += int((times == previous).sum())
            self.counts["out_of_order"] += int((times < previous).sum())
            times, values = times[keep], values[keep]
        if len(times):
            x = self.detector.scaler_.transform(values[:, state.columns])
            step = np.diff(times, prepend=times[0] if state.last_time is None else state.last_time)
            if state.period_ns is None:
                positive = step[step > 0]
                state.period_ns = float(positive.min()) if len(positive) else None
            state.last_time = int(times[-1])
            missing = ~np.isfinite(x).all(axis=1)
            cuts = missing | (step > self.gap_factor * state.period_ns) if state.period_ns else missing
            start = 0
            for cut in np.flatnonzero(cuts).tolist():  # usually none
                self._push(state, times[start:cut], x[start:cut])
                self._restart(state, "missing values" if missing[cut] else "missing frames")
                start = cut + 1 if missing[cut] else cut
            self._push(state, times[start:], x[start:])
        self.seconds["buffer"] += time.perf_counter() - t0

    def _push(self, state: _Station, times: np.ndarray, x: np.ndarray) -> None:
        """Append rows to the ring buffer, keeping the older rows that the next scoring still needs."""
        n_new = len(times)
        if not n_new:
            return
        if state.n + n_new > len(state.buf):  # full: move the rows still needed to the front (or grow)
            keep = min(state.n, max(self.window - n_new, state.unscored))
            capacity = max(len(state.buf), 2 * (keep + n_new))
            buf = (
                state.buf
                if capacity == len(state.buf)
                else np.empty((capacity, len(self.channels)), np.float32)
            )
            stamps = state.times if capacity == len(state.times) else np.empty(capacity, np.int64)
            buf[:keep] = state.buf[state.n - keep : state.n]
            stamps[:keep] = state.times[state.n - keep : state.n]
            state.buf, state.times, state.n = buf, stamps, keep
        state.buf[state.n : state.n + n_new] = x
        state.times[state.n : state.n + n_new] = times
        state.n += n_new
        state.rows += n_new
        state.filled += n_new
        state.unscored += n_new

    def _restart(self, state: _Station, reason: str) -> None:
        """A gap: score the rows still pending, then start the buffer afresh (an open event stays open)."""
        if state.filled >= self.window and state.unscored:
            self._score([state])
        if state.filled:
            self.counts["gaps"] += 1
            log.info("%s: gap (%s); scoring restarts after %d frames", state.station, reason, self.window)
        state.n = state.filled = state.unscored = 0

    # --- scoring ----------------------------------------------------------------------------------

    def score_due(self) -> list[StreamEvent]:
        """Score every station with `hop` new rows, together with those at least half-way there (PMUs that
        report at the same instants but whose frames came a moment later), so that stations share
        rounds of scoring instead of each taking its own; return the events that finished."""
        half = (self.hop + 1) // 2
        for state in self._stations.values():
            if state.pending_rows and state.unscored + state.pending_rows >= half:
                self._ingest(state)
        ready = [s for s in self._stations.values() if s.filled >= self.window and s.unscored >= half]
        if any(s.unscored >= self.hop for s in ready):
            self._score(ready)
        finished, self._finished = self._finished, []
        return finished

    def close(self) -> list[StreamEvent]:
        """End of stream: score what can be scored, then close every open event."""
        for state in self._stations.values():
            self._ingest(state)
        pending = [s for s in self._stations.values() if s.filled >= self.window and s.unscored]
        if pending:
            self._score(pending)
        for state in self._stations.values():
            if state.event is not None:
                self._finish(state, None)
        finished, self._finished = self._finished, []
        return finished

    def _score(self, states: list[_Station]) -> None:
        t0 = time.perf_counter()
        det = self.detector
        # One block length for every station that has it (at least a window; for a detector whose blocks
        # can be laid end to end, a multiple of it), so that their blocks are scored in one call.
        longest = max(s.unscored for s in states)
        if self._stackable:
            length = self.window * -(-longest // self.window)
        else:
            length = max(self.window, longest)
        groups = [(length, [s for s in states if s.n >= length])]
        groups += [(max(self.window, s.unscored), [s]) for s in states if s.n < length]
        norm: dict[Station, np.ndarray] = {}
        for length, group in groups:
            if not group:
                continue
            blocks = np.stack([s.buf[s.n - length : s.n] for s in group])
            if self._stackable:
                end_to_end = blocks.reshape(-1, blocks.shape[-1])  # a view of the stacked blocks
                scores = det._channel_scores(end_to_end, False).reshape(blocks.shape)
            else:
                scores = det._block_scores(blocks)
            self.counts["model_calls"] += 1
            for state, score in zip(group, scores, strict=True):
                norm[state.station] = det._normalise(score[length - state.unscored :])
        t1 = time.perf_counter()
        judged = self._judge(states, norm)
        for state in states:
            excess, flags = judged[state.station]
            times = state.times[state.n - state.unscored : state.n].copy()
            first_row = state.rows - state.unscored
            self.counts["scored"] += state.unscored
            state.unscored = 0
            if state.bank is None and self.threshold != "static":
                self._warm_up(state, times, norm[state.station][~flags.any(axis=1)])
            if self.on_scores is not None:
                self.on_scores(state.station, times, excess, flags)
            self._events(state, times, first_row, excess, flags)
            self.latencies.append(time.time_ns() - times)
        self.seconds["model"] += t1 - t0
        self.seconds["thresholds_events"] += time.perf_counter() - t1

    def _judge(self, states: list[_Station], norm: dict[Station, np.ndarray]) -> dict:
        """(excess over threshold, flags) of each station's new rows: against the detector's own
        thresholds until its streaming ones are fitted, else one bank update per row for all stations
        of a bank (the others' columns NaN, which SPOT skips)."""
        out = {}
        by_bank: dict[int, list[_Station]] = {}
        for state in states:
            if state.bank is None:
                excess = norm[state.station] - self.detector.thresholds_
                out[state.station] = (excess, excess > 0)
            else:
                by_bank.setdefault(id(state.bank), []).append(state)
        n_channels = len(self.channels)
        for group in by_bank.values():
            bank = group[0].bank
            columns = {s.station: slice(s.slot * n_channels, (s.slot + 1) * n_channels) for s in group}
            rows = np.full((max(len(norm[s.station]) for s in group), bank.slots * n_channels), np.nan)
            for s in group:
                rows[: len(norm[s.station]), columns[s.station]] = norm[s.station]
            excess, flags = np.empty_like(rows), np.empty(rows.shape, dtype=bool)
            for i, row in enumerate(rows):
                excess[i] = row - bank.spot.threshold
                flags[i] = bank.spot.update(row)
            for s in group:
                n = len(norm[s.station])
                out[s.station] = (
                    excess[:n, columns[s.station]].astype(np.float32),
                    flags[:n, columns[s.station]],
                )
        return out

    def _new_spot(self) -> SPOT:
        if self.threshold == "dspot":
            return DSPOT(self.q, self.level, self.depth, refit_every=REFIT_EVERY)
        return SPOT(self.q, self.level, refit_every=REFIT_EVERY)

    def _take_slot(self, state: _Station) -> None:
        """Give a new station a slot of a bank fitted on the calibration scores (a new bank when full)."""
        bank = next((b for b in self._banks if b.free), None)
        if bank is None:
            slots = BANK_SLOTS
            spot = self._new_spot().fit(np.tile(self.init_scores, (1, slots)))
            bank = _Bank(spot, slots, list(range(slots - 1, -1, -1)))
            self._banks.append(bank)
        state.bank, state.slot = bank, bank.free.pop()

    def _warm_up(self, state: _Station, times: np.ndarray, normal: np.ndarray) -> None:
        """Collect a station's unflagged scores; after `init_seconds` of them, fit its own SPOT."""
        state.warmup.append(normal)
        state.warmup_from = times[0] if state.warmup_from is None else state.warmup_from
        if times[-1] - state.warmup_from < self.init_seconds * 1e9:
            return
        scores = np.concatenate(state.warmup)
        state.warmup, state.warmup_from = [], None
        try:
            state.bank, state.slot = _Bank(self._new_spot().fit(scores), 1, []), 0
        except TsganError as exc:
            log.warning(
                "%s: thresholds not fitted on %d rows (%s); warming up again", state.station, len(scores), exc
            )
            return
        log.info("%s: %s thresholds fitted on %d rows", state.station, self.threshold, len(scores))

    # --- events -----------------------------------------------------------------------------------

    def _events(
        self, state: _Station, times: np.ndarray, first_row: int, excess: np.ndarray, flags: np.ndarray
    ) -> None:
        # As in batch scoring, the model's point_share decides which rows are flagged (None: any channel
        # over its threshold), and a channel counts only on flagged rows.
        share = self.detector.config.point_share
        flagged = flags.any(axis=1) if share is None else self.detector._point(excess) > 0
        if state.event is None and not flagged.any():
            return
        for i, t in enumerate(times.tolist()):
            event = state.event
            if flagged[i]:
                if event is None:
                    n = len(self.channels)
                    event = state.event = _OpenEvent(
                        first_row + i, first_row + i, t, t, -np.inf, t, np.zeros(n), np.zeros(n, dtype=bool)
                    )
                    log.info("%s: event opened at %s", state.station, format_time(t))
                    self.counts["events_opened"] += 1
                row = excess[i]
                event.end, event.last, event.frames = first_row + i, t, event.frames + 1
                event.sums += row
                event.exceeded |= flags[i]
                if row.max() > event.peak:
                    event.peak, event.peak_at = float(row.max()), t
            elif event is not None and t - event.last >= self.quiet_ns:
                self._finish(state, t)

    def _finish(self, state: _Station, closed_by: int | None) -> None:
        event, state.event = state.event, None
        if event.frames < self.min_frames:
            self.counts["events_suppressed"] += 1
            return
        means = event.sums / event.frames
        order = np.argsort(-means, kind="stable")
        listed = order[event.exceeded[order]]
        interval = Interval(
            start=event.start,
            end=event.end,
            peak_score=event.peak,
            channels=[self.channels[c] for c in listed],
            start_time=format_time(event.first),
            end_time=format_time(event.last),
            channel_scores=means[listed].tolist(),
        )
        self.counts["events"] += 1
        self._finished.append(
            StreamEvent(
                state.station, interval, event.first, event.last, event.peak_at, event.frames, closed_by
            )
        )

    # --- reporting --------------------------------------------------------------------------------

    def summary(self) -> dict:
        """Counts, seconds per stage, and the p50/p99 latency (ms) from a row's time to its flag."""
        return {
            "stations": len(self._stations),
            **dict(self.counts),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "latency_ms": latency_summary(np.concatenate(list(self.latencies)) if self.latencies else []),
        }


def latency_summary(latencies_ns) -> dict:
    """p50 and p99 in milliseconds of latencies in nanoseconds (NaN when there are none)."""
    ms = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    if not len(ms):
        return {"p50": float("nan"), "p99": float("nan")}
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def _scoring_whole_windows(detector: Detector, window: int) -> Detector:
    """The detector, or for one that scores overlapping windows (MAD-GAN's `score_stride`) a copy sharing
    its networks that steps by whole windows (the caller's detector is left as it was).

    A block of exactly `window` rows is one window whatever the stride, so the usual stream scores do not
    change; longer blocks (the first after a gap, catch-up) are scored window by window, and blocks of
    several stations laid end to end then score as they would alone, so they can share one call.
    """
    config = detector.config
    if not hasattr(config, "score_stride") or window % config.window:
        return detector
    whole = copy.copy(detector)
    whole.config = dataclasses.replace(config, score_stride=config.window)
    return whole


def _scores_stack(detector: Detector, window: int) -> bool:
    """Whether blocks of `window` (and of 2 x `window`) rows laid end to end get the scores each gets alone
    (checked on noise)."""
    rng = np.random.default_rng(0)
    for length in (window, 2 * window):
        blocks = rng.standard_normal((3, length, int(detector.scaler_.active_.sum()))).astype(np.float32)
        alone = np.stack([detector._channel_scores(b, False) for b in blocks])
        together = detector._channel_scores(blocks.reshape(3 * length, -1), False).reshape(alone.shape)
        if not np.allclose(alone, together, rtol=1e-3, atol=1e-4 * (1.0 + np.abs(alone).max())):
            return False
    return True
