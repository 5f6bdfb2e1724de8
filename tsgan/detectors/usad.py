"""USAD (Audibert et al., KDD 2020): two autoencoders sharing an encoder, trained adversarially.

A window W (flattened, as in the paper) is encoded once; decoder D1 gives AE1(W), decoder D2 gives
AE2(W). AE2 learns to tell real windows from AE1's reconstructions by reconstructing the latter badly,
AE1 learns to fool it; at epoch n (from 1):

    L_AE1 = (1/n) ||W - AE1(W)||^2 + (1 - 1/n) * generator term
    L_AE2 = (1/n) ||W - AE2(W)||^2 + (1 - 1/n) * critic term

The "critic" is AE2 seen as c(x) = -||W - AE2(x)||^2 (mean over the window), applied to AE1(W) (fake);
the two terms are tsgan's pluggable objective on it, with the real side fixed (detached), because
in USAD AE2's fit to real windows is carried by its own 1/n term alone. With objective="wgan-gp" and
gp_weight=0 (the defaults) this is exactly USAD: generator term -c(AE1(W)) = ||W - AE2(AE1(W))||^2,
critic term c(AE1(W)). With bce or mim, c is taken as a logit; with gp_weight > 0, the gradient penalty
is taken on c between W and AE1(W).

Score per point and channel (the paper's, as squared errors per element, folded over windows):

    A = alpha * (W - AE1(W))^2 + beta * (W - AE2(AE1(W)))^2,    alpha = beta = 0.5

Defaults: window 12 (the paper's SWaT setting), encoder sizes in/2, in/4, latent (the paper's MLPs);
linear rather than sigmoid output, since robust-scaled data is not bounded to [0, 1]. Both terms are
residuals with the same unit, so they are mixed raw, as published (not normalised separately).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.errors import ConfigError
from tsgan.nn.conv import mlp
from tsgan.nn.training import Phase, WindowedGAN, WindowedParams, adam
from tsgan.objectives import get_objective, gradient_penalty


@dataclass
class USADConfig(WindowedParams, DetectorConfig):
    window: int = 12
    stride: int = 1
    score_stride: int = 1
    latent_dim: int = 16
    objective: str = "wgan-gp"
    gp_weight: float = 0.0  # 0 with wgan-gp: USAD as published
    alpha: float = 0.5  # weight of ||W - AE1(W)||^2 in the score
    beta: float = 0.5  # weight of ||W - AE2(AE1(W))||^2

    def validate(self) -> None:
        super().validate()
        if self.alpha < 0 or self.beta < 0 or self.alpha + self.beta <= 0:
            raise ConfigError(f"alpha and beta must be >= 0, not both 0; got {self.alpha}, {self.beta}")


class _TwoDecoderAE(torch.nn.Module):
    def __init__(self, n_in: int, latent: int):
        super().__init__()
        sizes = [n_in, max(n_in // 2, 1), max(n_in // 4, 1), latent]
        self.encoder = mlp(sizes, last_activation=True)
        self.decoder1 = mlp(sizes[::-1])
        self.decoder2 = mlp(sizes[::-1])


class USAD(WindowedGAN, Detector):
    name = "usad"
    config_class = USADConfig

    def _build(self, n_channels: int) -> None:
        cfg = self.config
        self.n_channels_ = n_channels
        self.model_ = _TwoDecoderAE(cfg.window * n_channels, cfg.latent_dim).to(self.device)

    def _networks(self) -> dict[str, torch.nn.Module]:
        return {"usad": self.model_}

    def _ae(self, decoder, w: torch.Tensor) -> torch.Tensor:
        """Autoencoder through `decoder` of windows (B, W, C), flattened as in the paper."""
        return decoder(self.model_.encoder(w.flatten(1))).view_as(w)

    def _start_training(self) -> None:
        m = self.model_
        self.objective_ = get_objective(self.config.objective, self.config.mim_w)
        self.opt1_ = adam([m.encoder, m.decoder1], self.config.lr, betas=(0.9, 0.999))
        self.opt2_ = adam([m.encoder, m.decoder2], self.config.lr, betas=(0.9, 0.999))

    def _critic(self, target: torch.Tensor):
        """AE2 as a critic of windows x against their target W: -||W - AE2(x)||^2 per window."""
        return lambda x: -(target - self._ae(self.model_.decoder2, x)).pow(2).flatten(1).mean(dim=1)

    def _phases(self, w: torch.Tensor, epoch: int, rng: torch.Generator) -> list[Phase]:
        cfg, objective, m = self.config, self.objective_, self.model_
        n = 1.0 / epoch
        critic = self._critic(w)

        def ae1_loss():  # reconstruct, and make AE2 reconstruct AE1's output well (fool the critic)
            ae1 = self._ae(m.decoder1, w)
            return n * F.mse_loss(ae1, w) + (1 - n) * objective.generator_loss(critic(ae1))

        def ae2_loss():  # reconstruct real windows, and AE1's output badly (tell it from real)
            # As in the USAD code, AE1's output is recomputed after its update and not detached: the
            # shared encoder also learns from this loss through it (only the encoder and D2 are updated).
            ae1 = self._ae(m.decoder1, w)
            loss = n * F.mse_loss(self._ae(m.decoder2, w), w)
            loss = loss + (1 - n) * objective.discriminator_loss(critic(w).detach(), critic(ae1))
            if objective.needs_gradient_penalty and cfg.gp_weight:
                loss = loss + cfg.gp_weight * gradient_penalty(critic, w, ae1)
            return loss

        return [("loss_ae1", self.opt1_, ae1_loss), ("loss_ae2", self.opt2_, ae2_loss)]

    @torch.no_grad()
    def _sample(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return self._ae(self.model_.decoder1, real)

    @torch.no_grad()
    def _window_outputs(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        ae1 = self._ae(self.model_.decoder1, w)
        ae2 = self._ae(self.model_.decoder2, ae1)
        cfg = self.config
        return {"residual": cfg.alpha * (w - ae1).pow(2) + cfg.beta * (w - ae2).pow(2)}
