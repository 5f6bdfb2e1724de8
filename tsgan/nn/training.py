"""Shared machinery of the windowed GAN family (USAD, BeatGAN, GANomaly, EGBAD, ALAD, AnoGAN, TadGAN,
ESAD): the configuration fields they share, the training loop, critic losses with the gradient penalty,
scoring of windows folded back to points, channel attribution of window-level scores, and saving.

Each detector module holds only what is its own (networks, losses of one step, score formula). The
shared parts are mixins, because `tsgan.detectors` imports the detectors and they import this module:

    @dataclass
    class BeatGANConfig(WindowedParams, DetectorConfig): ...   # DetectorConfig's fields come first
    class BeatGAN(WindowedGAN, Detector): ...

Scoring: a detector returns, per window and per named component (e.g. "residual", "latent"), a value per
step and channel (B, W, C). Components are folded back to points over the covering windows, robust-
normalised per channel on the validation split, and mixed with the detector's weights, so a weight
means what it says whatever the scale of each term.

Window-level scores (a latent distance, a critic value, a feature-matching distance) have no channel
axis. `attribution="share"` (default) gives each channel the window score times that channel's share of
the window's reconstruction residual at that step (shares average 1 over the channels), so the channel
that breaks gets the score; `attribution="broadcast"` gives every channel the same value.

Early stopping (`patience` > 0): the last `stop_fraction` of the training rows is held out of training;
after each epoch the detector's first score component is averaged over its windows (lower is better, the
rows being normal), training stops after `patience` epochs without improvement, and the best weights
are restored. The base class's validation split stays untouched for score calibration and thresholds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from tsgan.errors import ConfigError, InputError
from tsgan.nn.state import load_networks, networks_state
from tsgan.objectives import Objective, get_objective, gradient_penalty
from tsgan.preprocess import robust_stats
from tsgan.windows import FOLDS, WindowFold, covering_stride, sliding_windows, window_starts

ATTRIBUTIONS = ("share", "broadcast")

# One update of a training step: its name (the loss logged in `history_`), the optimiser, and a function
# computing the loss (or the loss and extra values to log) from the networks' current weights.
LossFn = Callable[[], "torch.Tensor | tuple[torch.Tensor, dict[str, float]]"]
Phase = tuple[str, torch.optim.Optimizer, LossFn]


@dataclass
class WindowedParams:
    """Fields every windowed GAN detector shares; mixed into a config before `DetectorConfig`."""

    window: int = 32
    stride: int = 2  # between training windows
    score_stride: int = 2  # between scored windows; every point is still covered
    hidden: int = 32  # convolution channels / hidden units
    layers: int = 3  # stride-2 convolutions in encoders and critics
    latent_dim: int = 16
    objective: str = "bce"
    mim_w: float = 1.0
    gp_weight: float = 10.0  # for objective="wgan-gp"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    fold: str = "mean"  # how the windows covering a point are combined
    attribution: str = "share"  # how window-level scores reach channels: share | broadcast
    patience: int = 0  # early stopping on held-out training rows; 0 = train all epochs
    stop_fraction: float = 0.1  # share of the training rows held out when patience > 0
    score_batch: int = 1024  # windows per scoring batch
    # Stop training after the epoch that ends past this many seconds (None: no limit); the auto detector
    # gives each GAN member its share of the time budget this way.
    max_seconds: float | None = None

    def validate(self) -> None:
        super().validate()  # DetectorConfig's, next in the MRO of every detector config
        get_objective(self.objective, self.mim_w)
        if self.fold not in FOLDS:
            raise ConfigError(f"unknown fold {self.fold!r}: expected one of {', '.join(FOLDS)}")
        if self.attribution not in ATTRIBUTIONS:
            raise ConfigError(
                f"unknown attribution {self.attribution!r}: expected one of {', '.join(ATTRIBUTIONS)}"
            )
        for name in ("window", "stride", "score_stride", "hidden", "layers", "latent_dim", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("epochs", "patience"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.score_batch < 1:
            raise ConfigError(f"score_batch must be >= 1, got {self.score_batch}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"max_seconds must be > 0 or None (no limit), got {self.max_seconds}")
        if not 0.0 < self.stop_fraction < 0.5:
            raise ConfigError(f"stop_fraction must be in (0, 0.5), got {self.stop_fraction}")
        if self.gp_weight < 0 or self.lr <= 0:
            raise ConfigError(f"gp_weight must be >= 0 and lr > 0, got {self.gp_weight} and {self.lr}")


# --- losses and updates ----------------------------------------------------------------------------


def adam(modules: Sequence[nn.Module], lr: float, betas=(0.5, 0.999)) -> torch.optim.Adam:
    """One Adam optimiser over the parameters of `modules` (beta1 0.5, the usual choice for GANs)."""
    return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=lr, betas=betas)


def run_phases(phases: Sequence[Phase]) -> dict[str, float]:
    """Run the updates of one training step in order; each loss is computed just before its update, so
    it sees the weights the earlier updates left. Returns every loss (and extra value) by name."""
    out: dict[str, float] = {}
    for name, optimizer, loss_fn in phases:
        result = loss_fn()
        loss, extra = result if isinstance(result, tuple) else (result, {})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        out[name] = float(loss.detach())
        out |= {k: float(v) for k, v in extra.items()}
    return out


def _pack(parts: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.cat([p.flatten(1) for p in parts], dim=1)


def critic_loss(
    objective: Objective,
    critic,
    real: torch.Tensor | tuple[torch.Tensor, ...],
    fake: torch.Tensor | tuple[torch.Tensor, ...],
    gp_weight: float,
) -> torch.Tensor:
    """The objective's discriminator loss of critic(real) against critic(fake), plus the WGAN-GP penalty
    when the objective needs one. `real`/`fake` are a tensor, or a tuple for a joint critic such as
    BiGAN's D(x, z): the penalty then interpolates the pairs jointly (flattened side by side)."""
    real_t = real if isinstance(real, tuple) else (real,)
    fake_t = fake if isinstance(fake, tuple) else (fake,)
    loss = objective.discriminator_loss(critic(*real_t), critic(*fake_t))
    if objective.needs_gradient_penalty and gp_weight:
        shapes = [t.shape[1:] for t in real_t]
        sizes = [math.prod(s) for s in shapes]

        def packed_critic(flat: torch.Tensor) -> torch.Tensor:
            parts = flat.split(sizes, dim=1)
            return critic(*(p.reshape(len(flat), *s) for p, s in zip(parts, shapes, strict=True)))

        loss = loss + gp_weight * gradient_penalty(packed_critic, _pack(real_t), _pack(fake_t))
    return loss


