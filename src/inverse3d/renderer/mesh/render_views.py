"""Render one mesh from many cameras at once: anti-aliased hard rasterization of its colours
(`render_mesh_views`) or of its silhouette alone (`render_mesh_silhouettes`)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_int

__all__ = ["render_mesh_silhouettes", "render_mesh_views"]


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


def render_mesh_silhouettes(
    mesh,
    cameras,
    image_size: int | tuple[int, int],
    supersample: int = 1,
    chunk: int = 8,
) -> torch.Tensor:
    """Hard silhouettes of one mesh (batch of 1) from every camera: the covered pixels.

    A pixel's value is the fraction of its supersample x supersample sub-pixel centres that some
    face covers (hard rasterization: no blur, one face per pixel, so no gradient). supersample 1
    gives binary masks sampled at the pixel centres; 2 gives the alpha of `render_mesh_views`.

    mesh: `Meshes` holding one mesh. cameras: a batch of N cameras.
    image_size: H = W (int) or (H, W), positive. supersample, chunk: positive ints.
    Returns: (N, H, W) float in [0, 1] on the mesh's device.
    """
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings

    ss = check_positive_int(supersample, "supersample")
    chunk = check_positive_int(chunk, "chunk")
    if not hasattr(mesh, "verts_packed") or len(mesh) != 1:
        got = len(mesh) if hasattr(mesh, "verts_packed") else type(mesh).__name__
        raise ValueError(f"mesh must be a Meshes holding one mesh; got {got}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if len(image_size) != 2 or any(not isinstance(s, int) or s < 1 for s in image_size):
        raise ValueError(f"image_size must be a positive int or (H, W); got {image_size!r}")
    h, w = image_size
    rasterizer = MeshRasterizer(
        raster_settings=RasterizationSettings(image_size=(h * ss, w * ss), faces_per_pixel=1)
    )
    out = []
    n = len(cameras)
    with torch.no_grad():
        for s in range(0, n, chunk):
            cams = cameras[list(range(s, min(n, s + chunk)))]
            frags = rasterizer(mesh.detach().extend(len(cams)), cameras=cams)
            cover = (frags.pix_to_face[..., 0] >= 0).float()
            if ss > 1:
                cover = torch.nn.functional.avg_pool2d(cover[:, None], ss)[:, 0]
            out.append(cover)
    return torch.cat(out)
