"""The axis-aligned box a grid model covers (shared by the hash grid and the occupancy grid)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["bounds_tensor"]


def bounds_tensor(bounds: float | Sequence, dim: int) -> torch.Tensor:
    """(2, D) [min corner, max corner] from a half-size, a (2, D) nested sequence or tensor."""
    if isinstance(bounds, (int, float)):
        if bounds <= 0:
            raise ValueError(f"bounds must be positive as a half-size; got {bounds}")
        b = torch.tensor([[-float(bounds)] * dim, [float(bounds)] * dim])
    else:
        b = torch.as_tensor(bounds, dtype=torch.float32).detach().clone()
        if b.shape != (2, dim):
            raise ValueError(f"bounds must have shape (2, {dim}); got {tuple(b.shape)}")
        if not bool((b[1] > b[0]).all()):
            raise ValueError(f"bounds must have max > min on every axis; got {b.tolist()}")
    return b.float()
