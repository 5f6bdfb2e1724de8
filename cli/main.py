"""`tsgan`: fit a detector on normal data, detect anomalies in new data, evaluate against labels.

Every command turns tsgan's own errors into one red line on standard error and exit code 1, and its
warnings (channels excluded, gaps filled) into yellow lines; nothing is half-written on failure.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import polars as pl
import typer

from tsgan.errors import ConfigError, TsganError
from tsgan_cli.plot import plot
from tsgan_cli.scale import (
    Engine,
    Force,
    Jobs,
    Manifest,
    OutDir,
    RayAddress,
    detect_many,
    fit_many,
    many_mode,
    one_input,
)
from tsgan_cli.stream import pmu_serve, simulate, stream

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
PlotPath = Annotated[
    Path | None, typer.Option("--plot", help="Also draw the data and flagged intervals as an HTML page here.")
]
VusBuffer = Annotated[
    int,
    typer.Option("--vus-buffer", help="Largest VUS buffer L; keep it at most the typical anomaly length."),
]
DataRoot = Annotated[
    Path | None,
    typer.Option(
        "--data-root", help="Folder of the public datasets (default: $TSGAN_DATA or ../shared/datasets)."
    ),
]

# Options shared by the commands that train a detector.
Detector = Annotated[
    str,
    typer.Option(
        "--detector",
        help="Detector: auto (default: the windowed kNN and PCA, beside a portfolio measured on injected "
        "anomalies), madgan, rsmgan, tadgan, usad, beatgan, ganomaly, egbad, alad, anogan, esad, pca, "
        "zscore, knn...",
    ),
]
BudgetSeconds = Annotated[
    float | None,
    typer.Option(
        "--budget-seconds",
        help="auto: seconds the portfolio may train for (default 120); members past it are skipped.",
    ),
]
Objective = Annotated[
    str | None, typer.Option("--objective", help="Adversarial objective: bce, mim or wgan-gp.")
]
Epochs = Annotated[int | None, typer.Option("--epochs", help="Training epochs.")]
Window = Annotated[int | None, typer.Option("--window", help="Window length in rows.")]
Stride = Annotated[int | None, typer.Option("--stride", help="Step between training windows in rows.")]
Inversion = Annotated[
    str | None, typer.Option("--inversion", help="Latent inversion at scoring: hybrid, encoder or gradient.")
]
Threshold = Annotated[
    str | None,
    typer.Option(
        "--threshold",
        help="Per-channel threshold: pot (default), quantile or ksigma, fixed on validation; or drift, "
        "which follows the scored series' recent level online (--param depth=200).",
    ),
]
ReferenceRows = Annotated[
    int | None,
    typer.Option(
        "--reference-rows",
        help="Each scored series opens with this many rows of normal operation: scaling and thresholds "
        "are fitted again on them before it is scored (a run that starts in another regime).",
    ),
]
Param = Annotated[
    list[str] | None,
    typer.Option(
        "--param", help="Any other detector parameter as KEY=VALUE, e.g. --param lam=0.5 (repeatable)."
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same model.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]


def _training_options(
    objective, epochs, window, stride, inversion, threshold, reference_rows, param, budget_seconds=None
) -> dict:
    """The training options that were given, with every --param KEY=VALUE among them."""
    options = {
        "budget_seconds": budget_seconds,
        "objective": objective,
        "epochs": epochs,
        "window": window,
        "stride": stride,
        "inversion": inversion,
        "threshold": threshold,
        "reference_rows": reference_rows,
    }
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param expects KEY=VALUE (e.g. lam=0.5), found {item!r}")
        try:
            options[key.strip()] = json.loads(value)  # numbers, true/false; anything else stays text
        except json.JSONDecodeError:
            options[key.strip()] = value
    return {k: v for k, v in options.items() if v is not None}


def _with_reference(det, reference_rows: int | None):
    """A loaded model with --reference-rows, when given, in place of the value it was fitted with."""
    if reference_rows is not None:
        det.config = dataclasses.replace(det.config, reference_rows=reference_rows)
        det.config.validate()
    return det


def _read_options(time_col, channels, label_col, sort, max_gap, allow_long_gaps) -> dict:
    """The keyword arguments of `tsgan.io.read_series` that the reading options give."""
    return dict(
        time_col=time_col,
        channels=_split(channels),
        label_col=label_col,
        sort=sort,
        max_gap=max_gap,
        allow_long_gaps=allow_long_gaps,
    )


def _read(path: Path, time_col, channels, label_col, sort, max_gap, allow_long_gaps):
    from tsgan.io import read_series

    return read_series(path, **_read_options(time_col, channels, label_col, sort, max_gap, allow_long_gaps))


@app.command()
@handles_errors
def fit(
    data: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Training data (CSV or Parquet), normal or mostly normal; with --out-dir, several files "
            "or quoted globs (asset = file stem).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to save the fitted model.")
    ] = None,
    detector: Detector = "auto",
    objective: Objective = None,
    epochs: Epochs = None,
    window: Window = None,
    stride: Stride = None,
    inversion: Inversion = None,
    threshold: Threshold = None,
    reference_rows: ReferenceRows = None,
    budget_seconds: BudgetSeconds = None,
    param: Param = None,
    seed: Seed = 0,
    device: Device = "auto",
    time_col: TimeCol = None,
    channels: Channels = None,
    label_col: LabelCol = None,
    sort: Sort = False,
    max_gap: MaxGap = 10,
    allow_long_gaps: AllowGaps = False,
    manifest: Manifest = None,
    out_dir: OutDir = None,
    engine: Engine = "local",
    jobs: Jobs = None,
    ray_address: RayAddress = None,
    force: Force = False,
    labels: Annotated[
        bool,
        typer.Option("--labels", help="Let a semi-supervised detector (esad) learn from the label column."),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Fit a detector on normal data and save it to one model file (or one per asset with --out-dir)."""
    from tsgan.detectors import make_detector

    params = _training_options(
        objective, epochs, window, stride, inversion, threshold, reference_rows, param, budget_seconds
    )
    if many_mode(data, manifest, out_dir, output=output):
        read_options = _read_options(time_col, channels, label_col, sort, max_gap, allow_long_gaps)
        params |= {"seed": seed, "device": device}
        fit_many(
            data,
            manifest,
            out_dir,
            detector=detector,
            params=params,
            read_options=read_options,
            engine=engine,
            jobs=jobs,
            ray_address=ray_address,
            force=force,
            quiet=quiet,
        )
        return
    data = one_input(data)
    if output is None:
        raise ConfigError("--output is required with one DATA file (or give --out-dir for many assets)")
    det = make_detector(detector, seed=seed, device=device, **params)
    if labels and not det.uses_labels:
        raise ConfigError(
            f"--labels: {detector} does not learn from labels; use a semi-supervised one (esad)"
        )
    series = _read(data, time_col, channels, label_col, sort, max_gap, allow_long_gaps)
    if labels and series.labels is None:
        raise ConfigError(f"--labels: {data} has no label column; name it with --label-col")
    if not labels:
        series.labels = None  # never fitted on unless asked
    det.fit(series, verbose=not quiet)
    det.save(output)
    if det.describe():
        typer.echo(det.describe())
    typer.echo(
        f"fitted {det.name} on {len(series)} rows x {len(det.channels_)} channels of {data}; saved {output}"
    )


