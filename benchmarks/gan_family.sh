#!/usr/bin/env bash
# The windowed GAN family (USAD, BeatGAN, GANomaly, AnoGAN, EGBAD, ALAD, TadGAN, ESAD) beside the rows of
# run_all.sh (baselines and MAD-GAN). Finished cells are kept under benchmarks/results*/cells and not
# recomputed; delete them to start afresh. Every number comes from `tsgan bench`: thresholds are tsgan's
# own (deployable), test labels choose nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
T=.venv/bin/tsgan
FAMILY=usad,beatgan,ganomaly,anogan,egbad,alad,tadgan,esad
DATASETS=skab/valve1,skab/valve2,smd/machine-1-6,smd/machine-2-1,smd/machine-2-7,smd/machine-3-3,nab/realTraffic,nab/realAWSCloudwatch

# 0. The rows of BENCHMARKS.md's "GAN family on SMD machine-1-6": every member at 5 epochs (the budget of
#    the SKAB valve1 rows) and with its defaults (20 epochs: section 1's SMD cells), TadGAN also under its
#    own sliding-window threshold and, at 5 epochs, with Orion's score (product, two-sided critic); ALAD
#    also scored with its raw weights instead of their moving averages.
$T bench --quiet --detectors $FAMILY --epochs 5 --datasets smd/machine-1-6 --out benchmarks/results
$T bench --quiet --detectors $FAMILY --datasets smd/machine-1-6 --out benchmarks/results
$T bench --quiet --detectors tadgan --param local_threshold=true --datasets smd/machine-1-6 \
  --out benchmarks/results
$T bench --quiet --detectors tadgan --epochs 5 --param local_threshold=true --datasets smd/machine-1-6 \
  --out benchmarks/results
$T bench --quiet --detectors tadgan --epochs 5 --param combine=mult --param critic_side=both \
  --datasets smd/machine-1-6 --out benchmarks/results
$T bench --quiet --detectors alad --param ema_decay=0 --datasets smd/machine-1-6 --out benchmarks/results
$T bench --quiet --detectors alad --epochs 5 --param ema_decay=0 --datasets smd/machine-1-6 \
  --out benchmarks/results
#    The SKAB valve1 rows of the two members whose defaults changed (TadGAN's score, ALAD's averages).
$T bench --quiet --detectors tadgan,alad --epochs 5 --datasets skab/valve1 --out benchmarks/results

#    Every member on SKAB at 5 epochs, as is and with each run's first 400 rows as its reference.
$T bench --quiet --detectors $FAMILY --epochs 5 --datasets skab/valve1,skab/valve2 --out benchmarks/results
$T bench --quiet --detectors $FAMILY --epochs 5 --reference-rows 400 --datasets skab/valve1,skab/valve2 \
  --out benchmarks/results

# 1. Every family member with its defaults, on every dataset (same folder as run_all.sh, so one table).
$T bench --quiet --detectors $FAMILY --datasets $DATASETS --out benchmarks/results
$T bench --quiet --detectors rsmgan --datasets $DATASETS --out benchmarks/results   # and RSM-GAN beside them
#    and the two departures from the papers undone: EGBAD as a pure BiGAN, TadGAN on 100-point windows.
$T bench --quiet --detectors egbad --param recon_weight=0 --datasets $DATASETS --out benchmarks/results
$T bench --quiet --detectors tadgan --window 100 --datasets $DATASETS --out benchmarks/results

# 2. The pluggable objective: each member under bce, mim and wgan-gp, three seeds, same budget (5 epochs).
#    (USAD with wgan-gp is the published USAD; ESAD has no adversary unless adv_weight > 0, so it is
#    run here with its optional critic.)
for seed in 0 1 2; do
  for objective in bce mim wgan-gp; do
    $T bench --quiet --detectors $FAMILY --objective $objective --epochs 5 --seed $seed --param adv_weight=1 \
      --datasets skab/valve1,smd/machine-1-6 --out benchmarks/results/gan_family_objectives
  done
done

