"""ESAD (Huang et al., arXiv 2012.04905): semi-supervised, an encoder-decoder-encoder on windows.

The few anomalies a user has labelled in the training data are used, not thrown away: a first encoder
E1 and a decoder D reconstruct the window (x_hat = D(E1(x)), z = E1(x)); a second encoder E2 encodes the
reconstruction (z_hat = E2(x_hat)). The KL-based objective splits into three terms (as implemented by
OutlierDetectionNetworks.jl, reference/methods.md 7), y = 1 for windows holding a labelled anomaly:

    L = mean[(1 - y) * ||x_hat - x||^2 + y * ||x_hat - noise(x)||^2]        mutual information
      + lambda1 * mean[(1 - y) * ||z_hat|| + y / ||z_hat||]                 entropy: small latent norm
                                                                             for normal, large for anomalies
      + lambda2 * ||z_hat - z||^2                                           consistency of the encoders

(squared errors as means per element; noise(x) = x + N(0, outlier_noise^2), the identity by default).
Windows not labelled anomalous count as normal; with no labels ESAD is an unsupervised autoencoder with
a latent-norm penalty. Labelled anomalies are rare, so every minibatch gets `labelled_share` x its size
of labelled anomalous windows on top, drawn with replacement (none when there are no labels).

Score (the published one): mean (x_hat - x)^2 + ||z_hat||. The residual is per point and channel; the
latent norm is per window and reaches channels by their residual share (attribution="share") or as is
("broadcast"). Both terms are robust-normalised per channel on the validation split and summed.

Labels: ESAD reads the training rows' labels from `self._train_labels` ((T_train,) 0/1 or None), set by
the base class for detectors with `uses_labels = True` from the training Series' `labels`. For
benchmarks, `label_fraction` < 1 keeps only that share of the labelled anomalous intervals (at least one
when it is > 0), drawn with `seed`; the others stay in the training data, unlabelled.

ESAD has no adversary. `adv_weight` > 0 adds one, GANomaly-style: a conv critic of x against x_hat
trained with tsgan's pluggable objective, and adv_weight x feature matching in the autoencoder's loss
(0 by default: ESAD as published; the `objective` then goes unused).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.errors import ConfigError, InputError, TsganWarning
from tsgan.metrics import segments
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
from tsgan.windows import sliding_windows


@dataclass
class ESADConfig(WindowedParams, DetectorConfig):
    lambda1: float = 1.0  # weight of the latent-norm (entropy) term
    lambda2: float = 1.0  # weight of the consistency term ||z_hat - z||^2
    outlier_noise: float = 0.0  # std of the noise in the reconstruction target of labelled anomalies
    labelled_share: float = 0.25  # labelled anomalous windows added to each batch, as a share of it
    shared_encoder: bool = False  # E2 = E1 (the Julia code); the paper has two encoders
    adv_weight: float = 0.0  # > 0: a critic on reconstructions, with feature matching (not in ESAD)
    label_fraction: float = 1.0  # share of the labelled anomalous intervals kept (benchmarks), by seed

    def validate(self) -> None:
        super().validate()
        for name in ("lambda1", "lambda2", "outlier_noise", "labelled_share", "adv_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.label_fraction <= 1.0:
            raise ConfigError(f"label_fraction must be in [0, 1], got {self.label_fraction}")


# Below this many labelled anomalous intervals, labels cost ESAD accuracy on tsgan's synthetic benchmark
# (1-24 intervals scored below no labels; 78 scored above: benchmarks/BENCHMARKS.md, "ESAD").
FEW_LABELLED_INTERVALS = 50


def keep_intervals(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Labels (T,) bool keeping a random `fraction` of their anomalous intervals (runs of True), at least
    one when fraction > 0 and there is any; the others become unlabelled (False)."""
    if fraction >= 1.0:
        return labels
    runs = segments(labels)
    n = len(runs)
    k = 0 if fraction == 0 or n == 0 else max(1, round(fraction * n))
    kept = np.zeros_like(labels, dtype=bool)
    for start, end in runs[np.random.default_rng(seed).choice(n, k, replace=False)]:
        kept[start : end + 1] = True
    return kept


