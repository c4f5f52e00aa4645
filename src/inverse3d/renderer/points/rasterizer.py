"""PointsRasterizer: project a point cloud with cameras and rasterize it (PyTorch3D 0.7.9)."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import torch

from inverse3d.renderer.points.rasterize_points import rasterize_points

__all__ = ["PointFragments", "PointsRasterizationSettings", "PointsRasterizer"]


class PointFragments(NamedTuple):
    """Output of `PointsRasterizer`.

    idx: (N, H, W, K) int64 packed point indices (nearest first), -1 where empty.
    zbuf: (N, H, W, K) float view-space z of those points, -1 where empty.
    dists: (N, H, W, K) float squared NDC xy distance to the pixel centre, -1 where empty.
    """

    idx: torch.Tensor
    zbuf: torch.Tensor
    dists: torch.Tensor


@dataclasses.dataclass
class PointsRasterizationSettings:
    """Settings of `rasterize_points` (see there); same fields and defaults as PyTorch3D."""

    image_size: int | tuple[int, int] = 256
    radius: float | torch.Tensor = 0.01
    points_per_pixel: int = 8
    bin_size: int | None = None
    max_points_per_bin: int | None = None


class PointsRasterizer(torch.nn.Module):
    """Project points to NDC (keeping their view-space z) and rasterize them as disks.

    Args:
        cameras: a camera batch (any `CamerasBase`); may instead be passed to forward.
        raster_settings: `PointsRasterizationSettings` (defaults if None).

    forward(point_clouds, **kwargs) -> PointFragments; kwargs may override ``cameras``,
    ``raster_settings`` and camera parameters (R, T, ...), and give ``eps`` for the projection.
    """

    def __init__(
        self, cameras: Any = None, raster_settings: PointsRasterizationSettings | None = None
    ) -> None:
        super().__init__()
        if raster_settings is None:
            raster_settings = PointsRasterizationSettings()
        self.cameras = cameras
        self.raster_settings = raster_settings

    def transform(self, point_clouds: Any, **kwargs: Any) -> Any:
        """Point clouds with (x_ndc, y_ndc, z_view) points."""
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError(
                "cameras must be given to PointsRasterizer(cameras=...) or to forward(cameras=...)"
            )
        cam_kwargs = {k: v for k, v in kwargs.items() if k != "cameras"}
        pts_world = point_clouds.points_padded()  # (N, P, 3)
        eps = cam_kwargs.pop("eps", None)
        pts_view = cameras.get_world_to_view_transform(**cam_kwargs).transform_points(
            pts_world, eps=eps
        )
        pts_ndc = cameras.transform_points_ndc(pts_world, eps=eps, **cam_kwargs)
        pts = torch.cat((pts_ndc[..., :2], pts_view[..., 2:3]), dim=-1)
        return point_clouds.update_padded(pts)

    def to(self, device: Any) -> PointsRasterizer:  # type: ignore[override]
        if self.cameras is not None:
            self.cameras = self.cameras.to(device)
        return self

    def forward(self, point_clouds: Any, **kwargs: Any) -> PointFragments:
        if not hasattr(point_clouds, "points_padded"):
            raise TypeError(
                f"point_clouds must be a Pointclouds; got {type(point_clouds).__name__}"
            )
        clouds_ndc = self.transform(point_clouds, **kwargs)
        s = kwargs.get("raster_settings", self.raster_settings)
        idx, zbuf, dists = rasterize_points(
            clouds_ndc,
            image_size=s.image_size,
            radius=s.radius,
            points_per_pixel=s.points_per_pixel,
            bin_size=s.bin_size,
            max_points_per_bin=s.max_points_per_bin,
        )
        return PointFragments(idx=idx, zbuf=zbuf, dists=dists)
