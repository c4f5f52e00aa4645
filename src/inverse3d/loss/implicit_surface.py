"""Losses for implicit surfaces fitted to images (NeuS, DVR).

- `eikonal_loss`: mean ``(|grad f| - 1)^2`` (a signed distance has unit gradient).
- `mask_bce_loss`: binary cross-entropy of rendered opacities against masks.
- `occupancy_bce_loss`: binary cross-entropy of occupancy logits against a constant target:
  0 for points known to be free space (DVR's free-space loss, rays outside the mask), 1 for
  points known to be occupied (DVR's occupancy loss, rays inside the mask that found no surface).
- `normal_smoothness_loss`: mean ``|n(p) - n(q)|`` between the unit normals at surface points
  and at random neighbours (DVR's normal loss).
- `minimal_occupancy_loss`: mean ``sigmoid(-sdf / band)`` at points of the volume, a prior for
  the smallest solid: it shrinks the surface wherever no image term holds it (regions that no
  camera sees, such as under an object photographed from above).
- `surface_area_loss`: mean ``sigmoid'(sdf / band) / band`` at points of the volume, a smoothed
  delta of the surface: times the volume it estimates the surface's area (minimal-surface
  prior: flattens what no image constrains, but also favours closing concavities).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inverse3d._validation import check_tensor

__all__ = [
    "eikonal_loss",
    "mask_bce_loss",
    "minimal_occupancy_loss",
    "normal_smoothness_loss",
    "occupancy_bce_loss",
    "surface_area_loss",
]


def _empty_to_zero(x: torch.Tensor) -> torch.Tensor | None:
    return x.new_zeros(()) if x.numel() == 0 else None


def eikonal_loss(gradients: torch.Tensor) -> torch.Tensor:
    """Mean of ``(|g| - 1)^2`` over gradients (..., 3) float; 0 for none."""
    check_tensor(gradients, "gradients", ("...", 3), "float")
    zero = _empty_to_zero(gradients)
    if zero is not None:
        return zero
    return ((gradients.norm(dim=-1) - 1.0) ** 2).mean()


def mask_bce_loss(opacity: torch.Tensor, mask: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Binary cross-entropy of opacities (...) in [0, 1] against masks (...) in [0, 1].

    Opacities are clamped to [eps, 1 - eps] (a fully opaque ray would give log 0).
    """
    check_tensor(opacity, "opacity", None, "float")
    check_tensor(mask, "mask", None, "float")
    if opacity.shape != mask.shape:
        raise ValueError(
            f"mask must have the shape of opacity {tuple(opacity.shape)}; got {tuple(mask.shape)}"
        )
    zero = _empty_to_zero(opacity)
    if zero is not None:
        return zero
    return F.binary_cross_entropy(opacity.clamp(eps, 1.0 - eps), mask)


def occupancy_bce_loss(logits: torch.Tensor, occupied: bool) -> torch.Tensor:
    """Binary cross-entropy of occupancy logits (...) against 1 (occupied) or 0 (free); 0 for
    none. Equals ``softplus(-logit)`` (occupied) or ``softplus(logit)`` (free), averaged."""
    check_tensor(logits, "logits", None, "float")
    if not isinstance(occupied, bool):
        raise TypeError(f"occupied must be a bool; got {type(occupied).__name__}")
    zero = _empty_to_zero(logits)
    if zero is not None:
        return zero
    target = torch.full_like(logits, 1.0 if occupied else 0.0)
    return F.binary_cross_entropy_with_logits(logits, target)


def normal_smoothness_loss(normals: torch.Tensor, neighbour_normals: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance between the normals (P, 3) at surface points and the normals
    (P, 3) at their neighbours; both are normalised first. 0 for no points."""
    dims: dict[str, int] = {}
    check_tensor(normals, "normals", ("P", 3), "float", dims)
    check_tensor(neighbour_normals, "neighbour_normals", ("P", 3), "float", dims)
    zero = _empty_to_zero(normals)
    if zero is not None:
        return zero
    a = F.normalize(normals, dim=-1)
    b = F.normalize(neighbour_normals, dim=-1)
    return (a - b).norm(dim=-1).mean()


def minimal_occupancy_loss(sdf: torch.Tensor, band: float) -> torch.Tensor:
    """Mean soft occupancy ``sigmoid(-sdf / band)`` of SDF values (...) float (negative inside);
    0 for none.

    With points drawn uniformly in a volume it estimates the share of the volume that is solid,
    smoothed over a band of width `band` (> 0) around the surface: its gradient moves the surface
    inwards wherever it is not held by other terms. Far inside (sdf << -band) it saturates, so
    the push acts on the surface, not on the whole solid.
    """
    check_tensor(sdf, "sdf", None, "float")
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not band > 0:
        raise ValueError(f"band must be a number > 0; got {band!r}")
    zero = _empty_to_zero(sdf)
    if zero is not None:
        return zero
    return torch.sigmoid(-sdf / float(band)).mean()


def surface_area_loss(sdf: torch.Tensor, band: float) -> torch.Tensor:
    """Mean of the smoothed surface delta ``s (1 - s) / band``, ``s = sigmoid(sdf / band)``, over
    SDF values (...) float at points drawn uniformly in a volume V; 0 for none.

    For a true SDF (unit gradient) and a band small against the curvature, ``V * loss`` is the
    area of the zero level set (the kernel integrates to 1 across the surface); its gradient is
    a smoothed mean-curvature flow, which flattens bumps and fills concavities.
    """
    check_tensor(sdf, "sdf", None, "float")
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not band > 0:
        raise ValueError(f"band must be a number > 0; got {band!r}")
    zero = _empty_to_zero(sdf)
    if zero is not None:
        return zero
    sig = torch.sigmoid(sdf / float(band))
    return (sig * (1.0 - sig)).mean() / float(band)
