"""Many assets at once: fit or score one model per series, locally in parallel (joblib) or on Ray.

The work for one asset is one pure function of its inputs and options: `fit_asset` reads a training file
and writes a model, `detect_asset` reads a file and a model and writes the flagged intervals. Each writes
its result atomically and returns a small summary, so it can run anywhere that sees the files, and a
rerun can skip what is done. `run_assets` runs a list of such `Task`s on an engine, never stops at a
failing asset, and returns one `Outcome` per task:

    tasks = [fit_task(name, path, models / f"{name}.tsgan", "pca", {}, {}) for name, path in inputs.items()]
    outcomes = run_assets(tasks, engine="ray", jobs=8)

Engines: "local" runs `jobs` worker processes with joblib (jobs=1: in this process, one after another);
"ray" sends each asset to a Ray cluster (`ray_address`), or to a local Ray instance started for the call
and stopped after it. With Ray on several machines the paths must be on a file system every node sees.

`ModelActor` keeps one fitted model loaded and scores the arrays sent to it (what one scoring call of a
stream costs is measured with it); live PMU streams on Ray actors are `tsgan.stream.workers`.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import glob
import itertools
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from tsgan.artifacts import load_detector
from tsgan.detectors import make_detector
from tsgan.errors import ConfigError, InputError, TsganError
from tsgan.io import read_series, write_json_atomic
from tsgan.series import Series

ENGINES = ("local", "ray")


# --------------------------------------------------------------------------------------------------------
# One asset
# --------------------------------------------------------------------------------------------------------


def fit_asset(
    asset: str, train_path: Path, out_path: Path, detector: str, params: dict, read_options: dict
) -> dict:
    """Fit detector `detector` with `params` on one training file and save the model to `out_path`."""
    start = time.perf_counter()
    det = make_detector(detector, **params)
    series = read_series(train_path, **read_options)
    det.fit(series)
    det.save(out_path)
    return {
        "asset": asset,
        "rows": len(series),
        "channels": len(det.channels_),
        "seconds": round(time.perf_counter() - start, 3),
    }


def detect_asset(asset: str, test_path: Path, model_path: Path, out_path: Path, read_options: dict) -> dict:
    """Flag anomalous intervals in one file with one model; write them as JSON (as `tsgan detect -o`)."""
    start = time.perf_counter()
    det = load_detector(model_path)
    series = read_series(test_path, **read_options)
    result = det.detect(series)
    intervals = [interval.to_dict() for interval in result.intervals]
    write_json_atomic(intervals, out_path)
    return {
        "asset": asset,
        "rows": len(series),
        "flagged": int(result.flags.sum()),
        "intervals": len(intervals),
        "seconds": round(time.perf_counter() - start, 3),
    }


@dataclass(frozen=True)
class Task:
    """The work for one asset: `call()` writes `output` from `inputs` and returns a summary."""

    asset: str
    call: Callable[[], dict]
    output: Path
    inputs: tuple[Path, ...]

    def up_to_date(self) -> bool:
        """Whether `output` exists and is newer than every input, so a rerun can skip this asset."""
        if not self.output.is_file() or not all(p.is_file() for p in self.inputs):
            return False
        newest_input = max(p.stat().st_mtime_ns for p in self.inputs)
        return self.output.stat().st_mtime_ns > newest_input


def fit_task(
    asset: str, train_path: Path, out_path: Path, detector: str, params: dict, read_options: dict
) -> Task:
    """A Task fitting one model (see `fit_asset`)."""
    call = functools.partial(fit_asset, asset, train_path, out_path, detector, params, read_options)
    return Task(asset, call, Path(out_path), (Path(train_path),))


def detect_task(asset: str, test_path: Path, model_path: Path, out_path: Path, read_options: dict) -> Task:
    """A Task detecting on one file (see `detect_asset`); redone when the data or the model is newer."""
    call = functools.partial(detect_asset, asset, test_path, model_path, out_path, read_options)
    return Task(asset, call, Path(out_path), (Path(test_path), Path(model_path)))


@dataclass(frozen=True)
class Outcome:
    """What became of one asset: its summary, or the one-line error that stopped it."""

    asset: str
    status: Literal["ok", "failed", "skipped"]
    summary: dict | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()


def run_task(task: Task) -> Outcome:
    """Run one task wherever it was sent; any error becomes a failed Outcome, so one asset never stops
    the others. Warnings (gaps filled, channels ignored) travel back with the outcome."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            summary = task.call()
        except Exception as exc:  # whatever went wrong belongs to this asset alone
            message = str(exc) if isinstance(exc, TsganError) else f"{type(exc).__name__}: {exc}"
            error = " ".join(message.split())
            return Outcome(task.asset, "failed", error=error, warnings=_messages(caught))
    return Outcome(task.asset, "ok", summary=summary, warnings=_messages(caught))


