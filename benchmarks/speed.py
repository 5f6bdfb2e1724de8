"""Where the time of each GAN detector goes on SMD machine-1-6: fit and score, against a FLOP ceiling.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/speed.py [--epochs 1] [--detectors madgan,usad,...]

Per detector, in a child process of its own (so that its peak memory is its own): one fit of `--epochs`
epochs on the training part and one scoring of the test part, timed; training and scoring windows per
second; peak resident memory; the share of scoring time in each of the top torch operators (torch
profiler); and the ceiling: this machine's measured matmul throughput (GFLOP/s, float32) divided by the
FLOPs one training window costs (counted with torch's FlopCounterMode on a slice), i.e. how many windows
per second the arithmetic alone would allow. Results go to benchmarks/results/speed.json and a markdown
table is printed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import time
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).parent / "results" / "speed.json"
GANS = ("madgan", "rsmgan", "tadgan", "usad", "beatgan", "ganomaly", "egbad", "alad", "anogan", "esad")


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    """Float32 matrix-multiply throughput of this machine with the current torch threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def flops_per_window(name: str, x: np.ndarray) -> float | None:
    """FLOPs of training on a slice, per training window; None where torch counts none (LSTM kernels)."""
    from torch.utils.flop_counter import FlopCounterMode

    from tsgan.detectors import make_detector

    det = make_detector(name, epochs=1)
    window, stride = getattr(det.config, "window", 1), getattr(det.config, "stride", 1)
    n_train = int(len(x) * (1 - det.config.val_fraction))
    # The count includes calibrating on the validation tail: an upper bound on a training window's cost.
    n_windows = max(1, (n_train - window) // stride + 1)
    try:
        with FlopCounterMode(display=False) as counter:
            det.fit(x)
    except RuntimeError:  # the counter cannot follow a double backward (RSM-GAN's gradient penalty)
        return None
    total = counter.get_total_flops()
    return total / n_windows if total else None


def profile(name: str, epochs: int, queue) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from tsgan.datasets import load_dataset
    from tsgan.detectors import make_detector

    (split,) = load_dataset("smd/machine-1-6")
    det = make_detector(name, epochs=epochs)
    start = time.perf_counter()
    det.fit(split.train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        det.score(split.test)
    score_s = time.perf_counter() - start
    ops = prof.key_averages()
    total = sum(op.self_cpu_time_total for op in ops) or 1
    top = sorted(ops, key=lambda op: -op.self_cpu_time_total)[:4]
    cfg = det.config
    window, stride = getattr(cfg, "window", 1), getattr(cfg, "stride", 1)
    n_train = int(len(split.train) * (1 - cfg.val_fraction))
    train_windows = max(1, (n_train - window) // stride + 1) * epochs
    test_windows = max(1, (len(split.test) - window) // getattr(cfg, "score_stride", 1) + 1)
    slice_rows = min(n_train, 2000)
    flops = flops_per_window(name, split.train.values[:slice_rows])
    queue.put(
        {
            "detector": name,
            "epochs": epochs,
            "fit_s": fit_s,
            "score_s": score_s,
            "train_windows_per_s": train_windows / fit_s,
            "score_windows_per_s": test_windows / score_s,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "top_score_ops": [f"{op.key} {100 * op.self_cpu_time_total / total:.0f}%" for op in top],
            "train_flops_per_window": flops,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per detector")
    parser.add_argument("--detectors", default=",".join(GANS), help="comma-separated detector names")
    args = parser.parse_args()
    gflops = matmul_gflops()
    rows = []
    context = multiprocessing.get_context("spawn")
    for name in args.detectors.split(","):
        queue = context.Queue()
        child = context.Process(target=profile, args=(name, args.epochs, queue))
        child.start()
        child.join()
        if child.exitcode != 0 or queue.empty():
            print(f"{name}: the profile failed (exit code {child.exitcode}); see the error above", flush=True)
            continue
        row = queue.get()
        flops = row["train_flops_per_window"]
        row["ceiling_train_windows_per_s"] = gflops * 1e9 / flops if flops else None
        rows.append(row)
        print(json.dumps(row), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"matmul_gflops": gflops, "rows": rows}, indent=2) + "\n")
    print(f"\nmatmul throughput: {gflops:.1f} GFLOP/s (float32, {torch.get_num_threads()} threads)\n")
    print(
        "| detector | epochs | fit s | score s | train windows/s | ceiling windows/s | score windows/s "
        "| peak MB | top scoring ops |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ceiling = f"{r['ceiling_train_windows_per_s']:.0f}" if r["ceiling_train_windows_per_s"] else "n/a"
        print(
            f"| {r['detector']} | {r['epochs']} | {r['fit_s']:.1f} | {r['score_s']:.1f} | "
            f"{r['train_windows_per_s']:.0f} | {ceiling} | {r['score_windows_per_s']:.0f} | "
            f"{r['peak_mb']:.0f} | {', '.join(r['top_score_ops'])} |"
        )


if __name__ == "__main__":
    main()
