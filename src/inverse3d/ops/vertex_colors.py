"""Colours of a mesh's vertices from posed images (texture baking by projection)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_tensor

__all__ = ["project_vertex_colors"]


def project_vertex_colors(
    verts: torch.Tensor,
    faces: torch.Tensor,
    images: torch.Tensor,
    cameras,
    depths: torch.Tensor | None = None,
    tolerance: float = 0.02,
) -> torch.Tensor:
    """Mean colour of each vertex over the images that see it.

    A vertex is seen by an image when it projects inside it and is not behind the visible surface:
    its view depth is at most the surface's depth plus `tolerance` times the mesh's size. The
    surface's depth is the image's depth map when `depths` is given, else the z-buffer of a hard
    rasterization of the mesh. The colour is read at the pixel that contains the projection
    (pixel centres at j + 0.5, as the rasterizer's). Vertices seen by no image get the mean colour
    of the seen ones (0.5 when none is seen).

    verts: (V, 3) float; faces: (F, 3) int64; images: (N, H, W, 3) float; cameras: N cameras;
    depths: (N, H, W) float view depths (0 = unknown) or None.
    Returns: (V, 3) float in [0, 1].
    """
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.structures.meshes import Meshes

    dims: dict[str, int] = {}
    check_tensor(verts, "verts", ("V", 3), "float", dims)
    check_tensor(images, "images", ("N", "H", "W", 3), "float", dims)
    if depths is not None:
        check_tensor(depths, "depths", ("N", "H", "W"), "float", dims)
    if len(cameras) != dims["N"]:
        raise ValueError(
            f"cameras must hold one camera per image ({dims['N']}); got {len(cameras)}"
        )
    h, w = dims["H"], dims["W"]
    rast = MeshRasterizer(raster_settings=RasterizationSettings(image_size=(h, w)))
    mesh = Meshes([verts], [faces])
    acc = torch.zeros(verts.shape[0], 3, device=verts.device)
    cnt = torch.zeros(verts.shape[0], device=verts.device)
    size = float((verts.max(0).values - verts.min(0).values).max()) if verts.shape[0] else 0.0
    tol = tolerance * size
    with torch.no_grad():
        for i in range(dims["N"]):
            cam = cameras[i]
            zbuf = depths[i] if depths is not None else rast(mesh, cameras=cam).zbuf[0, ..., 0]
            scr = cam.transform_points_screen(verts[None], image_size=((h, w),))[0]
            z = cam.get_world_to_view_transform().transform_points(verts[None])[0][:, 2]
            xi, yi = scr[:, 0].floor().long(), scr[:, 1].floor().long()
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            xi, yi = xi.clamp(0, w - 1), yi.clamp(0, h - 1)
            zb = zbuf[yi, xi]
            vis = ok & (zb > 0) & (z <= zb + tol)
            acc[vis] += images[i][yi[vis], xi[vis]]
            cnt[vis] += 1
    seen = cnt > 0
    out = torch.full_like(acc, 0.5)
    out[seen] = acc[seen] / cnt[seen, None]
    if seen.any():
        out[~seen] = acc[seen].sum(0) / cnt[seen].sum()
    return out.clamp(0, 1)
