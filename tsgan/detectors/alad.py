"""ALAD (Zenati et al., ICDM 2018, "Adversarially learned anomaly detection") on windows.

A BiGAN (encoder E, generator G, joint discriminator D_xz(x, z)) with two more discriminators that
enforce cycle consistency: D_xx(x, x') tells (x, x) from (x, G(E(x))), D_zz(z, z') tells (z, z) from
(z, E(G(z))). All networks are 1-D conv networks over windows (D_zz an MLP), the discriminators with
spectral normalisation as published. Losses with tsgan's pluggable objective: the discriminators
minimise the sum of the three discriminator losses (with the gradient penalty on each pair for
wgan-gp); E and G minimise the same three with the labels swapped.

Score (the published default, "fm"): the L1 distance between D_xx's hidden features of (x, x) and of
(x, G(E(x))), averaged over the features:

    A(x) = mean |f_xx(x, x) - f_xx(x, G(E(x)))|

per window; it reaches channels by their share of the residual |x - G(E(x))| at each step
(attribution="share") or as is ("broadcast"), and is folded over the windows covering a point.

Scoring uses exponential-moving-average (EMA) weights of E, G and D_xx, as the published code does
(`ema_decay` 0.999 there and here; 0 scores with the raw weights). After every update of a network its
average moves towards it, w_ema <- decay * w_ema + (1 - decay) * w, starting from the initial weights;
spectral normalisation's power-iteration vectors are not averaged but copied from the live network (in
the published code they are not trainable variables, so its EMA leaves them alone). One addition: the
decay of the n-th update is min(ema_decay, (1 + n) / (10 + n)), TensorFlow's `num_updates` warm-up. The
published runs take thousands of updates per epoch, so the initial weights' share decays away within
the first epoch; tsgan's windowed series give 50-150 updates per epoch, and with 0.999 alone the
random initial weights would still hold about half of the average after 5 epochs (0.999^740 = 0.48 on
SMD machine-1-6). The warm-up averages over about the last tenth of training until it reaches 0.999.
The averages are networks of their own (`encoder_ema`, `generator_ema`, `d_xx_ema`), so they are saved
and loaded with the model and restored with the best epoch under early stopping.

Departures: early stopping on the validation fm score is available as `patience` (off by default).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import torch

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.errors import ConfigError
from tsgan.nn.conv import ConvCritic, ConvDecoder, ConvEncoder, LatentCritic, PairCritic
from tsgan.nn.training import (
    Phase,
    WindowedGAN,
    WindowedParams,
    adam,
    critic_loss,
    encoder_generator_loss,
    to_channels,
)
from tsgan.objectives import get_objective

# The networks that scoring uses, and so the ones whose moving averages are kept.
SCORING_NETWORKS = ("encoder", "generator", "d_xx")


@dataclass
class ALADConfig(WindowedParams, DetectorConfig):
    objective: str = "bce"
    spectral_norm: bool = True  # on the three discriminators, as published
    latent_cycle: bool = True  # train with D_zz (the published `allow_zz`)
    ema_decay: float = 0.999  # score with moving averages of E, G and D_xx (published); 0 = raw weights

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


class ALAD(WindowedGAN, Detector):
    name = "alad"
    config_class = ALADConfig
    components = ("fm",)

    def _build(self, n_channels: int) -> None:
        cfg = self.config
        args = (cfg.window, cfg.hidden, cfg.layers)
        sn = cfg.spectral_norm
        self.encoder_ = ConvEncoder(n_channels, cfg.window, cfg.latent_dim, cfg.hidden, cfg.layers)
        self.generator_ = ConvDecoder(cfg.latent_dim, n_channels, *args)
        self.d_xz_ = ConvCritic(n_channels, *args, z_dim=cfg.latent_dim, spectral=sn)
        self.d_xx_ = PairCritic(n_channels, *args, spectral=sn)
        self.d_zz_ = LatentCritic(cfg.latent_dim, cfg.hidden, n_inputs=2, spectral=sn)
        live = self._live_networks()
        # The averages start from the initial weights, like TensorFlow's shadow variables.
        averaged = SCORING_NETWORKS if cfg.ema_decay else ()
        self.ema_ = {name: copy.deepcopy(live[name]).requires_grad_(False) for name in averaged}
        for net in self._networks().values():
            net.to(self.device)

    def _live_networks(self) -> dict[str, torch.nn.Module]:
        return {
            "encoder": self.encoder_,
            "generator": self.generator_,
            "d_xz": self.d_xz_,
            "d_xx": self.d_xx_,
            "d_zz": self.d_zz_,
        }

    def _networks(self) -> dict[str, torch.nn.Module]:
        return self._live_networks() | {f"{name}_ema": net for name, net in self.ema_.items()}

    def _scoring_networks(self) -> tuple[torch.nn.Module, ...]:
        """E, G and D_xx as scoring uses them: their moving averages, or the raw weights."""
        nets = self.ema_ or self._live_networks()
        return tuple(nets[name] for name in SCORING_NETWORKS)

    def _start_training(self) -> None:
        cfg = self.config
        self.objective_ = get_objective(cfg.objective, cfg.mim_w)
        self.opt_eg_ = adam([self.encoder_, self.generator_], cfg.lr)
        self.opt_d_ = adam([self.d_xz_, self.d_xx_, self.d_zz_], cfg.lr)
        if cfg.ema_decay:
            self._average_after(self.opt_eg_, ("encoder", "generator"))
            self._average_after(self.opt_d_, ("d_xx",))

    def _average_after(self, optimizer: torch.optim.Optimizer, names: tuple[str, ...]) -> None:
        """After every step of `optimizer`, move the averages of the networks `names` towards them."""
        live, steps = self._live_networks(), itertools.count(1)

        @torch.no_grad()
        def update(*_) -> None:
            n = next(steps)
            decay = min(self.config.ema_decay, (1 + n) / (10 + n))
            for name in names:
                average, net = self.ema_[name], live[name]
                for a, w in zip(average.parameters(), net.parameters(), strict=True):
                    a.lerp_(w, 1 - decay)
                for a, b in zip(average.buffers(), net.buffers(), strict=True):
                    a.copy_(b)

        optimizer.register_step_post_hook(update)

    def _phases(self, x: torch.Tensor, epoch: int, rng: torch.Generator) -> list[Phase]:
        cfg, obj, e, g = self.config, self.objective_, self.encoder_, self.generator_
        z = self._latent(len(x), rng)

        def d_loss():
            with torch.no_grad():
                ex, gz = e(x), g(z)
                x_rec, z_rec = g(ex), e(gz)
            gp = cfg.gp_weight
            loss_xz = critic_loss(obj, self.d_xz_, (x, ex), (gz, z), gp)
            loss_xx = critic_loss(obj, self.d_xx_, (x, x), (x, x_rec), gp)
            loss = loss_xz + loss_xx
            extra = {"loss_d_xz": loss_xz.detach(), "loss_d_xx": loss_xx.detach()}
            if cfg.latent_cycle:
                loss_zz = critic_loss(obj, self.d_zz_, (z, z), (z, z_rec), gp)
                loss = loss + loss_zz
                extra["loss_d_zz"] = loss_zz.detach()
            return loss, extra

        def eg_loss():
            ex, gz = e(x), g(z)
            loss = encoder_generator_loss(obj, self.d_xz_(x, ex), self.d_xz_(gz, z))
            loss = loss + encoder_generator_loss(obj, self.d_xx_(x, x), self.d_xx_(x, g(ex)))
            if cfg.latent_cycle:
                loss = loss + encoder_generator_loss(obj, self.d_zz_(z, z), self.d_zz_(z, e(gz)))
            return loss

        return [("loss_d", self.opt_d_, d_loss), ("loss_eg", self.opt_eg_, eg_loss)]

    @torch.no_grad()
    def _sample(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return self.generator_(self._latent(len(real), rng))

    @torch.no_grad()
    def _window_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        encoder, generator, d_xx = self._scoring_networks()
        recon = generator(encoder(x))
        fm = (d_xx.features(x, x) - d_xx.features(x, recon)).abs().mean(dim=1)
        return {"fm": to_channels(fm, x - recon, self.config.attribution)}
