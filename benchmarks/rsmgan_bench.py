"""RSM-GAN benchmarks: contaminated training data, speed and memory, root causes.

    .venv/bin/python benchmarks/rsmgan_bench.py contamination [--train-rows 6000] [--share 0.05]
    .venv/bin/python benchmarks/rsmgan_bench.py smd [--madgan-epochs 10]

`contamination`: synthetic industrial data (`make_industrial`, 8 channels) whose training part carries
labelled anomalies in about `--share` of its 30-row windows (training labels are never used). Reports
detection quality on a separate labelled test series (`tsgan.evaluation.metric_table`) for MAD-GAN as it
is (it has no robust option), RSM-GAN with and without `robust`, and RSM-GAN with `score="tiles"`; and,
as the reference of what contamination costs, MAD-GAN and RSM-GAN trained on clean data of the same
generator and seed.

`smd`: SMD machine-1-6. RSM-GAN training speed (samples/s, one sample = one training window of stacked
matrices), fit and scoring time and peak resident memory; then root-cause quality, HitRate@100% and
@150% (`tsgan.metrics.hit_rate`) over the test rows that carry channel labels, ranking channels by each
detector's channel scores, for RSM-GAN, MAD-GAN and the per-channel robust z-score baseline; plus their
VUS-PR. Peak memory is the process's peak, measured before MAD-GAN runs, so it is RSM-GAN's.

Figures are printed as JSON (and written to --out when given).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from tsgan.bench import HEADLINE
from tsgan.datasets import load_dataset, make_industrial
from tsgan.detectors import make_detector
from tsgan.evaluation import as_dict, metric_table
from tsgan.metrics import hit_rate

WINDOW = 30  # rows per window when measuring how much of the training data is contaminated


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def contaminated_train(rows: int, share: float, seed: int):
    """The training series with the fewest injected anomalies that touch at least `share` of its windows."""
    for n in range(1, 100):
        train = make_industrial(rows, 8, anomalies=True, n_anomalies=n, seed=seed)
        touched = np.convolve(train.labels, np.ones(WINDOW), "valid") > 0
        if touched.mean() >= share:
            return train, float(touched.mean())
    raise ValueError(f"cannot contaminate {share:.0%} of {rows} rows")


def quality(det, test) -> dict[str, float]:
    result = det.detect(test)
    table = as_dict(metric_table(test.labels, result.scores.point, result.flags))
    return {key: round(table[key], 4) for key in HEADLINE}


def timed_fit(name: str, train, **params):
    start = time.perf_counter()
    det = make_detector(name, **params).fit(train, verbose=True)
    return det, time.perf_counter() - start


def contamination(args) -> dict:
    train, share = contaminated_train(args.train_rows, args.share, seed=1)
    clean = make_industrial(args.train_rows, 8, anomalies=False, seed=1)
    test = make_industrial(args.test_rows, 8, anomalies=True, seed=2)
    runs = {  # the clean rows show how much the contamination costs, so what the robust option can win back
        "MAD-GAN, clean training data": ("madgan", {}, clean),
        "MAD-GAN (no robust option)": ("madgan", {}, train),
        "RSM-GAN not robust, clean training data": ("rsmgan", {"robust": False}, clean),
        "RSM-GAN robust": ("rsmgan", {"robust": True}, train),
        "RSM-GAN not robust": ("rsmgan", {"robust": False}, train),
        "RSM-GAN robust, score=tiles": ("rsmgan", {"robust": True, "score": "tiles"}, train),
    }
    report = {"train_rows": len(train), "test_rows": len(test), "contaminated_windows": round(share, 4)}
    for label, (name, params, data) in runs.items():
        det, fit_s = timed_fit(name, data, seed=args.seed, **params)
        report[label] = quality(det, test) | {"fit_s": round(fit_s, 1)}
        print(label, report[label], flush=True)
    return report


def root_cause_quality(det, test, rows: np.ndarray) -> dict[str, float]:
    scores = det.score(test)
    table = as_dict(metric_table(test.labels, scores.point, scores.point > 0))
    truth, ranked = test.channel_labels[rows], scores.channel[rows]
    return {
        "HitRate@100%": round(hit_rate(truth, ranked, 100), 4),
        "HitRate@150%": round(hit_rate(truth, ranked, 150), 4),
        "VUS-PR": round(table["VUS-PR [threshold-free]"], 4),
    }


def smd(args) -> dict:
    (split,) = load_dataset("smd/machine-1-6")
    train, test = split.train, split.test
    rows = np.flatnonzero(test.channel_labels.any(axis=1))
    report: dict = {"dataset": split.name, "train_rows": len(train), "test_rows": len(test)}
    report["channels"] = train.n_channels
    report["threads"] = torch.get_num_threads()

    det, fit_s = timed_fit("rsmgan", train, seed=args.seed)
    speeds = [h["samples_per_s"] for h in det.history_]
    n_fit = len(train) - int(len(train) * det.config.val_fraction)
    report["rsmgan"] = {
        "fit_s": round(fit_s, 1),
        "train_samples_per_s": round(float(np.mean(speeds)), 1),
        "samples_per_epoch": len(range(det._first_step(), n_fit, det.config.stride)) * len(det.groups_),
        "period": det.period_,
        "peak_mb_after_fit": round(peak_mb()),
        "last_epoch": {k: round(v, 4) for k, v in det.history_[-1].items()},
    }
    start = time.perf_counter()
    detection = det.detect(test)
    report["rsmgan"]["score_points_per_s"] = round(len(test) / (time.perf_counter() - start), 1)
    report["rsmgan"]["peak_mb_after_score"] = round(peak_mb())
    causes = det.root_causes(test, detection)
    report["rsmgan"]["intervals"] = len(causes)
    report["rsmgan"]["mean_root_causes"] = round(float(np.mean([len(c) for c in causes])), 2) if causes else 0
    print(json.dumps(report, indent=2), flush=True)

    report["root causes"] = {"RSM-GAN": root_cause_quality(det, test, rows)}
    madgan, madgan_fit_s = timed_fit("madgan", train, seed=args.seed, epochs=args.madgan_epochs)
    report["root causes"]["MAD-GAN"] = root_cause_quality(madgan, test, rows)
    report["madgan_fit_s"] = round(madgan_fit_s, 1)
    zscore, _ = timed_fit("zscore", train)
    report["root causes"]["z-score"] = root_cause_quality(zscore, test, rows)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    con = sub.add_parser("contamination", help="detection quality with contaminated training data")
    con.add_argument("--train-rows", type=int, default=6000)
    con.add_argument("--test-rows", type=int, default=4000)
    con.add_argument("--share", type=float, default=0.05)
    smd_parser = sub.add_parser("smd", help="speed, memory and root causes on SMD machine-1-6")
    smd_parser.add_argument("--madgan-epochs", type=int, default=10)
    for p in (con, smd_parser):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = {"contamination": contamination, "smd": smd}[args.command](args)
    print(json.dumps(report, indent=2))
    if args.out:
        from tsgan.io import write_json_atomic

        write_json_atomic(report, args.out)


if __name__ == "__main__":
    main()
