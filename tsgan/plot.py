"""Interactive plots of flagged intervals: one panel per channel, the score with its threshold, the labels.

`figure` draws a Series with the intervals a detector found: every interval is one shaded band across all
panels (shape name `DETECTED`), ground-truth label runs are bands of another colour (`LABELLED`), and in
each channel's panel the stretches of the intervals that channel drove are drawn in red. The bottom panel
holds the anomaly score, which is already the excess over the threshold, so the threshold line is 0; a
marker at each interval's peak carries the hover text (rows, times, peak score, channels ranked).

Big series stay usable: a trace longer than `max_points` is cut into buckets and only each bucket's
minimum and maximum rows are kept, at their own x positions, so every spike survives exactly; the title
says when this happened and by how much.

`write_html` writes a self-contained page (plotly.js embedded, works offline); `write_png` needs the `png`
extra (kaleido) and Chrome or Chromium to render with.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from tsgan.detectors.base import Detection, Scores
from tsgan.errors import ConfigError, InputError
from tsgan.events import Interval, merge_runs
from tsgan.io import write_atomic
from tsgan.series import Series

DETECTED = "flagged interval"  # name of the shapes shading detections
LABELLED = "labelled anomaly"  # name of the shapes shading ground-truth label runs
_DROVE = "channel that drove an interval"  # name of the red traces
_COLORS = {
    "line": "#40577a",
    "flagged": "#d62728",
    "score": "#333333",
    "threshold": "#d62728",
}
_BAND_STYLES = {  # fill, outline, outline dash: detections filled red, labels framed in dashed blue
    DETECTED: ("rgba(214, 39, 40, 0.16)", "rgba(214, 39, 40, 0.16)", "solid"),
    LABELLED: ("rgba(31, 119, 180, 0.08)", "rgba(31, 119, 180, 0.9)", "dash"),
}
_TOP_PX, _PANEL_PX, _SCORE_PX, _GAP_PX, _BOTTOM_PX = 110, 110, 190, 16, 110  # heights in pixels
SYMLOG_ABOVE = 100.0  # scores beyond this many robust spreads are drawn on a symmetric log axis
_HOVER_CHANNELS = 8  # channels listed by name in an interval's hover text


def figure(
    series: Series,
    intervals: Sequence[Interval] | Sequence[dict],
    scores: Scores | None = None,
    *,
    channels: Sequence[str] | None = None,
    top: int | None = None,
    max_points: int = 20_000,
    channel_scores: bool = False,
    title: str | None = None,
) -> go.Figure:
    """A plotly figure of `series` with its flagged `intervals` (Interval objects or their dicts).

    channels: the channels to draw (default all); top: only the k of them that contribute most to the
    intervals, most first. scores: per-point scores (point and per channel) drawn in the bottom panel with
    the threshold at 0; without them that panel shows each interval's peak score only. channel_scores: also
    draw the drawn channels' own scores there. max_points: longest trace before min/max downsampling.
    """
    intervals = _as_intervals(intervals, series)
    shown = _choose_channels(series, intervals, channels, top)
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise ConfigError(f"max_points must be an integer >= 2, got {max_points!r}")
    if scores is not None and len(scores.point) != len(series):
        raise InputError(
            f"{len(scores.point)} score rows for {len(series)} data rows of {series.name or 'the data'}; "
            "give the scores written by `tsgan detect` for this file"
        )

    x, is_date = _positions(series)
    starts = np.array([i.start for i in intervals], dtype=np.int64)
    ends = np.array([i.end for i in intervals], dtype=np.int64)
    # Rows every trace keeps, so that bands and red stretches start and end where the intervals do.
    edges = np.unique(np.clip(np.concatenate([starts - 1, starts, ends, ends + 1]), 0, len(series) - 1))

    n = len(shown)
    height = _TOP_PX + n * _PANEL_PX + _SCORE_PX + n * _GAP_PX + _BOTTOM_PX
    fig = make_subplots(
        rows=n + 1,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=_GAP_PX / height,
        row_heights=[_PANEL_PX] * n + [_SCORE_PX],
    )
    for row, name in enumerate(shown, start=1):
        _add_channel(fig, row, name, series, intervals, x, edges, max_points)
    score_channels = shown if channel_scores else []
    _add_scores(fig, n + 1, intervals, scores, score_channels, x, edges, max_points)
    bands = _bands(DETECTED, starts, ends, x)
    if series.labels is not None:
        runs = np.array(merge_runs(series.labels.astype(bool)), dtype=np.int64).reshape(-1, 2)
        bands += _bands(LABELLED, runs[:, 0], runs[:, 1], x)

    heading, subtitle = _title(series, intervals, max_points, title)
    fig.update_layout(
        shapes=bands,  # all at once: adding shapes one by one costs quadratic time
        title={
            "text": heading,
            "subtitle": {"text": subtitle, "font": {"size": 12}},
            "x": 0.01,
            "y": 1 - 14 / height,
            "yanchor": "top",
            "yref": "container",
            "font": {"size": 17},
        },
        legend={"orientation": "h", "x": 0, "y": 1 - 70 / height, "yanchor": "top", "yref": "container"},
        template="plotly_white",
        height=height,
        margin={"l": 70, "r": 30, "t": _TOP_PX, "b": _BOTTOM_PX},
        hovermode="closest",
    )
    span = [x[0], x[-1]]  # not autorange, which pads for the peak markers
    fig.update_xaxes(type="date" if is_date else "linear", range=span, showspikes=True, spikethickness=1)
    slider = {"visible": True, "thickness": 0.04, "range": span}
    fig.update_xaxes(title_text="time" if is_date else "row", rangeslider=slider, row=n + 1)
    return fig


def write_html(fig: go.Figure, path: str | Path, reload_every: float | None = None) -> None:
    """Write `fig` as one self-contained HTML page (plotly.js embedded, no network needed), atomically.

    reload_every: seconds after which the page reloads itself in the browser (for a page rewritten live).
    """
    reload = (
        None if reload_every is None else f"setTimeout(() => location.reload(), {reload_every * 1000:.0f});"
    )
    write_atomic(
        Path(path),
        lambda tmp: fig.write_html(
            tmp, include_plotlyjs=True, full_html=True, config={"displaylogo": False}, post_script=reload
        ),
    )


def write_png(fig: go.Figure, path: str | Path, width: int = 1400) -> None:
    """Write `fig` as a PNG image, atomically. Needs the `png` extra (kaleido) and Chrome or Chromium.

    kaleido is called directly, not through plotly's write_image, to leave MathJax out: plotly's way always
    loads it from a CDN, and without internet kaleido then sometimes calls its page before the page's own
    script has loaded ("kaleido_scopes is not defined")."""
    _check_kaleido(path)
    import kaleido
    from kaleido.errors import ChromeNotFoundError

    size = {"width": width} | ({"height": fig.layout.height} if fig.layout.height else {})
    try:
        image = kaleido.calc_fig_sync(fig, opts={"format": "png", **size}, kopts={"mathjax": False})
    except ChromeNotFoundError as e:
        raise ConfigError(
            f"{path}: writing PNG needs Chrome or Chromium, and none was found: install one (on Debian: "
            "apt install chromium), or run plotly_get_chrome, or set BROWSER_PATH to its executable"
        ) from e
    write_atomic(Path(path), lambda tmp: tmp.write_bytes(image))


def write_report(
    series: Series,
    detections: Detection | Sequence[Interval] | Sequence[dict],
    scores: Scores | None,
    path: str | Path,
    *,
    png: str | Path | None = None,
    **options,
) -> go.Figure:
    """Draw `detections` (a Detection, whose scores are used when `scores` is None, or a list of
    intervals) on `series` and write the HTML page to `path`, and a PNG to `png` if given.

    `options` are `figure`'s keyword arguments (channels, top, max_points, channel_scores, title).
    """
    if isinstance(detections, Detection):
        scores = detections.scores if scores is None else scores
        detections = detections.intervals
    if png is not None:
        _check_kaleido(png)  # before anything is written
    fig = figure(series, detections, scores, **options)
    write_html(fig, path)
    if png is not None:
        write_png(fig, png)
    return fig


def read_intervals(path: str | Path) -> list[Interval]:
    """The intervals of a JSON file written by `tsgan detect -o` (a list of interval objects)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: no such detections file; write one with `tsgan detect DATA -o {path.name}`"
        )
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(
            f"{path}: not valid JSON ({e}); expected the intervals `tsgan detect -o` writes"
        ) from e
    if not isinstance(items, list):
        raise InputError(
            f"{path}: expected a JSON list of intervals as `tsgan detect -o` writes, "
            f"found {type(items).__name__}"
        )
    return [_interval(item, f"{path}: interval {k}") for k, item in enumerate(items)]


