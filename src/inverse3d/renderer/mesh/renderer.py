"""MeshRenderer: a rasterizer followed by a shader (PyTorch3D API)."""

from __future__ import annotations

import torch
from torch import nn

from inverse3d.renderer.mesh.rasterizer import MeshRasterizer
from inverse3d.renderer.mesh.shader import SoftSilhouetteShader
from inverse3d.renderer.mesh.silhouette import soft_silhouette

__all__ = ["MeshRenderer", "MeshRendererWithFragments"]


class MeshRenderer(nn.Module):
    """``images = shader(rasterizer(meshes, **kwargs), meshes, **kwargs)``.

    forward(meshes_world, **kwargs) -> images (N, H, W, C) float; kwargs (cameras=, lights=,
    materials=, blend_params=, raster_settings=, R=, T=, ...) reach both stages.
    A MeshRasterizer with SoftSilhouetteShader(fused=True) takes the fused silhouette path
    (`soft_silhouette`: RGB ones and its alpha, no fragments).
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
        if (
            type(self).forward is MeshRenderer.forward
            and type(self.rasterizer) is MeshRasterizer
            and type(self.shader) is SoftSilhouetteShader
            and self.shader.fused
        ):
            return self._fused_silhouette(meshes_world, kwargs)
        fragments = self.rasterizer(meshes_world, **kwargs)
        return self.shader(fragments, meshes_world, **kwargs)

    def _fused_silhouette(self, meshes_world, kwargs) -> torch.Tensor:
        kw = dict(kwargs)
        cameras = kw.pop("cameras", self.rasterizer.cameras)
        rs = kw.pop("raster_settings", self.rasterizer.raster_settings)
        bp = kw.pop("blend_params", self.shader.blend_params)
        alpha = soft_silhouette(meshes_world, cameras, rs, sigma=bp.sigma, **kw)
        return torch.cat((alpha.new_ones(()).expand(*alpha.shape, 3), alpha[..., None]), -1)


class MeshRendererWithFragments(MeshRenderer):
    """As MeshRenderer but returns (images, fragments)."""

    def forward(self, meshes_world, **kwargs):  # type: ignore[override]
        fragments = self.rasterizer(meshes_world, **kwargs)
        images = self.shader(fragments, meshes_world, **kwargs)
        return images, fragments
