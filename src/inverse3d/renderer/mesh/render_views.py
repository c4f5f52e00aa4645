"""Render one mesh from many cameras at once: anti-aliased hard rasterization of its colours."""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_int

__all__ = ["render_mesh_views"]


def _with_colors(mesh):
    """The mesh itself if it has textures, else a copy with light grey vertex colours."""
    from inverse3d.renderer.mesh.textures import TexturesVertex

    if mesh.textures is not None:
        return mesh
    feats = [torch.full_like(v, 0.75) for v in mesh.verts_list()]
    return mesh.__class__(
        verts=mesh.verts_list(), faces=mesh.faces_list(), textures=TexturesVertex(feats)
    )


def render_mesh_views(
    mesh,
    cameras,
    image_size: int | tuple[int, int] = 128,
    lights=None,
    materials=None,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    supersample: int = 2,
    chunk: int = 8,
) -> torch.Tensor:
    """Render one mesh (batch of 1) from every camera with hard rasterization, anti-aliased.

    lights None: the texture colours as they are (ambient white light, no shading), which is what
    reconstructions with baked colours need; otherwise Phong shading with `lights`/`materials`.
    Rendered at `supersample` times the size and average-pooled (fractional alpha at edges).

    Returns: (N, H, W, 4) float RGBA in [0, 1], RGB composited on `background`.
    """
    from inverse3d.renderer.blending import BlendParams
    from inverse3d.renderer.lighting import AmbientLights
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.renderer.mesh.shader import HardPhongShader

    ss = check_positive_int(supersample, "supersample")
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    device = mesh.device
    mesh = _with_colors(mesh)
    if lights is None:
        lights = AmbientLights(device=device)
    shader = HardPhongShader(
        device=device,
        lights=lights,
        materials=materials,
        blend_params=BlendParams(background_color=tuple(background)),
    )
    settings = RasterizationSettings(image_size=(h * ss, w * ss), faces_per_pixel=1)
    rasterizer = MeshRasterizer(raster_settings=settings)
    out = []
    n = len(cameras)
    with torch.no_grad():
        for s in range(0, n, chunk):
            cams = cameras[list(range(s, min(n, s + chunk)))]
            frags = rasterizer(mesh.extend(len(cams)), cameras=cams)
            rgba = shader(frags, mesh.extend(len(cams)), cameras=cams)
            rgba[..., 3] = (frags.pix_to_face[..., 0] >= 0).to(rgba.dtype)
            pooled = torch.nn.functional.avg_pool2d(rgba.permute(0, 3, 1, 2), ss)
            out.append(pooled.permute(0, 2, 3, 1))
    return torch.cat(out).clamp(0.0, 1.0)
