"""MeshRenderer: a rasterizer followed by a shader (PyTorch3D API)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MeshRenderer", "MeshRendererWithFragments"]


class MeshRenderer(nn.Module):
    """``images = shader(rasterizer(meshes, **kwargs), meshes, **kwargs)``.

    forward(meshes_world, **kwargs) -> images (N, H, W, C) float; kwargs (cameras=, lights=,
    materials=, blend_params=, raster_settings=, R=, T=, ...) reach both stages.
    """

    def __init__(self, rasterizer, shader) -> None:
        super().__init__()
        self.rasterizer = rasterizer
        self.shader = shader

    def to(self, device):  # type: ignore[override]
        self.rasterizer.to(device)
        self.shader.to(device)
        return self

    def forward(self, meshes_world, **kwargs) -> torch.Tensor:
        fragments = self.rasterizer(meshes_world, **kwargs)
        return self.shader(fragments, meshes_world, **kwargs)


class MeshRendererWithFragments(MeshRenderer):
    """As MeshRenderer but returns (images, fragments)."""

    def forward(self, meshes_world, **kwargs):  # type: ignore[override]
        fragments = self.rasterizer(meshes_world, **kwargs)
        images = self.shader(fragments, meshes_world, **kwargs)
        return images, fragments
