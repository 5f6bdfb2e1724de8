"""A live page of a stream: the last minutes of each PMU's score, its events shaded, every event so far.

`tsgan stream --plot live.html` feeds a `LivePage` with every scored row (`on_scores`) and every finished
event (`on_event`); a background thread rewrites the page every `every` seconds, atomically, so a browser
that reloads it (the page reloads itself) never reads half a file. The stream's own thread only appends
to buffers under a lock: drawing and writing never delay scoring.

Each PMU gets a panel with its point score (the excess over its threshold, so the threshold is 0) over the
last `minutes`, downsampled with the min/max rule of `tsgan.plot` so that no spike is lost, and its
events shaded, a marker at each peak carrying the ranked channels. With many PMUs only the `max_pmus`
most active are drawn (most recent events first, then highest recent score), and the page says so. A
table under the panels lists the latest events of all PMUs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tsgan.errors import ConfigError
from tsgan.plot import SYMLOG_ABOVE, largest_magnitude, minmax_indices, score_axis, symlog_values, write_html
from tsgan.stream.online import StreamEvent
from tsgan.stream.sources import Station, format_time

_PANEL_PX, _TOP_PX, _TABLE_PX, _GAP_PX = 150, 110, 330, 44
_TABLE_ROWS = 20  # latest events listed under the panels


class LivePage:
    """Rewrites `path` every `every` seconds with the last `minutes` of each PMU and the events so far."""

    def __init__(
        self,
        path: str | Path,
        *,
        minutes: float = 5.0,
        every: float = 5.0,
        max_pmus: int = 12,
        max_points: int = 2_000,
    ):
        if minutes <= 0 or every <= 0 or max_pmus < 1 or max_points < 2:
            raise ConfigError(
                f"live page: need minutes > 0, every > 0, max_pmus >= 1 and max_points >= 2; got {minutes}, "
                f"{every}, {max_pmus} and {max_points}"
            )
        self.path = Path(path)
        self.span_ns = int(minutes * 60e9)
        self.every = every
        self.max_pmus = max_pmus
        self.max_points = max_points
        self.pages = 0
        self._scores: dict[str, deque[tuple[np.ndarray, np.ndarray]]] = {}
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what the stream hands over (cheap: copies under the lock) ----------------------------------

    def on_scores(self, station: Station, times: np.ndarray, excess: np.ndarray, flags: np.ndarray) -> None:
        """The `OnlineDetector.on_scores` callback: keep each row's point score (its largest channel)."""
        self.add_scores(str(station), times, excess.max(axis=1))

    def add_scores(self, pmu: str, times: np.ndarray, point: np.ndarray) -> None:
        with self._lock:
            chunks = self._scores.setdefault(pmu, deque())
            chunks.append((np.asarray(times, np.int64).copy(), np.asarray(point, np.float32).copy()))
            while len(chunks) > 1 and chunks[0][0][-1] < times[-1] - self.span_ns:
                chunks.popleft()

    def on_event(self, event: StreamEvent | dict) -> None:
        """A finished event (a StreamEvent, or its JSON line as a dict)."""
        line = event.to_dict() if isinstance(event, StreamEvent) else dict(event)
        with self._lock:
            self._events.append(line)

    # --- the writer thread ----------------------------------------------------------------------------

    def start(self) -> LivePage:
        self.write()  # at once, so the page exists as soon as the stream starts
        self._thread = threading.Thread(target=self._loop, name="live-page", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the writer and write the page a last time, with everything the stream found."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.write()

    def __enter__(self) -> LivePage:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.write()

    def write(self) -> None:
        with self._lock:  # a snapshot: the arrays are never changed once appended
            scores = {pmu: list(chunks) for pmu, chunks in self._scores.items()}
            events = list(self._events)
        write_html(self.figure(scores, events), self.path, reload_every=self.every)
        self.pages += 1

    # --- drawing --------------------------------------------------------------------------------------

    def figure(self, scores: dict[str, list], events: list[dict]) -> go.Figure:
        pmus = _most_active(scores, events)
        shown = pmus[: self.max_pmus]
        n = max(len(shown), 1)
        height = _TOP_PX + n * (_PANEL_PX + _GAP_PX) + _TABLE_PX
        fig = make_subplots(
            rows=n + 1,
            cols=1,
            shared_xaxes=True,  # one time axis: ticks under the last panel only
            row_heights=[_PANEL_PX] * n + [_TABLE_PX],
            vertical_spacing=_GAP_PX / height,
            specs=[[{"type": "xy"}]] * n + [[{"type": "table"}]],
            subplot_titles=[*shown, *[""] * (n - len(shown))] + ["latest events"],
        )
        newest = max((chunks[-1][0][-1] for chunks in scores.values() if chunks), default=None)
        bands = []
        for row, pmu in enumerate(shown, start=1):
            bands += self._panel(fig, row, pmu, scores.get(pmu, []), events, newest)
        fig.add_trace(_event_table(events), row=n + 1, col=1)
        updated = time.strftime("%H:%M:%S")
        notes = [f"{len(pmus)} PMUs, {len(events)} events so far", f"page written at {updated}"]
        if len(pmus) > len(shown):
            notes.insert(1, f"the {len(shown)} most active PMUs drawn")
        if newest is not None:
            notes.insert(1, f"last {self.span_ns / 60e9:g} minutes up to {format_time(newest)} UTC")
        fig.update_layout(
            shapes=bands,
            title={
                "text": "tsgan stream: live",
                "subtitle": {"text": "; ".join(notes), "font": {"size": 12}},
                "x": 0.01,
                "y": 1 - 14 / height,
                "yanchor": "top",
                "yref": "container",
            },
            template="plotly_white",
            height=height,
            showlegend=False,
            margin={"l": 70, "r": 30, "t": _TOP_PX, "b": 20},
        )
        return fig

    def _panel(
        self, fig: go.Figure, row: int, pmu: str, chunks: list, events: list[dict], newest: int | None
    ) -> list[dict]:
        """One PMU's score with the threshold at 0, its events' bands and peak markers; returns the bands.

        Scores spanning more than SYMLOG_ABOVE go on a symmetric log axis, as in `tsgan.plot`: a fault's
        excess of thousands must not flatten an oscillation's excess of ten."""
        own = [e for e in events if _pmu(e) == pmu]
        point = np.empty(0, np.float32)
        if chunks:
            times = np.concatenate([c[0] for c in chunks])
            point = np.concatenate([c[1] for c in chunks])
            keep = times >= newest - self.span_ns
            times, point = times[keep], point[keep]
        peaks = np.array([e["peak_score"] for e in own], dtype=np.float64)
        largest = largest_magnitude([point, peaks])
        symlog = largest > SYMLOG_ABOVE

        def shown(y):
            return symlog_values(y) if symlog else np.asarray(y, dtype=np.float64)

        if len(point):
            rows = minmax_indices(np.nan_to_num(point), self.max_points)
            x = times[rows].astype("datetime64[ns]")
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=shown(point[rows]),
                    customdata=point[rows],
                    mode="lines",
                    line={"color": "#333333", "width": 1},
                    name=pmu,
                    hovertemplate="%{customdata:.4g}<extra>score</extra>",
                ),
                row=row,
                col=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=[x[0], x[-1]],
                    y=[0, 0],
                    mode="lines",
                    line={"color": "#d62728", "width": 1, "dash": "dash"},
                    hoverinfo="skip",
                ),
                row=row,
                col=1,
            )
        if own:
            fig.add_trace(
                go.Scatter(
                    x=[np.datetime64(e["peak_time"]) for e in own],
                    y=shown(peaks),
                    mode="markers",
                    marker={"color": "#d62728", "size": 8, "symbol": "triangle-down"},
                    hovertext=[_hover(e) for e in own],
                    hoverinfo="text",
                ),
                row=row,
                col=1,
            )
        score_axis(fig, row, largest if symlog else None)
        axis = "x" if row == 1 else f"x{row}"
        fig.update_xaxes(type="date", row=row, col=1)
        return [
            {
                "type": "rect",
                "xref": axis,
                "yref": f"{'y' if row == 1 else f'y{row}'} domain",
                "x0": e["start"],
                "x1": e["end"],
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(214, 39, 40, 0.16)",
                "line": {"color": "rgba(214, 39, 40, 0.5)", "width": 1},
                "layer": "below",
                "name": "event",
            }
            for e in own
        ]