def encoder_generator_loss(
    objective: Objective, real_out: torch.Tensor, fake_out: torch.Tensor
) -> torch.Tensor:
    """BiGAN's loss for the encoder and generator: the discriminator's loss with the labels swapped
    (pairs (x, E(x)) should look generated, pairs (G(z), z) real); for wgan-gp, minus the critic's."""
    return objective.discriminator_loss(fake_out, real_out)


def feature_matching(critic, real, fake, p: int = 2) -> torch.Tensor:
    """Mean |f_D(real) - f_D(fake)|^p over the critic's hidden features (real/fake: tensor or tuple)."""
    real_t = real if isinstance(real, tuple) else (real,)
    fake_t = fake if isinstance(fake, tuple) else (fake,)
    return (critic.features(*real_t) - critic.features(*fake_t)).abs().pow(p).mean()


def to_channels(window_score: torch.Tensor, residual: torch.Tensor, how: str) -> torch.Tensor:
    """A non-negative window-level score (B,) given to every step and channel (B, W, C): times each
    channel's share of the step's absolute residual (`share`, shares averaging 1), or as is."""
    score = window_score.reshape(-1, 1, 1)
    if how == "broadcast":
        return score.expand_as(residual)
    r = residual.abs()
    return score * r / r.mean(dim=-1, keepdim=True).clamp_min(1e-12)


def set_training(networks: dict[str, nn.Module], training: bool) -> None:
    for net in networks.values():
        net.train(training)


# --- the detector mixin ----------------------------------------------------------------------------


