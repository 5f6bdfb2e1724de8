"""Many assets on one machine: fit and detect over synthetic assets, sequential vs joblib vs Ray, and the
per-core scoring throughput and memory that sizing a 10,000-PMU deployment needs.

Each asset is `make_industrial` data (train: clean, test: with anomalies) written as CSV with a manifest.
For every detector configuration and engine, models and detections go to fresh folders and the wall time
of `run_assets` is taken for fit and for detect; engine start-up (Ray instance, joblib worker processes
importing torch) is timed apart, once per engine. The detections of every engine are compared with the
sequential ones. Scoring throughput is measured on one thread, in rows per CPU-second, with `ModelActor`.

    .venv/bin/python benchmarks/scale_bench.py [--assets 200] [--gan-assets 20] [--jobs 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from tsgan.datasets import make_industrial
from tsgan.scale import (
    ModelActor,
    detect_task,
    fit_asset,
    fit_task,
    ray_session,
    read_manifest,
    run_assets,
)

TINY_GAN = dict(
    window=16, stride=4, score_stride=4, hidden=8, latent_dim=3, gen_layers=1, epochs=1, batch_size=64
)
CONFIGS = {"pca": ("pca", {}), "madgan-tiny": ("madgan", TINY_GAN)}
PMU_ROWS_PER_S = 10_000 * 120  # 10,000 PMUs at 120 frames/s


def write_assets(folder: Path, n: int, train_rows: int, test_rows: int, channels: int) -> Path:
    """n assets as train/<asset>.csv and test/<asset>.csv plus assets.csv; returns the manifest."""
    for part in ("train", "test"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        train = make_industrial(train_rows, channels, anomalies=False, seed=2 * i)
        test = make_industrial(test_rows, channels, start="2026-01-03", n_anomalies=2, seed=2 * i + 1)
        for part, series in (("train", train), ("test", test)):
            columns = {c: series.values[:, j] for j, c in enumerate(series.channels)}
            pl.DataFrame({"timestamp": series.timestamps} | columns).write_csv(
                folder / part / f"p{i:05d}.csv"
            )
    names = [f"p{i:05d}" for i in range(n)]
    manifest = pl.DataFrame({"asset": names, "train": [f"train/{a}.csv" for a in names]})
    manifest = manifest.with_columns(test=pl.Series([f"test/{a}.csv" for a in names]))
    manifest.write_csv(folder / "assets.csv")
    return folder / "assets.csv"


def _warm() -> int:
    """Import what a worker needs (torch, the detectors), so start-up is timed apart from the work."""
    import tsgan.detectors  # noqa: F401

    return os.getpid()


def warm_up(engine: str, jobs: int) -> None:
    """Bring up the engine's workers with torch and tsgan imported (nothing to do for sequential)."""
    if engine == "joblib":
        from joblib import Parallel, delayed

        Parallel(n_jobs=jobs)(delayed(_warm)() for _ in range(jobs))
    elif engine == "ray":
        import ray

        ray.get([ray.remote(_warm).remote() for _ in range(jobs)])


def run_config(manifest: Path, work: Path, name: str, engine: str, jobs: int, n: int) -> dict:
    """Fit then detect the first n assets of the manifest with one configuration on one engine."""
    detector, params = CONFIGS[name]
    train = dict(list(read_manifest(manifest, "train").items())[:n])
    test = read_manifest(manifest, "test")
    models, found = work / f"{name}-{engine}" / "models", work / f"{name}-{engine}" / "detections"
    how = {"engine": "ray" if engine == "ray" else "local", "jobs": 1 if engine == "sequential" else jobs}
    timings = {}
    for step, tasks in (
        ("fit", [fit_task(a, p, models / f"{a}.tsgan", detector, params, {}) for a, p in train.items()]),
        ("detect", [detect_task(a, test[a], models / f"{a}.tsgan", found / f"{a}.json", {}) for a in train]),
    ):
        start = time.perf_counter()
        outcomes = run_assets(tasks, progress=False, **how)
        timings[step] = time.perf_counter() - start
        failed = [f"{o.asset}: {o.error}" for o in outcomes if o.status != "ok"]
        if failed:
            raise SystemExit(f"{name} {step} on {engine}: {len(failed)} assets failed, first: {failed[0]}")
    detections = {a: json.loads((found / f"{a}.json").read_text()) for a in train}
    return {"config": name, "engine": engine, "assets": n, **timings, "detections": detections}


def scaling(manifest: Path, work: Path, args: argparse.Namespace) -> list[dict]:
    """Every configuration on every engine; engines start once and serve every configuration."""
    rows = []
    for engine in args.engines.split(","):
        start = time.perf_counter()
        with ray_session(None, args.jobs) if engine == "ray" else contextlib.nullcontext():
            warm_up(engine, args.jobs)
            startup = time.perf_counter() - start
            for name, n in (("pca", args.assets), ("madgan-tiny", args.gan_assets)):
                row = run_config(manifest, work, name, engine, args.jobs, n)
                fit_s, detect_s = row["fit"], row["detect"]
                print(f"  {engine:<10} {name:<12} {n} assets: fit {fit_s:.1f} s, detect {detect_s:.1f} s")
                rows.append(row | {"startup": startup})
    reference = {r["config"]: r["detections"] for r in rows if r["engine"] == "sequential"}
    for row in rows:
        detections = row.pop("detections")
        row["same_as_sequential"] = reference[row["config"]] == detections if reference else None
    return rows


