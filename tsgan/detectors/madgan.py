"""MAD-GAN (Li et al., ICANN 2019): an LSTM GAN on windows, scored by discrimination and reconstruction.

The generator maps a latent sequence (one vector per step) to a window, the discriminator says per step
how real a window looks. To score a window, its latent sequence is found ("inversion"), and the
DR-score mixes the reconstruction residual with the discrimination:

    DR[t, c] = lam * residual[t, c] + (1 - lam) * (1 - D[t])

both terms robust-normalised on the validation split so that `lam` means what it says (the paper's
convention: lam weights the residual; the published code has it the other way round).

Inversion in the published code is a gradient search from a random latent, one window at a time, up to
1000 steps; that takes hours. Here it is batched over all windows and starts from a learned encoder
(`inversion="hybrid"`: encoder, then a few gradient steps; `"encoder"`: encoder only; `"gradient"`: the
published procedure, batched). The encoder is trained beside the GAN to invert the generator and does
not change it.

Defaults follow the paper where it is explicit: window 30, latent 15 per step, generator 3 LSTM layers of
100, discriminator 1 layer of 100 with a per-step output. Departures, for speed and robust-scaled data:
Adam for both networks, a linear (not tanh) generator output, one generator step per discriminator step.

Two defaults depart from the paper because, measured on tsgan's synthetic industrial data (never on a
benchmark's test labels), the paper's settings score little better than chance:
- `recon_weight=1`: the generator also learns to reconstruct training windows through the encoder. A
  purely adversarial generator reconstructs normal windows poorly, so the residual is noise (VUS-PR 0.34
  against 0.64 with the term; PCA reaches 0.67 on the same data).
- `lam=0.9`: the discrimination term of a converged GAN is close to chance (VUS-PR 0.21, random 0.17) and,
  mixed at 0.5, halves the residual's quality; it keeps a small weight.
`recon_weight=0, lam=0.5` gives the paper's detector; the benchmarks report both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.errors import ConfigError
from tsgan.nn import SequenceDiscriminator, SequenceEncoder, SequenceGenerator
from tsgan.nn.state import load_networks, networks_state
from tsgan.objectives import get_objective, gradient_penalty
from tsgan.preprocess import robust_stats
from tsgan.scoring import INVERSIONS, dr_score, invert
from tsgan.windows import FOLDS, WindowFold, covering_stride, sliding_windows, window_starts


@dataclass
class MADGANConfig(DetectorConfig):
    window: int = 30
    # Between training windows, as the MAD-GAN code has it; with batch_size 256, one SMD machine fits and
    # scores in ~30 s on 2 cores instead of ~50 s (stride 5, batch 128), at the same VUS-PR measured over
    # three seeds and three datasets (benchmarks/BENCHMARKS.md, "MAD-GAN speed").
    stride: int = 10
    score_stride: int = 10  # between scored windows; every point is still covered (by 3 windows of 30 rows)
    latent_dim: int = 15
    hidden: int = 100
    gen_layers: int = 3
    disc_layers: int = 1
    disc_per_step: bool = True
    objective: str = "mim"
    mim_w: float = 1.0
    gp_weight: float = 10.0  # for objective="wgan-gp"
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    g_steps: int = 1  # generator updates per discriminator update (the MAD-GAN code uses 3)
    recon_weight: float = 1.0  # weight of ||G(E(x)) - x||^2 in the generator loss; 0 = the paper's pure GAN
    lam: float = 0.9  # weight of the residual in the DR-score (see the module docstring)
    inversion: str = "hybrid"
    refine_steps: int = 5  # gradient steps after the encoder (hybrid)
    search_steps: int = 200  # gradient steps from a random latent (gradient)
    inversion_lr: float = 0.05
    # Windows inverted at once. The gradient steps keep every LSTM activation of a batch: 4,096 windows
    # took 1.5 GB more than 1,024, which scores as fast and gives the same scores (each window's latent
    # follows its own gradient).
    inversion_batch: int = 1024
    fold: str = "mean"

    def validate(self) -> None:
        super().validate()
        get_objective(self.objective, self.mim_w)
        if self.inversion not in INVERSIONS:
            raise ConfigError(
                f"unknown inversion {self.inversion!r}: expected one of {', '.join(INVERSIONS)}"
            )
        if self.fold not in FOLDS:
            raise ConfigError(f"unknown fold {self.fold!r}: expected one of {', '.join(FOLDS)}")
        if not 0.0 <= self.lam <= 1.0:
            raise ConfigError(f"lam must be in [0, 1], got {self.lam}")
        for name in ("window", "stride", "score_stride", "epochs", "batch_size", "hidden", "latent_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


class MADGAN(Detector):
    name = "madgan"
    config_class = MADGANConfig

    def min_length(self) -> int:
        return self.config.window

    # --- training ----------------------------------------------------------------------------------

    def _build(self, n_channels: int) -> None:
        cfg = self.config
        self.generator_ = SequenceGenerator(cfg.latent_dim, n_channels, cfg.hidden, cfg.gen_layers)
        self.discriminator_ = SequenceDiscriminator(
            n_channels, cfg.hidden, cfg.disc_layers, cfg.disc_per_step
        )
        self.encoder_ = SequenceEncoder(n_channels, cfg.latent_dim, cfg.hidden, 1)
        for net in self._networks().values():
            net.to(self.device)

    def _networks(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator_, "discriminator": self.discriminator_, "encoder": self.encoder_}

    def _latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        shape = (n, self.config.window, self.config.latent_dim)
        return torch.randn(shape, generator=generator).to(self.device)

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        cfg = self.config
        objective = get_objective(cfg.objective, cfg.mim_w)
        self._build(x_train.shape[1])
        windows = sliding_windows(torch.from_numpy(x_train), cfg.window, cfg.stride)
        opt_g = torch.optim.Adam(self.generator_.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(self.discriminator_.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        opt_e = torch.optim.Adam(self.encoder_.parameters(), lr=cfg.lr)
        rng = torch.Generator().manual_seed(cfg.seed)
        self.history_: list[dict[str, float]] = []
        epochs = tqdm(range(cfg.epochs), desc=f"fit {self.name}", unit="epoch", disable=not verbose)
        for _ in epochs:
            totals = np.zeros(3)
            batches = torch.randperm(len(windows), generator=rng).split(cfg.batch_size)
            for index in batches:
                real = windows[index].to(self.device)
                # Discriminator (critic) step on real windows against generated ones.
                fake = self.generator_(self._latent(len(index), rng)).detach()
                loss_d = objective.discriminator_loss(self.discriminator_(real), self.discriminator_(fake))
                if objective.needs_gradient_penalty:
                    loss_d = loss_d + cfg.gp_weight * gradient_penalty(self.discriminator_, real, fake)
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
                for _ in range(cfg.g_steps):
                    loss_g = objective.generator_loss(
                        self.discriminator_(self.generator_(self._latent(len(index), rng)))
                    )
                    if cfg.recon_weight:
                        with torch.no_grad():
                            z_real = self.encoder_(real)
                        loss_g = loss_g + cfg.recon_weight * F.mse_loss(self.generator_(z_real), real)
                    opt_g.zero_grad()
                    loss_g.backward()
                    opt_g.step()
                # Encoder step: learn to invert the (current) generator; the generator is not updated.
                z = self._latent(len(index), rng)
                with torch.no_grad():
                    generated = self.generator_(z)
                loss_e = F.mse_loss(self.generator_(self.encoder_(real)), real) + F.mse_loss(
                    self.encoder_(generated), z
                )
                opt_e.zero_grad()
                loss_e.backward()
                opt_e.step()
                totals += [loss_d.item(), loss_g.item(), loss_e.item()]
            epoch = dict(zip(("loss_d", "loss_g", "loss_e"), totals / len(batches), strict=True))
            epoch["diversity"] = self._diversity(windows, rng)
            self.history_.append(epoch)
            epochs.set_postfix({k: f"{v:.3f}" for k, v in epoch.items()})

    def _diversity(self, windows: torch.Tensor, rng: torch.Generator, n: int = 512) -> float:
        """Spread of generated windows relative to real ones (per step and channel, averaged): about 1 for a
        healthy generator, near 0 when it has collapsed onto a few outputs (mode collapse)."""
        with torch.no_grad():
            fake = self.generator_(self._latent(n, rng)).cpu()
        real = windows[torch.randint(len(windows), (n,), generator=rng)]
        return float(fake.std(dim=0).mean() / real.std(dim=0).mean().clamp_min(1e-8))

    # --- scoring -----------------------------------------------------------------------------------

    def invert(self, windows: torch.Tensor, mode: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent sequences for `windows` (N, W, C) and their reconstructions, batched over all windows."""
        cfg = self.config
        mode = mode or cfg.inversion
        rng = torch.Generator().manual_seed(cfg.seed)
        return invert(
            self.generator_,
            windows,
            mode=mode,
            encoder=self.encoder_,
            random_latent=lambda n: self._latent(n, rng),
            steps=cfg.search_steps if mode == "gradient" else cfg.refine_steps,
            lr=cfg.inversion_lr,
            batch=cfg.inversion_batch,
            device=self.device,
        )

    def _components(self, x: np.ndarray, verbose: bool) -> tuple[np.ndarray, np.ndarray]:
        """Residual (T, C) and discrimination (T,) per point, folded over the covering windows.

        The networks see clipped values (as in training); the residual is measured against the
        unclipped ones, so a reading far outside the training range keeps its full distance."""
        cfg = self.config
        stride = covering_stride(cfg.score_stride, cfg.window)
        starts = window_starts(len(x), cfg.window, stride)
        windows = sliding_windows(torch.from_numpy(x), cfg.window, stride)
        inputs = sliding_windows(torch.from_numpy(self.scaler_.clip_values(x)), cfg.window, stride)
        objective = get_objective(cfg.objective, cfg.mim_w)
        # Folded a batch at a time: with the mean, the outputs of a long series never exist at once.
        residual, realness = (WindowFold(starts, cfg.window, len(x), cfg.fold) for _ in range(2))
        chunks = list(zip(inputs.split(cfg.inversion_batch), windows.split(cfg.inversion_batch), strict=True))
        for chunk, target in tqdm(
            chunks, desc=f"score {self.name}", unit="batch", disable=not verbose or len(chunks) < 2
        ):
            _, recon = self.invert(chunk)
            chunk = chunk.to(self.device)
            with torch.no_grad():
                residual.add((recon - target.to(self.device)).abs().cpu().numpy())
                out = objective.realness(self.discriminator_(chunk))
                if not cfg.disc_per_step:  # one value per window, given to each of its steps
                    out = out.expand(-1, cfg.window)
                realness.add(out.cpu().numpy())
        return residual.result(), -realness.result()  # less real = more anomalous

    def _mix(self, res: np.ndarray, dis: np.ndarray) -> np.ndarray:
        res_z = (res - self.res_center_) / self.res_scale_
        dis_z = (dis - self.dis_center_) / self.dis_scale_
        return dr_score(res_z, dis_z, self.config.lam)

    def _calibrate(self, x_val: np.ndarray, verbose: bool) -> np.ndarray:
        res, dis = self._components(x_val, verbose)
        self.res_center_, self.res_scale_ = robust_stats(res)
        self.dis_center_, self.dis_scale_ = robust_stats(dis)
        return self._mix(res, dis)

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        return self._mix(*self._components(x, verbose))

    # --- saving ------------------------------------------------------------------------------------

    def _state(self) -> dict[str, torch.Tensor]:
        state = networks_state(self._networks())
        for key in ("res_center_", "res_scale_", "dis_center_", "dis_scale_"):
            state[key] = torch.as_tensor(np.atleast_1d(getattr(self, key)), dtype=torch.float32)
        return state

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        self._build(int(self.scaler_.active_.sum()))
        load_networks(self._networks(), state)
        for key in ("res_center_", "res_scale_", "dis_center_", "dis_scale_"):
            value = state[key].numpy()
            setattr(self, key, value if key.startswith("res") else value[0])
