"""Collect the peers' result cells into one Markdown table with tsgan.bench.markdown_table.

Run it with tsgan's own environment (tsgan.bench imports the detectors, hence torch):

    .venv/bin/python benchmarks/peers/table.py --out benchmarks/results/peers

It writes `<out>/table.md`: one row per (peer, dataset) cell, sorted by dataset then peer and its
parameters (a cell run with `run_peer.py --param` is its own row, e.g. `orion-tadgan (epochs=5)`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tsgan.bench import label, markdown_table
from tsgan.io import write_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/peers", type=Path)
    args = parser.parse_args()
    cells = [json.loads(p.read_text()) for p in sorted((args.out / "cells").glob("*.json"))]
    cells.sort(key=lambda c: (c["dataset"], label(c["detector"], c["params"])))
    text = markdown_table(cells)
    write_atomic(args.out / "table.md", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(text, end="")


if __name__ == "__main__":
    main()
