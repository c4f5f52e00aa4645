"""Camera placement: spherical coordinates and look-at rotations (PyTorch3D conventions).

Re-exported by `inverse3d.renderer.cameras`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from inverse3d.renderer.utils import Device, convert_to_tensors_and_broadcast

__all__ = ["camera_position_from_spherical_angles", "look_at_rotation", "look_at_view_transform"]


def _common_dtype(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Cast to one floating dtype (float64 wins over float32; non-float inputs become float32)."""
    dtype = torch.float32
    for t in tensors:
        if t.is_floating_point():
            dtype = torch.promote_types(dtype, t.dtype)
    return [t.to(dtype) for t in tensors]


def camera_position_from_spherical_angles(
    distance, elevation, azimuth, degrees: bool = True, device: Device = "cpu"
) -> torch.Tensor:
    """(N, 3) float positions d (cos e sin a, sin e, cos e cos a) on spheres around the origin.

    Args:
        distance, elevation, azimuth: numbers or (N,) / (1,) tensors (broadcast).
        degrees: angles in degrees (else radians).
    """
    dist, elev, azim = _common_dtype(
        *convert_to_tensors_and_broadcast(distance, elevation, azimuth, device=device)
    )
    if degrees:
        elev = elev * (math.pi / 180.0)
        azim = azim * (math.pi / 180.0)
    x = dist * torch.cos(elev) * torch.sin(azim)
    y = dist * torch.sin(elev)
    z = dist * torch.cos(elev) * torch.cos(azim)
    return torch.stack([x, y, z], dim=1).reshape(-1, 3)


def look_at_rotation(
    camera_position, at=((0, 0, 0),), up=((0, 1, 0),), device: Device = "cpu"
) -> torch.Tensor:
    """(N, 3, 3) float rotations R (row-vector world-to-view) of cameras at `camera_position`
    looking at `at` with `up` as the up direction.

    The columns of R are the camera's x (left), y (up) and z (forward) axes in world coordinates.
    When `up` is parallel to the viewing direction, x is taken perpendicular to y and z instead.

    Args:
        camera_position, at, up: (N, 3) or (1, 3) float (broadcast).
    """
    camera_position, at, up = _common_dtype(
        *convert_to_tensors_and_broadcast(camera_position, at, up, device=device)
    )
    for name, value in (("camera_position", camera_position), ("at", at), ("up", up)):
        if value.dim() != 2 or value.shape[-1] != 3:
            raise ValueError(f"{name} must have shape (N, 3); got {tuple(value.shape)}")
    z_axis = F.normalize(at - camera_position, eps=1e-5)
    x_axis = F.normalize(torch.cross(up, z_axis, dim=1), eps=1e-5)
    y_axis = F.normalize(torch.cross(z_axis, x_axis, dim=1), eps=1e-5)
    degenerate = torch.isclose(x_axis, torch.zeros_like(x_axis), atol=5e-3).all(dim=1, keepdim=True)
    if bool(degenerate.any()):
        replacement = F.normalize(torch.cross(y_axis, z_axis, dim=1), eps=1e-5)
        x_axis = torch.where(degenerate, replacement, x_axis)
    R = torch.stack([x_axis, y_axis, z_axis], dim=1)  # (N, 3, 3) rows = axes
    return R.transpose(1, 2)


def look_at_view_transform(
    dist=1.0,
    elev=0.0,
    azim=0.0,
    degrees: bool = True,
    eye=None,
    at=((0, 0, 0),),
    up=((0, 1, 0),),
    device: Device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, T) of cameras looking at `at`, placed at `eye` or at spherical coordinates around `at`.

    The camera centre is C = eye, or C = at + dist (cos e sin a, sin e, cos e cos a) with
    elevation e and azimuth a (degrees if `degrees`). R = look_at_rotation(C, at, up) and
    T = -C @ R, so that C maps to the view-space origin.

    Returns:
        R: (N, 3, 3) float, T: (N, 3) float.
    """
    if eye is not None:
        eye, at, up = _common_dtype(*convert_to_tensors_and_broadcast(eye, at, up, device=device))
        C = eye
    else:
        dist, elev, azim, at, up = _common_dtype(
            *convert_to_tensors_and_broadcast(dist, elev, azim, at, up, device=device)
        )
        C = camera_position_from_spherical_angles(dist, elev, azim, degrees=degrees, device=device)
        C = C + at
    R = look_at_rotation(C, at, up, device=device)
    T = -torch.bmm(R.transpose(1, 2), C[:, :, None])[:, :, 0]
    return R, T
