"""Build the tables of benchmarks/BENCHMARKS.md from the stored bench cells.

    .venv/bin/python benchmarks/report.py > benchmarks/results/tables.md

Reads benchmarks/results/cells (tsgan bench), benchmarks/results/objectives/cells (the objective study)
and benchmarks/results/peers/cells (the peer scripts), all in the same cell layout.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tsgan.bench import label

RESULTS = Path(__file__).parent / "results"
VUS = "VUS-PR [threshold-free]"
COLUMNS = {
    "VUS-PR": VUS,
    "deployable point F1": "point F1 [deployable]",
    "oracle best F1": "point F1, best threshold [oracle]",
}


def cells(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / "cells").glob("*.json"))]


def pivot(results: list[dict], metric: str, title: str) -> str:
    """Rows: detectors; columns: datasets; one metric, three decimals; the random row's VUS beside."""
    datasets = sorted({r["dataset"] for r in results}, key=lambda d: (d.split("/")[0] != "skab", d))
    table = defaultdict(dict)
    for r in results:
        table[label(r["detector"], r["params"])][r["dataset"]] = r["metrics"][metric]
    lines = [
        f"**{title}**",
        "",
        "| detector | " + " | ".join(datasets) + " |",
        "|---" * (len(datasets) + 1) + "|",
    ]
    for name in sorted(table, key=lambda n: (n.startswith("random"), n)):
        row = [f"{table[name][d]:.3f}" if d in table[name] else "" for d in datasets]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def timings(results: list[dict]) -> str:
    lines = ["| detector | dataset | fit s | score s | peak MB |", "|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["dataset"], r["detector"])):
        name = label(r["detector"], r["params"])
        lines.append(
            f"| {name} | {r['dataset']} | {r['fit_s']:.1f} | {r['score_s']:.1f} | {r['peak_mem_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def objectives(results: list[dict], collapse_below: float = 0.1) -> str:
    """Mean and spread of VUS-PR over seeds per objective and dataset, and collapsed runs (generator
    diversity below `collapse_below` at the last epoch)."""
    groups = defaultdict(list)
    for r in results:
        groups[(r["params"].get("objective", "mim"), r["dataset"])].append(r)
    lines = [
        "| objective | dataset | seeds | VUS-PR mean | VUS-PR std | collapsed runs / models |",
        "|---|---|---|---|---|---|",
    ]
    for (objective, dataset), rs in sorted(groups.items()):
        vus = np.array([r["metrics"][VUS] for r in rs])
        diversity = [t["diversity"] for r in rs for t in r.get("training", [])]
        collapsed = sum(d < collapse_below for d in diversity)
        spread = vus.std(ddof=1) if len(rs) > 1 else 0.0
        cols = [
            objective,
            dataset,
            len(rs),
            f"{vus.mean():.3f}",
            f"{spread:.3f}",
            f"{collapsed} / {len(diversity)}",
        ]
        lines.append("| " + " | ".join(map(str, cols)) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ours = [r for r in cells(RESULTS) if "error" not in r]
    peers = (
        [r for r in cells(RESULTS / "peers") if "error" not in r]
        if (RESULTS / "peers" / "cells").exists()
        else []
    )
    for title, metric in COLUMNS.items():
        print(pivot(ours + peers, metric, title))
    print(
        "**Timings** (seconds summed over a dataset's series; peak resident memory of the cell's process)\n"
    )
    print(timings(ours + peers))
    study = cells(RESULTS / "objectives") if (RESULTS / "objectives" / "cells").exists() else []
    if study:
        print("**MAD-GAN objectives, three seeds**\n")
        print(objectives(study))


if __name__ == "__main__":
    main()
