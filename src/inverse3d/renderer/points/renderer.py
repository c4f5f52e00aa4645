"""PointsRenderer: rasterize a point cloud and composite its features (PyTorch3D 0.7.9)."""

from __future__ import annotations

from typing import Any

import torch

from inverse3d.renderer.points._radius import format_radius

__all__ = ["PointsRenderer"]


class PointsRenderer(torch.nn.Module):
    """Render point clouds with a `PointsRasterizer` and a compositor.

    Each entry k of a pixel gets the weight ``1 - dists_k / r**2`` (r its point's radius; a
    per-point radius is looked up for each entry), which the compositor blends.

    forward(point_clouds, **kwargs) -> images (N, H, W, C) float, C the feature channels of the
    clouds (plus whatever the compositor's background adds). kwargs go to the rasterizer and
    the compositor (cameras=..., background_color=...).
    """

    def __init__(self, rasterizer: Any, compositor: Any) -> None:
        super().__init__()
        self.rasterizer = rasterizer
        self.compositor = compositor

    def to(self, device: Any) -> PointsRenderer:  # type: ignore[override]
        self.rasterizer = self.rasterizer.to(device)
        self.compositor = self.compositor.to(device)
        return self

    def forward(self, point_clouds: Any, **kwargs: Any) -> torch.Tensor:
        features = point_clouds.features_packed()
        if features is None:
            raise ValueError("point_clouds must have features to render (Pointclouds(features=))")
        fragments = self.rasterizer(point_clouds, **kwargs)
        settings = kwargs.get("raster_settings", self.rasterizer.raster_settings)
        r = settings.radius
        idx = fragments.idx.long().permute(0, 3, 1, 2)  # (N, K, H, W)
        dists2 = fragments.dists.permute(0, 3, 1, 2)
        if torch.is_tensor(r) or isinstance(r, (list, tuple)):
            points = point_clouds.points_packed()
            r_packed = format_radius(r, point_clouds, points).to(dists2.dtype)
            r = r_packed[idx.clamp(min=0)] if r_packed.numel() else dists2.new_ones(())
        weights = 1.0 - dists2 / (r * r)
        images = self.compositor(idx, weights, features.permute(1, 0), **kwargs)
        return images.permute(0, 2, 3, 1)
