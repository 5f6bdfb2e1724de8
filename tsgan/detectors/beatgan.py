"""BeatGAN (Zhou et al., IJCAI 2019): a 1-D convolutional autoencoder sharpened by a discriminator.

The generator is a conv encoder to a latent vector and a conv decoder back to the window, G(x); the
discriminator D is a conv critic on windows. Losses (the published code, with tsgan's pluggable
objective for D):

    D:  objective's discriminator loss of D(x) against D(G(x))  (+ gradient penalty for wgan-gp)
    G:  ||x - G(x)||^2 + w_adv * ||f_D(x) - f_D(G(x))||^2       (feature matching on D's hidden layer)

Score: the reconstruction error (x - G(x))^2 per point and channel, folded over the windows covering a
point, so it has a channel axis naturally. (BeatGAN min-max scales it over the evaluated set; tsgan
instead normalises on the validation split, never on the data being scored.)

Departures: windows of 32 rather than ECG beats of 320; lr 1e-3 (the paper's 1e-4 is for 100 epochs);
D is not re-initialised when its loss collapses (the published code's trick, meaningful for bce only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.nn.conv import ConvCritic, ConvDecoder, ConvEncoder
from tsgan.nn.training import Phase, WindowedGAN, WindowedParams, adam, critic_loss, feature_matching
from tsgan.objectives import get_objective


@dataclass
class BeatGANConfig(WindowedParams, DetectorConfig):
    objective: str = "bce"
    w_adv: float = 1.0  # weight of the feature-matching term in the generator loss


class BeatGAN(WindowedGAN, Detector):
    name = "beatgan"
    config_class = BeatGANConfig

    def _build(self, n_channels: int) -> None:
        cfg = self.config
        args = (cfg.window, cfg.hidden, cfg.layers)
        self.encoder_ = ConvEncoder(n_channels, cfg.window, cfg.latent_dim, cfg.hidden, cfg.layers)
        self.decoder_ = ConvDecoder(cfg.latent_dim, n_channels, *args)
        self.discriminator_ = ConvCritic(n_channels, *args)
        for net in self._networks().values():
            net.to(self.device)

    def _networks(self) -> dict[str, torch.nn.Module]:
        return {"encoder": self.encoder_, "decoder": self.decoder_, "discriminator": self.discriminator_}

    def _reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder_(self.encoder_(x))

    def _start_training(self) -> None:
        cfg = self.config
        self.objective_ = get_objective(cfg.objective, cfg.mim_w)
        self.opt_g_ = adam([self.encoder_, self.decoder_], cfg.lr)
        self.opt_d_ = adam([self.discriminator_], cfg.lr)

    def _phases(self, real: torch.Tensor, epoch: int, rng: torch.Generator) -> list[Phase]:
        cfg, d = self.config, self.discriminator_

        def d_loss():
            return critic_loss(self.objective_, d, real, self._reconstruct(real).detach(), cfg.gp_weight)

        def g_loss():
            fake = self._reconstruct(real)
            rec = F.mse_loss(fake, real)
            return rec + cfg.w_adv * feature_matching(d, real, fake), {"loss_rec": rec.detach()}

        return [("loss_d", self.opt_d_, d_loss), ("loss_g", self.opt_g_, g_loss)]

    @torch.no_grad()
    def _sample(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return self._reconstruct(real)

    @torch.no_grad()
    def _window_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"residual": (x - self._reconstruct(x)).pow(2)}
