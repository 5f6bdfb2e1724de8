"""AnoGAN (Schlegl et al., IPMI 2017) on windows: a plain GAN, scored by searching its latent space.

The generator maps a latent vector to a window through a 1-D conv decoder; the discriminator is a conv
critic. Training is a plain GAN with tsgan's pluggable objective (`bce` by default). There is no
encoder: to score a window, its latent is searched by gradient steps from a random start, with the
batched inversion every tsgan GAN shares (`tsgan.scoring.invert`, mode "gradient"; the search minimises
the squared residual, without AnoGAN's discrimination term in the search loss). Then

    A = (1 - lam) * R + lam * D,    lam = 0.1
    R = |x - G(z*)|                        per point and channel (the residual)
    D = mean |f_D(x) - f_D(G(z*))|         per window (feature matching on D's hidden layer)

Both terms are robust-normalised per channel on the validation split before mixing, so lam means what
it says. D has no channel axis: with attribution="share" each channel gets it times its share of the
step's residual, with "broadcast" every channel gets it. Windows are folded back to points.

The search is the expensive part (search_steps forward and backward passes over every scored window),
which is why windows are scored with a stride of 4 by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.errors import ConfigError
from tsgan.nn.conv import ConvCritic, ConvDecoder
from tsgan.nn.training import Phase, WindowedGAN, WindowedParams, adam, critic_loss, to_channels
from tsgan.objectives import get_objective
from tsgan.scoring import invert


@dataclass
class AnoGANConfig(WindowedParams, DetectorConfig):
    score_stride: int = 4
    objective: str = "bce"
    lam: float = 0.1  # weight of the discrimination (feature-matching) term in the score
    search_steps: int = 200  # gradient steps of the latent search per window
    inversion_lr: float = 0.05

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.lam <= 1.0:
            raise ConfigError(f"lam must be in [0, 1], got {self.lam}")
        if self.search_steps < 1 or self.inversion_lr <= 0:
            raise ConfigError(
                f"search_steps must be >= 1 and inversion_lr > 0, "
                f"got {self.search_steps} and {self.inversion_lr}"
            )


class AnoGAN(WindowedGAN, Detector):
    name = "anogan"
    config_class = AnoGANConfig
    components = ("residual", "discrimination")

    @property
    def weights(self) -> dict[str, float]:
        return {"residual": 1 - self.config.lam, "discrimination": self.config.lam}

    def _build(self, n_channels: int) -> None:
        cfg = self.config
        self.generator_ = ConvDecoder(cfg.latent_dim, n_channels, cfg.window, cfg.hidden, cfg.layers)
        self.discriminator_ = ConvCritic(n_channels, cfg.window, cfg.hidden, cfg.layers)
        for net in self._networks().values():
            net.to(self.device)

    def _networks(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator_, "discriminator": self.discriminator_}

    def _start_training(self) -> None:
        cfg = self.config
        self.objective_ = get_objective(cfg.objective, cfg.mim_w)
        self.opt_g_ = adam([self.generator_], cfg.lr)
        self.opt_d_ = adam([self.discriminator_], cfg.lr)

    def _phases(self, real: torch.Tensor, epoch: int, rng: torch.Generator) -> list[Phase]:
        cfg, d, g = self.config, self.discriminator_, self.generator_
        z_d, z_g = self._latent(len(real), rng), self._latent(len(real), rng)

        def d_loss():
            return critic_loss(self.objective_, d, real, g(z_d).detach(), cfg.gp_weight)

        def g_loss():
            return self.objective_.generator_loss(d(g(z_g)))

        return [("loss_d", self.opt_d_, d_loss), ("loss_g", self.opt_g_, g_loss)]

    @torch.no_grad()
    def _sample(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return self.generator_(self._latent(len(real), rng))

    def invert(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents found by gradient search for `windows` (N, W, C), and their generated windows."""
        cfg = self.config
        rng = torch.Generator().manual_seed(cfg.seed)
        return invert(
            self.generator_,
            windows,
            mode="gradient",
            encoder=None,
            random_latent=lambda n: self._latent(n, rng),
            steps=cfg.search_steps,
            lr=cfg.inversion_lr,
            batch=cfg.score_batch,
            device=self.device,
        )

    def _window_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        _, recon = self.invert(x)
        with torch.no_grad():
            residual = x - recon
            fm = (self.discriminator_.features(x) - self.discriminator_.features(recon)).abs().mean(dim=1)
            return {
                "residual": residual.abs(),
                "discrimination": to_channels(fm, residual, self.config.attribution),
            }
