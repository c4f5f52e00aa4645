"""Ray marchers: turn per-point densities (opacities in [0, 1]) and features into pixels.

Densities outside [0, 1] give a UserWarning (PyTorch3D's behaviour), or a ValueError with
``strict_densities=True``.

Both marchers take opacities per sample, not physical densities: ``d_k = 1 - exp(-sigma_k
delta_k)`` for a density sigma over a step delta. A ray with samples d_1..d_S transmits
``T = prod_k (1 - d_k)`` of the light; its opacity is ``1 - T``.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from inverse3d._validation import check_positive_int
from inverse3d.common.errors import ArgTypeError, NonFiniteError
from inverse3d.renderer.implicit.weights import emission_absorption_weights

__all__ = ["EmissionAbsorptionRaymarcher", "AbsorptionOnlyRaymarcher"]

# In strict mode, densities may exceed [0, 1] by this much (float rounding of interpolated values).
_DENSITY_TOL = 1e-6


def _check_raymarcher_inputs(
    rays_densities: Any,
    rays_features: Any,
    rays_z: Any,
    features_can_be_none: bool = False,
    z_can_be_none: bool = False,
    density_1d: bool = True,
) -> None:
    """Check the marchers' inputs (PyTorch3D's private helper, same signature and rules).

    rays_densities: (..., S, 1) float, or (..., S, D) with density_1d=False; rays_features
    (..., S, C) and rays_z (..., S) must share the densities' leading shape. Features / z may
    be None when features_can_be_none / z_can_be_none. Raises ArgTypeError (a TypeError and a
    ValueError, PyTorch3D raises ValueError) for non-tensors, ValueError for shapes.
    """
    if not torch.is_tensor(rays_densities):
        raise ArgTypeError(
            "rays_densities has to be an instance of torch.Tensor; got "
            f"{type(rays_densities).__name__}"
        )
    if not z_can_be_none and not torch.is_tensor(rays_z):
        raise ArgTypeError(
            f"rays_z has to be an instance of torch.Tensor; got {type(rays_z).__name__}"
        )
    if not features_can_be_none and not torch.is_tensor(rays_features):
        raise ArgTypeError(
            "rays_features has to be an instance of torch.Tensor; got "
            f"{type(rays_features).__name__}"
        )
    if rays_densities.dim() < 2:
        raise ValueError(
            f"rays_densities must have shape (..., S, 1); got {tuple(rays_densities.shape)}"
        )
    if density_1d and rays_densities.shape[-1] != 1:
        raise ValueError(
            "The size of the last dimension of rays_densities has to be one: rays_densities "
            f"must have shape (..., S, 1); got {tuple(rays_densities.shape)}"
        )
    if rays_densities.shape[-2] == 0:
        raise ValueError(
            "rays_densities must hold at least one point per ray; got shape "
            f"{tuple(rays_densities.shape)}"
        )
    rays_shape = rays_densities.shape[:-1]
    if torch.is_tensor(rays_z) and rays_z.shape != rays_shape:
        raise ValueError(
            "rays_z have to be of the same shape as rays_densities: expected "
            f"{tuple(rays_shape)}; got {tuple(rays_z.shape)}"
        )
    if torch.is_tensor(rays_features) and rays_features.shape[:-1] != rays_shape:
        raise ValueError(
            "The first to previous to last dimensions of rays_features have to be the same as "
            f"all dimensions of rays_densities: rays_features must have shape (..., S, C) "
            f"matching rays_densities {tuple(rays_densities.shape)}; got "
            f"{tuple(rays_features.shape)}"
        )
    if not rays_densities.is_floating_point():
        raise TypeError(f"rays_densities must be a float tensor; got {rays_densities.dtype}")
    if not bool(torch.isfinite(rays_densities).all()):
        # Unlike PyTorch3D (which only warns): a NaN/inf density cannot give a meaningful render,
        # and during training it means the optimisation blew up (engine.run_loop names the step).
        n_bad = int((~torch.isfinite(rays_densities)).sum())
        raise NonFiniteError(f"rays_densities must be finite; got {n_bad} NaN/inf value(s)")


def _check_density_bounds(
    rays_densities: torch.Tensor, bounds: tuple[float, float] = (0.0, 1.0)
) -> None:
    """Warn (UserWarning, as PyTorch3D) if a density lies outside `bounds` or is not finite."""
    if rays_densities.numel() == 0:
        return
    with torch.no_grad():
        lo, hi = torch.aminmax(rays_densities)
        lo, hi = float(lo), float(hi)
    if not (lo >= bounds[0] and hi <= bounds[1]):
        warnings.warn(
            "One or more elements of rays_densities are outside of valid range "
            f"{tuple(bounds)}: got values in [{lo}, {hi}]",
            stacklevel=3,
        )


def _require_density_bounds(rays_densities: torch.Tensor) -> None:
    """Strict check: raise ValueError unless every density lies in [0, 1] (NaN included)."""
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


def _check_densities(rays_densities: torch.Tensor, strict: bool) -> None:
    if strict:
        _require_density_bounds(rays_densities)
    else:
        _check_density_bounds(rays_densities)


class EmissionAbsorptionRaymarcher(torch.nn.Module):
    """Emission-absorption marching (PyTorch3D semantics).

    With densities d_k in [0, 1] along a ray, the weight of sample k is
    ``w_k = d_k * prod_{j < k - surface_thickness + 1} (1 + eps - d_j)`` (the transmittance up
    to ``surface_thickness`` samples before k), the feature is ``sum_k w_k f_k`` and the opacity
    ``1 - prod_k (1 - d_k)``.

    Args:
        surface_thickness: how many samples the absorption lags behind the density, so that a
            binary (0/1) volume still gives its first occupied sample a non-zero weight.
        strict_densities: raise ValueError for densities outside [0, 1] (beyond 1e-6) or NaN;
            by default such densities only give a UserWarning, as in PyTorch3D.

    forward(rays_densities, rays_features, eps=1e-10):
        rays_densities: (..., S, 1) float, opacities in [0, 1].
        rays_features: (..., S, C) float.
        Returns (..., C + 1) float: the features, then the opacity.
    """

    def __init__(self, surface_thickness: int = 1, *, strict_densities: bool = False) -> None:
        super().__init__()
        self.surface_thickness = check_positive_int(surface_thickness, "surface_thickness")
        self.strict_densities = bool(strict_densities)

    def forward(
        self,
        rays_densities: torch.Tensor,
        rays_features: torch.Tensor,
        eps: float = 1e-10,
        **kwargs: Any,
    ) -> torch.Tensor:
        _check_raymarcher_inputs(rays_densities, rays_features, None, z_can_be_none=True)
        _check_densities(rays_densities, self.strict_densities)
        d = rays_densities[..., 0]  # (..., S)
        weights = emission_absorption_weights(d, eps, self.surface_thickness)  # (..., S)
        features = (weights[..., None] * rays_features).sum(dim=-2)  # (..., C)
        opacities = 1.0 - torch.prod(1.0 - d, dim=-1, keepdim=True)  # (..., 1)
        return torch.cat((features, opacities), dim=-1)


class AbsorptionOnlyRaymarcher(torch.nn.Module):
    """Absorption-only marching: the opacity ``1 - prod_k (1 - d_k)`` of each ray.

    forward(rays_densities): (..., S, 1) float in [0, 1] -> opacities (..., 1) float.

    Args:
        strict_densities: as for EmissionAbsorptionRaymarcher (default: warn, as PyTorch3D).
    """

    def __init__(self, *, strict_densities: bool = False) -> None:
        super().__init__()
        self.strict_densities = bool(strict_densities)

    def forward(self, rays_densities: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        _check_raymarcher_inputs(
            rays_densities, None, None, features_can_be_none=True, z_can_be_none=True
        )
        _check_densities(rays_densities, self.strict_densities)
        return 1.0 - torch.prod(1.0 - rays_densities[..., 0], dim=-1, keepdim=True)
