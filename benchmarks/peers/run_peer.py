"""Run a peer library's detector on tsgan's benchmark splits and score it with tsgan's own metrics.

Run it with the peer's virtual environment (made by setup.sh), never tsgan's:

    benchmarks/peers/.venvs/pyod/bin/python benchmarks/peers/run_peer.py --peer pyod-iforest \
        --datasets skab/valve1,smd/machine-1-6 --out benchmarks/results/peers

For every dataset it fits the peer once per distinct training series (SKAB's runs share one), scores every
test series, and writes `<out>/cells/<peer>__<dataset>.json` in the layout of tsgan.bench's cells:
metrics are means over the dataset's series, with fit and score seconds and the cell's peak memory (each
cell runs in its own child process). Finished cells are skipped on the next run; failed ones are recorded
with their error and retried.

`--param key=value` (repeatable, the value read as JSON) changes one of the peer's parameters, e.g.
`--param epochs=5`. Parameters that differ from the peer's own go into the cell's `params` and its file
name, `<peer>__epochs=5__<dataset>.json`, so such cells sit beside the default ones as separate rows.

Deployable flags come only from each peer's own label-free threshold (DeepOD and PyOD: the `threshold_`
their `predict` compares against, set from the training scores and the default `contamination`; Orion:
the intervals its `detect` reports); test labels reach nothing but tsgan.evaluation.metric_table.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import multiprocessing
import os
import random
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tsgan.datasets import load_dataset
from tsgan.evaluation import as_dict, metric_table
from tsgan.io import write_json_atomic
from tsgan.preprocess import robust_stats

SEED = 0
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
# Fitted model: test values (T, C) -> (point scores (T,), deployable flags (T,))
Predictor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Peer:
    """One peer detector: its library (a pip distribution), its parameters, and how to fit it."""

    package: str
    params: dict
    fit: Callable[[np.ndarray, dict], Predictor]  # (training values (T, C), params) -> predictor


def _seed() -> None:
    """Seed Python's and numpy's global generators (the fit functions seed torch and TensorFlow)."""
    random.seed(SEED)
    np.random.seed(SEED)


def _standard(train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """z-scores fitted on the training values (a constant channel keeps scale 1, as in scikit-learn)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return lambda x: (x - mean) / std


