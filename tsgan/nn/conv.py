"""1-D convolutional blocks over windows (batch, steps, channels), shared by the conv GAN family.

The time axis is convolved, the channels are the convolution's input features, so one network sees
every channel of a window at once (multivariate), whatever the window length:

- `ConvEncoder`: `layers` strided convolutions (each halves the length, rounding up), then a linear map
  of the flattened features to one latent vector per window (B, latent).
- `ConvDecoder`: the mirror image: a linear map to the encoder's smallest feature map, then per layer an
  upsampling to exactly the encoder's length at that depth and a convolution; linear output (B, W, C),
  because robust-scaled data is not bounded to [-1, 1].
- `ConvCritic`: the encoder's convolutions, optionally joined with a latent vector (BiGAN's D(x, z)),
  one hidden layer whose activations are the `features` used by feature matching, and one output per
  window (a logit, or a Wasserstein critic value).
- `LatentCritic`: an MLP critic of a latent vector (TadGAN's C_z) or of a pair of them (ALAD's D_zz).
- `PairCritic`: a conv critic of a pair of windows (ALAD's D_xx).
- `mlp`: a plain multilayer perceptron (USAD's networks, the latent critics).

No batch normalisation anywhere: the WGAN-GP gradient penalty is defined per sample, and a batch
statistic would couple the samples of a batch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def conv_lengths(window: int, layers: int) -> list[int]:
    """Lengths of the feature maps through `layers` stride-2 convolutions (kernel 3, padding 1)."""
    lengths = [window]
    for _ in range(layers):
        lengths.append((lengths[-1] - 1) // 2 + 1)
    return lengths


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


def _maybe_sn(module: nn.Module, spectral: bool) -> nn.Module:
    return spectral_norm(module) if spectral else module


def mlp(
    sizes: list[int], dropout: float = 0.0, spectral: bool = False, last_activation: bool = False
) -> nn.Sequential:
    """Linear layers of the given sizes with LeakyReLU(0.2) (and dropout) between them."""
    parts: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        parts.append(_maybe_sn(nn.Linear(n_in, n_out), spectral))
        if i < len(sizes) - 2 or last_activation:
            parts.append(_leaky())
            if dropout:
                parts.append(nn.Dropout(dropout))
    return nn.Sequential(*parts)


class _ConvStack(nn.Module):
    """Strided convolutions (B, W, C) -> flattened features (B, hidden * final length)."""

    def __init__(
        self, n_channels: int, window: int, hidden: int, layers: int, dropout: float = 0.0, spectral=False
    ):
        super().__init__()
        parts: list[nn.Module] = []
        n_in = n_channels
        for _ in range(layers):
            parts += [_maybe_sn(nn.Conv1d(n_in, hidden, 3, stride=2, padding=1), spectral), _leaky()]
            if dropout:
                parts.append(nn.Dropout(dropout))
            n_in = hidden
        self.convs = nn.Sequential(*parts)
        self.n_features = n_in * conv_lengths(window, layers)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x.transpose(1, 2)).flatten(1)


class ConvEncoder(nn.Module):
    """Window (B, W, C) -> latent vector (B, latent)."""

    def __init__(self, n_channels: int, window: int, latent_dim: int, hidden: int, layers: int):
        super().__init__()
        self.stack = _ConvStack(n_channels, window, hidden, layers)
        self.out = nn.Linear(self.stack.n_features, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.stack(x))


class ConvDecoder(nn.Module):
    """Latent vector (B, latent) -> window (B, W, C): the mirror of `ConvEncoder`."""

    def __init__(self, latent_dim: int, n_channels: int, window: int, hidden: int, layers: int):
        super().__init__()
        if layers < 1:
            raise ValueError(f"ConvDecoder needs at least one layer, got {layers}")
        self.lengths = conv_lengths(window, layers)
        self.hidden = hidden
        self.inp = nn.Sequential(nn.Linear(latent_dim, hidden * self.lengths[-1]), _leaky())
        self.convs = nn.ModuleList(
            nn.Conv1d(hidden, n_channels if i == 0 else hidden, 3, padding=1) for i in reversed(range(layers))
        )
        self.act = _leaky()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.inp(z).view(len(z), self.hidden, self.lengths[-1])
        for depth, conv in zip(reversed(range(len(self.convs))), self.convs, strict=True):
            h = nn.functional.interpolate(h, size=self.lengths[depth], mode="nearest")
            h = conv(h)
            if depth:
                h = self.act(h)
        return h.transpose(1, 2)


class ConvCritic(nn.Module):
    """Window (B, W, C) [and latent (B, z_dim)] -> one output per window (B,).

    `features(x, z)` are the activations of the hidden layer before the output, used by feature
    matching (BeatGAN, GANomaly, EGBAD, ALAD, AnoGAN); with `z_dim` > 0 the window's convolutional
    features are joined with a projection of the latent (BiGAN's joint discriminator D(x, z)).
    """

    def __init__(
        self,
        n_channels: int,
        window: int,
        hidden: int,
        layers: int,
        z_dim: int = 0,
        dropout: float = 0.0,
        spectral: bool = False,
    ):
        super().__init__()
        self.stack = _ConvStack(n_channels, window, hidden, layers, dropout, spectral)
        self.z_dim = z_dim
        n_joint = self.stack.n_features
        if z_dim:
            self.z_in = nn.Sequential(_maybe_sn(nn.Linear(z_dim, hidden), spectral), _leaky())
            n_joint += hidden
        self.joint = nn.Sequential(_maybe_sn(nn.Linear(n_joint, hidden), spectral), _leaky())
        self.out = _maybe_sn(nn.Linear(hidden, 1), spectral)

    def features(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        h = self.stack(x)
        if self.z_dim:
            h = torch.cat([h, self.z_in(z)], dim=1)
        return self.joint(h)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.features(x, z)).squeeze(-1)


class LatentCritic(nn.Module):
    """Latent vector(s) -> one output per sample (B,): TadGAN's C_z on z, ALAD's D_zz on a pair (z, z')
    (with `n_inputs=2`, the vectors side by side)."""

    def __init__(
        self, latent_dim: int, hidden: int, n_inputs: int = 1, dropout: float = 0.0, spectral: bool = False
    ):
        super().__init__()
        self.net = mlp([n_inputs * latent_dim, hidden, hidden, 1], dropout=dropout, spectral=spectral)

    def forward(self, *z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat(z, dim=1)).squeeze(-1)


class PairCritic(nn.Module):
    """Two windows (B, W, C) each -> one output per pair (B,): a `ConvCritic` on their channels side by
    side (ALAD's D_xx(x, x'), whose hidden `features` give ALAD's score)."""

    def __init__(self, n_channels: int, window: int, hidden: int, layers: int, spectral: bool = False):
        super().__init__()
        self.critic = ConvCritic(2 * n_channels, window, hidden, layers, spectral=spectral)

    def features(self, x: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.critic.features(torch.cat([x, x2], dim=-1))

    def forward(self, x: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.critic(torch.cat([x, x2], dim=-1))