def _messages(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    return tuple(str(w.message) for w in caught)


# --------------------------------------------------------------------------------------------------------
# Many assets
# --------------------------------------------------------------------------------------------------------


def run_assets(
    tasks: Iterable[Task],
    engine: str = "local",
    jobs: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    force: bool = False,
) -> list[Outcome]:
    """Run every task on `engine` and return their outcomes in the order of `tasks`.

    Tasks whose output is newer than their inputs are skipped unless `force`. `jobs` is how many assets
    run at once (default: every core of this machine, or of the Ray cluster). A progress bar counts
    assets, skipped ones included.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}")
    tasks = list(tasks)
    outcomes: dict[str, Outcome] = {}
    pending, seen = [], set()
    for task in tasks:
        if task.asset in seen:
            raise ConfigError(f"asset {task.asset!r} appears twice; asset names must be unique")
        seen.add(task.asset)
        if not force and task.up_to_date():
            outcomes[task.asset] = Outcome(task.asset, "skipped")
        else:
            pending.append(task)

    bar = tqdm(total=len(tasks), initial=len(outcomes), unit="asset", disable=not progress)
    failed = 0
    with bar, contextlib.closing(_outcomes(pending, engine, jobs, ray_address)) as stream:
        for outcome in stream:
            outcomes[outcome.asset] = outcome
            failed += outcome.status == "failed"
            bar.set_postfix(failed=failed, refresh=False)
            bar.update()
    return [outcomes[task.asset] for task in tasks]


def _outcomes(tasks: list[Task], engine: str, jobs: int | None, address: str | None) -> Iterator[Outcome]:
    """The outcomes of `tasks` on `engine`, as they finish; nothing is started for no task."""
    if not tasks:
        return
    if engine == "local":
        yield from _run_local(tasks, jobs)
    else:
        yield from _run_ray(tasks, jobs, address)


def _run_local(tasks: list[Task], jobs: int | None) -> Iterator[Outcome]:
    """joblib worker processes (loky), results as they finish; jobs=1 runs here, one after another.

    A worker that dies (killed for memory, say) breaks the whole pool: that is one clear error, and the
    assets finished so far are kept, so a rerun resumes where this one stopped.
    """
    from joblib import Parallel, delayed

    n_jobs = min(jobs or os.cpu_count() or 1, len(tasks))
    try:
        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(run_task)(t) for t in tasks
        )
    except BrokenProcessPool:
        raise ConfigError(
            "a joblib worker process died (killed for memory, or a crash in native code); the assets "
            "finished are kept: rerun to resume, with fewer --jobs if memory ran out"
        ) from None


def _run_ray(tasks: list[Task], jobs: int | None, address: str | None) -> Iterator[Outcome]:
    """One Ray task per asset, with at most `jobs` in flight (default: twice the cluster's CPUs, so none
    idles) rather than thousands queued at once. A lost worker or node fails its asset only."""
    ray = _import_ray()
    with ray_session(address, jobs):
        remote = ray.remote(num_cpus=1)(run_task)
        window = jobs or 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        queue = iter(tasks)
        in_flight = {remote.remote(t): t for t in itertools.islice(queue, window)}
        while in_flight:
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            task = in_flight.pop(ref)
            in_flight |= {remote.remote(t): t for t in itertools.islice(queue, 1)}
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:
                reason = next(iter(str(exc).splitlines()), "")
                outcome = Outcome(
                    task.asset, "failed", error=f"Ray lost this asset: {type(exc).__name__} {reason}"
                )
            yield outcome


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("engine 'ray' needs Ray: pip install 'tsgan[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Connect to the Ray cluster at `address`, or start a local instance (`num_cpus` CPUs, no dashboard)
    and stop it afterwards. A session already open (ray.init by the caller) is used as it is."""
    ray = _import_ray()
    if ray.is_initialized():
        yield
        return
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
    else:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError) as exc:
            raise ConfigError(
                f"cannot connect to the Ray cluster at {address!r} ({exc}); check --ray-address "
                "(`auto` on a cluster node) and that this machine has the cluster's Ray auth token"
            ) from None
    try:
        yield
    finally:
        ray.shutdown()


