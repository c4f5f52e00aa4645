"""Ray marchers: turn per-point densities (opacities in [0, 1]) and features into pixels.

Both marchers take opacities per sample, not physical densities: ``d_k = 1 - exp(-sigma_k
delta_k)`` for a density sigma over a step delta. A ray with samples d_1..d_S transmits
``T = prod_k (1 - d_k)`` of the light; its opacity is ``1 - T``.
"""

from __future__ import annotations

from typing import Any

import torch

from inverse3d._validation import check_positive_int
from inverse3d.common.errors import NonFiniteError
from inverse3d.renderer.implicit.weights import emission_absorption_weights

__all__ = ["EmissionAbsorptionRaymarcher", "AbsorptionOnlyRaymarcher"]

# Densities may exceed [0, 1] by this much (float rounding of interpolated values).
_DENSITY_TOL = 1e-6


def _check_raymarcher_inputs(
    rays_densities: Any, rays_features: Any = None, features_required: bool = False
) -> None:
    if not torch.is_tensor(rays_densities):
        raise TypeError(
            f"rays_densities must be a torch.Tensor; got {type(rays_densities).__name__}"
        )
    if rays_densities.dim() < 2 or rays_densities.shape[-1] != 1:
        raise ValueError(
            f"rays_densities must have shape (..., S, 1); got {tuple(rays_densities.shape)}"
        )
    if rays_densities.shape[-2] == 0:
        raise ValueError(
            "rays_densities must hold at least one point per ray; got shape "
            f"{tuple(rays_densities.shape)}"
        )
    if not rays_densities.is_floating_point():
        raise TypeError(f"rays_densities must be a float tensor; got {rays_densities.dtype}")
    if not bool(torch.isfinite(rays_densities).all()):
        n_bad = int((~torch.isfinite(rays_densities)).sum())
        raise NonFiniteError(f"rays_densities must be finite; got {n_bad} NaN/inf value(s)")
    if features_required:
        if not torch.is_tensor(rays_features):
            raise TypeError(
                f"rays_features must be a torch.Tensor; got {type(rays_features).__name__}"
            )
        if rays_features.dim() < 2 or rays_features.shape[:-1] != rays_densities.shape[:-1]:
            raise ValueError(
                "rays_features must have shape (..., S, C) matching rays_densities (..., S, 1) "
                f"= {tuple(rays_densities.shape)}; got {tuple(rays_features.shape)}"
            )


def _check_density_bounds(rays_densities: torch.Tensor) -> None:
    """Raise ValueError unless every density lies in [0, 1] (NaN included)."""
    if rays_densities.numel() == 0:
        return
    with torch.no_grad():
        lo, hi = torch.aminmax(rays_densities)
        lo, hi = float(lo), float(hi)
    if not (lo >= -_DENSITY_TOL and hi <= 1.0 + _DENSITY_TOL):
        raise ValueError(
            "rays_densities must lie in [0, 1] (opacities, e.g. 1 - exp(-sigma * delta)); "
            f"got values in [{lo}, {hi}]"
        )


class EmissionAbsorptionRaymarcher(torch.nn.Module):
    """Emission-absorption marching (PyTorch3D semantics).

    With densities d_k in [0, 1] along a ray, the weight of sample k is
    ``w_k = d_k * prod_{j < k - surface_thickness + 1} (1 + eps - d_j)`` (the transmittance up
    to ``surface_thickness`` samples before k), the feature is ``sum_k w_k f_k`` and the opacity
    ``1 - prod_k (1 - d_k)``.

    Args:
        surface_thickness: how many samples the absorption lags behind the density, so that a
            binary (0/1) volume still gives its first occupied sample a non-zero weight.

    forward(rays_densities, rays_features, eps=1e-10):
        rays_densities: (..., S, 1) float in [0, 1] (ValueError otherwise).
        rays_features: (..., S, C) float.
        Returns (..., C + 1) float: the features, then the opacity.
    """

    def __init__(self, surface_thickness: int = 1) -> None:
        super().__init__()
        self.surface_thickness = check_positive_int(surface_thickness, "surface_thickness")

    def forward(
        self,
        rays_densities: torch.Tensor,
        rays_features: torch.Tensor,
        eps: float = 1e-10,
        **kwargs: Any,
    ) -> torch.Tensor:
        _check_raymarcher_inputs(rays_densities, rays_features, features_required=True)
        _check_density_bounds(rays_densities)
        d = rays_densities[..., 0]  # (..., S)
        weights = emission_absorption_weights(d, eps, self.surface_thickness)  # (..., S)
        features = (weights[..., None] * rays_features).sum(dim=-2)  # (..., C)
        opacities = 1.0 - torch.prod(1.0 - d, dim=-1, keepdim=True)  # (..., 1)
        return torch.cat((features, opacities), dim=-1)


class AbsorptionOnlyRaymarcher(torch.nn.Module):
    """Absorption-only marching: the opacity ``1 - prod_k (1 - d_k)`` of each ray.

    forward(rays_densities): (..., S, 1) float in [0, 1] -> opacities (..., 1) float.
    """

    def __init__(self) -> None:
        super().__init__()

    def forward(self, rays_densities: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        _check_raymarcher_inputs(rays_densities)
        _check_density_bounds(rays_densities)
        return 1.0 - torch.prod(1.0 - rays_densities[..., 0], dim=-1, keepdim=True)
