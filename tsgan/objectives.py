"""Adversarial objectives by name, shared by every GAN detector.

Each objective turns the discriminator's (or critic's) raw outputs on real and generated data into the
two losses to minimise. Discriminators output logits; the objectives apply the sigmoid themselves.

- `bce`: the standard GAN (Goodfellow et al.) with the non-saturating generator loss -log D(G(z)).
- `mim`: the message-importance-measure form (She & Fan): the logarithm of the standard GAN replaced by
  an exponential. Discriminator loss E[exp(w(1 - D(x)))] + E[exp(w D(G(z)))], generator loss
  E[exp(w(1 - D(G(z))))]. For fixed densities the optimal discriminator is 1/2 + ln(p_data/p_g)/(2w),
  clipped to [0, 1] (reference/methods.md 3.2; the exact equation of the paper is unverified, so this
  objective is documented as the working hypothesis there).
- `wgan-gp`: Wasserstein critic with a gradient penalty (Gulrajani et al.); the critic output is a score,
  not a logit, and the penalty needs the critic itself, see `gradient_penalty`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tsgan.errors import ConfigError


@dataclass(frozen=True)
class Objective:
    """Loss functions of one adversarial objective. `w` is MIM's importance coefficient."""

    name: str
    w: float = 1.0

    @property
    def needs_gradient_penalty(self) -> bool:
        return self.name == "wgan-gp"

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.name == "bce":
            # -log D(x) - log(1 - D(G(z))), written with softplus for numerical stability.
            return F.softplus(-real).mean() + F.softplus(fake).mean()
        if self.name == "mim":
            return (
                torch.exp(self.w * (1 - torch.sigmoid(real))).mean()
                + torch.exp(self.w * torch.sigmoid(fake)).mean()
            )
        return fake.mean() - real.mean()

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        if self.name == "bce":
            return F.softplus(-fake).mean()
        if self.name == "mim":
            return torch.exp(self.w * (1 - torch.sigmoid(fake))).mean()
        return -fake.mean()

    def realness(self, output: torch.Tensor) -> torch.Tensor:
        """How real the discriminator finds its input, in [0, 1] for the logit objectives (the raw critic
        value for wgan-gp, which the detectors normalise on validation data like any other score)."""
        return output if self.name == "wgan-gp" else torch.sigmoid(output)


OBJECTIVES = ("bce", "mim", "wgan-gp")


def get_objective(name: str, w: float = 1.0) -> Objective:
    """The objective called `name`; an unknown name is a ConfigError listing the valid ones."""
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown objective {name!r}: expected one of {', '.join(OBJECTIVES)}")
    if name == "mim" and w <= 0:
        raise ConfigError(f"the MIM importance coefficient w must be > 0, got {w}")
    return Objective(name=name, w=w)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty: (||grad critic(x_hat)||_2 - 1)^2 on random interpolates of real and fake."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = critic(mixed)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
