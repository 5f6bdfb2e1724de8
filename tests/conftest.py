"""Shared fixtures: tiny data and tiny models, fixed seeds, so the suite stays fast and deterministic."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # same numbers on every machine and no oversubscription on 2 cores

SHARED_DATA = Path(os.environ.get("TSGAN_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets"))

# A MAD-GAN small enough to fit in about a second on one core.
TINY_MADGAN = dict(
    window=8, stride=2, score_stride=2, hidden=8, latent_dim=3, gen_layers=1, epochs=2, batch_size=32
)


def needs_shared_data(*parts: str):
    """Skip a test, saying why, when a dataset of ../shared/datasets is not on this machine."""
    path = SHARED_DATA.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=f"shared dataset not found at {path}")


@pytest.fixture
def sine_data() -> np.ndarray:
    """600 rows x 3 correlated channels of noisy sines."""
    rng = np.random.default_rng(0)
    t = np.arange(600)
    base = np.sin(2 * np.pi * t / 50)
    return np.stack([base, 0.5 * base + 1, np.cos(2 * np.pi * t / 50)], axis=1) + 0.05 * rng.normal(
        size=(600, 3)
    )
