"""Signature matrices (MSCRED, RSM-GAN): how every pair of channels moved together just before a step.

For a series x (T, C), a window length w and a time step t, the signature matrix is

    s_ij^t = sum_{delta=0}^{w-1} x_i^(t-delta) * x_j^(t-delta) / w          (C x C, symmetric)

computed for several window lengths ("scales", default 5, 10 and 30 rows) at once. Convention for the
first steps of a series, where fewer than w rows exist: the missing history is zero (zero-padded), and
the sum is still divided by w, so the formula holds for every t >= 0.

Everything is vectorised: the rows each matrix needs are gathered for all requested steps at once and
multiplied with one einsum per scale (batched matrix products), never a Python loop over steps.

A C x C matrix per step grows with the square of the channel count; `channel_groups` splits many
channels into groups whose matrices are built separately (correlations across groups are then lost).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from tsgan.errors import ConfigError, TsganWarning

DEFAULT_SCALES = (5, 10, 30)


def check_scales(scales: Sequence[int]) -> tuple[int, ...]:
    """The scales as a tuple of distinct positive ints in increasing order; anything else is a ConfigError."""
    if not len(scales) or any(int(w) != w or w < 1 for w in scales) or len(set(scales)) != len(scales):
        raise ConfigError(
            f"scales must be distinct window lengths >= 1, e.g. [5, 10, 30]; got {list(scales)}"
        )
    return tuple(sorted(int(w) for w in scales))


def signature_matrices(
    x: torch.Tensor, scales: Sequence[int] = DEFAULT_SCALES, steps: torch.Tensor | None = None
) -> torch.Tensor:
    """Signature matrices of x (T, C) at `steps` (any shape of row indices; default every row).

    Returns (*steps.shape, len(scales), C, C), scales in increasing order. Rows a matrix needs that lie
    outside x count as zero (see the module doc), so any integer step is accepted.
    """
    scales = check_scales(scales)
    if steps is None:
        steps = torch.arange(x.shape[0])
    longest = scales[-1]
    # Row r of `padded` is row r - longest of x; rows outside x are zero.
    padded = torch.cat([x.new_zeros(longest, x.shape[1]), x, x.new_zeros(1, x.shape[1])])
    rows = steps[..., None] + torch.arange(1, longest + 1)  # the `longest` rows ending at each step
    rows = rows.clamp(0, padded.shape[0] - 1)  # rows before or after x land on a zero row
    window = padded[rows]  # (*steps, longest, C)
    return torch.stack(
        [torch.einsum("...ki,...kj->...ij", window[..., -w:, :], window[..., -w:, :]) / w for w in scales],
        dim=-3,
    )


def channel_groups(n_channels: int, max_group: int, warn: bool = True) -> np.ndarray:
    """Channel indices (G, g) of G groups of at most `max_group` consecutive channels, -1 padding.

    One group holds every channel when they fit. Otherwise the channels are cut, in column order, into
    the fewest groups of near-equal size, and (with `warn`) a TsganWarning says so: the matrices are then
    block-diagonal, correlations across groups are not modelled, and memory and time grow with the number
    of groups instead of with the square of the channel count.
    """
    if max_group < 2:
        raise ConfigError(f"max_group must be >= 2 channels, got {max_group}")
    n_groups = math.ceil(n_channels / max_group)
    parts = np.array_split(np.arange(n_channels), n_groups)
    size = len(parts[0])
    groups = np.full((n_groups, size), -1, dtype=np.int64)
    for g, part in enumerate(parts):
        groups[g, : len(part)] = part
    if n_groups > 1 and warn:
        warnings.warn(
            f"{n_channels} channels are more than max_group={max_group}: signature matrices are built "
            f"within {n_groups} groups of {len(parts[-1])}-{size} consecutive channels, so correlations "
            "across groups are not modelled; raise max_group to model them (memory and time grow with "
            "its square) or put related channels next to each other",
            TsganWarning,
            stacklevel=2,
        )
    return groups


def grouped(x: torch.Tensor, groups: np.ndarray) -> torch.Tensor:
    """x (T, C) rearranged as (G, T, g) by `channel_groups`; padding columns are zero."""
    with_zero = torch.cat([x, x.new_zeros(x.shape[0], 1)], dim=1)  # column C is the zero padding
    index = torch.from_numpy(np.where(groups >= 0, groups, x.shape[1]))
    return with_zero[:, index].permute(1, 0, 2)
