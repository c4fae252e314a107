"""Torch MLP policies by size name: the networks that are trained, exported and benchmarked."""

from __future__ import annotations

import torch
from torch import nn

from rt_async_control.policy.sizes import size_spec, SIZES

__all__ = ['SIZES', 'MlpPolicy', 'count_parameters', 'make_mlp']


class MlpPolicy(nn.Module):
    """Fully connected policy on normalised inputs; tanh hidden units, linear output.

    Tanh keeps the learned control law smooth (no kinks that a small delay would amplify);
    the output is linear so the network can reach the command limits before clipping.
    """

    def __init__(self, input_dim: int, output_dim: int, width: int, depth: int) -> None:
        """Build the layers.

        :param input_dim: network input width.
        :param output_dim: network output width (``chunk_horizon * action_dim``).
        :param width: units per hidden layer.
        :param depth: number of hidden layers (>= 1).
        """
        super().__init__()
        layers: list[nn.Module] = []
        previous = input_dim
        for _ in range(depth):
            layers += [nn.Linear(previous, width), nn.Tanh()]
            previous = width
        layers.append(nn.Linear(previous, output_dim))
        self.net = nn.Sequential(*layers)
        self.input_dim = input_dim
        self.output_dim = output_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a batch ``(B, input_dim)`` to ``(B, output_dim)``."""
        return self.net(x)


def make_mlp(size: str, input_dim: int, output_dim: int) -> MlpPolicy:
    """Build the MLP of a named size.

    :param size: one of :data:`SIZES`.
    :param input_dim: network input width.
    :param output_dim: network output width.
    :return: a freshly initialised network (seed torch before calling for reproducibility).
    """
    spec = size_spec(size)
    return MlpPolicy(input_dim, output_dim, spec.width, spec.depth)


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
