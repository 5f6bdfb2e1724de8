"""The auto detector beside each of its members, on the shared datasets, from one fit per training series.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/auto_bench.py skab/valve1 smd/machine-1-6 ...

For each dataset, `Auto()` (defaults) is fitted once per distinct training series. Then the same fitted
portfolio is scored with different weights: each member alone, the label-free rules of `Auto` (`anchor`,
the default: its anchors, the kNN and the windowed PCA; `best`: the member with the highest validation
VUS-PR on injected anomalies; `top3`: the mean of the three best), each recalibrated on the validation
tail exactly as `Auto` does. The oracle row is the member with the best mean test VUS-PR on the dataset:
it reads test labels and is shown only to tell how close the label-free choice gets. Results go to
benchmarks/results/auto/<dataset>.json; `--table` prints the markdown table.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from tsgan.bench import evaluate_series
from tsgan.datasets import load_dataset
from tsgan.detectors import Auto
from tsgan.detectors.auto import channel_roles, choose
from tsgan.io import write_json_atomic

OUT = Path(__file__).parent / "results" / "auto"
METRICS = ("VUS-PR [threshold-free]", "point F1 [deployable]", "point F1, best threshold [oracle]")


def with_weights(det: Auto, rule: tuple[str, np.ndarray], train) -> Auto:
    """A copy of a fitted auto detector that combines its members by `rule` (combine, weights), its
    score normalisation and thresholds recalibrated on the same validation tail as the fit used."""
    n_val = int(len(train) * det.config.val_fraction)
    model = copy.copy(det)
    model.config = dataclasses.replace(det.config, combine=rule[0])
    model.weights_ = np.asarray(rule[1], dtype=np.float32)
    # Each rule's members judge every channel (the default's split between switches and the rest aside).
    no_switches = np.zeros(det.channel_roles_.shape[1], dtype=bool)
    model.channel_roles_ = channel_roles(len(model.weights_), np.flatnonzero(model.weights_), [], no_switches)
    model._calibrate_thresholds(det.scaler_.transform(train.values[-n_val:]), verbose=False)
    return model


def rules(det: Auto) -> dict[str, tuple[str, np.ndarray]]:
    """(combine, weights) to score: each member alone, and the other label-free rules of `Auto`."""
    names = [e["name"] for e in det._kept()]
    # A member fitted on the switch channels alone (see Auto._columns) cannot judge the others.
    whole = [not det._only_for_switches(n) for n in names]
    out = {f"member {n}": ("anchor", np.eye(len(names))[i]) for i, n in enumerate(names) if whole[i]}
    val_vus = np.where(np.array(whole)[:, None], det.val_vus_, -np.inf)
    for combine in ("best", "top"):
        chosen = choose(val_vus, combine, top_k=3, anchors=[0])
        weights = np.zeros(len(names))
        weights[chosen] = 1 / len(chosen)
        out[f"rule {combine}{'3' if combine == 'top' else ''} (label-free)"] = (combine, weights)
    return out


def run(dataset: str, params: dict) -> dict:
    """`dataset` is a name for `load_dataset`, or LABEL=NAME,NAME,... for several taken as one."""
    label, _, names = dataset.rpartition("=")
    splits = [split for name in names.split(",") for split in load_dataset(name)]
    dataset = label or names
    fitted: dict[str, tuple[Auto, dict]] = {}
    rows: dict[str, list[dict]] = {}
    fit_s = 0.0
    for split in splits:
        key = split.train.name or split.name
        if key not in fitted:
            start = time.perf_counter()
            det = Auto(**params).fit(split.train)
            fit_s += time.perf_counter() - start
            variants = {name: with_weights(det, rule, split.train) for name, rule in rules(det).items()}
            fitted[key] = (det, variants)
        det, variants = fitted[key]
        rows.setdefault("auto default (label-free)", []).append(evaluate_series(det, split.test))
        for name, model in variants.items():
            rows.setdefault(name, []).append(evaluate_series(model, split.test))
        chosen = [e["name"] for e in det._kept() if e["weight"] > 0]
        rows.setdefault("_chosen", []).append({"series": split.name, "chosen": chosen})
    means = {
        name: {m: float(np.nanmean([r[m] for r in rs])) for m in METRICS}
        for name, rs in rows.items()
        if name != "_chosen"
    }
    members = [k for k in means if k.startswith("member ")]
    oracle = max(members, key=lambda k: means[k][METRICS[0]])
    means[f"oracle: {oracle[len('member ') :]} (reads test labels)"] = means[oracle]
    reports = [det.report_ for det, _ in fitted.values()]
    return {"dataset": dataset, "fit_s": fit_s, "means": means, "chosen": rows["_chosen"], "reports": reports}


def table(results: list[dict]) -> str:
    names = sorted({k for r in results for k in r["means"] if not k.startswith("oracle")})
    names = ["auto default (label-free)"] + [n for n in names if n != "auto default (label-free)"]
    head = "| rule / member | " + " | ".join(r["dataset"] for r in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    for name in names:
        cells = [f"{r['means'][name][METRICS[0]]:.3f}" if name in r["means"] else "" for r in results]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    oracle = [
        next(
            (
                f"{v[METRICS[0]]:.3f} ({k.split(': ')[1].split(' ')[0]})"
                for k, v in r["means"].items()
                if k.startswith("oracle")
            ),
            "",
        )
        for r in results
    ]
    lines.append("| oracle member (reads test labels) | " + " | ".join(oracle) + " |")
    lines.append("| auto fit s (all series) | " + " | ".join(f"{r['fit_s']:.0f}" for r in results) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", help="dataset names, or LABEL=NAME,NAME,... taken as one")
    parser.add_argument("--table", action="store_true", help="print the table of the stored results")
    parser.add_argument("--members", help="comma-separated members (default: Auto's default portfolio)")
    parser.add_argument("--out", type=Path, default=OUT, help="results folder")
    parser.add_argument("--param", action="append", default=[], help="KEY=VALUE (JSON) for Auto, repeatable")
    args = parser.parse_args()
    params = {"members": args.members.split(",")} if args.members else {}
    params |= {key: json.loads(value) for key, _, value in (p.partition("=") for p in args.param)}
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        result = run(dataset, params)
        name = dataset.rpartition("=")[0] or dataset
        write_json_atomic(result, args.out / f"{name.replace('/', '-')}.json")
        print(
            dataset, json.dumps({k: round(v[METRICS[0]], 3) for k, v in result["means"].items()}), flush=True
        )
    if args.table:
        results = [json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))]
        print(table(results))


if __name__ == "__main__":
    main()
