"""Reference rows on synthetic runs: re-fit the scaler's centre and scale on them (as tsgan does, after
SKAB's protocol), or the centre only (keeping the training scale the networks learned in)?

Training: make_industrial(4000 rows, 8 channels, no anomalies, seed 40), a minute apart (days of cycles
and slow drift). Runs: 8 series of 1100 rows five seconds apart (quieter than training, like SKAB's
20-minute runs next to anomaly_free.csv), each moved to another operating point (a normal offset of 3
training spreads per channel), with two anomalies after row 420. Every detector is fitted once with
reference_rows=400 and scores every run both ways; metrics skip the reference rows.

    .venv/bin/python benchmarks/reference_scale.py madgan '{"epochs": 3}'
"""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import torch

from tsgan.bench import detection_metrics
from tsgan.datasets import make_industrial
from tsgan.detectors import make_detector
from tsgan.preprocess import Scaler

REFIT = Scaler.rebased


def centre_only(self: Scaler, values: np.ndarray) -> Scaler:
    fresh = REFIT(self, values)
    fresh.scale_ = self.scale_
    return fresh


def runs_after_a_restart(train_spread: np.ndarray, n_runs: int = 8) -> list:
    runs, seed = [], 41
    while len(runs) < n_runs:
        run = make_industrial(n_rows=1100, n_channels=8, n_anomalies=2, seed=seed, freq_seconds=5)
        seed += 1
        if run.labels[:420].any():  # the reference rows must be normal
            continue
        offset = np.random.default_rng(seed).normal(0, 3, 8) * train_spread
        runs.append(dataclasses.replace(run, values=run.values + offset))
    return runs


def main() -> None:
    torch.set_num_threads(1)
    name, params = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    train = make_industrial(n_rows=4000, n_channels=8, anomalies=False, seed=40)
    runs = runs_after_a_restart(train.values.std(axis=0))
    det = make_detector(name, reference_rows=400, **params).fit(train)
    for variant, rebased in (("centre and scale", REFIT), ("centre only", centre_only)):
        Scaler.rebased = rebased
        tables = [detection_metrics(det.detect(run), run.labels) for run in runs]
        mean = {k: round(float(np.mean([t[k] for t in tables])), 3) for k in tables[0]}
        print(
            json.dumps(
                {
                    "detector": name,
                    "params": params,
                    "rescaled": variant,
                    "VUS-PR": mean["VUS-PR [threshold-free]"],
                    "random VUS-PR": mean["VUS-PR of a random score [threshold-free]"],
                    "point F1 [deployable]": mean["point F1 [deployable]"],
                }
            ),
            flush=True,
        )
    Scaler.rebased = REFIT


if __name__ == "__main__":
    main()
