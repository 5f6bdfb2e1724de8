"""GANomaly (Akcay et al., ACCV 2018) on windows: encoder-decoder-encoder generator plus a critic.

G_E encodes a window to z, G_D decodes it to x_hat = G(x), a second encoder E encodes x_hat to z_hat;
D is a conv critic on windows. 2-D convolutions over images become 1-D convolutions over time, with the
channels as input features. Losses (the published code, with tsgan's pluggable objective for D):

    D:  objective's discriminator loss of D(x) against D(x_hat)  (+ gradient penalty for wgan-gp)
    G:  w_adv * ||f_D(x) - f_D(x_hat)||^2 + w_con * |x - x_hat|_1 + w_enc * ||z - z_hat||^2
        with w_adv = 1, w_con = 50, w_enc = 1

Score (the paper's): mean((z - z_hat)^2) per window. It has no channel axis: with attribution="share"
each channel gets it times its share of the window's residual |x - x_hat| at that step (see
tsgan.nn.training); "broadcast" gives it to every channel. Folded to points over covering windows. (The
paper min-max scales over the test set; tsgan normalises on the validation split.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.nn.conv import ConvCritic, ConvDecoder, ConvEncoder
from tsgan.nn.training import (
    Phase,
    WindowedGAN,
    WindowedParams,
    adam,
    critic_loss,
    feature_matching,
    to_channels,
)
from tsgan.objectives import get_objective


@dataclass
class GANomalyConfig(WindowedParams, DetectorConfig):
    objective: str = "bce"
    w_adv: float = 1.0
    w_con: float = 50.0
    w_enc: float = 1.0


class GANomaly(WindowedGAN, Detector):
    name = "ganomaly"
    config_class = GANomalyConfig
    components = ("latent",)

    def _build(self, n_channels: int) -> None:
        cfg = self.config
        args = (cfg.window, cfg.hidden, cfg.layers)
        self.encoder_ = ConvEncoder(n_channels, cfg.window, cfg.latent_dim, cfg.hidden, cfg.layers)
        self.decoder_ = ConvDecoder(cfg.latent_dim, n_channels, *args)
        self.encoder2_ = ConvEncoder(n_channels, cfg.window, cfg.latent_dim, cfg.hidden, cfg.layers)
        self.discriminator_ = ConvCritic(n_channels, *args)
        for net in self._networks().values():
            net.to(self.device)

    def _networks(self) -> dict[str, torch.nn.Module]:
        return {
            "encoder": self.encoder_,
            "decoder": self.decoder_,
            "encoder2": self.encoder2_,
            "discriminator": self.discriminator_,
        }

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder_(x)
        x_hat = self.decoder_(z)
        return z, x_hat, self.encoder2_(x_hat)

    def _start_training(self) -> None:
        cfg = self.config
        self.objective_ = get_objective(cfg.objective, cfg.mim_w)
        self.opt_g_ = adam([self.encoder_, self.decoder_, self.encoder2_], cfg.lr)
        self.opt_d_ = adam([self.discriminator_], cfg.lr)

    def _phases(self, real: torch.Tensor, epoch: int, rng: torch.Generator) -> list[Phase]:
        cfg, d = self.config, self.discriminator_

        def d_loss():
            return critic_loss(self.objective_, d, real, self._forward(real)[1].detach(), cfg.gp_weight)

        def g_loss():
            z, fake, z_hat = self._forward(real)
            con = (real - fake).abs().mean()
            enc = (z - z_hat).pow(2).mean()
            loss = cfg.w_adv * feature_matching(d, real, fake) + cfg.w_con * con + cfg.w_enc * enc
            return loss, {"loss_con": con.detach(), "loss_enc": enc.detach()}

        return [("loss_d", self.opt_d_, d_loss), ("loss_g", self.opt_g_, g_loss)]

    @torch.no_grad()
    def _sample(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return self._forward(real)[1]

    @torch.no_grad()
    def _window_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z, x_hat, z_hat = self._forward(x)
        latent = (z - z_hat).pow(2).mean(dim=1)
        return {"latent": to_channels(latent, x - x_hat, self.config.attribution)}
