"""Does ESAD with a few labels find the kinds of anomaly it was shown? Per test event, by kind.

Split a of benchmarks/esad_diagnostics.py (train make_industrial seed 10 with 100 anomalies, test seed 11
with 20; never the label study's split). An event counts as found when its highest point score beats the
99th percentile of the scores on the test's normal rows (a fixed 1% false-alarm rate: test labels only
measure here, they choose nothing). Each line gives the events found per kind and the kinds of the
labelled training intervals, one JSON line per (seed, label_fraction).

    .venv/bin/python benchmarks/esad_kinds.py --fractions 0,0.1,1 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from esad_diagnostics import make_split  # this script's folder is on sys.path when it runs

import tsgan.detectors.esad as esad_module
from tsgan.detectors.esad import ESAD


def labelled_kinds(train, kept: np.ndarray) -> set[str]:
    return {a["kind"] for a in train.meta["anomalies"] if a["start"] < len(kept) and kept[a["start"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fractions", default="0,0.1,1")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = make_split("a")
    kept_labels: list[np.ndarray] = []
    keep = esad_module.keep_intervals

    def remember(labels, fraction, seed):  # the labelled intervals ESAD really kept
        kept_labels.append(keep(labels, fraction, seed))
        return kept_labels[-1]

    esad_module.keep_intervals = remember
    for seed in (int(s) for s in args.seeds.split(",")):
        for fraction in (float(f) for f in args.fractions.split(",")):
            det = ESAD(epochs=5, seed=seed, label_fraction=fraction).fit(train)
            kinds = labelled_kinds(train, kept_labels[-1]) if fraction > 0 else set()
            score = det.score(test).point
            bar = np.quantile(score[test.labels == 0], 0.99)
            by_kind: dict[str, list[bool]] = {}
            for event in test.meta["anomalies"]:
                hit = bool(score[event["start"] : event["end"] + 1].max() > bar)
                by_kind.setdefault(event["kind"], []).append(hit)
            row = {
                "seed": seed,
                "label_fraction": fraction,
                "labelled kinds": sorted(kinds),
                "found": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())},
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
