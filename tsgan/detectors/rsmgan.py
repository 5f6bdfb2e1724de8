"""RSM-GAN style detector (Khoshnevisan & Fan 2019): a convolutional-recurrent GAN on signature matrices.

Input: at each step t, the channel-by-channel signature matrices at several scales (`tsgan.signatures`),
stacked over the last `history` steps. The generator is an encoder-decoder-encoder (GANomaly-like):

    G_E: ConvLSTM encoder with temporal attention -> latent z       G_D: decoder -> last step's matrices
    E:   a second encoder of the reconstruction    -> latent z'     critic: real vs reconstructed matrices

trained with  w_rec * ||x - G(x)||^2 + w_lat * ||z - z'||^2 + w_adv * adversarial term, the adversarial
objective being tsgan's pluggable one (`wgan-gp` by default, `bce`, `mim`). Default weights 1, 1, 0.1:
the score is the reconstruction residual, so reconstruction leads; the latent term carries the second
encoder (GANomaly's weight 1), to which the paper credits robustness to contaminated data; the critic
only sharpens reconstructions, and its Wasserstein value is unbounded and noisy early on, so it gets a
tenth (the reference gives no values: reference/methods.md 2.2).

Seasonality: the attention that forms z weighs the past `history` hidden states by their similarity with
the last. With a seasonal `period` (given, or found from the training data's autocorrelation with
statsmodels; "auto"), the matrices at t - k*period for k = 1..`seasons`, each averaged over +-`smooth`
rows, join the attention as extra states. Rows marked in a 0/1 column named by `season_mask` (holidays)
are left out of those averages; a lag with no usable row is left out of the attention. The column is
read from the data given to fit() and score() and is never a channel, e.g.

    det = RSMGAN(season_mask="holiday").fit(frame)   # frame has sensor columns and a 0/1 "holiday" column
    tsgan fit data.csv -o m.tsgan --detector rsmgan --param season_mask=holiday

Contaminated training data (`robust`, on by default): after `warmup` epochs, the `trim` share of
training samples with the highest reconstruction residual in the previous epoch is dropped from the
epoch's losses (generator and critic), so anomalies in the training data are not learned as normal.

Scores come from the squared residual of the smallest scale's matrices at each step; each channel is one
row (and column) of them. `score="norm"`: the channel's mean row residual. `score="tiles"` (MSCRED's
broken tiles with RSM-GAN's context_h rule): a tile is broken above theta_b, the `tile_quantile` of that
tile's residuals on the validation split; a channel counts only when at least half of its row or column
is broken, and then scores the mean residual of its broken tiles (otherwise 0). The default is "norm":
on tsgan's synthetic industrial data it ranks anomalies far better (VUS-PR 0.63 against 0.31, point F1
0.58 against 0.42; benchmarks/rsmgan_bench.py), because the tiles score is 0 on most rows and those ties
hide how far below the rule a row is.
Root causes per interval: channels ranked by how far above their thresholds they went, cut at the
`elbow` of the sorted values.

Matrices of a step need the rows before it: the first max(scales) + history - 2 rows of a scored series
get the score of the first row whose matrices are complete. Channels beyond `max_group` are split into
groups whose matrices are built separately (`tsgan.signatures.channel_groups`, with a warning).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from tsgan.detectors.base import Detection, Detector, DetectorConfig
from tsgan.errors import ConfigError, InputError
from tsgan.nn.convlstm import MatrixCritic, MatrixDecoder, MatrixEncoder
from tsgan.nn.state import load_networks, networks_state
from tsgan.objectives import get_objective, gradient_penalty
from tsgan.series import Series, as_series
from tsgan.signatures import DEFAULT_SCALES, channel_groups, check_scales, grouped, signature_matrices

SCORES = ("norm", "tiles")


@dataclass
class RSMGANConfig(DetectorConfig):
    scales: list[int] = field(default_factory=lambda: list(DEFAULT_SCALES))  # signature window lengths
    history: int = 4  # stacked steps h
    stride: int = 5  # between training steps
    max_group: int = 40  # most channels in one signature matrix (more: channel groups)
    width: int = 8  # conv channels (8, then 16, through the encoder)
    hidden: int = 8  # ConvLSTM channels = latent channels
    chi: float = 0.1  # attention temperature on the mean-product similarity (in [-1, 1])
    period: int | str = "auto"  # seasonal period in rows; "auto" = from the training data's ACF; 0 = none
    seasons: int = 1  # seasonal lags t - k*period, k = 1..seasons
    smooth: int = 2  # each lag is averaged over +-smooth rows
    season_mask: str = ""  # 0/1 column marking rows left out of the seasonal context (e.g. holidays)
    objective: str = "wgan-gp"
    mim_w: float = 1.0
    gp_weight: float = 10.0
    w_rec: float = 1.0
    w_lat: float = 1.0
    w_adv: float = 0.1
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3  # 300 steps on synthetic data leave 0.17 of the variance unexplained; 0.28 at 1e-3
    robust: bool = True
    warmup: int = 2  # epochs before trimming starts
    trim: float = 0.05  # share of training samples dropped per epoch (highest residual)
    score: str = "norm"  # norm | tiles
    tile_quantile: float = 0.99  # theta_b per tile, on validation residuals (score="tiles")
    score_batch: int = 256  # steps per scoring batch

    def validate(self) -> None:
        super().validate()
        get_objective(self.objective, self.mim_w)
        scales = list(check_scales(self.scales))
        if scales != self.scales:  # the same list stays the same object, as scikit-learn's clone checks
            self.scales = scales
        if self.score not in SCORES:
            raise ConfigError(f"unknown score {self.score!r}: expected one of {', '.join(SCORES)}")
        if not (self.period in ("auto", 0) or (isinstance(self.period, int) and self.period > self.smooth)):
            raise ConfigError(
                f"period must be 'auto', 0 (no seasonality) or rows > smooth={self.smooth}, "
                f"got {self.period!r}"
            )
        if not 0.0 <= self.trim < 0.5:
            raise ConfigError(f"trim must be in [0, 0.5), got {self.trim}")
        if not 0.0 < self.tile_quantile < 1.0:
            raise ConfigError(f"tile_quantile must be in (0, 1), got {self.tile_quantile}")
        if self.chi <= 0:
            raise ConfigError(f"chi must be > 0, got {self.chi}")
        for name in ("history", "stride", "width", "hidden", "epochs", "batch_size", "score_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("seasons", "smooth", "warmup"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


def elbow(sorted_values) -> int:
    """How many of the leading values (sorted from high to low) stand out: the elbow of the curve.

    The elbow is the point farthest from the chord joining the first and last values. Below the chord
    (a sharp drop, then a flat tail) it is the first tail value, so the values before it are kept;
    above the chord (a plateau, then a drop) it is the last plateau value, which is kept. A straight
    line keeps the first value, or all of them when they are equal.
    """
    v = np.asarray(sorted_values, dtype=np.float64)
    if v.ndim != 1 or np.any(np.diff(v) > 0):
        raise InputError("elbow needs a 1-D array sorted from high to low")
    if len(v) <= 1:
        return len(v)
    chord = v[0] + (v[-1] - v[0]) * np.arange(len(v)) / (len(v) - 1)
    gap = v - chord
    if np.allclose(gap, 0.0):
        return 1 if v[0] > v[-1] else len(v)
    i = int(np.argmax(np.abs(gap)))
    return i + 1 if gap[i] > 0 else i


def context_h(broken: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Rows that count under RSM-GAN's context_h rule: row i counts when at least half of row i or of
    column i of the broken-tile map (..., n, n) is broken. `valid` (n,) marks real channels (padding
    rows and columns of a channel group neither count nor are counted). Returns (..., n) bool."""
    if valid is None:
        valid = torch.ones(broken.shape[-1], dtype=torch.bool, device=broken.device)
    pair = valid[:, None] & valid[None, :]
    broken = broken & pair
    length = valid.sum()
    half = torch.maximum(broken.sum(-1), broken.sum(-2)) * 2 >= length
    return half & valid


