"""Saving several named networks into one flat tensor dictionary, and loading them back.

Each network's weights are stored under `<name>.<parameter>`, so a detector's other learned arrays can
sit in the same dictionary (and the same safetensors file) under names without such a prefix.
"""

from __future__ import annotations

import torch
from torch import nn


def networks_state(networks: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Every network's state_dict, flattened with `<name>.` prefixes."""
    return {
        f"{name}.{key}": value for name, net in networks.items() for key, value in net.state_dict().items()
    }


def load_networks(networks: dict[str, nn.Module], state: dict[str, torch.Tensor]) -> None:
    """Load each network from the `<name>.` entries of `state` (strict: missing or extra weights fail)."""
    for name, net in networks.items():
        prefix = f"{name}."
        net.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
