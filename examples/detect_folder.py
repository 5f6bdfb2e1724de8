"""Detect anomalies in a folder of sensor CSVs and draw each flagged file as an HTML page.

    python examples/detect_folder.py normal.csv runs/ --out report/

Fits tsgan's default detector on one file of normal operation, then for every CSV in the folder prints
when something went wrong and on which channels, and writes report/<file>.html (the channels, the
score, the flagged intervals shaded, the channels that drove them in red). Without arguments it makes
a small plant of its own first, so you can see what it does.
"""

import argparse
from pathlib import Path

from tsgan.datasets import write_samples
from tsgan.detectors import Auto
from tsgan.io import read_series
from tsgan.plot import write_report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("normal", nargs="?", type=Path, help="a CSV of normal operation to fit on")
    parser.add_argument("folder", nargs="?", type=Path, help="the CSVs to examine")
    parser.add_argument("--out", type=Path, default=Path("report"), help="where the HTML pages go")
    args = parser.parse_args(argv)
    if args.normal is None:  # no data given: the bundled sample plant, one normal day and one test day
        samples = write_samples(args.out / "samples")
        args.normal, args.folder = samples[0], args.out / "samples"
        print(f"no data given: using {args.normal} and the other samples in {args.folder}")

    detector = Auto().fit(read_series(args.normal))  # the training file's labels, if any, are never used
    print(detector.describe())
    for path in sorted(args.folder.glob("*.csv")):
        if path == args.normal:
            continue
        series = read_series(path)
        if series.channels != detector.channels_:
            print(f"{path.name}: other channels than {args.normal.name}, skipped")
            continue
        result = detector.detect(series)
        print(f"{path.name}: {len(result.intervals)} intervals")
        for interval in result.intervals[:5]:  # the first few; all of them are on the page
            where = interval.start_time or interval.start
            rows = interval.end - interval.start + 1
            print(
                f"  from {where}, {rows} rows, peak {interval.peak_score:.1f}, "
                f"channels {', '.join(interval.channels[:3])}"
            )
        page = args.out / f"{path.stem}.html"
        write_report(series, result, None, page)
        print(f"  drawn in {page}")


if __name__ == "__main__":
    main()