def _minmax(train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Scaling to [0, 1] on the training range (test values may fall outside; they are not clipped)."""
    lo, span = train.min(axis=0), np.ptp(train, axis=0)
    span = np.where(span > 0, span, 1.0)
    return lambda x: (x - lo) / span


def _fit_usad(train: np.ndarray, params: dict) -> Predictor:
    """DeepOD's USAD on min-max scaled windows (its decoders end in a sigmoid, as in the USAD paper).

    DeepOD gives each window's score to the window's last point and 0 to the first seq_len - 1 points;
    its `predict` flags scores above `threshold_`, the (1 - contamination) quantile of the training scores.
    """
    import torch
    from deepod.models.time_series import USAD

    torch.manual_seed(SEED)
    scale = _minmax(train)
    model = USAD(**params, device="cpu", verbose=1, random_state=SEED)
    model.fit(scale(train).astype(np.float32))

    def predict(test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = model.decision_function(scale(test).astype(np.float32))
        return scores, scores > model.threshold_  # what model.predict does, without scoring twice

    return predict


def _fit_pyod(make: Callable[[dict], object]) -> Callable[[np.ndarray, dict], Predictor]:
    """Fit a PyOD time-series detector on z-scored training values; flags are PyOD's own `predict`
    rule (score > threshold_, the (1 - contamination) quantile of the training scores)."""

    def fit(train: np.ndarray, params: dict) -> Predictor:
        import torch

        torch.manual_seed(SEED)
        scale = _standard(train)
        model = make(params)
        model.fit(scale(train))

        def predict(test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            scores = model.decision_function(scale(test))
            return scores, scores > model.threshold_

        return predict

    return fit


def _lstmad(params: dict):
    from pyod.models.ts_lstm import LSTMAD

    return LSTMAD(**params)


def _windowed(name: str) -> Callable[[dict], object]:
    """PyOD's TimeSeriesOD bridge around one of its classic detectors (default settings), on sliding
    windows; window scores go to points by PyOD's default, the max over the windows covering each point."""

    def make(params: dict):
        from pyod.models.iforest import IForest
        from pyod.models.knn import KNN
        from pyod.models.pca import PCA
        from pyod.models.ts_od import TimeSeriesOD

        inner = {"IForest": IForest(random_state=SEED), "PCA": PCA(random_state=SEED), "KNN": KNN()}[name]
        return TimeSeriesOD(detector=inner, **params)

    return make


def _fit_tadgan(train: np.ndarray, params: dict) -> Predictor:
    """Orion's `tadgan` pipeline (its own imputer and [-1, 1] scaler inside). Rows are indexed 0, 1, ...
    with interval 1, so Orion's time aggregation keeps every row. Orion models the first column (its
    `target_column` 0) from windows of all columns. Scores are the pipeline's per-point `errors` (from
    its `score_anomalies` step); flags are the intervals that `detect` reports (Orion's own label-free
    dynamic threshold)."""
    import pandas as pd
    import tensorflow as tf
    from mlblocks.discovery import load_pipeline
    from orion import Orion

    tf.keras.utils.set_random_seed(SEED)

    def frame(values: np.ndarray) -> pd.DataFrame:
        columns = {"timestamp": np.arange(len(values))}
        columns |= {f"c{i}": values[:, i] for i in range(values.shape[1])}
        return pd.DataFrame(columns)

    aggregate = "mlstars.custom.timeseries_preprocessing.time_segments_aggregate#1"
    pipeline = load_pipeline("tadgan")  # the verified pipeline, plus its scores as a named output
    pipeline["outputs"] = {
        "default": [
            {"name": "events", "variable": "orion.primitives.timeseries_anomalies.find_anomalies#1.y"}
        ],
        "visualization": [
            {"name": "errors", "variable": "orion.primitives.tadgan.score_anomalies#1.errors"},
            {"name": "index", "variable": f"{aggregate}.index"},
        ],
    }
    hyper = {aggregate: {"interval": 1}, "orion.primitives.tadgan.TadGAN#1": {"epochs": params["epochs"]}}
    orion = Orion(pipeline=pipeline, hyperparameters=hyper)
    orion.fit(frame(train))

    def predict(test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        events, outputs = orion.detect(frame(test), visualization=True)
        errors = np.asarray(outputs["errors"], dtype=np.float64).ravel()
        scores = np.full(len(test), np.nan)  # the last row, which no window reconstructs, stays unscored
        scores[np.asarray(outputs["index"], dtype=np.int64)[: len(errors)]] = errors
        flags = np.zeros(len(test), dtype=bool)
        for start, end in zip(events["start"], events["end"], strict=True):
            flags[start : end + 1] = True
        return scores, flags

    return predict


PEERS: dict[str, Peer] = {
    # DeepOD 0.4.1 defaults (window 100, hidden 100, batch 128) except epochs and training stride: one
    # epoch over every window of an SMD machine takes ~10 minutes on 2 cores (README). batch_size is
    # listed so that --param can lower it where a series has fewer windows than one batch (NAB).
    "deepod-usad": Peer("deepod", {"seq_len": 100, "stride": 10, "epochs": 10, "batch_size": 128}, _fit_usad),
    # PyOD defaults (window 50, 2 x 64 LSTM, 50 epochs) except epochs (README).
    "pyod-lstmad": Peer("pyod", {"epochs": 10}, _fit_pyod(_lstmad)),
    "pyod-iforest": Peer("pyod", {"window_size": 50}, _fit_pyod(_windowed("IForest"))),
    "pyod-pca": Peer("pyod", {"window_size": 50}, _fit_pyod(_windowed("PCA"))),
    "pyod-knn": Peer("pyod", {"window_size": 50}, _fit_pyod(_windowed("KNN"))),
    # Orion's verified tadgan pipeline (window 100, DTW errors, ...) except epochs (35 by default; README).
    "orion-tadgan": Peer("orion-ml", {"epochs": 1}, _fit_tadgan),
}


def onto_training(test: np.ndarray, train: np.ndarray, reference_rows: int) -> np.ndarray:
    """The test series moved so that its first `reference_rows` rows (given as normal) get the training
    data's per-channel median and robust spread: for the peer's own scaler, the same as re-fitting it on
    them, which is what tsgan's `--reference-rows` does. A channel flat in the reference keeps its spread."""
    train_centre, train_scale = robust_stats(train)
    centre, scale = robust_stats(test[:reference_rows], fallback=0.0)
    scale = np.where(scale > 0, scale, train_scale)
    return (test - centre) / scale * train_scale + train_centre


def evaluate(peer: Peer, dataset: str, vus_buffer: int, reference_rows: int = 0) -> dict:
    """Fit once per distinct training series, score every test series; mean metrics, timings, rows.
    With `reference_rows`, each test series is first moved onto the training data by its first rows,
    and the metrics skip those rows (as `tsgan bench --reference-rows`)."""
    fitted: dict[str, Predictor] = {}
    rows, fit_s, score_s = [], 0.0, 0.0
    for split in load_dataset(dataset):
        key = split.train.name or split.name
        train = np.asarray(split.train.values, dtype=np.float64)
        if key not in fitted:
            _seed()
            start = time.perf_counter()
            fitted[key] = peer.fit(train, peer.params)
            fit_s += time.perf_counter() - start
        test = np.asarray(split.test.values, dtype=np.float64)
        if reference_rows:
            test = onto_training(test, train, reference_rows)
        start = time.perf_counter()
        scores, flags = fitted[key](test)
        score_s += time.perf_counter() - start
        skip = reference_rows
        metrics = as_dict(metric_table(split.test.labels[skip:], scores[skip:], flags[skip:], vus_buffer))
        rows.append({"series": split.name, **metrics})
    names = [k for k in rows[0] if k != "series"]
    means = {k: float(np.nanmean([r[k] for r in rows])) for k in names}
    return {"metrics": means, "fit_s": fit_s, "score_s": score_s, "series": rows}


def _child(peer: Peer, dataset: str, vus_buffer: int, reference_rows: int, queue) -> None:
    try:
        out = evaluate(peer, dataset, vus_buffer, reference_rows)
        out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except Exception as exc:  # recorded in the cell, the other datasets go on
        traceback.print_exc()
        out = {"error": f"{type(exc).__name__}: {exc}"}
    queue.put(out)


def run_cell(
    name: str,
    params: dict,
    dataset: str,
    vus_buffer: int,
    threads: int | None = None,
    reference_rows: int = 0,
) -> dict:
    """One (peer, dataset) cell with these parameters in a fresh child process, so its peak memory is its
    own."""
    peer = replace(PEERS[name], params=params)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(peer, dataset, vus_buffer, reference_rows, queue))
    process.start()
    result = queue.get()
    process.join()
    version = f"{peer.package}=={importlib.metadata.version(peer.package)}"
    reference = {"reference_rows": reference_rows} if reference_rows else {}
    cell = {
        "detector": name,
        "dataset": dataset,
        "params": {**peer.params, **reference, "seed": SEED},
        "version": version,
    }
    return cell | ({"threads": threads} if threads else {}) | result


def changed_params(pairs: list[str], defaults: dict) -> dict:
    """The `key=value` pairs (values as JSON) that differ from the peer's defaults. A pair equal to the
    default is dropped: it runs (and resumes) the default cell. The last pair for a key wins. ValueError
    names an unknown key."""
    changed = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key not in defaults:
            raise ValueError(f"unknown parameter {key!r} (known: {', '.join(sorted(defaults))})")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"{pair!r}: the value is not JSON (quote a string: {key}='\"...\"')") from None
        changed.pop(key, None)
        if value != defaults[key]:
            changed[key] = value
    return changed


