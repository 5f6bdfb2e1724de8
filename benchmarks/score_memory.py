"""Peak memory and seconds of `tsgan detect` on a long file: 1,000,000 rows x 38 channels by default.

    .venv/bin/python benchmarks/score_memory.py [--rows 1000000] [--channels 38] [--detectors auto,pca,zscore]

Writes a synthetic plant (`make_industrial`, with anomalies) as Parquet, fits each detector with
`tsgan fit` on its first 20,000 rows, then runs `tsgan detect` on the whole file with `--scores` (one
row per input row, one column per channel), each command under /usr/bin/time, and prints the peak
resident memory (what the operating system counts, the whole process) and the wall seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from tsgan.datasets import make_industrial

TSGAN = str(Path(sys.executable).with_name("tsgan"))
TRAIN_ROWS = 20_000


def peak_mb(command: list[str]) -> tuple[float, float]:
    """Peak resident megabytes and wall seconds of one command; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return int(done.stderr.strip().splitlines()[-1]) / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=38)
    parser.add_argument("--detectors", default="auto,pca,zscore")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plant = make_industrial(args.rows, args.channels, seed=0)
        frame = pl.DataFrame({name: plant.values[:, i] for i, name in enumerate(plant.channels)})
        frame.write_parquet(folder / "long.parquet")
        frame.head(TRAIN_ROWS).write_parquet(folder / "train.parquet")
        print("| detector | rows x channels | fit MB | detect peak MB | detect s |")
        print("|---|---|---|---|---|")
        for detector in args.detectors.split(","):
            model = folder / f"{detector}.tsgan"
            fit_mb, _ = peak_mb(
                [TSGAN, "fit", str(folder / "train.parquet"), "-o", str(model), "--detector", detector]
            )
            command = [
                TSGAN,
                "detect",
                str(folder / "long.parquet"),
                "-m",
                str(model),
                "-o",
                str(folder / "f.json"),
            ]
            mb, seconds = peak_mb([*command, "--scores", str(folder / "scores.parquet")])
            print(
                f"| {detector} | {args.rows:,} x {args.channels} | {fit_mb:.0f} | {mb:.0f} | {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
