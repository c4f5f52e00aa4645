"""Lambert and Phong lighting terms and the light sources that use them.

Every light holds per-batch colours (N, C) and a position or direction (N, 3); its `diffuse`
and `specular` methods take normals/points of shape (N, ..., 3) and return (N, ..., C).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from inverse3d.renderer._phong_colors import as_row, init_colors
from inverse3d.renderer.utils import Device, TensorProperties, convert_to_tensors_and_broadcast

__all__ = ["AmbientLights", "DirectionalLights", "PointLights", "diffuse", "specular"]

_EPS = 1e-6


def _as_batched(value: torch.Tensor, like: torch.Tensor, last: tuple[int, ...]) -> torch.Tensor:
    """View a (N, *last) tensor as (N, 1, ..., 1, *last) to broadcast against `like` (N, ..., 3)."""
    if value.shape[:-1] == like.shape[:-1] and last:
        return value
    n_mid = like.dim() - 2
    return value.reshape(value.shape[0], *([1] * n_mid), *last)


def diffuse(normals: torch.Tensor, color: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Lambertian term: color * max(0, <n, l>) with n and l normalised.

    Args:
        normals: (N, ..., 3) float surface normals (need not be unit length).
        color: (N, C) or (1, C) float light colour.
        direction: (N, 3) or (N, ..., 3) float direction from the surface towards the light.

    Returns:
        (N, ..., C) float diffuse colour.
    """
    if normals.shape[-1] != 3:
        raise ValueError(f"normals must have shape (N, ..., 3); got {tuple(normals.shape)}")
    normals, color, direction = convert_to_tensors_and_broadcast(
        normals, color, direction, device=normals.device
    )
    if direction.shape[-1] != 3:
        raise ValueError(f"direction must have shape (N, ..., 3); got {tuple(direction.shape)}")
    direction = _as_batched(direction, normals, (3,))
    color = _as_batched(color, normals, (color.shape[-1],)) if color.dim() == 2 else color
    n = F.normalize(normals, p=2, dim=-1, eps=_EPS)
    d = F.normalize(direction, p=2, dim=-1, eps=_EPS)
    cos = F.relu((n * d).sum(dim=-1))  # (N, ...)
    return color * cos[..., None]


def specular(
    points: torch.Tensor,
    normals: torch.Tensor,
    direction: torch.Tensor,
    color: torch.Tensor,
    camera_position: torch.Tensor,
    shininess: torch.Tensor,
) -> torch.Tensor:
    """Phong specular term: color * max(0, <v, r>)^shininess, zero where <n, l> <= 0.

    r = 2 <n, l> n - l is the light direction l reflected about the normal n and v the unit
    direction from the point to the camera.

    Args:
        points: (N, ..., 3) float surface points (world space).
        normals: (N, ..., 3) float normals at the points.
        direction: (N, 3) or (N, ..., 3) float direction from the surface towards the light.
        color: (N, C) float light colour.
        camera_position: (N, 3) float camera centres.
        shininess: (N,) float Phong exponent.

    Returns:
        (N, ..., C) float specular colour.
    """
    if points.shape[-1] != 3 or normals.shape != points.shape:
        raise ValueError(
            "points and normals must have the same shape (N, ..., 3); "
            f"got {tuple(points.shape)} and {tuple(normals.shape)}"
        )
    points, color, direction, camera_position, shininess = convert_to_tensors_and_broadcast(
        points, color, direction, camera_position, shininess, device=points.device
    )
    if normals.shape[0] != points.shape[0]:
        normals = normals.expand_as(points)
    if camera_position.shape[-1] != 3:
        raise ValueError(
            f"camera_position must have shape (N, 3); got {tuple(camera_position.shape)}"
        )
    direction = _as_batched(direction, points, (3,))
    camera_position = _as_batched(camera_position, points, (3,))
    color = _as_batched(color, points, (color.shape[-1],)) if color.dim() == 2 else color
    shininess = shininess.reshape(shininess.shape[0], *([1] * (points.dim() - 2)))
    n = F.normalize(normals, p=2, dim=-1, eps=_EPS)
    d = F.normalize(direction, p=2, dim=-1, eps=_EPS)
    cos = (n * d).sum(dim=-1)  # (N, ...)
    lit = (cos > 0).to(points.dtype)
    view = F.normalize(camera_position - points, p=2, dim=-1, eps=_EPS)
    reflect = 2 * cos[..., None] * n - d
    alpha = F.relu((view * reflect).sum(dim=-1)) * lit
    return color * torch.pow(alpha, shininess)[..., None]