@app.command()
@handles_errors
def detect(
    data: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Data to examine (CSV or Parquet); with --out-dir, several files or quoted globs "
            "(asset = file stem).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        Path,
        typer.Option(
            "--model",
            "--models",
            "-m",
            help="A model file written by `tsgan fit`; with --out-dir, the folder of <asset>.tsgan models.",
        ),
    ] = ...,
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
    plot_path: PlotPath = None,
    manifest: Manifest = None,
    out_dir: OutDir = None,
    engine: Engine = "local",
    jobs: Jobs = None,
    ray_address: RayAddress = None,
    force: Force = False,
    reference_rows: ReferenceRows = None,
    quiet: Quiet = False,
) -> None:
    """Flag anomalous intervals in data with a fitted model (or per asset with --out-dir)."""
    from tsgan.artifacts import load_detector
    from tsgan.io import write_json_atomic, write_table_atomic

    if many_mode(data, manifest, out_dir, output=output, scores=scores, plot=plot_path):
        if reference_rows is not None:
            raise ConfigError("--reference-rows applies to one file here; with --out-dir, fit with it")
        read_options = _read_options(time_col, None, label_col, sort, max_gap, allow_long_gaps)
        detect_many(
            data,
            manifest,
            model,
            out_dir,
            read_options=read_options,
            engine=engine,
            jobs=jobs,
            ray_address=ray_address,
            force=force,
            quiet=quiet,
        )
        return
    data = one_input(data)
    det = _with_reference(load_detector(model), reference_rows)
    series = _read(data, time_col, None, label_col, sort, max_gap, allow_long_gaps)
    result = det.detect(series, verbose=not quiet)
    intervals = [interval.to_dict() for interval in result.intervals]
    if output is None:
        typer.echo(json.dumps(intervals, indent=2))
    else:
        write_json_atomic(intervals, output)
    if scores is not None:
        write_table_atomic(scores_table(result.scores, series), scores)
    if plot_path is not None:
        from tsgan.plot import write_report

        write_report(series, result, None, plot_path)
    flagged = int(result.flags.sum())
    typer.echo(
        f"{len(intervals)} intervals, {flagged} of {len(series)} rows flagged in {data}"
        + (f"; intervals in {output}" if output else "")
        + (f"; scores in {scores}" if scores else ""),
        err=output is None,
    )


