"""The windowed GAN family (USAD, BeatGAN, GANomaly, AnoGAN, EGBAD, ALAD, TadGAN, ESAD) on tiny models:
network shapes, one training step lowering each loss under every objective, detection of a large
injected anomaly, identical scores after saving and loading, TadGAN's critic scoring and its own
threshold, ALAD's moving-average weights, and ESAD's use of labels."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import gaussian_kde

import tsgan
from tsgan.detectors import make_detector
from tsgan.detectors.esad import keep_intervals
from tsgan.detectors.tadgan import _centred, dtw_errors, kde_mode, local_threshold_excess
from tsgan.errors import ConfigError, TsganWarning
from tsgan.nn.conv import ConvCritic, ConvDecoder, ConvEncoder, LatentCritic, PairCritic
from tsgan.nn.training import critic_loss, set_training, to_channels
from tsgan.objectives import OBJECTIVES, get_objective
from tsgan.series import Series
from tsgan.windows import covering_table, fold, sliding_windows, window_starts

TINY = dict(window=8, stride=2, score_stride=2, hidden=8, latent_dim=3, layers=2, epochs=2, batch_size=32)
EXTRA = {
    "usad": {},
    "beatgan": {},
    "ganomaly": {},
    "anogan": dict(search_steps=20),
    "egbad": {},
    "alad": {},
    "tadgan": dict(n_critic=2, score_window=4, smooth=3),
    "esad": {},
}
NAMES = list(EXTRA)
CHANNELS = ["a", "b", "c"]


def tiny(name: str, **params):
    return make_detector(name, **(TINY | EXTRA[name] | params))


def sines(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = np.sin(2 * np.pi * t / 40)
    return np.stack([base, 0.5 * base + 1, np.cos(2 * np.pi * t / 40)], 1) + 0.05 * rng.normal(size=(n, 3))


@pytest.fixture(scope="module")
def train():
    return sines(600, 1)


@pytest.fixture(scope="module", params=NAMES)
def fitted(request, train):
    return tiny(request.param).fit(Series(train, CHANNELS)), train


# --- building blocks -------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [8, 13])
def test_conv_blocks_keep_window_shapes(window):
    x, z = torch.randn(5, window, 3), torch.randn(5, 4)
    assert ConvEncoder(3, window, 4, 8, 3)(x).shape == (5, 4)
    assert ConvDecoder(4, 3, window, 8, 3)(z).shape == (5, window, 3)
    critic = ConvCritic(3, window, 8, 3, z_dim=4, spectral=True)
    assert critic(x, z).shape == (5,) and critic.features(x, z).shape == (5, 8)
    assert PairCritic(3, window, 8, 2)(x, x).shape == (5,)
    assert LatentCritic(4, 8, n_inputs=2)(z, z).shape == (5,)


def test_joint_critic_penalty_interpolates_the_pair():
    # A joint linear critic a . x + b . z has gradient (a, b) everywhere: penalty (|(a, b)| - 1)^2, which
    # only holds if both parts of the pair are interpolated and differentiated together.
    a, b = torch.full((4, 2), 0.5), torch.tensor([1.0, 2.0])

    def critic(x, z):
        return (x * a).sum(dim=(1, 2)) + z @ b

    real, fake = (torch.randn(6, 4, 2), torch.randn(6, 2)), (torch.randn(6, 4, 2), torch.randn(6, 2))
    wgan = get_objective("wgan-gp")
    expected = (math.sqrt(4 * 2 * 0.25 + 5) - 1) ** 2
    gap = critic(*fake).mean() - critic(*real).mean()
    assert torch.isclose(critic_loss(wgan, critic, real, fake, 1.0), gap + expected, atol=1e-5)


def test_to_channels_gives_window_scores_to_channels_by_residual_share():
    residual = torch.tensor([[[1.0, 1.0, 4.0], [0.0, 3.0, 0.0]]])
    shared = to_channels(torch.tensor([2.0]), residual, "share")
    assert torch.allclose(shared.mean(dim=-1), torch.full((1, 2), 2.0))
    assert shared[0, 0].argmax() == 2 and shared[0, 1, 1] == 6.0
    assert torch.equal(to_channels(torch.tensor([2.0]), residual, "broadcast"), torch.full((1, 2, 3), 2.0))


def test_dtw_matches_the_textbook_recursion():
    def textbook(p, q):
        cost = np.full((len(p) + 1, len(q) + 1), np.inf)
        cost[0, 0] = 0
        for i in range(1, len(p) + 1):
            for j in range(1, len(q) + 1):
                cost[i, j] = (p[i - 1] - q[j - 1]) ** 2 + min(
                    cost[i - 1, j], cost[i, j - 1], cost[i - 1, j - 1]
                )
        return math.sqrt(cost[-1, -1])

    rng = np.random.default_rng(0)
    x, x_hat = rng.normal(size=(12, 2)), rng.normal(size=(12, 2))
    got = dtw_errors(x, x_hat, 6)
    a, b = _centred(x, 6), _centred(x_hat, 6)
    want = [[textbook(a[t, c], b[t, c]) for c in range(2)] for t in range(12)]
    assert np.allclose(got, want, atol=1e-5)
    assert np.allclose(dtw_errors(x, x, 6), 0)


def test_critic_kde_mode_matches_scipy_over_the_covering_windows():
    rng = np.random.default_rng(0)
    starts = window_starts(40, 8, 3)
    values = rng.normal(size=len(starts))
    table = covering_table(np.broadcast_to(values[:, None], (len(starts), 8)), starts, 40)
    spread_out = np.broadcast_to(values[:, None, None], (len(starts), 8, 1)).copy()
    assert np.allclose(np.nanmedian(table, axis=1), fold(spread_out, starts, 40, "median")[:, 0])
    want = []
    for row in table:
        row = row[~np.isnan(row)]
        want.append(row[np.argmax(gaussian_kde(row)(row))] if len(row) > 1 else row[0])
    assert np.allclose(kde_mode(table), want)
    assert np.array_equal(kde_mode(np.array([[2.0, 2.0, np.nan]])), [2.0])  # singular KDE: the median


# --- training --------------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_lowers_each_loss(name, objective):
    params = dict(objective=objective, lr=1e-4, gp_weight=1.0)
    if name == "esad":
        params["adv_weight"] = 1.0  # ESAD's optional critic, so that the objective is exercised
    det = tiny(name, **params)
    det._build(3)
    det._start_training()
    set_training(det._networks(), False)  # no dropout or spectral-norm iteration between the two looks
    batch = sliding_windows(torch.from_numpy(sines(80, 2).astype(np.float32)), 8, 4)
    if name == "esad":
        batch = (batch, (torch.arange(len(batch)) % 4 == 0).float())  # a few labelled anomalies
    if name == "tadgan":
        det.batches_ = det.config.n_critic - 1  # the next batch also updates the encoder and generator
    phases = det._phases(batch, 2, torch.Generator().manual_seed(0))
    assert len(phases) >= 2
    for label, optimizer, loss_fn in phases:

        def value(loss_fn=loss_fn):
            torch.manual_seed(7)  # the same penalty interpolates before and after the step
            out = loss_fn()
            return out[0] if isinstance(out, tuple) else out

        before = value()
        optimizer.zero_grad()
        before.backward()
        optimizer.step()
        assert value().item() < before.item(), f"{name}/{objective}: {label} did not fall"


# --- end to end ------------------------------------------------------------------------------------


def test_fits_and_flags_a_large_anomaly_on_its_channel(fitted):
    det, train = fitted
    assert len(det.history_) == 2 and all(np.isfinite(v) for h in det.history_ for v in h.values())
    test = train[:200].copy()
    test[100:104, 2] += 8.0
    result = det.detect(Series(test, CHANNELS))
    assert result.scores.channel.shape == (200, 3) and result.scores.point.shape == (200,)
    assert result.flags[100:104].any()
    hit = [i for i in result.intervals if i.start <= 103 and i.end >= 100]
    assert hit and hit[0].channels[0] == "c"


def test_saved_and_loaded_scores_identically(fitted, tmp_path):
    det, train = fitted
    path = tmp_path / "model.tsgan"
    det.save(path)
    loaded = tsgan.load(path)
    assert loaded.config == det.config
    data = Series(train[:120], CHANNELS)
    assert np.array_equal(loaded.score(data).channel, det.score(data).channel)


def test_tadgan_critic_changes_the_scores_and_keeps_the_contract(train):
    test = train[:200].copy()
    test[100:104, 2] += 8.0
    scores = {}
    for combine in ("rec", "sum"):  # reconstruction alone, and with the critic (the default)
        det = tiny("tadgan", combine=combine).fit(Series(train, CHANNELS))
        result = det.detect(Series(test, CHANNELS))
        s = result.scores
        assert s.channel.shape == (200, 3) and np.array_equal(s.point, s.channel.max(axis=1))
        assert np.array_equal(result.flags, s.point > 0) and result.flags[100:104].any()
        scores[combine] = s.channel
    assert not np.allclose(scores["rec"], scores["sum"])
    # The critic has no channel axis, yet each channel keeps its own score.
    assert not np.allclose(scores["sum"][:, 0], scores["sum"][:, 2])


def test_tadgan_own_threshold_flags_a_spike(train):
    det = tiny("tadgan", local_threshold=True, local_padding=2).fit(Series(train, CHANNELS))
    test = train[:400].copy()
    test[250:254, 1] += 8.0
    result = det.detect(Series(test, CHANNELS))
    s = result.scores
    assert result.flags[250:254].all() and np.array_equal(s.point, s.channel.max(axis=1))
    assert np.isnan(result.thresholds).all()
    hit = [i for i in result.intervals if i.start <= 253 and i.end >= 250]
    assert hit and hit[0].channels[0] == "b"
    assert not result.flags[:200].any()


def test_tadgan_own_threshold_pads_and_prunes():
    # k = 0: the threshold is the mean (about 1.03-1.06), so every peak below exceeds it.
    raw = np.ones((300, 2))
    raw[100, 0] = raw[200, 0] = 10.0  # two equal peaks: no drop between them, a large one after: both kept
    raw[150, 1] = 10.0
    raw[250, 1] = 1.05  # 5% above the highest score outside the sequences: pruned at 0.1, kept at 0.01
    excess = local_threshold_excess(raw, 1.0, 1.0, 0.0, 3, 0.1)
    assert np.array_equal(np.flatnonzero(excess[:, 0] > 0), [*range(97, 104), *range(197, 204)])
    assert np.array_equal(np.flatnonzero(excess[:, 1] > 0), range(147, 154))
    assert excess[247:254, 1].max() == 0.0  # lowered to peak at 0
    assert (local_threshold_excess(raw, 1.0, 1.0, 0.0, 3, 0.01)[247:254, 1] > 0).all()


def test_alad_scores_with_moving_averages_that_survive_saving(train, tmp_path):
    det = tiny("alad").fit(Series(train, CHANNELS))
    for name in ("encoder", "generator", "d_xx"):
        live, average = det._networks()[name].state_dict(), det._networks()[f"{name}_ema"].state_dict()
        weights = [k for k in live if "_u" not in k and "_v" not in k]  # power-iteration buffers are copied
        assert any(not torch.allclose(live[k], average[k]) for k in weights), name
    data = Series(train[:120], CHANNELS)
    scores = det.score(data).channel
    det.save(tmp_path / "alad.tsgan")
    loaded = tsgan.load(tmp_path / "alad.tsgan")
    for name, net in det._networks().items():
        for key, value in net.state_dict().items():
            assert torch.equal(loaded._networks()[name].state_dict()[key], value), f"{name}.{key}"
    assert np.array_equal(loaded.score(data).channel, scores)
    no_ema = tiny("alad", ema_decay=0.0).fit(Series(train, CHANNELS))
    assert "encoder_ema" not in no_ema._networks() and not np.array_equal(no_ema.score(data).channel, scores)


def test_early_stopping_keeps_the_best_epoch(train):
    det = tiny("beatgan", epochs=5, patience=1, lr=1e-2).fit(train)
    scores = [h["stop_score"] for h in det.history_]
    assert 2 <= len(scores) <= 5
    x_train = det.scaler_.transform(train[: 600 - int(600 * det.config.val_fraction)])
    x_stop = x_train[-int(len(x_train) * det.config.stop_fraction) :]
    assert np.isclose(det._stop_score(x_stop), min(scores), rtol=1e-5)


def test_esad_latent_norm_separates_a_labelled_anomaly():
    x = sines(600, 3)
    labels = np.zeros(600)
    for start in (60, 200, 340):  # labelled anomalies in the training rows
        x[start : start + 4, 1] += 3
        labels[start : start + 4] = 1
    det = tiny("esad", epochs=8, lr=3e-3)
    det._train_labels = labels[: 600 - int(600 * det.config.val_fraction)]  # what the base class passes
    with pytest.warns(TsganWarning, match="only 3 labelled anomalous intervals"):
        det.fit(Series(x, CHANNELS, labels=labels))
    test = x[480:].copy()
    test[60:64, 1] += 3  # a new anomaly of the labelled kind
    norms = det.latent_norm(sliding_windows(torch.from_numpy(det.scaler_.transform(test)), 8, 1)).numpy()
    hit = np.zeros(len(norms), bool)
    hit[60 - 7 : 64] = True  # windows overlapping the anomaly
    assert norms[hit].mean() > 2 * norms[~hit].mean()


def test_esad_keeps_a_fraction_of_the_labelled_intervals_whole():
    labels = np.zeros(40, bool)
    for start, end in ((2, 4), (10, 15), (20, 21), (30, 40)):
        labels[start:end] = True
    assert not keep_intervals(labels, 0.0, 0).any()
    assert np.array_equal(keep_intervals(labels, 1.0, 0), labels)
    for fraction, n in ((0.01, 1), (0.5, 2)):  # at least one interval when the fraction is > 0
        kept = keep_intervals(labels, fraction, 0)
        edges = np.diff(np.concatenate([[0], kept.astype(int), [0]]))
        assert (edges == 1).sum() == n and not (kept & ~labels).any()
        assert all(kept[s:e].all() or not kept[s:e].any() for s, e in ((2, 4), (10, 15), (20, 21), (30, 40)))


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="unknown attribution"):
        make_detector("ganomaly", attribution="evenly")
    with pytest.raises(ConfigError, match="unknown error"):
        make_detector("tadgan", error="euclid")
    with pytest.raises(ConfigError, match="unknown objective"):
        make_detector("usad", objective="hinge")
    with pytest.raises(ConfigError, match="lam must be"):
        make_detector("anogan", lam=2.0)
    with pytest.raises(ConfigError, match="unknown critic_fold"):
        make_detector("tadgan", critic_fold="mode")
    with pytest.raises(ConfigError, match="local_window"):
        make_detector("tadgan", local_window=0.0)
    with pytest.raises(ConfigError, match="ema_decay"):
        make_detector("alad", ema_decay=1.0)
