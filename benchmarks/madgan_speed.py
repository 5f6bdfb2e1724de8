"""MAD-GAN speed on SMD machine-1-6: training windows/s, scoring points/s for each inversion mode, peak
memory, and the batched default inversion against the published MAD-GAN procedure on the same windows.

The published procedure (LiDan456/MAD-GANs, AD_Invert.py) inverts one window at a time: a random latent,
RMSProp with lr 0.1, up to 1000 steps, stopping once 1 - RBF-similarity(G(z), x) < 0.1, the bandwidth
being the median pairwise distance of the window's points. It is re-created here on tsgan's generator,
so both procedures invert the same trained network.

    .venv/bin/python benchmarks/madgan_speed.py [--epochs 10] [--windows 500] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from tsgan.datasets import load_dataset
from tsgan.detectors import MADGAN
from tsgan.windows import sliding_windows


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def published_inversion(det: MADGAN, window: torch.Tensor, max_steps: int = 1000, tol: float = 0.1):
    """One window, MAD-GAN code style; returns (reconstruction, steps taken)."""
    points = window.reshape(window.shape[0], -1)
    sigma = torch.pdist(points).median().clamp_min(1e-6)
    z = torch.randn(1, det.config.window, det.config.latent_dim, requires_grad=True)
    optimizer = torch.optim.RMSprop([z], lr=0.1)
    steps = 0
    while True:
        recon = det.generator_(z)[0]
        error = 1 - torch.exp(-((recon - window) ** 2).sum() / (2 * sigma**2))
        if error.item() < tol or steps == max_steps:
            return recon.detach(), steps
        optimizer.zero_grad()
        error.backward()
        optimizer.step()
        steps += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--windows", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/madgan_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    (split,) = load_dataset("smd/machine-1-6")
    report: dict = {
        "dataset": split.name,
        "train_rows": len(split.train),
        "test_rows": len(split.test),
        "channels": split.train.n_channels,
        "threads": args.threads,
        "epochs": args.epochs,
    }

    det = MADGAN(epochs=args.epochs)
    start = time.perf_counter()
    det.fit(split.train, verbose=True)
    fit_s = time.perf_counter() - start
    n_train = int(len(split.train) * (1 - det.config.val_fraction))
    windows_per_epoch = (n_train - det.config.window) // det.config.stride + 1
    report["fit_s"] = fit_s
    report["train_windows_per_s"] = windows_per_epoch * args.epochs / fit_s  # includes validation scoring
    report["peak_mb_after_fit"] = peak_mb()

    for mode in ("encoder", "hybrid", "gradient"):
        det.config.inversion = mode
        start = time.perf_counter()
        det.detect(split.test)
        seconds = time.perf_counter() - start
        report[f"score_s_{mode}"] = seconds
        report[f"points_per_s_{mode}"] = len(split.test) / seconds
        report[f"peak_mb_after_{mode}"] = peak_mb()
    det.config.inversion = "hybrid"

    # Side by side on the same windows: the first `--windows` test windows at the scoring stride.
    x = det.scaler_.clip_values(det.scaler_.transform(split.test.values))
    windows = sliding_windows(torch.from_numpy(x), det.config.window, det.config.score_stride)[: args.windows]
    start = time.perf_counter()
    _, recon = det.invert(windows, "hybrid")
    report["batched_hybrid_s"] = time.perf_counter() - start
    report["batched_hybrid_mse"] = float((recon - windows).pow(2).mean())
    det.generator_.requires_grad_(False)
    torch.manual_seed(0)
    start, recons, steps = time.perf_counter(), [], []
    for window in windows:
        r, n = published_inversion(det, window)
        recons.append(r)
        steps.append(n)
    report["published_s"] = time.perf_counter() - start
    report["published_mse"] = float((torch.stack(recons) - windows).pow(2).mean())
    report["published_mean_steps"] = float(np.mean(steps))
    report["speedup"] = report["published_s"] / report["batched_hybrid_s"]
    print(json.dumps(report, indent=2))
    from tsgan.io import write_json_atomic

    write_json_atomic(report, args.out)


if __name__ == "__main__":
    main()
