"""DeepSDF-style auto-decoder (Park et al. 2019): an MLP from (latent code, xyz) to a signed distance.

The network takes ``[z, x]`` (latent code of size D then the 3 coordinates), runs it through
``n_layers`` weight-normalised linear layers with ReLU (and optional dropout), concatenates the
input ``[z, x]`` again to the activations before layer ``skip_layer`` (the middle one by
default, as in the paper: layer 4 of 8), and maps to one output, passed through tanh when
``tanh_output`` is set (the paper clamps SDF targets to [-delta, delta] so tanh is enough).
`LatentCodes` holds one trainable code per training shape.
"""

from __future__ import annotations

import torch
from torch import nn

from inverse3d._validation import check_nonneg_int, check_positive_int, check_tensor

__all__ = ["DeepSDF", "LatentCodes"]


def _weight_norm(layer: nn.Linear) -> nn.Module:
    """Weight-normalised linear layer (parametrizations API where available)."""
    param = getattr(nn.utils, "parametrizations", None)
    if param is not None and hasattr(param, "weight_norm"):
        return param.weight_norm(layer)
    return nn.utils.weight_norm(layer)  # pragma: no cover - torch < 2.1


class DeepSDF(nn.Module):
    """MLP f(z, x) -> sdf with a skip connection that re-injects the input.

    Args:
        latent_dim: size D of the latent code (0: a single-shape network on xyz only).
        hidden_dim: width of the hidden layers (512 in the paper).
        n_layers: number of hidden layers (8 in the paper).
        skip_layer: index (0-based, 1 <= skip_layer < n_layers) of the layer whose input is
            ``[h, z, x]``; None: ``n_layers // 2``.
        weight_norm: weight-normalise the hidden layers.
        dropout: dropout probability after each hidden activation (0: none; paper 0.2).
        tanh_output: pass the output through tanh.
        in_dim: size of the coordinates (3).

    forward(points: (..., 3) float, latent: (..., D) float | (D,) float | None) -> (..., 1) float.
    A single code (D,) is broadcast to every point.
    """

    def __init__(
        self,
        latent_dim: int = 256,
        hidden_dim: int = 512,
        n_layers: int = 8,
        skip_layer: int | None = None,
        weight_norm: bool = True,
        dropout: float = 0.0,
        tanh_output: bool = True,
        in_dim: int = 3,
    ) -> None:
        super().__init__()
        self.latent_dim = check_nonneg_int(latent_dim, "latent_dim")
        self.in_dim = check_positive_int(in_dim, "in_dim")
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        n_layers = check_positive_int(n_layers, "n_layers")
        if n_layers < 2:
            raise ValueError(f"n_layers must be >= 2 (the skip needs a middle); got {n_layers}")
        if skip_layer is None:
            skip_layer = n_layers // 2
        skip_layer = check_positive_int(skip_layer, "skip_layer")
        if skip_layer >= n_layers:
            raise ValueError(f"skip_layer must be in [1, {n_layers - 1}]; got {skip_layer}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.skip_layer = skip_layer
        d_input = self.latent_dim + self.in_dim
        layers = []
        for i in range(n_layers):
            d_in = d_input if i == 0 else hidden_dim
            if i == skip_layer:
                d_in = hidden_dim + d_input
            lin = nn.Linear(d_in, hidden_dim)
            layers.append(_weight_norm(lin) if weight_norm else lin)
        self.layers = nn.ModuleList(layers)
        self.out = nn.Linear(hidden_dim, 1)
        self.dropout = nn.Dropout(float(dropout)) if dropout > 0 else nn.Identity()
        self.tanh_output = bool(tanh_output)

    def forward(self, points: torch.Tensor, latent: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor(points, "points", shape=("...", self.in_dim), dtype="float")
        if self.latent_dim > 0:
            if latent is None:
                raise ValueError(f"latent must be given (a code of size {self.latent_dim})")
            check_tensor(latent, "latent", shape=("...", self.latent_dim), dtype="float")
            if latent.dim() == 1:
                latent = latent.expand(*points.shape[:-1], self.latent_dim)
            elif latent.shape[:-1] != points.shape[:-1]:
                raise ValueError(
                    f"latent must have shape ({self.latent_dim},) or (..., {self.latent_dim}) "
                    f"with the leading shape of points {tuple(points.shape[:-1])}; got "
                    f"{tuple(latent.shape)}"
                )
            x_in = torch.cat((latent.to(points.dtype), points), dim=-1)
        else:
            x_in = points
        h = x_in
        for i, layer in enumerate(self.layers):
            if i == self.skip_layer:
                h = torch.cat((h, x_in), dim=-1)
            h = self.dropout(torch.relu(layer(h)))
        out = self.out(h)
        return torch.tanh(out) if self.tanh_output else out


class LatentCodes(nn.Module):
    """One trainable latent code per shape, initialised ``N(0, init_std^2)`` (paper: 0.01).

    Args:
        n_shapes: number of codes.
        latent_dim: size D of each code.
        init_std: standard deviation of the initial codes.
        max_norm: if given, codes are renormalised to at most this norm on lookup.

    forward(idx: (...) int64) -> (..., D) float. ``regularization(idx)`` gives the mean squared
    norm of the looked-up codes (the paper's prior term, to be weighted by 1 / sigma^2).
    """

    def __init__(
        self,
        n_shapes: int,
        latent_dim: int = 256,
        init_std: float = 0.01,
        max_norm: float | None = None,
    ) -> None:
        super().__init__()
        n_shapes = check_positive_int(n_shapes, "n_shapes")
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.embedding = nn.Embedding(n_shapes, self.latent_dim, max_norm=max_norm)
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, float(init_std))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        check_tensor(idx, "idx", dtype="int")
        n = self.embedding.num_embeddings
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise ValueError(
                f"idx must lie in [0, {n - 1}]; got [{int(idx.min())}, {int(idx.max())}]"
            )
        return self.embedding(idx.long())

    def regularization(self, idx: torch.Tensor) -> torch.Tensor:
        """Mean over idx of ||z_i||^2: a scalar."""
        return self(idx).pow(2).sum(-1).mean()