def read_scores(path: str | Path) -> Scores:
    """The scores of a Parquet or CSV file written by `tsgan detect --scores`.

    Columns: `score`, and `score_<channel>` for each channel (empty cells: the channel was not scored).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: no such scores file; write one with `tsgan detect DATA --scores {path.name}`"
        )
    try:
        table = pl.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pl.read_csv(path)
    except pl.exceptions.PolarsError as e:
        raise InputError(f"{path}: could not read it as a scores table ({str(e).splitlines()[0]})") from e
    if "score" not in table.columns:
        raise InputError(f"{path}: no 'score' column; expected the table `tsgan detect --scores` writes")
    columns = [c for c in table.columns if c.startswith("score_")]
    channel = np.full((table.height, len(columns)), -np.inf)
    for k, column in enumerate(columns):
        channel[:, k] = table[column].cast(pl.Float64).fill_null(-np.inf).to_numpy()
    point = table["score"].cast(pl.Float64).to_numpy()
    return Scores(point=point, channel=channel, channels=[c.removeprefix("score_") for c in columns])


def minmax_indices(y: np.ndarray, max_points: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Sorted row indices that draw `y` with at most about `max_points` points, spikes included.

    Rows are cut into max_points // 2 equal buckets and each bucket's minimum and maximum rows are kept
    (so an isolated one-row spike always survives, at its own position), plus the first and last rows and
    the rows in `keep`. A series no longer than max_points is kept whole.
    """
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    size = -(-n // (max_points // 2))
    padded = np.concatenate([y, np.repeat(y[-1:], -n % size)])  # the repeats never win: first hits do
    blocks = padded.reshape(-1, size)
    offsets = np.arange(blocks.shape[0]) * size
    chosen = [offsets + blocks.argmin(axis=1), offsets + blocks.argmax(axis=1), [0, n - 1]]
    if keep is not None:
        chosen.append(keep)
    return np.unique(np.concatenate(chosen).astype(np.int64))


# --- inputs --------------------------------------------------------------------------------------------


def _check_kaleido(path: str | Path) -> None:
    """Refuse to write a PNG, before anything is written, when kaleido is missing."""
    if importlib.util.find_spec("kaleido") is None:
        raise ConfigError(
            f"{path}: writing PNG needs the kaleido package: pip install 'tsgan[png]' (or pip install "
            "kaleido), and Chrome or Chromium; or write HTML only"
        )


def _interval(item: Interval | dict, where: str) -> Interval:
    """An Interval from an Interval or its dict, checked for integer rows and a list of channel names."""
    if isinstance(item, Interval):
        return item
    if not isinstance(item, dict) or not {"start", "end"} <= set(item):
        raise InputError(
            f"{where}: expected an object with at least 'start' and 'end' rows, found {item!r:.80}"
        )
    known = {f.name for f in fields(Interval)}
    interval = Interval(
        **{"peak_score": np.nan, "channels": [], **{k: v for k, v in item.items() if k in known}}
    )
    rows_ok = all(isinstance(r, int) and not isinstance(r, bool) for r in (interval.start, interval.end))
    if not rows_ok or not isinstance(interval.channels, list):
        raise InputError(
            f"{where}: 'start' and 'end' must be row numbers and 'channels' a list, found {item!r:.80}"
        )
    return interval


def _as_intervals(items: Sequence[Interval] | Sequence[dict], series: Series) -> list[Interval]:
    """Intervals checked against the series: rows inside it and channels it has."""
    what = series.name or "the data"
    intervals = [_interval(item, f"interval {k}") for k, item in enumerate(items)]
    known = set(series.channels)
    for k, i in enumerate(intervals):
        if not 0 <= i.start <= i.end < len(series):
            raise InputError(
                f"interval {k} (rows {i.start}-{i.end}) is outside the {len(series)} rows "
                f"(0-{len(series) - 1}) of {what}; were the detections made on this file?"
            )
        unknown = [c for c in i.channels if c not in known]
        if unknown:
            raise InputError(
                f"interval {k} names channels {unknown} that {what} does not have; "
                "were the detections made on this file?"
            )
        if i.start_time is not None and series.timestamps is not None:
            found = series.timestamps[i.start]
            if _as_time(i.start_time, k) != found:
                raise InputError(
                    f"interval {k} starts at {i.start_time}, but row {i.start} of {what} is at {found}; "
                    "were the detections made on this file?"
                )
    return intervals


def _as_time(text: str, k: int) -> np.datetime64:
    """The time of interval k's ISO 8601 `start_time`."""
    try:
        return np.datetime64(text, "ns")
    except ValueError as e:
        raise InputError(f"interval {k}: start_time {text!r} is not an ISO 8601 time") from e


def _choose_channels(
    series: Series, intervals: list[Interval], channels: Sequence[str] | None, top: int | None
) -> list[str]:
    """The channels to draw: those asked for (default all), or the `top` of them by contribution.

    A channel's contribution is the sum over the intervals it is listed in of its mean excess times the
    interval's length (its total excess over flagged rows); listed without scores, it counts 1 per row.
    """
    chosen = list(series.channels if channels is None else channels)
    unknown = [c for c in chosen if c not in series.channels]
    if unknown or not chosen:
        raise ConfigError(
            f"{'unknown channels ' + str(unknown) if unknown else 'no channels given'} to draw from "
            f"{series.name or 'the data'}; its channels are {series.channels}"
        )
    if top is None:
        return chosen
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"top must be a number of channels >= 1, got {top!r}")
    contribution = dict.fromkeys(chosen, 0.0)
    for i in intervals:
        weights = i.channel_scores if len(i.channel_scores) == len(i.channels) else [1.0] * len(i.channels)
        for name, weight in zip(i.channels, weights, strict=True):
            if name in contribution:
                contribution[name] += (i.end - i.start + 1) * float(weight)
    return sorted(chosen, key=lambda c: -contribution[c])[:top]


