#!/usr/bin/env bash
# Regenerates every tsgan row of benchmarks/BENCHMARKS.md (the peers have their own scripts in peers/).
# Finished cells are kept in benchmarks/results/*/cells and not recomputed; delete them to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
T=.venv/bin/tsgan
ALL=skab/valve1,skab/valve2,smd/machine-1-6,smd/machine-2-1,smd/machine-2-7,smd/machine-3-3,nab/realTraffic,nab/realAWSCloudwatch
# MAD-GAN cells are the expensive ones (minutes each on 2 cores): they run on a subset of the datasets.
GAN=nab/realTraffic,skab/valve1,smd/machine-1-6
# 1. The baselines on every dataset.
$T bench --quiet --detectors random,zscore,pca,iforest,seasonal --datasets $ALL --out benchmarks/results
# 2. Does the MIM objective help? Three objectives x three seeds, same data and budget (5 epochs).
for seed in 0 1 2; do
  for objective in bce mim wgan-gp; do
    $T bench --quiet --detectors madgan --objective $objective --epochs 5 --seed $seed \
      --datasets nab/realTraffic --out benchmarks/results/objectives
  done
done
# 3. MAD-GAN with tsgan's defaults, then as published (pure adversarial generator, lam 0.5).
$T bench --quiet --detectors madgan --datasets $GAN --out benchmarks/results
$T bench --quiet --detectors madgan --param lam=0.5 --param recon_weight=0 --datasets $GAN --out benchmarks/results
# 4. The objective study on a multivariate dataset too.
for seed in 0 1 2; do
  for objective in bce mim wgan-gp; do
    $T bench --quiet --detectors madgan --objective $objective --epochs 5 --seed $seed \
      --datasets skab/valve2 --out benchmarks/results/objectives
  done
done
# 5. SKAB with each run's first 400 rows as its reference (SKAB's own protocol trains on them): scaling,
#    score normalisation and thresholds are fitted again on them per run; the metrics skip them.
$T bench --quiet --detectors random,zscore,pca,iforest,seasonal,madgan,rsmgan --reference-rows 400 \
  --datasets skab/valve1,skab/valve2 --out benchmarks/results
# 6. The objective study on SMD (38 channels, 23.7k training rows).
for seed in 0 1 2; do
  for objective in bce mim wgan-gp; do
    $T bench --quiet --detectors madgan --objective $objective --epochs 5 --seed $seed \
      --datasets smd/machine-1-6 --out benchmarks/results/objectives
  done
done
