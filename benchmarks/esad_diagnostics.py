"""Why a few labels do not pay for ESAD: each score component alone, and other contamination levels.

Runs on synthetic splits of their own, never the label study's (train seed 0 / test seed 1 in
gan_family.sh section 5), so nothing here is chosen on the numbers it explains:
  a: train make_industrial(40000, 8, n_anomalies=100, seed=10), test seed 11 (the study's contamination)
  c: train make_industrial(40000, 8, n_anomalies=30, seed=30), test seed 31 (about a third of it)
Test series always hold 20 anomalies. `--weights R,L` mixes ESAD's two normalised components, the
reconstruction residual R and the latent norm L (ESAD's own score is 1,1). One JSON line per run is
printed and appended to benchmarks/results/esad_labels/diagnostics.jsonl.

    .venv/bin/python benchmarks/esad_diagnostics.py --split a --weights 1,0 --fractions 0,0.05,0.1,1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from tsgan.bench import evaluate_series
from tsgan.datasets import make_industrial
from tsgan.detectors.esad import ESAD

SPLITS = {"a": (10, 11, 100), "c": (30, 31, 30)}  # train seed, test seed, training anomalies
OUT = Path("benchmarks/results/esad_labels/diagnostics.jsonl")


def make_split(name: str):
    """(train, test) series of split `name`."""
    train_seed, test_seed, n_anomalies = SPLITS[name]
    train = make_industrial(n_rows=40000, n_channels=8, n_anomalies=n_anomalies, seed=train_seed)
    return train, make_industrial(n_rows=10000, n_channels=8, n_anomalies=20, seed=test_seed)


def esad_with_weights(residual: float, latent: float) -> type[ESAD]:
    class Weighted(ESAD):
        @property
        def weights(self) -> dict[str, float]:
            return {"residual": residual, "latent": latent}

    return Weighted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="a")
    parser.add_argument("--weights", default="1,1", help="residual,latent weights of the score")
    parser.add_argument("--fractions", default="0,0.05,0.1,1", help="label_fraction values")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--param", action="append", default=[], help="ESAD parameter KEY=VALUE (JSON value)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    residual, latent = (float(w) for w in args.weights.split(","))
    params = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    train, test = make_split(args.split)
    detector = esad_with_weights(residual, latent)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        for fraction in (float(f) for f in args.fractions.split(",")):
            start = time.perf_counter()
            det = detector(epochs=5, seed=seed, label_fraction=fraction, **params).fit(train)
            metrics = evaluate_series(det, test)
            row = {
                "split": args.split,
                "weights": args.weights,
                "seed": seed,
                "label_fraction": fraction,
                "params": params,
                "vus_pr": round(metrics["VUS-PR [threshold-free]"], 3),
                "point_f1": round(metrics["point F1 [deployable]"], 3),
                "seconds": round(time.perf_counter() - start, 1),
            }
            print(json.dumps(row), flush=True)
            with OUT.open("a") as out:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
