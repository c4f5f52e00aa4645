"""Emission-absorption compositing weights: the one implementation every renderer and method uses.

Along a ray with per-sample opacities a_k in [0, 1] (``a_k = 1 - exp(-sigma_k delta_k)`` for a
physical density sigma), the light reaching sample i is the transmittance
``T_i = prod_{j < i} (1 - a_j + eps)`` and sample i contributes with weight ``w_i = T_i a_i``.
This is exactly what PyTorch3D's `EmissionAbsorptionRaymarcher` computes: the factors are
evaluated as ``(1 + eps) - a_j`` (in the densities' dtype), with ``surface_thickness = 1`` by
default.
"""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_float, check_positive_int, check_tensor

__all__ = ["emission_absorption_transmittance", "emission_absorption_weights"]


def emission_absorption_transmittance(
    densities: torch.Tensor, eps: float = 1e-10, surface_thickness: int = 1
) -> torch.Tensor:
    """Transmittance ``T_i = prod_{j < i - surface_thickness + 1} ((1 + eps) - a_j)``.

    densities: (..., S) float opacities a in [0, 1] (not checked: a hot path).
    eps: added to every factor so that a fully opaque sample still passes a little light.
    surface_thickness: how many samples the absorption lags behind (1: T_i uses the samples
        before i; k: those before i - k + 1, as PyTorch3D's raymarcher).
    Returns: (..., S) float; T_i = 1 for the first `surface_thickness` samples.
    """
    check_tensor(densities, "densities", ("...", None), dtype="float")
    eps = check_positive_float(eps, "eps", allow_zero=True)
    shift = check_positive_int(surface_thickness, "surface_thickness")
    prod = torch.cumprod((1.0 + eps) - densities, dim=-1)
    ones = torch.ones_like(prod[..., :shift])
    return torch.cat((ones, prod[..., :-shift]), dim=-1)[..., : densities.shape[-1]]


def emission_absorption_weights(
    densities: torch.Tensor, eps: float = 1e-10, surface_thickness: int = 1
) -> torch.Tensor:
    """Compositing weights ``w_i = T_i a_i`` (see `emission_absorption_transmittance`).

    densities: (..., S) float opacities a in [0, 1].
    Returns: (..., S) float; ``sum_i w_i = 1 - prod_i (1 - a_i)`` (up to eps) is the ray's
    opacity, and ``sum_i w_i f_i`` its composited feature.
    """
    return densities * emission_absorption_transmittance(densities, eps, surface_thickness)
