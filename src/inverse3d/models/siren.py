"""SIREN: sinusoidal representation networks (Sitzmann et al. 2020).

A `SineLayer` computes ``sin(omega_0 (x W^T + b))``. Its weights follow the paper's
initialisation so that, at init, the pre-activations of every layer are distributed like a
standard normal and the activations like an arcsine distribution on [-1, 1], however deep the
network:

- first layer: ``W ~ U(-1 / in_features, 1 / in_features)``;
- other layers: ``W ~ U(-sqrt(6 / in_features) / omega_0, sqrt(6 / in_features) / omega_0)``.

Biases keep PyTorch's default ``U(-1/sqrt(in), 1/sqrt(in))`` (as the published code does).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inverse3d._validation import check_positive_float, check_positive_int, check_tensor

__all__ = ["SineLayer", "Siren"]


class SineLayer(nn.Module):
    """One SIREN layer: ``sin(omega_0 * linear(x))``.

    Args:
        in_features: input size D_in.
        out_features: output size D_out.
        bias: whether the linear map has a bias.
        is_first: use the first-layer initialisation ``U(-1/D_in, 1/D_in)``.
        omega_0: frequency factor.

    forward(x: (..., D_in) float) -> (..., D_out) float in [-1, 1].
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        is_first: bool = False,
        omega_0: float = 30.0,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.omega_0 = check_positive_float(omega_0, "omega_0")
        self.is_first = bool(is_first)
        self.linear = nn.Linear(self.in_features, self.out_features, bias=bias)
        self.init_weights()

    def weight_bound(self) -> float:
        """Half-width of the uniform distribution the weights are drawn from."""
        if self.is_first:
            return 1.0 / self.in_features
        return math.sqrt(6.0 / self.in_features) / self.omega_0

    @torch.no_grad()
    def init_weights(self) -> None:
        """(Re)draw the weights with the published initialisation."""
        bound = self.weight_bound()
        self.linear.weight.uniform_(-bound, bound)

    def forward_with_preactivation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (sin(z), z) with z = omega_0 * linear(x), both (..., D_out)."""
        z = self.omega_0 * self.linear(x)
        return torch.sin(z), z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", shape=("...", self.in_features), dtype="float")
        return torch.sin(self.omega_0 * self.linear(x))

    def extra_repr(self) -> str:
        return f"is_first={self.is_first}, omega_0={self.omega_0}"


class Siren(nn.Module):
    """A SIREN MLP: a first `SineLayer`, ``hidden_layers`` hidden ones, then an output layer.

    Args:
        in_features: input size D_in (e.g. 2 for image coordinates).
        hidden_features: width of every hidden layer.
        hidden_layers: number of hidden-to-hidden sine layers (>= 0).
        out_features: output size D_out.
        outermost_linear: the last layer is a plain linear map (initialised like a hidden sine
            layer's weights, as published) instead of a `SineLayer`.
        first_omega_0: omega_0 of the first layer.
        hidden_omega_0: omega_0 of the other layers.

    forward(coords: (..., D_in) float) -> (..., D_out) float.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        hidden_layers: int,
        out_features: int,
        outermost_linear: bool = True,
        first_omega_0: float = 30.0,
        hidden_omega_0: float = 30.0,
    ) -> None:
        super().__init__()
        if not isinstance(hidden_layers, int) or isinstance(hidden_layers, bool):
            raise TypeError(f"hidden_layers must be an int; got {type(hidden_layers).__name__}")
        if hidden_layers < 0:
            raise ValueError(f"hidden_layers must be >= 0; got {hidden_layers}")
        self.in_features = check_positive_int(in_features, "in_features")
        hidden_features = check_positive_int(hidden_features, "hidden_features")
        out_features = check_positive_int(out_features, "out_features")
        layers: list[nn.Module] = [
            SineLayer(in_features, hidden_features, is_first=True, omega_0=first_omega_0)
        ]
        for _ in range(hidden_layers):
            layers.append(SineLayer(hidden_features, hidden_features, omega_0=hidden_omega_0))
        if outermost_linear:
            last = nn.Linear(hidden_features, out_features)
            bound = math.sqrt(6.0 / hidden_features) / float(hidden_omega_0)
            with torch.no_grad():
                last.weight.uniform_(-bound, bound)
            layers.append(last)
        else:
            layers.append(SineLayer(hidden_features, out_features, omega_0=hidden_omega_0))
        self.net = nn.Sequential(*layers)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        check_tensor(coords, "coords", shape=("...", self.in_features), dtype="float")
        return self.net(coords)
