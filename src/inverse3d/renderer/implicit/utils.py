"""Ray bundles and the conversion of rays to 3D points (PyTorch3D 0.7.9 API)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch

__all__ = [
    "RayBundle",
    "HeterogeneousRayBundle",
    "ray_bundle_to_ray_points",
    "ray_bundle_variables_to_ray_points",
    "validate_ray_bundle_variables",
]


class RayBundle(NamedTuple):
    """A batch of rays, each sampled at a set of lengths.

    Fields:
        origins: (..., 3) float ray origins in world coordinates.
        directions: (..., 3) float ray directions in world coordinates (not necessarily unit:
            a point is ``origin + length * direction``).
        lengths: (..., S) float lengths along each ray at which it is sampled.
        xys: (..., 2) float NDC (or the sampler's own) image coordinates of each ray's pixel.
    """

    origins: torch.Tensor
    directions: torch.Tensor
    lengths: torch.Tensor
    xys: torch.Tensor


@dataclasses.dataclass
class HeterogeneousRayBundle:
    """A `RayBundle` whose rays come from a random selection of cameras.

    The rays of camera ``camera_ids[i]`` come ``camera_counts[i]`` at a time, in the order of
    ``camera_ids``; ``camera_counts.sum()`` is the number of rays.

    Fields:
        origins, directions, lengths, xys: as in `RayBundle`.
        camera_ids: (M,) int64 unique ids of the sampled cameras (or None).
        camera_counts: (M,) int64 how many rays each of those cameras gave (or None).
    """

    origins: torch.Tensor
    directions: torch.Tensor
    lengths: torch.Tensor
    xys: torch.Tensor
    camera_ids: torch.Tensor | None = None
    camera_counts: torch.Tensor | None = None


def validate_ray_bundle_variables(
    rays_origins: torch.Tensor, rays_directions: torch.Tensor, rays_lengths: torch.Tensor
) -> None:
    """Check that origins (..., 3), directions (..., 3) and lengths (..., S) agree."""
    for name, t in (
        ("rays_origins", rays_origins),
        ("rays_directions", rays_directions),
        ("rays_lengths", rays_lengths),
    ):
        if not torch.is_tensor(t):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    for name, t in (("rays_origins", rays_origins), ("rays_directions", rays_directions)):
        if t.dim() < 1 or t.shape[-1] != 3:
            raise ValueError(f"{name} must have shape (..., 3); got {tuple(t.shape)}")
    if rays_lengths.dim() < 1:
        raise ValueError(f"rays_lengths must have shape (..., S); got {tuple(rays_lengths.shape)}")
    lead = rays_origins.shape[:-1]
    if rays_directions.shape[:-1] != lead or rays_lengths.shape[:-1] != lead:
        raise ValueError(
            "rays_origins (..., 3), rays_directions (..., 3) and rays_lengths (..., S) must "
            f"share their leading dimensions; got {tuple(rays_origins.shape)}, "
            f"{tuple(rays_directions.shape)} and {tuple(rays_lengths.shape)}"
        )


def ray_bundle_variables_to_ray_points(
    rays_origins: torch.Tensor, rays_directions: torch.Tensor, rays_lengths: torch.Tensor
) -> torch.Tensor:
    """Points along rays: ``origins[..., None, :] + lengths[..., :, None] * directions[..., None, :]``.

    Args:
        rays_origins: (..., 3) float.
        rays_directions: (..., 3) float (their magnitude matters).
        rays_lengths: (..., S) float.

    Returns:
        rays_points: (..., S, 3) float.
    """
    validate_ray_bundle_variables(rays_origins, rays_directions, rays_lengths)
    return rays_origins[..., None, :] + rays_lengths[..., :, None] * rays_directions[..., None, :]


def ray_bundle_to_ray_points(ray_bundle: RayBundle | HeterogeneousRayBundle) -> torch.Tensor:
    """Points along the rays of a `RayBundle` / `HeterogeneousRayBundle`: (..., S, 3) float."""
    return ray_bundle_variables_to_ray_points(
        ray_bundle.origins, ray_bundle.directions, ray_bundle.lengths
    )