class ESAD(WindowedGAN, Detector):
    name = "esad"
    config_class = ESADConfig
    components = ("residual", "latent")
    uses_labels: ClassVar[bool] = True

    def _build(self, n_channels: int) -> None:
        cfg = self.config
        args = (cfg.window, cfg.hidden, cfg.layers)
        self.encoder_ = ConvEncoder(n_channels, cfg.window, cfg.latent_dim, cfg.hidden, cfg.layers)
        self.decoder_ = ConvDecoder(cfg.latent_dim, n_channels, *args)
        self.encoder2_ = (
            self.encoder_
            if cfg.shared_encoder
            else ConvEncoder(n_channels, cfg.window, cfg.latent_dim, cfg.hidden, cfg.layers)
        )
        self.critic_ = ConvCritic(n_channels, *args) if cfg.adv_weight else None
        for net in self._networks().values():
            net.to(self.device)

    def _networks(self) -> dict[str, torch.nn.Module]:
        nets = {"encoder": self.encoder_, "decoder": self.decoder_}
        if not self.config.shared_encoder:
            nets["encoder2"] = self.encoder2_
        if self.critic_ is not None:
            nets["critic"] = self.critic_
        return nets

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder_(x)
        x_hat = self.decoder_(z)
        return z, x_hat, self.encoder2_(x_hat)

    @torch.no_grad()
    def latent_norm(self, windows: torch.Tensor) -> torch.Tensor:
        """||z_hat|| per window (N,): small for normal windows, large for anomalous ones."""
        return self._forward(windows.to(self.device))[2].norm(dim=1).cpu()

    # --- training ----------------------------------------------------------------------------------

    def _training_windows(self, x_fit: np.ndarray) -> torch.Tensor:
        windows = super()._training_windows(x_fit)
        labels = getattr(self, "_train_labels", None)
        if labels is None:
            self.window_labels_ = torch.zeros(len(windows))
        else:
            labels = np.asarray(labels)
            if len(labels) < len(x_fit):
                raise InputError(f"{len(labels)} training labels for {len(x_fit)} training rows")
            cfg = self.config
            kept = keep_intervals(labels[: len(x_fit)] > 0, cfg.label_fraction, cfg.seed)
            n_intervals = len(segments(kept))
            if 0 < n_intervals < FEW_LABELLED_INTERVALS:
                warnings.warn(
                    f"ESAD learns from only {n_intervals} labelled anomalous intervals; on tsgan's benchmark "
                    f"fewer than {FEW_LABELLED_INTERVALS} scored below ESAD without labels "
                    "(benchmarks/BENCHMARKS.md): compare with --param label_fraction=0",
                    TsganWarning,
                    stacklevel=2,
                )
            marks = torch.from_numpy(kept.astype(np.float32))[:, None]
            self.window_labels_ = sliding_windows(marks, cfg.window, cfg.stride).amax(dim=(1, 2))
        self.anomalous_ = torch.nonzero(self.window_labels_ > 0).flatten()
        return windows

    def _batch(self, windows: torch.Tensor, index: torch.Tensor, rng: torch.Generator):
        y = self.window_labels_[index]
        n_extra = round(self.config.labelled_share * len(index)) if len(self.anomalous_) else 0
        if n_extra:
            extra = self.anomalous_[torch.randint(len(self.anomalous_), (n_extra,), generator=rng)]
            index = torch.cat([index, extra])
            y = torch.cat([y, torch.ones(n_extra)])
        return windows[index].to(self.device), y.to(self.device)

    def _start_training(self) -> None:
        cfg = self.config
        self.objective_ = get_objective(cfg.objective, cfg.mim_w)
        self.opt_ae_ = adam([self.encoder_, self.decoder_, self.encoder2_], cfg.lr, betas=(0.9, 0.999))
        if self.critic_ is not None:
            self.opt_d_ = adam([self.critic_], cfg.lr)

    def _phases(self, batch, epoch: int, rng: torch.Generator) -> list[Phase]:
        cfg = self.config
        x, y = batch
        target = x
        if cfg.outlier_noise and bool(y.any()):
            noise = torch.randn(x.shape, generator=rng).to(x.device) * cfg.outlier_noise
            target = x + y[:, None, None] * noise

        def ae_loss():
            z, x_hat, z_hat = self._forward(x)
            rec = (x_hat - target).pow(2).flatten(1).mean(dim=1).mean()
            norm = z_hat.norm(dim=1)
            entropy = torch.where(y > 0, 1.0 / norm.clamp_min(1e-3), norm).mean()
            consistency = (z_hat - z).pow(2).mean()
            loss = rec + cfg.lambda1 * entropy + cfg.lambda2 * consistency
            if self.critic_ is not None:
                loss = loss + cfg.adv_weight * feature_matching(self.critic_, x, x_hat)
            extra = {
                "loss_rec": rec.detach(),
                "loss_norm": entropy.detach(),
                "loss_cons": consistency.detach(),
            }
            return loss, extra

        phases = []
        if self.critic_ is not None:

            def d_loss():
                fake = self._forward(x)[1].detach()
                return critic_loss(self.objective_, self.critic_, x, fake, cfg.gp_weight)

            phases.append(("loss_d", self.opt_d_, d_loss))
        phases.append(("loss_ae", self.opt_ae_, ae_loss))
        return phases

    @torch.no_grad()
    def _sample(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return self._forward(real)[1]

    # --- scoring -----------------------------------------------------------------------------------

    @torch.no_grad()
    def _window_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        _, x_hat, z_hat = self._forward(x)
        residual = x - x_hat
        latent = to_channels(z_hat.norm(dim=1), residual, self.config.attribution)
        return {"residual": residual.pow(2), "latent": latent}
