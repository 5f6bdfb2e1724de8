"""Does `torch.compile` pay on CPU? One GAN detector fitted on SMD machine-1-6, its networks compiled or not.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/compile_bench.py beatgan --epochs 1 [--compile]

Fits the detector (its defaults, seed 0, `--epochs` epochs) on the training part of SMD machine-1-6 and
scores the test part, and prints the fit and score seconds. With `--compile`, every network's forward
is wrapped in `torch.compile` (inductor) right after the detector builds it, so the state dict, and so
saving, are untouched. The first compiled run of a detector also fills inductor's on-disk cache; run
each twice, and take the difference between a 1-epoch and a 5-epoch fit as the steady cost of an epoch.
"""

from __future__ import annotations

import argparse
import time

import torch

from tsgan.datasets import load_dataset
from tsgan.detectors import make_detector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detector", help="a windowed GAN detector, e.g. beatgan or usad")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs")
    parser.add_argument("--compile", action="store_true", help="wrap each network's forward in torch.compile")
    args = parser.parse_args()
    split = load_dataset("smd/machine-1-6")[0]
    det = make_detector(args.detector, epochs=args.epochs, seed=0)
    build = det._build

    def build_compiled(n_channels: int) -> None:
        build(n_channels)
        for net in det._networks().values():
            net.forward = torch.compile(net.forward, dynamic=False)

    if args.compile:
        det._build = build_compiled
    start = time.perf_counter()
    det.fit(split.train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    det.score(split.test)
    score_s = time.perf_counter() - start
    setting = f"{args.detector} compile={args.compile} epochs={args.epochs}"
    print(f"{setting}: fit {fit_s:.1f} s, score {score_s:.1f} s")


if __name__ == "__main__":
    main()