def _rss_mb(model: Path, rows: np.ndarray) -> float:
    """Peak memory (MB) of a fresh Python process that loads the model in a ModelActor and scores once.
    Read from /proc (Linux): ru_maxrss would report the forking parent's size."""
    code = (
        "import sys, numpy as np; from tsgan.scale import ModelActor; "
        "a = ModelActor(sys.argv[1]); a.score(np.load(sys.argv[2])); "
        "print(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')))"
    )
    np.save(model.with_suffix(".npy"), rows)
    out = subprocess.run(
        [sys.executable, "-c", code, str(model), str(model.with_suffix(".npy"))],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    return float(out.stdout.strip()) / 1024


def cpu_seconds_per_call(actor: ModelActor, values: np.ndarray, least_s: float = 5) -> float:
    """CPU seconds of one `actor.score(values)`, repeated for at least `least_s` seconds of wall time."""
    actor.score(values)  # warm-up
    cpu, wall, repeats = time.process_time(), time.perf_counter(), 0
    while time.perf_counter() - wall < least_s or repeats < 2:
        actor.score(values)
        repeats += 1
    return (time.process_time() - cpu) / repeats


def throughput(manifest: Path, work: Path) -> list[dict]:
    """Per model, on one thread: fit seconds (wall), rows scored per CPU-second in 500-row calls, CPU ms
    of a 64-row call (what streaming pays per PMU update), model file size and the memory of a process
    holding it."""
    asset, train = next(iter(read_manifest(manifest, "train").items()))
    test = read_manifest(manifest, "test")[asset]
    values = pl.read_csv(test).drop("timestamp").to_numpy().astype(np.float32)
    models, fit_s = {}, {}
    for label, detector, params in (
        ("pca", "pca", {}),
        ("madgan-tiny", "madgan", TINY_GAN),
        ("madgan", "madgan", {"epochs": 1}),
    ):
        models[label] = work / "throughput" / f"{label}.tsgan"
        fit_s[label] = fit_asset(asset, train, models[label], detector, params, {})["seconds"]
    rows = []
    for label, model, inversion in (
        ("pca", "pca", None),
        ("madgan-tiny", "madgan-tiny", None),
        ("madgan default (1 epoch), hybrid inversion", "madgan", None),
        ("madgan default (1 epoch), encoder inversion", "madgan", "encoder"),
    ):
        actor = ModelActor(models[model])
        if inversion:
            actor.detector.config.inversion = inversion
        per_cpu_s = len(values) / cpu_seconds_per_call(actor, values)
        rows.append(
            {
                "config": label,
                "fit_s": fit_s[model],
                "rows_per_cpu_s": per_cpu_s,
                "ms_per_64_row_call": 1000 * cpu_seconds_per_call(actor, values[:64], least_s=2),
                "model_kb": models[model].stat().st_size / 1024,
                "process_mb": _rss_mb(models[model], values[:100]),
                "cores_for_10k_pmu": PMU_ROWS_PER_S / per_cpu_s,
            }
        )
        print(f"  {label:<45} {per_cpu_s:10.0f} rows/CPU-s")
    return rows


def markdown(scale_rows: list[dict], speed_rows: list[dict], args: argparse.Namespace) -> str:
    same = {True: "yes", False: "no", None: "n/a"}
    lines = [
        f"Assets: {args.train_rows} train / {args.test_rows} test rows x {args.channels} channels (CSV); "
        f"jobs = {args.jobs}; {os.cpu_count()} cores; load average at start {args.load:.1f}",
        "",
        "| config | engine | assets | start-up s | fit s | detect s | assets/s | same as sequential |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in scale_rows:
        rate = r["assets"] / (r["fit"] + r["detect"])
        lines.append(
            f"| {r['config']} | {r['engine']} | {r['assets']} | {r['startup']:.1f} | {r['fit']:.1f} | "
            f"{r['detect']:.1f} | {rate:.2f} | {same[r['same_as_sequential']]} |"
        )
    lines += [
        "",
        "One thread; cores = CPU cores to score 1.2 M rows/s (10,000 PMUs x 120 frames/s) in 500-row calls.",
        "",
        "| model | fit s | rows/CPU-s | CPU ms per 64-row call | model KB | process MB | cores |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in speed_rows:
        lines.append(
            f"| {r['config']} | {r['fit_s']:.1f} | {r['rows_per_cpu_s']:,.0f} | "
            f"{r['ms_per_64_row_call']:.2f} | {r['model_kb']:.0f} | {r['process_mb']:.0f} | "
            f"{r['cores_for_10k_pmu']:,.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=200, help="assets for the pca runs")
    parser.add_argument("--gan-assets", type=int, default=20, help="assets for the MAD-GAN runs")
    parser.add_argument("--train-rows", type=int, default=1500)
    parser.add_argument("--test-rows", type=int, default=500)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--engines", default="sequential,joblib,ray")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.load = os.getloadavg()[0]
    torch.set_num_threads(1)  # sequential = one process on one thread, like each joblib or Ray worker
    with tempfile.TemporaryDirectory(prefix="tsgan-scale-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        manifest = write_assets(
            work / "data", max(args.assets, args.gan_assets), args.train_rows, args.test_rows, args.channels
        )
        print(f"wrote {max(args.assets, args.gan_assets)} assets in {time.perf_counter() - start:.1f} s")
        scale_rows = scaling(manifest, work, args)
        speed_rows = throughput(manifest, work)
    print(markdown(scale_rows, speed_rows, args))
    if args.json:
        args.json.write_text(json.dumps({"scaling": scale_rows, "throughput": speed_rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