def _positions(series: Series) -> tuple[np.ndarray, bool]:
    """x positions of the rows: milliseconds since the epoch (which plotly reads on a date axis) when the
    series has timestamps, else row numbers; and whether they are dates."""
    if series.timestamps is None:
        return np.arange(len(series), dtype=np.float64), False
    ns = np.asarray(series.timestamps).astype("datetime64[ns]").view(np.int64)
    return ns / 1e6, True


def _mask(n: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Boolean (n,) that is True on rows starts[k]..ends[k] (inclusive) for every k."""
    change = np.zeros(n + 1, dtype=np.int64)
    np.add.at(change, starts, 1)
    np.add.at(change, ends + 1, -1)
    return np.cumsum(change[:-1]) > 0


# --- drawing -------------------------------------------------------------------------------------------


def _add_channel(
    fig: go.Figure,
    row: int,
    name: str,
    series: Series,
    intervals: list[Interval],
    x: np.ndarray,
    edges: np.ndarray,
    max_points: int,
) -> None:
    """One channel's panel: its values, the stretches of the intervals it drove in red, its name."""
    y = series.values[:, series.channels.index(name)]
    rows = minmax_indices(y, max_points, edges)
    own = [i for i in intervals if name in i.channels]
    # One row more on each side, so that a one-row interval still shows as a red stroke.
    drove = _mask(
        len(series),
        np.maximum(np.array([i.start for i in own], dtype=np.int64) - 1, 0),
        np.minimum(np.array([i.end for i in own], dtype=np.int64) + 1, len(series) - 1),
    )[rows]

    def line(
        xs: np.ndarray, ys: np.ndarray, color: str, width: float, legend: str | None = None
    ) -> go.Scatter:
        return go.Scatter(
            x=xs,
            y=ys,
            name=legend or name,
            legendgroup=legend,
            showlegend=legend is not None and row == 1,
            mode="lines",
            line={"color": color, "width": width},
            hovertemplate="%{y:.4g}<extra>" + name + "</extra>",
        )

    fig.add_trace(line(x[rows], y[rows], _COLORS["line"], 1), row=row, col=1)
    # The red trace holds only those rows, with a gap (NaN) wherever the drawn rows it holds are apart.
    red = rows[drove]
    gaps = np.flatnonzero(np.diff(np.flatnonzero(drove)) > 1) + 1
    red_x, red_y = np.insert(x[red], gaps, x[red][gaps]), np.insert(y[red], gaps, np.nan)
    fig.add_trace(line(red_x, red_y, _COLORS["flagged"], 2, _DROVE), row=row, col=1)
    note = f"  ·  drove {len(own)} of {len(intervals)} intervals" if own else ""
    fig.add_annotation(
        text=f"<b>{name}</b>{note}",
        xref="x domain",
        yref="y domain",
        x=0.005,
        y=1.0,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        font={"size": 12},
        bgcolor="rgba(255, 255, 255, 0.75)",
        row=row,
        col=1,
    )


def _add_scores(
    fig: go.Figure,
    row: int,
    intervals: list[Interval],
    scores: Scores | None,
    channels: list[str],
    x: np.ndarray,
    edges: np.ndarray,
    max_points: int,
) -> None:
    """The score panel: the point score (and the given channels' scores), the threshold at 0, and a
    marker at each interval's peak that holds the interval's hover text.

    Scores spanning more than SYMLOG_ABOVE are drawn on a symmetric log scale (sign(y) log10(1 + |y|)),
    which keeps 0 at the threshold and both small and huge excesses readable; hover shows raw values.
    """
    lines = []
    if scores is not None:
        lines.append(("score", scores.point, _COLORS["score"], 1.2))
        lines += [
            (f"score of {c}", scores.channel[:, scores.channels.index(c)], None, 1)
            for c in channels
            if c in scores.channels
        ]
    peaks = np.array([i.peak_score for i in intervals], dtype=np.float64)
    largest = largest_magnitude([peaks, *(v for _, v, _, _ in lines)])
    symlog = largest > SYMLOG_ABOVE

    def shown(y: np.ndarray) -> np.ndarray:
        return symlog_values(y) if symlog else y

    for name, values, color, width in lines:
        y = np.asarray(values, dtype=np.float64)
        y = np.where(np.isfinite(y), y, np.nan)  # channels excluded from scoring hold -inf
        rows = minmax_indices(np.nan_to_num(y), max_points, edges)
        trace = go.Scatter(
            x=x[rows],
            y=shown(y[rows]),
            customdata=y[rows],
            name=name,
            mode="lines",
            line={"color": color, "width": width},
            hovertemplate="%{customdata:.4g}<extra>" + name + "</extra>",
        )
        fig.add_trace(trace, row=row, col=1)
    threshold = go.Scatter(
        x=[x[0], x[-1]],
        y=[0, 0],
        name="threshold (score 0)",
        mode="lines",
        line={"color": _COLORS["threshold"], "width": 1, "dash": "dash"},
        hoverinfo="skip",
    )
    fig.add_trace(threshold, row=row, col=1)
    at = [
        i.start + int(np.argmax(scores.point[i.start : i.end + 1]))
        if scores is not None
        else (i.start + i.end) // 2
        for i in intervals
    ]
    markers = go.Scatter(
        x=x[np.array(at, dtype=np.int64)],
        y=shown(np.nan_to_num(peaks)),  # an interval given without its peak sits on the threshold
        name="interval peak (hover: details)",
        mode="markers",
        marker={"color": _COLORS["flagged"], "size": 8, "symbol": "triangle-down"},
        hovertext=[_hover(k, i, len(intervals)) for k, i in enumerate(intervals)],
        hoverinfo="text",
    )
    fig.add_trace(markers, row=row, col=1)
    score_axis(fig, row, largest if symlog else None)


def largest_magnitude(arrays) -> float:
    """The largest finite |value| over `arrays` (0 when there is none)."""
    magnitudes = [np.abs(np.asarray(v, dtype=np.float64)) for v in arrays]
    return max((float(m.max(initial=0.0, where=np.isfinite(m))) for m in magnitudes), default=0.0)


def symlog_values(y) -> np.ndarray:
    """sign(y) log10(1 + |y|): keeps 0 (the threshold) at 0 and both small and huge excesses readable."""
    y = np.asarray(y, dtype=np.float64)
    return np.sign(y) * np.log10(1 + np.abs(y))


def score_axis(fig: go.Figure, row: int, symlog_largest: float | None = None) -> None:
    """Title a score panel's y axis; with `symlog_largest` (the largest |score|, values drawn through
    `symlog_values`), put ticks at 0 and at raw powers of ten."""
    title = "score (symlog)" if symlog_largest is not None else "score"
    fig.update_yaxes(title_text=title, zeroline=True, row=row, col=1)
    if symlog_largest is not None:
        decades = int(np.log10(symlog_largest))
        # Ticks at 0 and powers of ten: from 10 up when 1 would crowd 0 (and always below 0), every few
        # decades when there are many.
        powers = range(1 if decades >= 3 else 0, decades + 1, 1 + decades // 6)
        raw = np.array([0.0, *(10.0**e for e in powers), *(-(10.0**e) for e in powers if e >= 1)])
        fig.update_yaxes(tickvals=symlog_values(raw), ticktext=[f"{v:,.0f}" for v in raw], row=row, col=1)


def _hover(k: int, interval: Interval, total: int) -> str:
    """What hovering over an interval's peak shows: rows, times, peak score, channels ranked."""
    length = interval.end - interval.start + 1
    lines = [f"<b>interval {k + 1} of {total}</b>: rows {interval.start}-{interval.end} ({length} rows)"]
    if interval.start_time or interval.end_time:
        lines.append(f"{interval.start_time} to {interval.end_time}")
    lines.append(f"peak score {interval.peak_score:.4g}")
    scored = len(interval.channel_scores) == len(interval.channels)
    lines.append("channels, most responsible first:" if interval.channels else "no channels listed")
    lines += [
        f"{rank}. {name}" + (f" ({interval.channel_scores[rank - 1]:.3g})" if scored else "")
        for rank, name in enumerate(interval.channels[:_HOVER_CHANNELS], start=1)
    ]
    if len(interval.channels) > _HOVER_CHANNELS:
        lines.append(f"and {len(interval.channels) - _HOVER_CHANNELS} more")
    return "<br>".join(lines)


def _bands(name: str, starts: np.ndarray, ends: np.ndarray, x: np.ndarray) -> list[dict]:
    """One shaded band (a plotly shape named `name`) per run of rows starts[k]..ends[k], across all panels.

    Bands reach half a row step beyond their first and last rows and have an outline, so that a one-row
    run shows too. The legend has one entry for them all, which shows or hides them all.
    """
    steps = np.diff(x) if len(x) > 1 else np.ones(1)
    left = x[starts] - steps[np.clip(starts - 1, 0, len(steps) - 1)] / 2
    right = x[ends] + steps[np.clip(ends, 0, len(steps) - 1)] / 2
    fill, outline, dash = _BAND_STYLES[name]
    return [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": x0,
            "x1": x1,
            "y0": 0,
            "y1": 1,
            "name": name,
            "legendgroup": name,
            "showlegend": k == 0,
            "fillcolor": fill,
            "line": {"color": outline, "width": 1, "dash": dash},
            "layer": "below",
        }
        for k, (x0, x1) in enumerate(zip(left.tolist(), right.tolist(), strict=True))
    ]


def _title(series: Series, intervals: list[Interval], max_points: int, title: str | None) -> tuple[str, str]:
    """The title, and a subtitle saying what is drawn and whether (and how much) it was downsampled."""
    heading = title or f"{series.name or 'series'}: {len(intervals)} flagged intervals"
    notes = [f"{len(series):,} rows x {series.n_channels} channels"]
    if len(series) > max_points:
        notes.append(
            f"downsampled {len(series) / max_points:.3g}x to at most {max_points:,} points per trace "
            "(each bucket's min and max rows, so every spike stays); zoom in for more detail"
        )
    return heading, "; ".join(notes)