# 3. TadGAN's score: reconstruction error (point, area, DTW) x combination with the critic (paper: critic x
#    DTW best). --param is given only to tadgan here.
for error in point area dtw; do
  for combine in mult sum rec critic; do
    $T bench --quiet --detectors tadgan --param error=$error --param combine=$combine \
      --datasets skab/valve1,skab/valve2,nab/realTraffic,smd/machine-1-6 --out benchmarks/results/tadgan_scores
  done
done

# 4. Window-level scores reaching channels: by residual share (default) or broadcast. SMD has per-channel
#    test labels, so the root-cause columns of the table tell the two apart.
$T bench --quiet --detectors ganomaly,anogan,egbad,alad,esad --param attribution=broadcast \
  --datasets smd/machine-1-6,smd/machine-2-1,smd/machine-2-7,smd/machine-3-3 --out benchmarks/results

# 5. What labels buy ESAD: 1%, 5% and 10% of the training data's anomalous intervals labelled.
#
#    Protocol. Labels may only come from the TRAINING data, and SMD's and SKAB's training data hold no
#    anomalies, so the comparison runs on contaminated synthetic plant data with known anomalies:
#      train = make_industrial(n_rows=40000, n_channels=8, n_anomalies=100, seed=0)  (100 intervals of
#              all six kinds, about 15% of rows; about 80 of them lie in the rows before the validation tail)
#      test  = make_industrial(n_rows=10000, n_channels=8, n_anomalies=20, seed=1)   (another day, same plant)
#    The base class passes ESAD the labels of the training rows only (never the validation tail's, never
#    the test's). ESAD keeps `label_fraction` of those anomalous intervals, whole, drawn with `seed`
#    (at least one; 1%, 5%, 10% of ~80 = 1, 4, 8 intervals); the other intervals stay in the data,
#    unlabelled, as contamination. Every detector trains on the same contaminated rows; the unsupervised
#    ones never see a label. label_fraction=0 is ESAD's own architecture without labels, so the gain of
#    the labels is read against it and against the unsupervised family. Three seeds also redraw which
#    intervals are labelled.
#    A real-data variant for later: SKAB valve1 runs 00-07 appended (with their labels) to
#    anomaly_free.csv as training material, runs 08-15 as test, so no run is in both.
#
#    The dataset `synthetic/industrial-semi` is not in tsgan.datasets yet, so the splits are made here with
#    the generator calls above; each cell runs tsgan.bench.evaluate_splits in a process of its own (one
#    torch thread, 5 epochs: the budget of section 0) and is stored in the layout of `tsgan bench`.
esad_cell() {  # detector, seed, then KEY=VALUE detector parameters
  .venv/bin/python - "$@" <<'PY'
import json
import resource
import sys
from pathlib import Path

import torch

from tsgan.bench import Cell, evaluate_splits
from tsgan.datasets import Split, make_industrial
from tsgan.detectors import params_for
from tsgan.io import write_json_atomic

detector, seed, *pairs = sys.argv[1:]
options = {"epochs": 5, "seed": int(seed)} | {k: json.loads(v) for k, v in (p.split("=", 1) for p in pairs)}
cell = Cell(detector, "synthetic/industrial-semi", params_for(detector, options))
path = Path("benchmarks/results/esad_labels/cells") / f"{cell.key}.json"
if not path.exists():
    torch.set_num_threads(1)
    train = make_industrial(n_rows=40000, n_channels=8, n_anomalies=100, seed=0)
    test = make_industrial(n_rows=10000, n_channels=8, n_anomalies=20, seed=1)
    out = evaluate_splits(detector, cell.params, [Split(cell.dataset, train, test)])
    out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_json_atomic({"detector": detector, "dataset": cell.dataset, "params": cell.params, **out}, path)
PY
}
for seed in 0 1 2; do
  for fraction in 0 0.01 0.05 0.1 1; do
    esad_cell esad $seed label_fraction=$fraction
  done
  for detector in usad beatgan ganomaly alad tadgan madgan pca iforest zscore; do
    esad_cell $detector $seed
  done
done
