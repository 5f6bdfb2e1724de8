"""Fit one model per asset and detect on each, in parallel on this machine or on a Ray cluster.

    python examples/many_assets.py "plant/*_train.csv" --engine ray --jobs 8

Each training file is an asset (named by its file stem without _train); its test file is the same name
with _test. One model per asset is written to models/, one JSON of flagged intervals per asset to
detections/. An asset that fails (a bad file) is reported and the others go on; a rerun skips what is
already done. Without arguments it makes six small assets of its own first.
"""

import argparse
from pathlib import Path

from tsgan.datasets import make_industrial
from tsgan.io import write_table_atomic
from tsgan.scale import assets_from_paths, detect_task, fit_task, run_assets


def make_plant(folder: Path, assets: int = 6) -> str:
    """Write <asset>_train.csv and <asset>_test.csv for a few synthetic pumps; return their glob."""
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(assets):
        for part, series in (
            ("train", make_industrial(3000, 4, anomalies=False, seed=10 * i)),  # two days
            ("test", make_industrial(600, 4, n_anomalies=2, seed=10 * i + 1)),
        ):
            table = pl.DataFrame({c: series.values[:, j] for j, c in enumerate(series.channels)})
            write_table_atomic(table, folder / f"pump{i}_{part}.csv")
    return str(folder / "*_train.csv")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pattern", nargs="?", help='training files, e.g. "plant/*_train.csv"')
    parser.add_argument("--engine", default="local", help="local (joblib processes) or ray")
    parser.add_argument("--jobs", type=int, default=2, help="assets at once")
    parser.add_argument("--detector", default="auto", help="any tsgan detector name")
    parser.add_argument("--out", type=Path, default=Path("."), help="where models/ and detections/ go")
    args = parser.parse_args(argv)
    pattern = args.pattern or make_plant(args.out / "plant")

    trains = {name.removesuffix("_train"): path for name, path in assets_from_paths([pattern]).items()}
    models, detections = args.out / "models", args.out / "detections"
    fits = [fit_task(a, p, models / f"{a}.tsgan", args.detector, {}, {}) for a, p in trains.items()]
    tests = {a: p.with_name(p.name.replace("_train", "_test")) for a, p in trains.items()}
    detects = [detect_task(a, tests[a], models / f"{a}.tsgan", detections / f"{a}.json", {}) for a in trains]
    for stage, tasks in (("fit", fits), ("detect", detects)):
        for outcome in run_assets(tasks, engine=args.engine, jobs=args.jobs, progress=False):
            print(f"{stage} {outcome.asset}: {outcome.status}", outcome.error or outcome.summary or "")


if __name__ == "__main__":
    main()
