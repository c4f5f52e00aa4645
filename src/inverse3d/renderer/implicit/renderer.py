"""Implicit and volume renderers: sample rays, evaluate a field along them, march.

ImplicitRenderer(raysampler, raymarcher)(cameras, volumetric_function, **kwargs) calls
``raysampler(cameras=..., volumetric_function=..., **kwargs)`` -> ray_bundle, then
``volumetric_function(ray_bundle=..., cameras=..., **kwargs)`` -> (densities (..., S, 1),
features (..., S, C)), then ``raymarcher(rays_densities=..., rays_features=...,
ray_bundle=..., **kwargs)`` -> images (..., C + 1), and returns (images, ray_bundle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

from inverse3d._validation import check_choice
from inverse3d.renderer.implicit.utils import (
    HeterogeneousRayBundle,
    RayBundle,
    validate_ray_bundle_variables,
)
from inverse3d.structures.volumes import Volumes

__all__ = ["ImplicitRenderer", "VolumeRenderer", "VolumeSampler"]


class ImplicitRenderer(torch.nn.Module):
    """Render a field given as a callable (see the module docstring for the protocol).

    Args:
        raysampler: callable(cameras=..., **kwargs) -> RayBundle | HeterogeneousRayBundle.
        raymarcher: callable(rays_densities=..., rays_features=..., ...) -> images.

    forward(cameras, volumetric_function, **kwargs) -> (images (N, ..., C + 1), ray_bundle).
    """

    def __init__(self, raysampler: Callable, raymarcher: Callable) -> None:
        super().__init__()
        if not callable(raysampler):
            raise ValueError(f"raysampler must be callable; got {type(raysampler).__name__}")
        if not callable(raymarcher):
            raise ValueError(f"raymarcher must be callable; got {type(raymarcher).__name__}")
        self.raysampler = raysampler
        self.raymarcher = raymarcher

    def forward(
        self, cameras: Any, volumetric_function: Callable, **kwargs: Any
    ) -> tuple[torch.Tensor, RayBundle | HeterogeneousRayBundle]:
        if not callable(volumetric_function):
            raise ValueError(
                f"volumetric_function must be callable; got {type(volumetric_function).__name__}"
            )
        ray_bundle = self.raysampler(
            cameras=cameras, volumetric_function=volumetric_function, **kwargs
        )
        rays_densities, rays_features = volumetric_function(
            ray_bundle=ray_bundle, cameras=cameras, **kwargs
        )
        images = self.raymarcher(
            rays_densities=rays_densities,
            rays_features=rays_features,
            ray_bundle=ray_bundle,
            **kwargs,
        )
        return images, ray_bundle


class VolumeSampler(torch.nn.Module):
    """Sample a batch of `Volumes` at the points of a ray bundle (trilinear or nearest).

    World points are mapped to the volumes' local [-1, 1] coordinates and read with
    `torch.nn.functional.grid_sample` using the volumes' ``align_corners`` convention.

    Args:
        volumes: a `Volumes` of batch N (the ray bundle's batch).
        sample_mode: "bilinear" (trilinear in 3D) or "nearest".
        padding_mode: "zeros", "border" or "reflection" (outside the grid).

    forward(ray_bundle) -> (rays_densities (N, ..., S, D_dens), rays_features (N, ..., S,
    D_feat)); without features the second is (N, ..., S, 0).
    """

    def __init__(
        self, volumes: Volumes, sample_mode: str = "bilinear", padding_mode: str = "zeros"
    ) -> None:
        super().__init__()
        if not isinstance(volumes, Volumes):
            raise ValueError(f"volumes must be a Volumes; got {type(volumes).__name__}")
        self._volumes = volumes
        self._sample_mode = check_choice(sample_mode, "sample_mode", ("bilinear", "nearest"))
        self._padding_mode = check_choice(
            padding_mode, "padding_mode", ("zeros", "border", "reflection")
        )

    def _sample(self, grid: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """grid: (N, C, D, H, W); points: (N, M, 3) local -> (N, M, C)."""
        out = F.grid_sample(
            grid,
            points[:, :, None, None, :].to(grid.dtype),
            mode=self._sample_mode,
            padding_mode=self._padding_mode,
            align_corners=self._volumes.get_align_corners(),
        )  # (N, C, M, 1, 1)
        return out[:, :, :, 0, 0].permute(0, 2, 1)

    def forward(
        self, ray_bundle: RayBundle | HeterogeneousRayBundle, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        origins, directions, lengths = ray_bundle.origins, ray_bundle.directions, ray_bundle.lengths
        validate_ray_bundle_variables(origins, directions, lengths)
        if origins.dim() < 2:
            raise ValueError(f"ray_bundle.origins must have shape (N, ..., 3); got {origins.shape}")
        densities = self._volumes.densities()
        features = self._volumes.features()
        N = densities.shape[0]
        if origins.shape[0] != N:
            raise ValueError(
                f"ray_bundle must have the batch size of the volumes ({N}); got "
                f"origins of shape {tuple(origins.shape)}"
            )
        vol = self._volumes
        origins_local = vol.world_to_local_coords(origins)
        # the world -> local map is affine: directions take only its linear part
        directions_local = vol.world_to_local_coords(directions) - vol.world_to_local_coords(
            torch.zeros_like(directions)
        )
        points = (
            origins_local[..., None, :] + lengths[..., :, None] * directions_local[..., None, :]
        )  # (N, ..., S, 3)
        flat = points.reshape(N, -1, 3)
        out_shape = points.shape[:-1]
        rays_densities = self._sample(densities, flat).reshape(*out_shape, densities.shape[1])
        if features is None:
            rays_features = rays_densities.new_zeros(*out_shape, 0)
        else:
            rays_features = self._sample(features, flat).reshape(*out_shape, features.shape[1])
        return rays_densities, rays_features


class VolumeRenderer(torch.nn.Module):
    """Render `Volumes`: an `ImplicitRenderer` whose field is a `VolumeSampler`.

    Args:
        raysampler, raymarcher: as in `ImplicitRenderer`.
        sample_mode: "bilinear" or "nearest".

    forward(cameras, volumes, **kwargs) -> (images (N, ..., C + 1), ray_bundle).
    """

    def __init__(
        self, raysampler: Callable, raymarcher: Callable, sample_mode: str = "bilinear"
    ) -> None:
        super().__init__()
        self.renderer = ImplicitRenderer(raysampler, raymarcher)
        self._sample_mode = check_choice(sample_mode, "sample_mode", ("bilinear", "nearest"))

    def forward(
        self, cameras: Any, volumes: Volumes, **kwargs: Any
    ) -> tuple[torch.Tensor, RayBundle | HeterogeneousRayBundle]:
        volumetric_function = VolumeSampler(volumes, sample_mode=self._sample_mode)
        return self.renderer(cameras=cameras, volumetric_function=volumetric_function, **kwargs)