class WindowedGAN:
    """What the windowed GAN detectors share; a detector is `class X(WindowedGAN, Detector)`.

    A subclass provides `_build(n_channels)` (creates its networks on `self.device`), `_networks()`,
    `_start_training()` (creates its optimisers), `_phases(real, epoch, rng)` (the updates of one
    training step on a batch, see `Phase`), `_window_outputs(windows)` (a (B, W, C) tensor per name in
    `components`), `_sample(real, rng)` (generated or reconstructed windows for the diversity
    diagnostic) and, with more than one component, `weights` (the mix of the normalised components).
    """

    components: ClassVar[tuple[str, ...]] = ("residual",)

    def min_length(self) -> int:
        return self.config.window

    @property
    def weights(self) -> dict[str, float]:
        return {name: 1.0 for name in self.components}

    def _latent(self, n: int, rng: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn((n, self.config.latent_dim), generator=rng).to(self.device)

    # --- training ----------------------------------------------------------------------------------

    def _training_windows(self, x_fit: np.ndarray) -> torch.Tensor:
        cfg = self.config
        return sliding_windows(torch.from_numpy(x_fit), cfg.window, cfg.stride)

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        cfg = self.config
        self._build(x_train.shape[1])
        x_stop = None
        if cfg.patience:
            n_stop = int(len(x_train) * cfg.stop_fraction)
            if n_stop < cfg.window or len(x_train) - n_stop < cfg.window:
                raise InputError(
                    f"early stopping holds out {n_stop} of {len(x_train)} training rows, which leaves "
                    f"less than one window of {cfg.window} on one side; give more data or patience=0"
                )
            x_train, x_stop = x_train[:-n_stop], x_train[-n_stop:]
        windows = self._training_windows(x_train)
        self._start_training()
        self.history_ = self._train_epochs(windows, x_stop, verbose)

    def _train_epochs(self, windows: torch.Tensor, x_stop: np.ndarray | None, verbose: bool) -> list[dict]:
        """Epochs of shuffled minibatches (until `epochs`, early stopping or `max_seconds`); per epoch the
        mean of each loss, the generator's `diversity` and, with early stopping, the held-out criterion
        `stop_score`."""
        cfg = self.config
        networks = self._networks()
        rng = torch.Generator().manual_seed(cfg.seed)
        history: list[dict[str, float]] = []
        best, best_state, waited = math.inf, None, 0
        started = time.perf_counter()
        epochs = tqdm(range(cfg.epochs), desc=f"fit {self.name}", unit="epoch", disable=not verbose)
        for epoch in epochs:
            set_training(networks, True)
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            for index in torch.randperm(len(windows), generator=rng).split(cfg.batch_size):
                losses = run_phases(self._phases(self._batch(windows, index, rng), epoch + 1, rng))
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
            record = {key: sums[key] / counts[key] for key in sums}
            set_training(networks, False)
            record["diversity"] = self._diversity(windows, rng)
            if x_stop is not None:
                record["stop_score"] = self._stop_score(x_stop)
                if record["stop_score"] < best:
                    best, waited = record["stop_score"], 0
                    best_state = {
                        name: {k: v.detach().clone() for k, v in net.state_dict().items()}
                        for name, net in networks.items()
                    }
                else:
                    waited += 1
            history.append(record)
            epochs.set_postfix({k: f"{v:.3g}" for k, v in record.items()})
            if x_stop is not None and waited >= cfg.patience:
                break
            if cfg.max_seconds is not None and time.perf_counter() - started >= cfg.max_seconds:
                break
        if best_state is not None:
            for name, net in networks.items():
                net.load_state_dict(best_state[name])
        set_training(networks, False)
        return history

    def _batch(self, windows: torch.Tensor, index: torch.Tensor, rng: torch.Generator):
        """What `_phases` receives for the training windows at `index` (ESAD adds their labels)."""
        return windows[index].to(self.device)

    @torch.no_grad()
    def _diversity(self, windows: torch.Tensor, rng: torch.Generator, n: int = 256) -> float:
        """Spread of generated (or reconstructed) windows relative to real ones, per step and channel,
        averaged: about 1 when healthy, near 0 when the generator has collapsed onto a few outputs."""
        real = windows[torch.randint(len(windows), (n,), generator=rng)].to(self.device)
        fake = self._sample(real, rng)
        return float(fake.std(dim=0).mean() / real.std(dim=0).mean().clamp_min(1e-8))

    def _stop_score(self, x_stop: np.ndarray) -> float:
        first = self._raw_components(x_stop, verbose=False)[self.components[0]]
        return float(first.mean())

    # --- scoring -----------------------------------------------------------------------------------

    def _raw_components(self, x: np.ndarray, verbose: bool) -> dict[str, np.ndarray]:
        """Each score component per point and channel (T, C), folded over the covering windows."""
        cfg = self.config
        stride = covering_stride(cfg.score_stride, cfg.window)
        starts = window_starts(len(x), cfg.window, stride)
        windows = sliding_windows(torch.from_numpy(x), cfg.window, stride)
        # Folded a batch at a time: with the mean, the outputs of a long series never exist at once.
        folded = {name: WindowFold(starts, cfg.window, len(x), cfg.fold) for name in self.components}
        set_training(self._networks(), False)
        chunks = windows.split(cfg.score_batch)
        for chunk in tqdm(
            chunks, desc=f"score {self.name}", unit="batch", disable=not verbose or len(chunks) < 2
        ):
            out = self._window_outputs(chunk.to(self.device))
            for name, folder in folded.items():
                folder.add(out[name].detach().float().cpu().numpy())
        return {name: folder.result() for name, folder in folded.items()}

    def _mix(self, components: dict[str, np.ndarray]) -> np.ndarray:
        if len(self.components) == 1:  # one term: the base class normalises it per channel
            return components[self.components[0]].astype(np.float32)
        total = 0.0
        for name, weight in self.weights.items():
            z = (components[name] - self.arrays_[f"{name}.center"]) / self.arrays_[f"{name}.scale"]
            total = total + weight * z
        return np.asarray(total, dtype=np.float32)

    def _calibrate(self, x_val: np.ndarray, verbose: bool) -> np.ndarray:
        components = self._raw_components(x_val, verbose)
        self.arrays_ = {}
        for name, values in components.items() if len(components) > 1 else ():
            self.arrays_[f"{name}.center"], self.arrays_[f"{name}.scale"] = robust_stats(values)
        return self._mix(components)

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        return self._mix(self._raw_components(x, verbose))

    # --- saving ------------------------------------------------------------------------------------

    def _state(self) -> dict[str, torch.Tensor]:
        state = networks_state(self._networks())
        for key, value in self.arrays_.items():
            state[f"arrays.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
        return state

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        self._build(int(self.scaler_.active_.sum()))
        load_networks(self._networks(), state)
        set_training(self._networks(), False)
        self.arrays_ = {k[len("arrays.") :]: v.numpy() for k, v in state.items() if k.startswith("arrays.")}