class RSMGAN(Detector):
    name = "rsmgan"
    config_class = RSMGANConfig
    instead = {
        "window": "its context is set by --param scales=5,10,30 (signature windows) and --param history=4",
        "inversion": "it encodes signature matrices directly and inverts nothing",
    }
    _holidays: np.ndarray | None = None  # rows of the season_mask column while fit() or score() runs

    def min_length(self) -> int:
        return self._first_step() + 1

    def _first_step(self) -> int:
        """The first row whose stacked matrices need no row before the series."""
        return max(self.config.scales) + self.config.history - 2

    # --- the season mask column --------------------------------------------------------------------

    def _take_mask(self, data) -> Series:
        """The data without the `season_mask` column, whose rows are kept in `_holidays` meanwhile."""
        series = as_series(data)
        self._holidays = None
        column = self.config.season_mask
        if not column:
            return series
        if column not in series.channels:
            raise InputError(
                f"{series.name or 'data'}: no column {column!r} for season_mask; add a 0/1 column marking "
                "the rows to leave out of the seasonal context (holidays), or set season_mask=''"
            )
        self._holidays = series.values[:, series.channels.index(column)] != 0
        return series.select([c for c in series.channels if c != column])

    def fit(self, train, y=None, verbose: bool = False) -> RSMGAN:
        try:
            return super().fit(self._take_mask(train), y, verbose)
        finally:
            self._holidays = None

    def score(self, data, verbose: bool = False):
        try:
            return super().score(self._take_mask(data), verbose)
        finally:
            self._holidays = None

    # --- model -------------------------------------------------------------------------------------

    def _build(self, groups: np.ndarray) -> None:
        cfg = self.config
        self.groups_ = groups
        n, n_scales = groups.shape[1], len(cfg.scales)
        self.encoder_ = MatrixEncoder(n_scales, cfg.width, cfg.hidden, cfg.chi)
        self.decoder_ = MatrixDecoder(n_scales, cfg.width, cfg.hidden, n)
        self.encoder2_ = MatrixEncoder(n_scales, cfg.width, cfg.hidden, cfg.chi)
        self.critic_ = MatrixCritic(n_scales, cfg.width)
        for net in self._networks().values():
            net.to(self.device)

    def _networks(self) -> dict[str, torch.nn.Module]:
        return {
            "encoder": self.encoder_,
            "decoder": self.decoder_,
            "encoder2": self.encoder2_,
            "critic": self.critic_,
        }

    def _inputs(
        self, xg: torch.Tensor, group: torch.Tensor, ends: torch.Tensor, holidays: np.ndarray | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Model inputs of samples (group, end step): the stack (B, h, S, n, n), the seasonal context
        (B, K, S, n, n) and which context lags are usable (B, K)."""
        cfg = self.config
        recent = ends[:, None] + torch.arange(1 - cfg.history, 1)
        lags = (
            torch.arange(1, cfg.seasons + 1) * self.period_
            if self.period_
            else torch.zeros(0, dtype=torch.long)
        )
        offsets = torch.arange(-cfg.smooth, cfg.smooth + 1)
        rows = ends[:, None, None] - lags[None, :, None] + offsets  # (B, K, 2*smooth + 1)
        usable = rows >= max(cfg.scales) - 1  # complete matrices inside the series
        if holidays is not None:
            usable &= ~torch.from_numpy(holidays)[rows.clamp(min=0)]
        stack = torch.cat([recent, rows.flatten(1)], dim=1)
        matrices = xg.new_empty(*stack.shape, len(cfg.scales), xg.shape[2], xg.shape[2])
        for g in group.unique().tolist():  # one matrix size, so groups are batched side by side
            chosen = group == g
            matrices[chosen] = signature_matrices(xg[g], cfg.scales, stack[chosen])
        steps, season = matrices[:, : cfg.history], matrices[:, cfg.history :].unflatten(1, rows.shape[1:])
        weight = usable.to(season.dtype)[..., None, None, None]
        context = (season * weight).sum(2) / weight.sum(2).clamp_min(1.0)
        device = self.device
        return steps.to(device), context.to(device), usable.any(-1).to(device)

    def _forward(
        self, steps: torch.Tensor, context: torch.Tensor, usable: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction of the last step (B, S, n, n) and the two latents z, z'."""
        latent, _ = self.encoder_(steps, context, usable)
        recon = self.decoder_(latent)
        latent2, _ = self.encoder2_(recon.unsqueeze(1))
        return recon, latent, latent2

    # --- training ----------------------------------------------------------------------------------

    def _find_period(self, x: np.ndarray) -> int:
        """The seasonal period in rows: the configured one, or the one most channels show (ACF), or 0."""
        cfg = self.config
        if cfg.period != "auto":
            return int(cfg.period)
        from tsgan.detectors.baselines import estimate_period

        found = [p for p in (estimate_period(column) for column in x.T) if p and p > 2 * cfg.smooth]
        return Counter(found).most_common(1)[0][0] if found else 0

    def _optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """Adam for the generator (both encoders and the decoder) and for the critic. The generator is
        mostly an autoencoder, so it keeps Adam's usual momentum (0.9); the critic has the GAN's 0.5."""
        generator = [p for net in (self.encoder_, self.decoder_, self.encoder2_) for p in net.parameters()]
        lr = self.config.lr
        return (
            torch.optim.Adam(generator, lr, betas=(0.9, 0.999)),
            torch.optim.Adam(self.critic_.parameters(), lr, betas=(0.5, 0.999)),
        )

    def _train_step(
        self, inputs: tuple[torch.Tensor, ...], keep: torch.Tensor, optimizers, objective
    ) -> tuple[torch.Tensor, list[float] | None]:
        """One critic and one generator update on the kept samples of a batch. Returns the reconstruction
        residual of every sample (what trimming ranks) and the four losses (None if nothing was kept)."""
        cfg = self.config
        opt_g, opt_d = optimizers
        steps, context, usable = inputs
        real = steps[:, -1]
        recon, latent, latent2 = self._forward(steps, context, usable)
        per_sample = (recon - real).pow(2).mean(dim=(1, 2, 3))
        if not keep.any():
            return per_sample.detach().cpu(), None
        real, recon, latent, latent2 = real[keep], recon[keep], latent[keep], latent2[keep]
        loss_d = objective.discriminator_loss(self.critic_(real), self.critic_(recon.detach()))
        if objective.needs_gradient_penalty:
            loss_d = loss_d + cfg.gp_weight * gradient_penalty(self.critic_, real, recon.detach())
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_rec = per_sample[keep].mean()
        loss_lat = (latent - latent2).pow(2).mean()
        loss_adv = objective.generator_loss(self.critic_(recon))
        opt_g.zero_grad()
        (cfg.w_rec * loss_rec + cfg.w_lat * loss_lat + cfg.w_adv * loss_adv).backward()
        opt_g.step()
        return per_sample.detach().cpu(), [loss.item() for loss in (loss_d, loss_rec, loss_lat, loss_adv)]

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        cfg = self.config
        objective = get_objective(cfg.objective, cfg.mim_w)
        self._build(channel_groups(x_train.shape[1], cfg.max_group))
        self.period_ = self._find_period(x_train)
        holidays = None if self._holidays is None else self._holidays[: len(x_train)]
        xg = grouped(torch.from_numpy(x_train), self.groups_)
        ends = torch.arange(self._first_step(), len(x_train), cfg.stride)
        group = torch.arange(len(self.groups_)).repeat_interleave(len(ends))
        ends = ends.repeat(len(self.groups_))
        optimizers = self._optimizers()
        rng = torch.Generator().manual_seed(cfg.seed)
        residual = torch.zeros(len(ends))  # per sample, from its last pass: what trimming ranks
        self.history_: list[dict[str, float]] = []
        epochs = tqdm(range(cfg.epochs), desc=f"fit {self.name}", unit="epoch", disable=not verbose)
        for epoch in epochs:
            start = time.perf_counter()
            kept = torch.ones(len(ends), dtype=torch.bool)
            if cfg.robust and cfg.trim > 0 and epoch >= cfg.warmup:
                kept = residual <= residual.quantile(1 - cfg.trim)
            losses = []
            for index in torch.randperm(len(ends), generator=rng).split(cfg.batch_size):
                inputs = self._inputs(xg, group[index], ends[index], holidays)
                residual[index], batch_losses = self._train_step(
                    inputs, kept[index].to(self.device), optimizers, objective
                )
                if batch_losses:
                    losses.append(batch_losses)
            names = ("loss_d", "loss_rec", "loss_lat", "loss_adv")
            record = dict(zip(names, np.mean(losses, axis=0).tolist(), strict=True))
            record["trimmed"] = float(1 - kept.float().mean())
            record["samples_per_s"] = len(ends) / (time.perf_counter() - start)
            record["diversity"] = self._diversity(xg, group, ends, holidays, rng)
            self.history_.append(record)
            epochs.set_postfix({k: f"{v:.3f}" for k, v in record.items()})
        self.trimmed_steps_ = ends[~kept].unique().numpy()  # training rows left out in the last epoch

    def _diversity(
        self, xg: torch.Tensor, group: torch.Tensor, ends: torch.Tensor, holidays, rng, n: int = 256
    ) -> float:
        """Spread of reconstructions over samples relative to the spread of the real matrices: about 1
        when the generator follows its input, near 0 when it has collapsed onto one output."""
        index = torch.randint(len(ends), (min(n, len(ends)),), generator=rng)
        steps, context, usable = self._inputs(xg, group[index], ends[index], holidays)
        with torch.no_grad():
            recon, _, _ = self._forward(steps, context, usable)
        real = steps[:, -1]
        return float(recon.std(dim=0).mean() / real.std(dim=0).mean().clamp_min(1e-8))

    # --- scoring -----------------------------------------------------------------------------------

    def _residual_maps(
        self, x: np.ndarray, holidays: np.ndarray | None, verbose: bool
    ) -> Iterator[torch.Tensor]:
        """Squared residuals of the smallest scale (B, G, n, n), batch by batch, for every row from the
        first complete step on."""
        cfg = self.config
        xg = grouped(torch.from_numpy(x), self.groups_)
        n_groups = len(self.groups_)
        batches = torch.arange(self._first_step(), len(x)).split(cfg.score_batch)
        for ends in tqdm(
            batches, desc=f"score {self.name}", unit="batch", disable=not verbose or len(batches) < 2
        ):
            group = torch.arange(n_groups).repeat_interleave(len(ends))
            steps, context, usable = self._inputs(xg, group, ends.repeat(n_groups), holidays)
            with torch.no_grad():
                recon, _, _ = self._forward(steps, context, usable)
            residual = (recon[:, 0] - steps[:, -1, 0]).pow(2)
            yield residual.unflatten(0, (n_groups, len(ends))).transpose(0, 1).cpu()

    def _per_channel(self, residual: torch.Tensor) -> torch.Tensor:
        """Channel scores (B, C) of residual maps (B, G, n, n) under the configured score."""
        valid = torch.from_numpy(self.groups_ >= 0)  # (G, n)
        pair = (valid[:, :, None] & valid[:, None, :]).to(residual.dtype)
        residual = residual * pair
        if self.config.score == "tiles":  # (residual maps are symmetric: a row stands for its column)
            broken = residual > self.theta_
            counts = torch.stack([context_h(broken[:, g], valid[g]) for g in range(len(valid))], dim=1)
            row = (residual * broken).sum(-1) / broken.sum(-1).clamp_min(1) * counts
        else:
            row = residual.sum(-1) / valid.sum(-1, keepdim=True)
        out = torch.empty(len(residual), int(valid.sum()))
        out[:, torch.from_numpy(self.groups_[valid.numpy()])] = row[:, valid]
        return out

    def _scores_of(self, maps: Iterator[torch.Tensor], n_rows: int) -> np.ndarray:
        """(T, C) channel scores from the residual maps; rows before the first complete step repeat it."""
        scores = torch.cat([self._per_channel(m) for m in maps]).numpy()
        head = np.repeat(scores[:1], n_rows - len(scores), axis=0)
        return np.concatenate([head, scores]).astype(np.float32)

    def _calibrate(self, x_val: np.ndarray, verbose: bool) -> np.ndarray:
        holidays = None if self._holidays is None else self._holidays[-len(x_val) :]
        maps = torch.cat(list(self._residual_maps(x_val, holidays, verbose)))
        self.theta_ = torch.from_numpy(
            np.quantile(maps.numpy(), self.config.tile_quantile, axis=0).astype(np.float32)
        )
        return self._scores_of(iter([maps]), len(x_val))

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        return self._scores_of(self._residual_maps(x, self._holidays, verbose), len(x))

    # --- root causes -------------------------------------------------------------------------------

    def root_causes(self, data, detection: Detection | None = None) -> list[list[str]]:
        """For each detected interval, the channels that stand out. A channel's contribution is how far
        its score went above its own threshold (0 when below), averaged over the interval's flagged rows;
        channels are ranked by it and cut at the `elbow` of the sorted contributions. `detection` is
        `detect(data)`, computed here when not given."""
        detection = detection or self.detect(data)
        excess = np.maximum(detection.scores.channel[:, self.scaler_.active_], 0.0)
        names = [c for c, a in zip(self.channels_, self.scaler_.active_, strict=True) if a]
        causes = []
        for interval in detection.intervals:
            rows = np.arange(interval.start, interval.end + 1)
            contribution = excess[rows[detection.flags[rows]]].mean(axis=0)
            order = np.argsort(-contribution, kind="stable")
            causes.append([names[c] for c in order[: elbow(contribution[order])]])
        return causes

    # --- saving ------------------------------------------------------------------------------------

    def _state(self) -> dict[str, torch.Tensor]:
        state = networks_state(self._networks())
        state["groups"] = torch.from_numpy(self.groups_)
        state["theta"] = self.theta_
        state["period"] = torch.tensor([self.period_])
        return state

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        self._build(state["groups"].numpy())
        load_networks(self._networks(), state)
        self.theta_ = state["theta"]
        self.period_ = int(state["period"][0])
