"""LSTM generator, discriminator and encoder over windows (batch, steps, features)."""

from __future__ import annotations

import torch
from torch import nn


class _LSTMHead(nn.Module):
    """An LSTM followed by a per-step linear layer: the shape every network here shares."""

    def __init__(self, n_in: int, n_out: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x)
        return self.out(h)


class SequenceGenerator(_LSTMHead):
    """Latent sequence (B, W, latent) -> window (B, W, C). The output is linear, not tanh as in the
    MAD-GAN code, because robust-scaled data is not bounded to [-1, 1]."""


class SequenceEncoder(_LSTMHead):
    """Window (B, W, C) -> latent sequence (B, W, latent): the starting point of latent inversion."""


class SequenceDiscriminator(nn.Module):
    """Window (B, W, C) -> one logit per step (B, W), or per window (B, 1) with `per_step=False`."""

    def __init__(self, n_channels: int, hidden: int, layers: int = 1, per_step: bool = True):
        super().__init__()
        self.per_step = per_step
        self.head = _LSTMHead(n_channels, 1, hidden, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(x).squeeze(-1)
        return logits if self.per_step else logits[:, -1:]