# --------------------------------------------------------------------------------------------------------
# Which assets: globs and manifests
# --------------------------------------------------------------------------------------------------------


def assets_from_paths(patterns: Iterable[str | os.PathLike[str]]) -> dict[str, Path]:
    """Asset name (file stem) -> file, for files and glob patterns (`**` recurses).

    A pattern matching nothing, a missing file and two files with the same stem are ConfigErrors.
    """
    assets: dict[str, Path] = {}
    for pattern in map(str, patterns):
        if glob.has_magic(pattern):
            paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not paths:
                raise ConfigError(f"{pattern}: the pattern matches no file")
        elif Path(pattern).is_file():
            paths = [Path(pattern)]
        else:
            raise ConfigError(f"{pattern}: no such file")
        for path in paths:
            if assets.get(path.stem, path) != path:
                raise ConfigError(
                    f"{assets[path.stem]} and {path} would both be asset {path.stem!r}; "
                    "asset names are file stems and must be unique (use a manifest to name them)"
                )
            assets[path.stem] = path
    if not assets:
        raise ConfigError("no input files given")
    return assets


def read_manifest(path: str | os.PathLike[str], column: str) -> dict[str, Path]:
    """Asset name -> file in `column` (train or test) of a CSV manifest with columns asset,<column>.

    Paths are relative to the manifest's folder. Every row is checked before anything runs: a missing
    column, an empty or repeated asset name, an empty cell or a missing file is an InputError naming the
    manifest line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such manifest; expected a CSV file with columns asset,train,test")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = header
        rows = list(reader)
    missing = [c for c in ("asset", column) if c not in header]
    if missing:
        raise InputError(
            f"{path}: manifest expected columns asset,{column}; missing {', '.join(missing)} "
            f"(found: {', '.join(header) or 'an empty file'})"
        )
    if not rows:
        raise InputError(f"{path}: the manifest lists no assets; add one row per asset under its header")
    assets: dict[str, Path] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path}: line {line}"
        asset, cell = (row.get("asset") or "").strip(), (row.get(column) or "").strip()
        if not asset or asset in (".", "..") or any(sep in asset for sep in "/\\"):
            raise InputError(f"{where}: asset expected a name usable as a file name, found {asset!r}")
        if asset in assets:
            raise InputError(f"{where}: asset {asset!r} appears twice; asset names must be unique")
        if not cell:
            raise InputError(f"{where} (asset {asset!r}): the {column} cell is empty; give a file path")
        file = path.parent / cell
        if not file.is_file():
            raise InputError(f"{where} (asset {asset!r}): {column} file {file} not found")
        assets[asset] = file
    return assets


# --------------------------------------------------------------------------------------------------------
# Scoring with a model kept loaded
# --------------------------------------------------------------------------------------------------------


class ModelActor:
    """One fitted model kept in memory, scoring the arrays sent to it (say the last frames of a PMU)."""

    def __init__(self, model_path: str | os.PathLike[str]):
        self.detector = load_detector(model_path)

    def channels(self) -> list[str]:
        """The channels, in order, that the columns of `values` must hold."""
        return list(self.detector.channels_)

    def score(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Point (T,) and channel (T, C) scores of `values` (T, C); > 0 means above the threshold."""
        scores = self.detector.score(Series(values, self.detector.channels_))
        return scores.point, scores.channel
