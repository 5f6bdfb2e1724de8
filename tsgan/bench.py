"""Benchmark runner: detectors x datasets -> one row per cell with metrics, timings and peak memory.

Each cell (one detector on one dataset, e.g. `skab/valve1` with its 16 runs) runs in a fresh child
process, so its peak resident memory is its own and a crash in one cell cannot take the table down.
A finished cell is stored as JSON in the results folder and not recomputed on the next run.
Within a cell, a model is fitted once per distinct training series and scores every test series
that shares it (SKAB's runs share `anomaly_free.csv`); the cell's metrics are means over its series.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import numpy as np

from tsgan.datasets import load_dataset
from tsgan.detectors import Auto, make_detector
from tsgan.detectors.auto import describe_choices
from tsgan.evaluation import as_dict, metric_table
from tsgan.io import write_json_atomic

HEADLINE = [
    "VUS-PR [threshold-free]",
    "VUS-PR of a random score [threshold-free]",
    "AUC-PR [threshold-free]",
    "point F1 [deployable]",
    "point F1, best threshold [oracle]",
]


@dataclass
class Cell:
    detector: str
    dataset: str
    params: dict

    @property
    def key(self) -> str:
        tag = "_".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.detector}__{self.dataset.replace('/', '-')}" + (f"__{tag}" if tag else "")


def detection_metrics(detection, labels, vus_buffer: int = 20) -> dict[str, float]:
    """The metric table of one detection result against 0/1 labels, as {name [kind]: value}. Rows the
    detector was told are normal (`reference_rows`) are not judged: they are given, not found."""
    skip = detection.reference_rows
    point, flags = detection.scores.point[skip:], detection.flags[skip:]
    return as_dict(metric_table(labels[skip:], point, flags, vus_buffer))


def evaluate_series(det, series, vus_buffer: int = 20, verbose: bool = False) -> dict[str, float]:
    """The metric table of a fitted detector on one labelled series."""
    return detection_metrics(det.detect(series, verbose=verbose), series.labels, vus_buffer)


def evaluate_splits(detector: str, params: dict, splits, vus_buffer: int = 20, verbose: bool = False) -> dict:
    """Fit `detector` once per distinct training series of `splits`, score every test series, and
    return the mean of each metric with the total fit and score seconds and per-series rows."""
    fitted: dict[str, object] = {}
    per_series, fit_s, score_s = [], 0.0, 0.0
    for split in splits:
        key = split.train.name or split.name
        if key not in fitted:
            start = time.perf_counter()
            fitted[key] = make_detector(detector, **params).fit(split.train, verbose=verbose)
            fit_s += time.perf_counter() - start
        start = time.perf_counter()
        row = evaluate_series(fitted[key], split.test, vus_buffer)
        score_s += time.perf_counter() - start  # the metrics take milliseconds next to scoring
        per_series.append({"series": split.name, **row})
    names = [k for k in per_series[0] if k != "series"]
    means = {k: float(np.nanmean([r[k] for r in per_series])) for k in names}
    # The last training epoch of each fitted GAN (losses, generator diversity) to spot collapsed runs.
    training = [det.history_[-1] for det in fitted.values() if getattr(det, "history_", None)]
    autos = [det for det in fitted.values() if isinstance(det, Auto)]
    descriptions = [autos[0].describe()] if len(autos) == 1 else [describe_choices(autos)] if autos else []
    return {
        "metrics": means,
        "fit_s": fit_s,
        "score_s": score_s,
        "series": per_series,
        "training": training,
        "descriptions": descriptions,
    }


def _run_cell(cell: Cell, root, vus_buffer: int, threads: int, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        out = evaluate_splits(cell.detector, cell.params, load_dataset(cell.dataset, root), vus_buffer)
        out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put(out)
    except Exception as exc:  # reported in the table, the other cells go on
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_cell(cell: Cell, root=None, vus_buffer: int = 20, threads: int = 1) -> dict:
    """Run one cell in a child process with `threads` torch threads and return its result (or error).
    One thread by default: timings stay comparable, and torch's spinning threads do not thrash a
    machine that is busy with something else (measured: 40x slower per step on a loaded 2-core box).

    The child is spawned, not forked: a fork of a process whose torch thread pool has run can deadlock."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_run_cell, args=(cell, root, vus_buffer, threads, queue))
    process.start()
    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not process.is_alive():  # killed (out of memory, a signal) before it could report
                result = {"error": f"the cell's process ended with exit code {process.exitcode}"}
                break
    process.join()
    return {"detector": cell.detector, "dataset": cell.dataset, "params": cell.params, **result}


def run_bench(
    cells: list[Cell], folder: Path, root=None, vus_buffer: int = 20, progress=None, threads: int = 1
) -> list[dict]:
    """Run every cell not already stored under `folder/cells/` and return all results."""
    store = Path(folder) / "cells"
    results = []
    for cell in cells:
        path = store / f"{cell.key}.json"
        if path.exists():
            result = json.loads(path.read_text())
        else:
            result = run_cell(cell, root, vus_buffer, threads)
            if "error" not in result:
                write_json_atomic(result, path)
        results.append(result)
        if progress:
            progress(cell, result)
    return results


def label(detector: str, params: dict) -> str:
    """A detector's name with the parameters it was given, e.g. `madgan (lam=0.5)`; the seed is left out."""
    shown = [f"{k}={v}" for k, v in sorted(params.items()) if k != "seed"]
    return f"{detector} ({', '.join(shown)})" if shown else detector


def markdown_table(results: list[dict]) -> str:
    """Results as a Markdown table, VUS-PR first; every column says how its threshold was chosen."""
    head = ["detector", "dataset", *HEADLINE, "fit s", "score s", "peak MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        name = label(r["detector"], r["params"])
        if "error" in r:
            cells = [name, r["dataset"], f"failed: {r['error']}"] + [""] * (len(head) - 3)
        else:
            m = r["metrics"]
            cells = [name, r["dataset"], *(f"{m[k]:.3f}" for k in HEADLINE)]
            cells += [f"{r['fit_s']:.1f}", f"{r['score_s']:.1f}", f"{r['peak_mem_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        row = {"detector": r["detector"], "dataset": r["dataset"], "params": json.dumps(r["params"])}
        if "error" in r:
            row["error"] = r["error"]
        else:
            row |= r["metrics"] | {
                "fit_s": r["fit_s"],
                "score_s": r["score_s"],
                "peak_mem_mb": r["peak_mem_mb"],
            }
        rows.append(row)
    return rows
