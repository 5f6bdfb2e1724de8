"""`tsgan`: fit a detector on normal data, detect anomalies in new data, evaluate against labels.

Every command turns tsgan's own errors into one red line on standard error and exit code 1, and its
warnings (channels excluded, gaps filled) into yellow lines; nothing is half-written on failure.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import polars as pl
import typer

from tsgan.errors import TsganError

app = typer.Typer(
    help="Find anomalies in multivariate time series with GANs: when, on which channels, how sure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def handles_errors(command):
    """Run a command with tsgan errors shown as one line (exit 1) and warnings shown in yellow."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        def show(message, category, *_args, **_kwargs):
            typer.secho(f"warning: {message}", fg="yellow", err=True)

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show
            try:
                return command(*args, **kwargs)
            except TsganError as exc:
                typer.secho(f"error: {exc}", fg="red", err=True)
                raise typer.Exit(1) from None
            except OSError as exc:  # an output folder that cannot be written, a disk that is full
                typer.secho(f"error: {exc.filename or ''}: {exc.strerror or exc}", fg="red", err=True)
                raise typer.Exit(1) from None

    return wrapper


def _split(names: str | None) -> list[str] | None:
    return [n.strip() for n in names.split(",") if n.strip()] if names else None


# Options shared by the commands that read data.
TimeCol = Annotated[
    str | None, typer.Option("--time-col", help="Time column (default: detected by name and type).")
]
Channels = Annotated[
    str | None, typer.Option("--channels", help="Comma-separated channels (default: every numeric column).")
]
LabelCol = Annotated[
    str | None, typer.Option("--label-col", help="Label column kept aside for evaluation, never fitted on.")
]
Sort = Annotated[
    bool, typer.Option("--sort", help="Sort unsorted timestamps and drop duplicates instead of refusing.")
]
MaxGap = Annotated[
    int, typer.Option("--max-gap", help="Longest run of missing values filled by interpolation.")
]
AllowGaps = Annotated[
    bool, typer.Option("--allow-long-gaps", help="Interpolate missing runs longer than --max-gap too.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _read(path: Path, time_col, channels, label_col, sort, max_gap, allow_long_gaps):
    from tsgan.io import read_series

    return read_series(
        path,
        time_col=time_col,
        channels=_split(channels),
        label_col=label_col,
        sort=sort,
        max_gap=max_gap,
        allow_long_gaps=allow_long_gaps,
    )


@app.command()
@handles_errors
def fit(
    data: Annotated[Path, typer.Argument(help="Training data (CSV or Parquet), normal or mostly normal.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to save the fitted model.")],
    detector: Annotated[str, typer.Option(help="Detector name: madgan or a baseline.")] = "madgan",
    objective: Annotated[str | None, typer.Option(help="Adversarial objective: bce, mim or wgan-gp.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    window: Annotated[int | None, typer.Option(help="Window length in rows.")] = None,
    stride: Annotated[int | None, typer.Option(help="Step between training windows in rows.")] = None,
    inversion: Annotated[
        str | None, typer.Option(help="Latent inversion at scoring: hybrid, encoder or gradient.")
    ] = None,
    threshold: Annotated[
        str | None, typer.Option(help="Per-channel threshold: pot, quantile or ksigma.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same model.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    time_col: TimeCol = None,
    channels: Channels = None,
    label_col: LabelCol = None,
    sort: Sort = False,
    max_gap: MaxGap = 10,
    allow_long_gaps: AllowGaps = False,
    quiet: Quiet = False,
) -> None:
    """Fit a detector on normal data and save it to one model file."""
    from tsgan.detectors import make_detector

    params = {
        "objective": objective,
        "epochs": epochs,
        "window": window,
        "stride": stride,
        "inversion": inversion,
        "threshold": threshold,
    }
    det = make_detector(
        detector, seed=seed, device=device, **{k: v for k, v in params.items() if v is not None}
    )
    series = _read(data, time_col, channels, label_col, sort, max_gap, allow_long_gaps)
    det.fit(series, verbose=not quiet)
    det.save(output)
    typer.echo(
        f"fitted {det.name} on {len(series)} rows x {len(det.channels_)} channels of {data}; saved {output}"
    )


@app.command()
@handles_errors
def detect(
    data: Annotated[Path, typer.Argument(help="Data to examine (CSV or Parquet).")],
    model: Annotated[Path, typer.Option("--model", "-m", help="A model file written by `tsgan fit`.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the flagged intervals as JSON here (default: standard output)."
        ),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option("--scores", help="Also write per-point, per-channel scores (.parquet or .csv)."),
    ] = None,
    time_col: TimeCol = None,
    label_col: LabelCol = None,
    sort: Sort = False,
    max_gap: MaxGap = 10,
    allow_long_gaps: AllowGaps = False,
    quiet: Quiet = False,
) -> None:
    """Flag anomalous intervals in data with a fitted model."""
    import json

    from tsgan.artifacts import load_detector
    from tsgan.io import write_json_atomic, write_table_atomic

    det = load_detector(model)
    series = _read(data, time_col, None, label_col, sort, max_gap, allow_long_gaps)
    result = det.detect(series, verbose=not quiet)
    intervals = [interval.to_dict() for interval in result.intervals]
    if output is None:
        typer.echo(json.dumps(intervals, indent=2))
    else:
        write_json_atomic(intervals, output)
    if scores is not None:
        write_table_atomic(scores_table(result.scores, series), scores)
    flagged = int(result.flags.sum())
    typer.echo(
        f"{len(intervals)} intervals, {flagged} of {len(series)} rows flagged in {data}"
        + (f"; intervals in {output}" if output else "")
        + (f"; scores in {scores}" if scores else ""),
        err=output is None,
    )


def scores_table(scores, series) -> pl.DataFrame:
    """One row per input row: the time column if any, `score`, and `score_<channel>` per channel.
    Channels excluded from scoring (constant in training) have empty (null) scores."""
    columns: dict[str, object] = {}
    if series.timestamps is not None:
        columns[series.time_col or "timestamp"] = series.timestamps
    columns["score"] = scores.point
    for i, name in enumerate(scores.channels):
        column = scores.channel[:, i]
        columns[f"score_{name}"] = pl.Series(np.where(np.isfinite(column), column, np.nan)).fill_nan(None)
    return pl.DataFrame(columns)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
