"""Compare detectors on your own labelled data, with metrics that say which numbers you could deploy.

    python examples/compare_detectors.py normal.csv labelled.csv --label-col is_anomaly --detectors auto,pca

Each detector is fitted on the normal file (labels there are never used) and scored on the labelled
one. VUS-PR needs no threshold; "deployable" F1 uses the detector's own thresholds; the "oracle" F1 picks
the best threshold with the test labels, an upper bound you cannot reach in production. Without
arguments it runs on the bundled sample plant.
"""

import argparse
import time
from pathlib import Path

from tsgan.bench import evaluate_series
from tsgan.datasets import write_samples
from tsgan.detectors import make_detector
from tsgan.io import read_series

COLUMNS = {
    "VUS-PR [threshold-free]": "VUS-PR",
    "point F1 [deployable]": "F1 deployable",
    "point F1, best threshold [oracle]": "F1 oracle",
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("normal", nargs="?", type=Path, help="a CSV of normal operation to fit on")
    parser.add_argument("labelled", nargs="?", type=Path, help="a CSV with a 0/1 label column")
    parser.add_argument("--label-col", default="is_anomaly", help="the label column of the labelled file")
    parser.add_argument("--detectors", default="auto,pca,zscore,random", help="comma-separated names")
    parser.add_argument("--samples", type=Path, default=Path("samples"), help="where the samples go")
    args = parser.parse_args(argv)
    if args.normal is None:
        args.normal, args.labelled = write_samples(args.samples)[:2]

    train = read_series(args.normal)
    train.labels = None  # fitted on the values only, whatever the file holds
    test = read_series(args.labelled, label_col=args.label_col)
    print(f"{'detector':<10} {'fit s':>6} " + " ".join(f"{c:>14}" for c in COLUMNS.values()))
    for name in args.detectors.split(","):
        start = time.perf_counter()
        detector = make_detector(name).fit(train)
        fit_s = time.perf_counter() - start
        metrics = evaluate_series(detector, test)
        print(f"{name:<10} {fit_s:>6.1f} " + " ".join(f"{metrics[k]:>14.3f}" for k in COLUMNS))
    print("random is the chance level: a detector is worth its distance above it")


if __name__ == "__main__":
    main()
