"""Emission-absorption compositing weights: the one implementation every renderer and method uses."""

from __future__ import annotations

import torch

__all__ = ["emission_absorption_weights"]


def emission_absorption_weights(densities: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Weights ``w_i = a_i * prod_{j<i} (1 - a_j + eps)`` of per-sample opacities along a ray.

    densities: (..., S) float opacities a in [0, 1], front to back. Returns (..., S) float; the sum
    over S is the ray's opacity (up to eps). This is PyTorch3D's EmissionAbsorptionRaymarcher rule.
    """
    if not torch.is_tensor(densities) or densities.dim() < 1:
        raise ValueError("densities must be a tensor of shape (..., S)")
    trans = torch.cumprod(1.0 + eps - densities, dim=-1)
    trans = torch.cat([torch.ones_like(trans[..., :1]), trans[..., :-1]], dim=-1)
    return densities * trans
