"""`tsgan plot`: draw a data file with the intervals `tsgan detect` flagged in it, as one HTML page.

The command does not import tsgan_cli.main (which registers it), so either module can be imported first;
main wraps it in its `handles_errors` when registering it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def plot(
    data: Annotated[Path, typer.Argument(help="The data file the detections were made on (CSV or Parquet).")],
    detections: Annotated[
        Path, typer.Option("--detections", "-d", help="Intervals JSON written by `tsgan detect -o`.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the page (self-contained HTML).")
    ],
    scores: Annotated[
        Path | None,
        typer.Option("--scores", help="Scores written by `tsgan detect --scores`, drawn with the threshold."),
    ] = None,
    channels: Annotated[
        str | None, typer.Option("--channels", help="Comma-separated channels to draw (default: all).")
    ] = None,
    top: Annotated[
        int | None,
        typer.Option("--top", help="Draw only the k channels that contribute most to the intervals."),
    ] = None,
    channel_scores: Annotated[
        bool,
        typer.Option("--channel-scores", help="Also draw the drawn channels' own scores (needs --scores)."),
    ] = False,
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Also write a PNG image here (needs the png extra and Chromium)."),
    ] = None,
    max_points: Annotated[
        int,
        typer.Option("--max-points", help="Longest trace drawn; longer ones keep each bucket's min and max."),
    ] = 20_000,
    time_col: Annotated[
        str | None, typer.Option("--time-col", help="Time column (default: detected by name and type).")
    ] = None,
    label_col: Annotated[
        str | None,
        typer.Option("--label-col", help="Label column, shaded as ground truth (default: detected)."),
    ] = None,
) -> None:
    """Draw data with its flagged intervals, scores, threshold and labels as one interactive HTML page."""
    from tsgan.io import read_series
    from tsgan.plot import read_intervals, read_scores, write_report

    intervals = read_intervals(detections)
    # The rows `tsgan detect` saw, whatever its options: it sorted times like this (--sort) or refused
    # unsorted ones, and filling gaps changes values, not rows. So interval row numbers agree.
    series = read_series(data, time_col=time_col, label_col=label_col, sort=True, allow_long_gaps=True)
    write_report(
        series,
        intervals,
        None if scores is None else read_scores(scores),
        output,
        png=png,
        channels=[c.strip() for c in channels.split(",") if c.strip()] if channels else None,
        top=top,
        max_points=max_points,
        channel_scores=channel_scores,
    )
    typer.echo(
        f"{len(intervals)} intervals on {len(series)} rows of {data} drawn to {output}"
        + (f" and {png}" if png else "")
    )
