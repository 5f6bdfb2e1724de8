"""Deployable thresholds under a regime shift, on synthetic data only (no benchmark labels are used).

A detector is fitted on clean `make_industrial` data and detects on other days of the same plant, with
its planted anomalies (the labels, 1-200 rows long), in five scenarios: `none` (same regime), `offset`
(the whole test series sits 3-10 standard deviations away on every channel, random signs: a run at
another operating point, as SKAB's runs are from `anomaly_free.csv`), `step` (half the channels move by
3-10 standard deviations at a random row of the second quarter and stay there), `long` (two more
labelled anomalies, level shifts of 2-5 standard deviations on 1-3 channels lasting 300-600 rows) and
`offset+long`. The shifts themselves are not labelled: a threshold should not flag them for ever; the
long anomalies are, and should stay flagged. Compared: the fixed POT thresholds (`pot`), the paper's
DSPOT (Siffer et al. 2017: baseline = mean of the last `depth` unflagged scores) run over the detector's
normalised scores from its validation scores, and tsgan's `drift` thresholds at several depths. Means
over the seeds; deployable = the method's own flags, oracle = best threshold on the labels (a bound).

    .venv/bin/python benchmarks/threshold_shift.py [--seeds 5] [--depths 100,200,400] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

from tsgan import metrics
from tsgan.datasets import make_industrial
from tsgan.detectors import make_detector
from tsgan.series import Series
from tsgan.thresholds import DSPOT

SCENARIOS = ("none", "offset", "step", "long", "offset+long")


def shifted(test: Series, spread: np.ndarray, scenario: str, rng: np.random.Generator) -> Series:
    values, labels = test.values.copy(), test.labels.copy()
    rows, n_channels = values.shape
    if "long" in scenario:  # one per half of the rows after the first fifth, over the planted ones
        for part in np.array_split(np.arange(rows // 5, rows), 2):
            length = int(rng.integers(300, 600))
            start = int(rng.integers(part[0], part[-1] - length))
            moved = rng.choice(n_channels, int(rng.integers(1, 4)), replace=False)
            sizes = rng.choice([-1, 1], moved.size) * rng.uniform(2, 5, moved.size) * spread[moved]
            values[start : start + length, moved] += sizes
            labels[start : start + length] = 1
    if "offset" in scenario:
        values += rng.choice([-1, 1], n_channels) * rng.uniform(3, 10, n_channels) * spread
    if scenario == "step":
        start = int(rng.integers(rows // 4, rows // 2))
        moved = rng.choice(n_channels, n_channels // 2, replace=False)
        values[start:, moved] += (
            rng.choice([-1, 1], moved.size) * rng.uniform(3, 10, moved.size) * spread[moved]
        )
    return dataclasses.replace(test, values=values, labels=labels)


def paper_dspot(det, train: Series, test: Series) -> np.ndarray:
    """Point flags of one DSPOT per channel over the detector's normalised scores, started on validation."""
    n_val = int(len(train) * det.config.val_fraction)
    active = det.scaler_.active_

    def normalised(series: Series) -> np.ndarray:  # with fixed thresholds, score = normalised - threshold
        return det.score(series).channel[:, active] + det.thresholds_

    dspot = DSPOT(q=det.config.q, level=det.config.level, depth=det.config.depth)
    dspot.fit(normalised(dataclasses.replace(train, values=train.values[-n_val:])))
    return np.array([dspot.update(row).any() for row in normalised(test)])


def row(y: np.ndarray, flags: np.ndarray, score: np.ndarray | None) -> dict:
    out = {
        "point F1": metrics.point_prf(y, flags).f1,
        "event F1": metrics.composite_f1(y, flags).f1,
        "flagged": float(flags.mean()),
    }
    if score is not None:
        out |= {"VUS-PR": metrics.vus(y, score, 20).pr, "oracle F1": metrics.best_f1(y, score)["f1"]}
    return out


def study(detectors: list[str], depths: list[int], seeds: int) -> list[dict]:
    train = make_industrial(5000, anomalies=False, seed=100)
    spread = train.values.std(axis=0)
    results = []
    for name in detectors:
        fitted = {"pot": make_detector(name, threshold="pot").fit(train)}
        fitted |= {
            f"drift, depth {d}": make_detector(name, threshold="drift", depth=d).fit(train) for d in depths
        }
        for scenario in SCENARIOS:
            cells: dict[str, list[dict]] = {}
            for seed in range(seeds):
                test = shifted(
                    make_industrial(5000, seed=seed), spread, scenario, np.random.default_rng(seed + 50)
                )
                for method, det in fitted.items():
                    result = det.detect(test)
                    cells.setdefault(method, []).append(row(test.labels, result.flags, result.scores.point))
                # The paper's DSPOT, at tsgan's default depth, on the fixed-threshold detector's scores.
                flags = paper_dspot(fitted["pot"], train, test)
                cells.setdefault("paper DSPOT", []).append(row(test.labels, flags, None))
            for method, rows in cells.items():
                means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                results.append({"detector": name, "scenario": scenario, "threshold": method, **means})
    return results


def markdown(results: list[dict]) -> str:
    keys = ["point F1", "event F1", "flagged", "VUS-PR", "oracle F1"]
    head = ["detector", "scenario", "threshold", *(f"{k} [oracle]" if k == "oracle F1" else k for k in keys)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        values = [f"{r[k]:.3f}" if k in r else "" for k in keys]
        lines.append("| " + " | ".join([r["detector"], r["scenario"], r["threshold"], *values]) + " |")
    return "\n".join(lines) + "\n"


def summary(results: list[dict]) -> str:
    """Each threshold's deployable figures averaged over detectors, per scenario and over all of them."""

    def mean(method: str, key: str, scenario: str | None = None) -> float:
        return float(
            np.mean(
                [r[key] for r in results if r["threshold"] == method and scenario in (None, r["scenario"])]
            )
        )

    head = ["threshold", *(f"{s}: point / event F1" for s in SCENARIOS), "all: point / event F1, flagged"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method in dict.fromkeys(r["threshold"] for r in results):
        cells = [f"{mean(method, 'point F1', s):.3f} / {mean(method, 'event F1', s):.3f}" for s in SCENARIOS]
        overall = (
            f"{mean(method, 'point F1'):.3f} / {mean(method, 'event F1'):.3f}, {mean(method, 'flagged'):.3f}"
        )
        lines.append("| " + " | ".join([method, *cells, overall]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", default="zscore,pca,iforest,seasonal")
    parser.add_argument("--depths", default="100,200,400")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = study(args.detectors.split(","), [int(d) for d in args.depths.split(",")], args.seeds)
    print(markdown(results))
    print(summary(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
