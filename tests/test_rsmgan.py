"""RSM-GAN on tiny models: signature matrices, networks, training, scores, root causes, robustness, saving."""

import numpy as np
import pandas as pd
import pytest
import torch

import tsgan
from tsgan.detectors import RSMGAN
from tsgan.detectors.rsmgan import context_h, elbow
from tsgan.errors import ConfigError, InputError, TsganWarning
from tsgan.metrics import auc_roc
from tsgan.nn.convlstm import ConvLSTMCell, MatrixCritic, MatrixDecoder, MatrixEncoder
from tsgan.objectives import get_objective
from tsgan.signatures import channel_groups, grouped, signature_matrices

TINY = dict(
    scales=[2, 4], history=2, width=4, hidden=4, epochs=3, stride=2, batch_size=32, period=0, warmup=1
)


def sines(n: int, seed: int = 1) -> np.ndarray:
    """n rows of 3 correlated noisy sines (period 40)."""
    rng = np.random.default_rng(seed)
    base = np.sin(2 * np.pi * np.arange(n) / 40)
    clean = np.stack([base, 0.5 * base + 1, np.cos(2 * np.pi * np.arange(n) / 40)], axis=1)
    return clean + 0.05 * rng.normal(size=(n, 3))


@pytest.fixture(scope="module")
def fitted():
    train = sines(600)
    return RSMGAN(**TINY).fit(train), train


def test_signature_matrices_match_a_direct_computation_with_zero_padded_history():
    x = torch.randn(12, 3)
    scales = (2, 5)
    got = signature_matrices(x, scales)
    assert got.shape == (12, 2, 3, 3)
    for t in range(12):
        for k, w in enumerate(scales):
            direct = sum(torch.outer(x[t - d], x[t - d]) for d in range(w) if t - d >= 0) / w
            assert torch.allclose(got[t, k], direct, atol=1e-6)
    steps = torch.tensor([[3, 11], [0, 7]])
    assert torch.equal(signature_matrices(x, scales, steps), got[steps])


def test_channel_groups_warn_and_pad():
    with pytest.warns(TsganWarning, match="3 groups of 33-34 consecutive channels"):
        groups = channel_groups(100, 40)
    assert groups.shape == (3, 34) and sorted(groups[groups >= 0].tolist()) == list(range(100))
    x = torch.arange(10.0).reshape(2, 5)
    parts = grouped(x, channel_groups(5, 3, warn=False))  # groups [0 1 2], [3 4 pad]
    assert parts.shape == (2, 2, 3) and torch.equal(parts[1, :, 2], torch.zeros(2))


def test_network_shapes_attention_and_symmetry():
    steps, context = torch.randn(3, 4, 2, 9, 9), torch.randn(3, 2, 2, 9, 9)
    usable = torch.tensor([[True, False], [True, True], [False, False]])
    latent, weights = MatrixEncoder(2, 4, 5, chi=0.1)(steps, context, usable)
    assert latent.shape == (3, 5, 3, 3) and weights.shape == (3, 6)
    assert torch.allclose(weights.sum(1), torch.ones(3)) and weights[0, 5] == 0 and weights[2, 4:].sum() == 0
    recon = MatrixDecoder(2, 4, 5, n=9)(latent)
    assert recon.shape == (3, 2, 9, 9) and torch.allclose(recon, recon.transpose(-1, -2))
    assert MatrixCritic(2, 4)(recon).shape == (3, 1)
    h, c = ConvLSTMCell(2, 6)(torch.randn(3, 2, 5, 5))
    assert h.shape == c.shape == (3, 6, 5, 5)


def test_one_training_step_lowers_the_reconstruction_loss():
    torch.manual_seed(0)
    det = RSMGAN(**TINY)
    det._build(channel_groups(3, 40))
    det.period_ = 0
    xg = grouped(torch.from_numpy(sines(200).astype(np.float32)), det.groups_)
    ends = torch.arange(10, 74)
    inputs = det._inputs(xg, torch.zeros(len(ends), dtype=torch.long), ends, None)
    before, losses = det._train_step(
        inputs, torch.ones(64, dtype=torch.bool), det._optimizers(), get_objective("wgan-gp")
    )
    with torch.no_grad():
        recon, _, _ = det._forward(*inputs)
    assert losses is not None and (recon - inputs[0][:, -1]).pow(2).mean() < before.mean()


def test_elbow_on_known_curves():
    assert elbow([10, 1, 0.9, 0.8]) == 1  # one clear cause
    assert elbow([10, 9.5, 9, 1, 0.5]) == 3  # a plateau of three, then a drop
    assert elbow([5, 5, 5]) == 3 and elbow([3, 2, 1]) == 1 and elbow([7]) == 1 and elbow([]) == 0
    with pytest.raises(InputError, match="sorted from high to low"):
        elbow([1, 2])


