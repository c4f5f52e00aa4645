"""Fused soft silhouette: MeshRasterizer + SoftSilhouetteShader's alpha in one pass, without
(N, H, W, K) tensors (see `rasterize_meshes.soft_silhouette_meshes`)."""

from __future__ import annotations

import torch

from inverse3d.renderer.blending import BlendParams
from inverse3d.renderer.mesh.rasterize_meshes import soft_silhouette_meshes
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings

__all__ = ["soft_silhouette"]


def soft_silhouette(
    meshes_world,
    cameras,
    raster_settings: RasterizationSettings | None = None,
    sigma: float | None = None,
    blend_params: BlendParams | None = None,
    **kwargs,
) -> torch.Tensor:
    """Alpha of ``MeshRenderer(MeshRasterizer(cameras, raster_settings),
    SoftSilhouetteShader(blend_params))(meshes_world)[..., 3]``, fused.

    Same selection of the K nearest faces per pixel and same formula
    alpha = 1 - prod_k (1 - sigmoid(-d_k / sigma)), evaluated in log space (equal to the
    unfused path up to rounding); neither the forward nor the autograd graph holds a
    (N, H, W, K) tensor, only (N, H, W) per-pixel sums. The backward selects the pixel's faces
    again. CUDA float32 meshes run a Triton kernel when INVERSE3D_KERNELS=triton.

    Args:
        meshes_world: Meshes of batch size N in world space.
        cameras: 1 or N cameras.
        raster_settings: RasterizationSettings (None: the defaults); bin_size and
            max_faces_per_bin are ignored, as by the rasterizer.
        sigma: the sigmoid's width; None takes blend_params.sigma (default BlendParams: 1e-4).
        blend_params: used for sigma when sigma is None.
        kwargs: per-call camera fields (R=, T=, ...) as MeshRasterizer.forward.

    Returns:
        (N, H, W) float alpha, differentiable w.r.t. the vertex positions (and cameras).
    """
    if cameras is None:
        raise ValueError("cameras must be a cameras object; got None")
    if raster_settings is None:
        raster_settings = RasterizationSettings()
    if not isinstance(raster_settings, RasterizationSettings):
        raise TypeError(
            f"raster_settings must be a RasterizationSettings; got {type(raster_settings).__name__}"
        )
    if sigma is None:
        sigma = (blend_params if blend_params is not None else BlendParams()).sigma
    rasterizer = MeshRasterizer(cameras=cameras, raster_settings=raster_settings)
    meshes_proj = rasterizer.transform(meshes_world, cameras=cameras, **kwargs)
    kw = rasterizer.rasterize_kwargs(cameras, raster_settings)
    del kw["bin_size"], kw["max_faces_per_bin"]
    return soft_silhouette_meshes(meshes_proj, sigma=sigma, **kw)
