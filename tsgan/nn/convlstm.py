"""Convolutional-recurrent networks on stacks of signature matrices (MSCRED / RSM-GAN style).

Shapes: a stack of h steps is (B, h, S, n, n) with S scales of n x n matrices; one step is (B, S, n, n).

- `ConvLSTMCell`: an LSTM whose gates are convolutions, so the state keeps the n x n layout.
- `MatrixEncoder`: two strided convolutions on each step (n -> n/2 -> n/4), a ConvLSTM over the steps,
  and temporal attention over the hidden states: weights = softmax(similarity of each state with the
  last / chi), the similarity being the mean of the element-wise product (so chi does not depend on the
  sizes).
  Extra context steps (seasonal lags) join the attention as one ConvLSTM step each; a mask leaves out
  the ones that are not available (before the series, or marked as holidays).
- `MatrixDecoder`: the latent map back to the S matrices of one step, symmetric like its target.
- `MatrixCritic`: a conv stack, global average, one score per matrix stack (no normalisation layer, so
  the WGAN-GP gradient penalty applies per sample).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step (Shi et al. 2015, without peepholes): all four gates from one convolution."""

    def __init__(self, n_in: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(n_in + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, n_in, H, W) and (h, c) of the previous step (zeros when None) -> new (h, c)."""
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def _conv_stack(n_in: int, width: int) -> nn.Sequential:
    """Two 3x3 convolutions with stride 2: (B, n_in, n, n) -> (B, 2*width, n/4, n/4). No convolution runs
    at full resolution, where it would cost most (a quarter of the training time at 33 channels)."""
    return nn.Sequential(
        nn.Conv2d(n_in, width, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
    )


class MatrixEncoder(nn.Module):
    """Stack (B, h, S, n, n) [+ context (B, K, S, n, n)] -> latent (B, hidden, n/4, n/4), attention (B, h+K).

    The latent is the attention-weighted sum of the ConvLSTM hidden states; the last step is the query.
    """

    def __init__(self, n_scales: int, width: int, hidden: int, chi: float):
        super().__init__()
        self.chi = chi
        self.features = _conv_stack(n_scales, width)
        self.cell = ConvLSTMCell(2 * width, hidden)

    def _per_step(self, steps: torch.Tensor) -> torch.Tensor:
        """The conv stack on every step of (B, h, S, n, n) at once -> (B, h, F, m, m)."""
        return self.features(steps.flatten(0, 1)).unflatten(0, steps.shape[:2])

    def forward(
        self,
        steps: torch.Tensor,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        state = None
        hidden = []
        for feature in self._per_step(steps).unbind(1):
            state = self.cell(feature, state)
            hidden.append(state[0])
        keys = torch.stack(hidden, dim=1)  # (B, h, hidden, m, m)
        available = torch.ones(keys.shape[:2], dtype=torch.bool, device=keys.device)
        if context is not None and context.shape[1]:
            features = self._per_step(context)
            seasonal, _ = self.cell(features.flatten(0, 1))  # one step from a zero state each
            keys = torch.cat([keys, seasonal.unflatten(0, features.shape[:2])], dim=1)
            mask = context_mask if context_mask is not None else torch.ones_like(available[:, :1])
            available = torch.cat([available, mask.expand(-1, context.shape[1])], dim=1)
        similarity = (keys * hidden[-1].unsqueeze(1)).mean(dim=(2, 3, 4)) / self.chi
        weights = torch.softmax(similarity.masked_fill(~available, float("-inf")), dim=1)
        latent = (weights[:, :, None, None, None] * keys).sum(dim=1)
        return latent, weights


class MatrixDecoder(nn.Module):
    """Latent (B, hidden, m, m) -> the S matrices of one step (B, S, n, n), made symmetric."""

    def __init__(self, n_scales: int, width: int, hidden: int, n: int):
        super().__init__()
        self.n = n
        self.up = nn.Conv2d(hidden, width, 3, padding=1)
        self.out = nn.Conv2d(width, n_scales, 3, padding=1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.up(F.interpolate(latent, size=(self.n + 1) // 2)), 0.2)
        y = self.out(F.interpolate(y, size=self.n))
        return (y + y.transpose(-1, -2)) / 2


class MatrixCritic(nn.Module):
    """One step's matrices (B, S, n, n) -> one score (B, 1): a logit, or a Wasserstein critic value."""

    def __init__(self, n_scales: int, width: int):
        super().__init__()
        self.features = _conv_stack(n_scales, width)
        self.out = nn.Linear(2 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x).mean(dim=(2, 3)))