def _pmu(event: dict) -> str:
    """An event's PMU as `str(Station)` names it."""
    return (
        event["station"] if event.get("idcode") is None else f"{event['station']} (IDCODE {event['idcode']})"
    )


def _most_active(scores: dict[str, list], events: list[dict]) -> list[str]:
    """PMUs, the most active first: those with the latest event, then the highest recent score."""
    last_event: dict[str, str] = {}
    for e in events:
        last_event[_pmu(e)] = max(last_event.get(_pmu(e), ""), e["end"])
    peak = {pmu: max((float(c[1].max()) for c in chunks), default=-np.inf) for pmu, chunks in scores.items()}
    pmus = set(scores) | set(last_event)
    return sorted(pmus, key=lambda p: (last_event.get(p, ""), peak.get(p, -np.inf), p), reverse=True)


def _hover(event: dict) -> str:
    channels = ", ".join(event["channels"][:6]) + (" ..." if len(event["channels"]) > 6 else "")
    return (
        f"<b>{_pmu(event)}</b><br>{event['start']} to {event['end']} ({event['duration_s']:g} s)"
        f"<br>peak score {event['peak_score']:.3g}<br>channels: {channels}"
    )


def _event_table(events: list[dict]) -> go.Table:
    latest = events[::-1][:_TABLE_ROWS]
    columns = {
        "PMU": [_pmu(e) for e in latest],
        "start (UTC)": [e["start"] for e in latest],
        "seconds": [f"{e['duration_s']:.3f}" for e in latest],
        "peak score": [f"{e['peak_score']:.3g}" for e in latest],
        "channels, most responsible first": [", ".join(e["channels"]) for e in latest],
    }
    return go.Table(
        columnwidth=[2, 3, 1, 1, 5],
        header={"values": list(columns), "align": "left", "fill_color": "#e8ecf2"},
        cells={"values": list(columns.values()), "align": "left"},
    )
