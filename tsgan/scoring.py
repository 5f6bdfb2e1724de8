"""Scores shared by the GAN detectors: latent inversion of a generator and the DR-score mix.

Inversion finds, for each window, the latent input whose generated window is closest to it. It is
batched over all windows (the published MAD-GAN code inverts one window at a time, for hours) and can
start from a learned encoder, so a few gradient steps suffice.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

INVERSIONS = ("hybrid", "encoder", "gradient")


def refine_latent(
    generator: nn.Module, z: torch.Tensor, target: torch.Tensor, steps: int, lr: float
) -> torch.Tensor:
    """Adam steps on the latent to reduce the squared reconstruction error of every window. The loss is a
    sum over windows, so each window's latent follows its own gradient; the generator is not changed."""
    z = z.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    generator.requires_grad_(False)
    try:
        for _ in range(steps):
            loss = (generator(z) - target).pow(2).mean(dim=tuple(range(1, target.dim()))).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        generator.requires_grad_(True)
    return z.detach()


def invert(
    generator: nn.Module,
    windows: torch.Tensor,
    *,
    mode: str,
    encoder: nn.Module | None,
    random_latent: Callable[[int], torch.Tensor],
    steps: int,
    lr: float,
    batch: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents for `windows` and their reconstructions, in chunks of `batch` windows.

    mode "encoder": the encoder's latent; "hybrid": the encoder's latent refined by `steps` gradient
    steps; "gradient": `steps` gradient steps from `random_latent(n)` (the published procedure, batched).
    """
    latents, recons = [], []
    for chunk in windows.split(batch):
        chunk = chunk.to(device)
        with torch.no_grad():
            z = random_latent(len(chunk)) if mode == "gradient" else encoder(chunk)
        if mode != "encoder" and steps:
            z = refine_latent(generator, z, chunk, steps, lr)
        with torch.no_grad():
            latents.append(z)
            recons.append(generator(z))
    return torch.cat(latents), torch.cat(recons)


def dr_score(residual_z: np.ndarray, discrimination_z: np.ndarray, lam: float) -> np.ndarray:
    """MAD-GAN's DR-score per point and channel: lam * residual + (1 - lam) * discrimination, both already
    normalised; the discrimination (T,) has no channel axis and is given to every channel."""
    return (lam * residual_z + (1 - lam) * discrimination_z[:, None]).astype(np.float32)