def test_context_h_counts_rows_at_least_half_broken():
    residual = torch.zeros(6, 6)
    residual[1, :] = residual[:, 1] = 5.0  # channel 1 broke: its whole row and column
    residual[2, 3] = residual[3, 2] = 5.0  # one stray tile: rows 2 and 3 have 2 of 6 broken
    residual[4, [0, 5]] = 5.0  # row 4: tiles (4,0), (4,1), (4,5) = exactly half
    rows = context_h(residual > 1.0)
    assert rows.tolist() == [False, True, False, False, True, False]
    valid = torch.tensor([True] * 5 + [False])  # channel 5 is group padding: row 4 keeps 2 of 5
    assert context_h(residual > 1.0, valid).tolist() == [False, True, False, False, False, False]


def test_flags_a_large_anomaly_and_ranks_its_channel_first(fitted):
    det, train = fitted
    test = train[:300].copy()
    test[150:160, 2] += 8.0
    result = det.detect(test)
    assert result.scores.channel.shape == (300, 3) and result.flags[150:165].any()
    hit = [i for i in result.intervals if i.start <= 165 and i.end >= 150]
    assert hit and hit[0].channels[0] == "ch2"
    causes = det.root_causes(test, result)
    assert causes[result.intervals.index(hit[0])][0] == "ch2"
    assert all(np.isfinite(h["loss_rec"]) and h["diversity"] > 0 for h in det.history_)


def test_saved_and_reloaded_detector_scores_identically(fitted, tmp_path):
    det, train = fitted
    det.save(tmp_path / "m.tsgan")
    again = tsgan.load(tmp_path / "m.tsgan")
    a, b = det.score(train[:120]), again.score(train[:120])
    assert np.array_equal(a.point, b.point) and np.array_equal(a.channel, b.channel)


def test_tiles_score_groups_and_another_objective_work_end_to_end():
    train = sines(500)
    with pytest.warns(TsganWarning, match="max_group=2"):
        det = RSMGAN(**TINY | dict(epochs=1, max_group=2, score="tiles", objective="bce")).fit(train)
    test = train[:200].copy()
    test[100:110, 0] += 8.0
    scores = det.score(test)
    assert scores.channel.shape == (200, 3) and np.isfinite(scores.point).all()
    assert scores.point[100:115].max() > np.median(scores.point)


def test_season_mask_column_and_period():
    train = sines(600)
    assert RSMGAN(**TINY | dict(period="auto"))._find_period(train) == 40
    frame = pd.DataFrame(train, columns=["a", "b", "c"]).assign(
        holiday=(np.arange(600) % 200 < 20).astype(float)
    )
    det = RSMGAN(**TINY | dict(epochs=1, period=40, season_mask="holiday")).fit(frame)
    assert det.channels_ == ["a", "b", "c"] and det.period_ == 40
    assert det.score(frame.iloc[:150]).channel.shape == (150, 3)
    with pytest.raises(InputError, match="no column 'holiday' for season_mask"):
        det.score(frame.drop(columns="holiday"))


def test_robust_training_trims_the_contaminated_samples():
    """A level shift of channel 0 touches 5% of the training samples. Trimming must leave out mostly
    those (the base rate is 5%) and separate the same shift in test data at least as well, within 0.01
    of the model trained on everything."""
    rng = np.random.default_rng(0)
    train, test = sines(800), sines(600, seed=5)
    shifted = np.zeros(800, dtype=bool)
    for start in rng.choice(np.arange(10, 634, 16), size=3, replace=False):
        shifted[start : start + 6] = True
    train[shifted, 0] += 2.0
    labels = np.zeros(600, dtype=bool)
    for start in range(50, 560, 50):
        labels[start : start + 6] = True
    test[labels, 0] += 2.0
    touched = np.convolve(shifted, np.ones(5), "full")[:800] > 0  # samples whose rows include a shift
    models = {robust: RSMGAN(**TINY | dict(epochs=6, robust=robust)).fit(train) for robust in (True, False)}
    separation = {robust: auc_roc(labels, det.score(test).point) for robust, det in models.items()}
    assert touched[models[True].trimmed_steps_].mean() >= 0.4 and not len(models[False].trimmed_steps_)
    assert separation[True] >= separation[False] - 0.01 and separation[True] > 0.9


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="unknown score"):
        RSMGAN(score="magic")
    with pytest.raises(ConfigError, match="period must be"):
        RSMGAN(period=2, smooth=2)
    with pytest.raises(ConfigError, match="scales must be distinct"):
        RSMGAN(scales=[5, 5])
    with pytest.raises(ConfigError, match="unknown objective"):
        RSMGAN(objective="nope")


def test_madgan_options_it_lacks_say_what_sets_its_context_instead():
    with pytest.raises(ConfigError, match=r"no parameter window \(its context is set by --param scales="):
        RSMGAN(window=20)
    with pytest.raises(ConfigError, match="inverts nothing"):
        RSMGAN(inversion="encoder")