@app.command()
@handles_errors
def evaluate(
    data: Annotated[Path | None, typer.Argument(help="Labelled data to score with --model.")] = None,
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="A model file written by `tsgan fit`.")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Or a public dataset (skab/valve1, smd/machine-1-6...): fit on its train part, score test.",
        ),
    ] = None,
    tsb: Annotated[
        bool,
        typer.Option(
            "--tsb",
            help="DATA is a TSB-AD file (channels and a Label column, named ..._tr_<rows>_...): fit on its "
            "first rows and score the whole series, as TSB-AD does; no --model.",
        ),
    ] = False,
    train_rows: Annotated[
        int | None, typer.Option("--train-rows", help="With --tsb: the training rows, instead of the name's.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the metrics as JSON here.")
    ] = None,
    detector: Detector = "auto",
    objective: Objective = None,
    epochs: Epochs = None,
    window: Window = None,
    stride: Stride = None,
    inversion: Inversion = None,
    threshold: Threshold = None,
    reference_rows: ReferenceRows = None,
    budget_seconds: BudgetSeconds = None,
    param: Param = None,
    seed: Seed = 0,
    device: Device = "auto",
    label_col: LabelCol = None,
    time_col: TimeCol = None,
    sort: Sort = False,
    vus_buffer: VusBuffer = 20,
    data_root: DataRoot = None,
    plot_path: PlotPath = None,
    quiet: Quiet = False,
) -> None:
    """Measure a detector against labels: every metric, marked deployable, threshold-free or oracle."""
    from tsgan.bench import detection_metrics, evaluate_splits
    from tsgan.datasets import load_dataset, load_tsb_file
    from tsgan.detectors import make_detector
    from tsgan.io import write_json_atomic

    if train_rows is not None and not tsb:
        raise ConfigError("--train-rows goes with --tsb (a TSB-AD file)")
    if (data is None) == (dataset is None) or (data is not None and (model is None) != tsb):
        raise ConfigError(
            "give DATA with --model, DATA with --tsb (a TSB-AD file), or --dataset NAME "
            "(with --detector and its options)"
        )
    if dataset is not None or tsb:
        if plot_path is not None:
            raise ConfigError("--plot draws one series: use it with DATA and --model")
        params = _training_options(
            objective, epochs, window, stride, inversion, threshold, reference_rows, param, budget_seconds
        )
        params |= {"seed": seed, "device": device}
        make_detector(detector, **params)  # bad options fail before any data is read
        splits = [load_tsb_file(data, train_rows)] if tsb else load_dataset(dataset, data_root)
        result = evaluate_splits(detector, params, splits, vus_buffer, not quiet)
        n, fit_s, score_s = len(result["series"]), result["fit_s"], result["score_s"]
        source = f"the TSB-AD file {data}" if tsb else dataset
        title = f"{detector} on {source} ({n} series, means; fit {fit_s:.1f} s, score {score_s:.1f} s)"
        title += "".join(f"\n{text}" for text in result["descriptions"])
    else:
        from tsgan.artifacts import load_detector

        det = _with_reference(load_detector(model), reference_rows)
        reference_rows = det.config.reference_rows
        series = _read(data, time_col, None, label_col, sort, 10, False)
        if series.labels is None:
            raise ConfigError(f"{data}: no label column found; name it with --label-col")
        detection = det.detect(series, verbose=not quiet)
        result = {"metrics": detection_metrics(detection, series.labels, vus_buffer)}
        title = f"{det.name} model {model} on {data}" + (f"\n{det.describe()}" if det.describe() else "")
        if plot_path is not None:
            from tsgan.plot import write_report

            write_report(series, detection, None, plot_path)  # the labels are shaded beside the detections
    typer.echo(title)
    typer.echo(
        f"VUS buffer L = {vus_buffer}; deployable = tsgan's own thresholds, oracle = chosen on test labels"
    )
    if reference_rows:
        typer.echo(f"the first {reference_rows} rows of each series are its reference: given, not judged")
    for name, value in result["metrics"].items():
        typer.echo(f"  {name:<48} {value:8.3f}")
    if output is not None:
        write_json_atomic(result, output)