def cell_stem(name: str, changed: dict, dataset: str) -> str:
    """`<peer>[__key=value...]__<dataset>`: changed parameters in the name keep such cells from
    overwriting, or being resumed as, the default ones."""
    keys = [f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in sorted(changed.items())]
    return "__".join([name, *keys, dataset.replace("/", "-")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", required=True, choices=sorted(PEERS))
    parser.add_argument("--datasets", required=True, help="comma-separated, e.g. skab/valve1,smd/machine-1-6")
    parser.add_argument("--out", default="benchmarks/results/peers", type=Path)
    parser.add_argument("--vus-buffer", type=int, default=20)
    parser.add_argument("--threads", type=int, help="limit BLAS/torch/TensorFlow threads (default: theirs)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=JSON", help="repeatable")
    parser.add_argument(
        "--reference-rows",
        type=int,
        default=0,
        help="each test series' first N rows are its normal reference",
    )
    args = parser.parse_args()
    if args.reference_rows < 0:
        parser.error(f"--reference-rows must be >= 0, got {args.reference_rows}")
    defaults = PEERS[args.peer].params
    try:
        changed = changed_params(args.param, defaults)
    except ValueError as exc:
        parser.error(f"--param for {args.peer}: {exc}")
    if args.threads:  # read by the libraries when the child process first imports them
        os.environ.update({name: str(args.threads) for name in THREAD_VARIABLES})
    failed = 0
    for dataset in args.datasets.split(","):
        reference = {"reference_rows": args.reference_rows} if args.reference_rows else {}
        stem = cell_stem(args.peer, changed | reference, dataset)
        path = args.out / "cells" / f"{stem}.json"
        if path.exists() and "error" not in json.loads(path.read_text()):
            print(f"{stem}: done before, skipped")
            continue
        result = run_cell(
            args.peer, defaults | changed, dataset, args.vus_buffer, args.threads, args.reference_rows
        )
        write_json_atomic(result, path)
        failed += "error" in result
        summary = result.get("error") or (
            f"VUS-PR {result['metrics']['VUS-PR [threshold-free]']:.3f}, fit {result['fit_s']:.0f} s, "
            f"score {result['score_s']:.0f} s, {result['peak_mem_mb']:.0f} MB"
        )
        print(f"{stem}: {summary}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
