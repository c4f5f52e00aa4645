"""Multi-resolution dense feature grids: the hash encoding without hashing, for CPUs.

Level l is a dense grid of ``N_l^3`` vertices with F trainable features each over the box
[-bound, bound]^3, ``N_l = round(base_resolution * b**l)``, interpolated trilinearly by
`torch.nn.functional.grid_sample` (one fused op per level: on a CPU tens of times faster than the
pure-PyTorch hash encoding of `HashGridEncoding`, whose dense levels it equals up to the vertex
layout). The output is the concatenation of the levels' features, level-major: (..., L * F).
The grid_sample backward is not twice differentiable, so fields built on it take their spatial
gradients by finite differences.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inverse3d._validation import check_positive_int, check_tensor

__all__ = ["DenseGridEncoding"]


class DenseGridEncoding(nn.Module):
    """Multi-resolution dense grids of features, trilinearly interpolated.

    Args:
        n_levels: L.
        n_features_per_level: F.
        base_resolution: vertices per axis of the coarsest level (>= 2).
        finest_resolution: vertices per axis of the finest level.
        bound: half side of the box covered (points outside are clamped to its border).
        init_scale: features start U(-init_scale, init_scale).

    forward(x: (..., 3) float) -> (..., L * F) float.
    """

    def __init__(
        self,
        n_levels: int = 6,
        n_features_per_level: int = 2,
        base_resolution: int = 16,
        finest_resolution: int = 128,
        bound: float = 1.0,
        init_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        self.n_levels = check_positive_int(n_levels, "n_levels")
        self.n_features_per_level = check_positive_int(n_features_per_level, "n_features_per_level")
        base = check_positive_int(base_resolution, "base_resolution")
        finest = check_positive_int(finest_resolution, "finest_resolution")
        if base < 2 or finest < base:
            raise ValueError(
                f"need 2 <= base_resolution <= finest_resolution; got {base} and {finest}"
            )
        if not float(bound) > 0:
            raise ValueError(f"bound must be > 0; got {bound}")
        self.bound = float(bound)
        scale = math.exp(math.log(finest / base) / (self.n_levels - 1)) if self.n_levels > 1 else 1
        self.resolutions = [int(round(base * scale**level)) for level in range(self.n_levels)]
        F = self.n_features_per_level
        self.grids = nn.ParameterList(
            nn.Parameter(torch.empty(1, F, r, r, r).uniform_(-init_scale, init_scale))
            for r in self.resolutions
        )

    @property
    def output_dim(self) -> int:
        return self.n_levels * self.n_features_per_level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ("...", 3), "float")
        lead = x.shape[:-1]
        # grid_sample wants (1, 1, 1, P, 3) coordinates in [-1, 1], (x, y, z) over (W, H, D).
        u = (x.reshape(1, 1, 1, -1, 3) / self.bound).clamp(-1.0, 1.0)
        outs = [
            nn.functional.grid_sample(
                g.to(x.dtype), u, mode="bilinear", padding_mode="border", align_corners=True
            )[0, :, 0, 0]  # (F, P)
            for g in self.grids
        ]
        return torch.cat(outs, 0).transpose(0, 1).reshape(*lead, self.output_dim)

    def extra_repr(self) -> str:
        return f"levels={self.n_levels}, F={self.n_features_per_level}, res={self.resolutions}"