class _PhongLights(TensorProperties):
    """Shared code of DirectionalLights and PointLights: colours and one (N, 3) vector field
    (`_VECTOR`), and the specular term along `_direction(points)`."""

    _VECTOR = ""
    # Each subclass defines it: (..., 3) direction towards the light at the points.
    _direction: Callable[[torch.Tensor | None], torch.Tensor]

    def _init(self, device: Device, ambient_color, diffuse_color, specular_color, vector) -> None:
        init_colors(
            self, device, ambient_color, diffuse_color, specular_color, **{self._VECTOR: vector}
        )
        value = getattr(self, self._VECTOR)
        if value.shape[-1] != 3:
            raise ValueError(f"{self._VECTOR} must have shape (N, 3); got {tuple(value.shape)}")

    def clone(self):  # type: ignore[override]
        return super().clone(self.__class__(device=self.device))

    def specular(
        self,
        normals: torch.Tensor,
        points: torch.Tensor,
        camera_position: torch.Tensor,
        shininess: torch.Tensor,
    ) -> torch.Tensor:
        """(N, ..., C) Phong specular term at points (N, ..., 3) with normals (N, ..., 3)."""
        return specular(
            points=points,
            normals=normals,
            color=self.specular_color,
            direction=self._direction(points),
            camera_position=camera_position,
            shininess=shininess,
        )


class DirectionalLights(_PhongLights):
    """Lights at infinity shining along `direction` (from the surface towards the light).

    Attributes: ambient_color, diffuse_color, specular_color: (N, C) float; direction: (N, 3).
    """

    _VECTOR = "direction"

    def __init__(
        self,
        ambient_color=((0.5, 0.5, 0.5),),
        diffuse_color=((0.3, 0.3, 0.3),),
        specular_color=((0.2, 0.2, 0.2),),
        direction=((0, 1, 0),),
        device: Device = "cpu",
    ) -> None:
        self._init(device, ambient_color, diffuse_color, specular_color, direction)

    def _direction(self, points: torch.Tensor | None) -> torch.Tensor:
        return self.direction

    def diffuse(self, normals: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
        """(N, ..., C) Lambertian term for normals (N, ..., 3); points are ignored."""
        return diffuse(normals=normals, color=self.diffuse_color, direction=self.direction)


class PointLights(_PhongLights):
    """Point lights at `location` (world space).

    Attributes: ambient_color, diffuse_color, specular_color: (N, C) float; location: (N, 3).
    """

    _VECTOR = "location"

    def __init__(
        self,
        ambient_color=((0.5, 0.5, 0.5),),
        diffuse_color=((0.3, 0.3, 0.3),),
        specular_color=((0.2, 0.2, 0.2),),
        location=((0, 1, 0),),
        device: Device = "cpu",
    ) -> None:
        self._init(device, ambient_color, diffuse_color, specular_color, location)

    def reshape_location(self, points: torch.Tensor) -> torch.Tensor:
        """location viewed as (N, 1, ..., 1, 3) to broadcast against points (N, ..., 3)."""
        if self.location.dim() == points.dim():
            return self.location
        return _as_batched(self.location, points, (3,))

    def _direction(self, points: torch.Tensor) -> torch.Tensor:
        return self.reshape_location(points) - points

    def diffuse(self, normals: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """(N, ..., C) Lambertian term for normals and points (N, ..., 3)."""
        return diffuse(normals=normals, color=self.diffuse_color, direction=self._direction(points))


class AmbientLights(TensorProperties):
    """Ambient light only: diffuse and specular terms are zero.

    Attributes: ambient_color (N, C) float (default white); diffuse_color, specular_color zero.
    """

    def __init__(self, ambient_color=None, device: Device = "cpu") -> None:
        if ambient_color is None:
            ambient_color = ((1.0, 1.0, 1.0),)
        ambient_color = as_row(ambient_color)
        if torch.is_tensor(ambient_color):
            channels = ambient_color.shape[-1]
        else:
            channels = np.asarray(ambient_color).shape[-1]
        zeros = ((0.0,) * channels,)
        init_colors(self, device, ambient_color, zeros, zeros)

    def clone(self) -> AmbientLights:  # type: ignore[override]
        return super().clone(self.__class__(device=self.device))

    def _zeros(self, normals: torch.Tensor) -> torch.Tensor:
        shape = (*normals.shape[:-1], self.ambient_color.shape[-1])
        return normals.new_zeros(shape)

    def diffuse(self, normals: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
        """(N, ..., C) zeros."""
        return self._zeros(normals)

    def specular(
        self,
        normals: torch.Tensor,
        points: torch.Tensor,
        camera_position: torch.Tensor,
        shininess: torch.Tensor,
    ) -> torch.Tensor:
        """(N, ..., C) zeros."""
        return self._zeros(normals)