@app.command()
@handles_errors
def bench(
    detectors: Annotated[
        str, typer.Option("--detectors", help="Comma-separated detector names.")
    ] = "auto,pca,zscore,random",
    datasets: Annotated[
        str, typer.Option("--datasets", help="Comma-separated dataset names.")
    ] = "skab/valve1,skab/valve2",
    out: Annotated[
        Path, typer.Option("--out", help="Results folder: finished cells are kept there and not recomputed.")
    ] = Path("benchmarks/results"),
    objective: Objective = None,
    epochs: Epochs = None,
    window: Window = None,
    stride: Stride = None,
    inversion: Inversion = None,
    threshold: Threshold = None,
    reference_rows: ReferenceRows = None,
    budget_seconds: BudgetSeconds = None,
    param: Param = None,
    seed: Seed = 0,
    vus_buffer: VusBuffer = 20,
    data_root: DataRoot = None,
    threads: Annotated[int, typer.Option("--threads", help="Torch threads per cell.")] = 1,
    quiet: Quiet = False,
) -> None:
    """Run detectors x datasets and write a table (Markdown and CSV, VUS-PR first) and a chart of it."""
    from tqdm.auto import tqdm

    from tsgan.bench import Cell, csv_rows, markdown_table, run_bench
    from tsgan.bench_chart import bench_figure
    from tsgan.detectors import params_for
    from tsgan.io import write_atomic, write_table_atomic
    from tsgan.plot import write_html

    options = _training_options(
        objective, epochs, window, stride, inversion, threshold, reference_rows, param, budget_seconds
    )
    options["seed"] = seed
    cells = [Cell(d, ds, params_for(d, options)) for d in _split(detectors) for ds in _split(datasets)]
    bar = tqdm(total=len(cells), desc="bench", unit="cell", disable=quiet)

    def progress(cell, result):
        bar.update()
        if "error" in result:
            typer.secho(
                f"warning: {cell.detector} on {cell.dataset} failed: {result['error']}", fg="yellow", err=True
            )

    results = run_bench(cells, out, data_root, vus_buffer, progress, threads)
    bar.close()
    table = markdown_table(results)
    write_atomic(Path(out) / "table.md", lambda tmp: tmp.write_text(table))
    write_table_atomic(pl.DataFrame(csv_rows(results)), Path(out) / "table.csv")
    write_html(bench_figure(results), Path(out) / "chart.html")
    typer.echo(table)
    typer.echo(f"table.md, table.csv and chart.html written to {out}", err=True)


app.command(name="plot")(handles_errors(plot))
# Streaming commands live in cli/stream.py and wrap themselves in handles_errors when they run.
app.add_typer(simulate, name="simulate")
app.command("pmu-serve")(pmu_serve)
app.command("stream")(stream)


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
