"""`tsgan fit` and `tsgan detect` over many assets: files or globs (asset = file stem) or a manifest.

    tsgan fit --manifest assets.csv --out-dir models/ --detector pca
    tsgan detect --manifest assets.csv --models models/ --out-dir detections/ --engine ray

Each asset gets its own output (`models/<asset>.tsgan`, `detections/<asset>.json`), written atomically;
a rerun skips assets whose output is newer than their inputs. Failures are reported one line each and do
not stop the others; the exit code is 1 if any asset failed. This module stays cheap to import: the
options are declared here for cli/main.py, and the work is imported only when it runs.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tsgan.errors import ConfigError

if TYPE_CHECKING:
    from tsgan.scale import Outcome

Manifest = Annotated[
    Path | None,
    typer.Option(
        "--manifest", help="CSV with columns asset,train,test (paths relative to it); needs --out-dir."
    ),
]
OutDir = Annotated[
    Path | None,
    typer.Option("--out-dir", help="Fit or detect many assets: one output per asset in this folder."),
]
Engine = Annotated[str, typer.Option("--engine", help="With --out-dir: local (joblib processes) or ray.")]
Jobs = Annotated[
    int | None,
    typer.Option(
        "--jobs", "-j", help="With --out-dir: assets at once (default: every core, or the cluster's)."
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address", help="Ray cluster to use (default: start a local Ray instance for the run)."
    ),
]
Force = Annotated[
    bool, typer.Option("--force", help="With --out-dir: redo assets whose output is already up to date.")
]


def many_mode(data: list[Path] | None, manifest: Path | None, out_dir: Path | None, **one_file) -> bool:
    """Whether a fit/detect call is over many assets (--manifest or --out-dir given); contradictory
    options are a ConfigError. `one_file` holds the options that only make sense for one DATA file,
    keyed by option name (output=... for --output), so that giving one with --out-dir is refused."""
    if manifest is None and out_dir is None:
        return False
    if out_dir is None:
        raise ConfigError("--manifest needs --out-dir, the folder for one output per asset")
    if (manifest is None) == (not data):
        raise ConfigError(
            "with --out-dir give either DATA files or globs, or --manifest, not both or neither"
        )
    given = [f"--{name.replace('_', '-')}" for name, value in one_file.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} works with one DATA file only, not with --out-dir")
    return True


def one_input(data: list[Path] | None) -> Path:
    """The DATA of a one-file fit/detect; several files or a glob need --out-dir."""
    if not data or len(data) > 1 or glob.has_magic(str(data[0])):
        raise ConfigError(
            "give one DATA file, or several files or globs (or --manifest) with --out-dir for many assets"
        )
    return data[0]


def fit_many(
    data: list[Path] | None,
    manifest: Path | None,
    out_dir: Path,
    *,
    detector: str,
    params: dict,
    read_options: dict,
    engine: str,
    jobs: int | None,
    ray_address: str | None,
    force: bool,
    quiet: bool,
) -> None:
    """Fit one `detector` per asset into `out_dir/<asset>.tsgan`."""
    from tsgan.detectors import make_detector
    from tsgan.scale import fit_task, run_assets

    make_detector(detector, **params)  # bad options fail once, before any asset runs
    inputs = _inputs(data, manifest, "train")
    tasks = [
        fit_task(asset, path, out_dir / f"{asset}.tsgan", detector, params, read_options)
        for asset, path in inputs.items()
    ]
    outcomes = run_assets(tasks, engine, jobs, ray_address, progress=not quiet, force=force)
    _report(outcomes, f"models in {out_dir}")


def detect_many(
    data: list[Path] | None,
    manifest: Path | None,
    models: Path,
    out_dir: Path,
    *,
    read_options: dict,
    engine: str,
    jobs: int | None,
    ray_address: str | None,
    force: bool,
    quiet: bool,
) -> None:
    """Detect on each asset with `models/<asset>.tsgan`, writing intervals to `out_dir/<asset>.json`."""
    from tsgan.scale import detect_task, run_assets

    if not models.is_dir():
        raise ConfigError(f"{models}: with --out-dir, --models expects the folder of <asset>.tsgan models")
    inputs = _inputs(data, manifest, "test")
    tasks = [
        detect_task(asset, path, models / f"{asset}.tsgan", out_dir / f"{asset}.json", read_options)
        for asset, path in inputs.items()
    ]
    outcomes = run_assets(tasks, engine, jobs, ray_address, progress=not quiet, force=force)
    _report(outcomes, f"detections in {out_dir}")


def _inputs(data: list[Path] | None, manifest: Path | None, column: str) -> dict[str, Path]:
    from tsgan.scale import assets_from_paths, read_manifest

    return read_manifest(manifest, column) if manifest is not None else assets_from_paths(data or [])


def _report(outcomes: Sequence[Outcome], where: str) -> None:
    """Warnings and one line per failed asset, then `N succeeded, M failed, K skipped`; exit 1 on failure."""
    for outcome in outcomes:
        for message in outcome.warnings:
            typer.secho(f"warning: {outcome.asset}: {message}", fg="yellow", err=True)
        if outcome.status == "failed":
            typer.secho(f"error: {outcome.asset}: {outcome.error}", fg="red", err=True)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "failed", "skipped")}
    typer.echo(f"{counts['ok']} succeeded, {counts['failed']} failed, {counts['skipped']} skipped; {where}")
    if counts["failed"]:
        raise typer.Exit(1)
