"""The adversarial objectives, checked against their known optimal discriminators."""

import numpy as np
import pytest
import torch

from tsgan.errors import ConfigError
from tsgan.objectives import get_objective, gradient_penalty

# Two densities on six points, as sample counts: the last point is 30x likelier under the data.
REAL_COUNTS = np.array([2, 4, 6, 5, 3, 30])
FAKE_COUNTS = np.array([4, 4, 3, 5, 4, 1])


def learned_discriminator(objective) -> np.ndarray:
    """Train a free discriminator (one logit per point) with the objective's own loss on samples drawn
    exactly in proportion to the two densities; return D per point."""
    real_points = torch.from_numpy(np.repeat(np.arange(6), REAL_COUNTS))
    fake_points = torch.from_numpy(np.repeat(np.arange(6), FAKE_COUNTS))
    logits = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(4000):
        loss = objective.discriminator_loss(logits[real_points], logits[fake_points])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return torch.sigmoid(logits).detach().numpy()


def density_ratio() -> np.ndarray:
    return (REAL_COUNTS / REAL_COUNTS.sum()) / (FAKE_COUNTS / FAKE_COUNTS.sum())


@pytest.mark.parametrize("w", [1.0, 3.0])
def test_mim_optimal_discriminator_is_half_plus_log_ratio_over_2w(w):
    expected = np.clip(0.5 + np.log(density_ratio()) / (2 * w), 0, 1)
    learned = learned_discriminator(get_objective("mim", w))
    inside = expected < 1
    assert np.allclose(learned[inside], expected[inside], atol=2e-3)
    # Where 1/2 + ln(ratio)/(2w) exceeds 1 the optimum is clipped: D is pushed towards 1.
    assert (learned[~inside] > 0.97).all() and (~inside).any() == (w == 1.0)


def test_bce_optimal_discriminator_is_p_data_over_sum():
    ratio = density_ratio()
    assert np.allclose(learned_discriminator(get_objective("bce")), ratio / (1 + ratio), atol=2e-3)


def test_generator_losses_fall_as_fakes_look_real():
    for name in ("bce", "mim", "wgan-gp"):
        objective = get_objective(name)
        assert objective.generator_loss(torch.tensor([3.0])) < objective.generator_loss(torch.tensor([-3.0]))


def test_gradient_penalty_of_a_known_linear_critic():
    # critic(x) = a . x has gradient a everywhere, so the penalty is (|a| - 1)^2 exactly.
    a = torch.tensor([3.0, 4.0])

    def critic(x):
        return x @ a

    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx((5.0 - 1.0) ** 2)


def test_unknown_objective_and_bad_weight():
    with pytest.raises(ConfigError, match="expected one of bce, mim, wgan-gp"):
        get_objective("hinge")
    with pytest.raises(ConfigError, match="w must be > 0"):
        get_objective("mim", 0.0)
