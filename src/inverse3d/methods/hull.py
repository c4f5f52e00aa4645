"""Initial shapes for mesh fitting: a visual hull carved from masks (and depths), and
midpoint subdivision of a mesh with its per-vertex attributes."""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_int

__all__ = ["carve_visual_hull", "mesh_from_occupancy", "subdivide", "project_vertex_colors"]


def _grid_points(resolution: int, bound: float, device) -> torch.Tensor:
    """(R^3, 3) cell centres of the cube [-bound, bound]^3, ordered as a (z, y, x) volume."""
    lin = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) / resolution
    lin = (lin * 2.0 - 1.0) * bound
    z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")
    return torch.stack([x, y, z], dim=-1).reshape(-1, 3)


def carve_visual_hull(
    data,
    resolution: int = 96,
    bound: float = 1.0,
    use_depth: bool = True,
    mask_threshold: float = 0.3,
    depth_margin: float = 1.5,
) -> torch.Tensor:
    """Occupancy of the cube [-bound, bound]^3 consistent with every training view.

    A cell centre is carved when it projects into a view onto a pixel whose mask is below
    `mask_threshold` (bilinear) or, with `use_depth` and depths in the data, when it lies in front
    of the observed depth by more than `depth_margin` cells. Points outside an image are kept.
    Returns: (R, R, R) float occupancy in {0, 1} indexed (z, y, x) as marching_cubes expects.
    """
    resolution = check_positive_int(resolution, "resolution")
    if data.masks is None:
        raise ValueError("carve_visual_hull needs masks in the data; got masks=None")
    device = data.images.device
    pts = _grid_points(resolution, bound, device)
    alive = torch.arange(pts.shape[0], device=device)
    h, w = data.image_size
    margin = depth_margin * 2.0 * bound / resolution
    depths = data.depths if use_depth else None
    for i in data.train_idx:
        if alive.numel() == 0:
            break
        cam = data.cameras[i]
        p = pts[alive]
        scr = cam.transform_points_screen(p[None], image_size=((h, w),))[0]
        x, y = scr[:, 0], scr[:, 1]
        inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        grid = torch.stack([x / (w - 1) * 2 - 1, y / (h - 1) * 2 - 1], -1)[None, None]
        m = torch.nn.functional.grid_sample(
            data.masks[i][None, None], grid, mode="bilinear", align_corners=True
        )[0, 0, 0]
        keep = ~inside | (m >= mask_threshold)
        if depths is not None:
            z = cam.get_world_to_view_transform().transform_points(p[None])[0][:, 2]
            xi = x.round().clamp(0, w - 1).long()
            yi = y.round().clamp(0, h - 1).long()
            dep = depths[i][yi, xi]
            keep = keep & (~inside | (dep <= 0) | (z >= dep - margin))
        alive = alive[keep]
    occ = torch.zeros(pts.shape[0], device=device)
    occ[alive] = 1.0
    return occ.reshape(resolution, resolution, resolution)


def _blur3d(vol: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (D, H, W) volume (edge-replicated)."""
    if sigma <= 0:
        return vol
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=vol.dtype, device=vol.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = vol[None, None]
    for dim in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + dim] = k.numel()
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - dim)] = pad[2 * (2 - dim) + 1] = r
        x = torch.nn.functional.conv3d(
            torch.nn.functional.pad(x, pad, mode="replicate"), k.reshape(shape)
        )
    return x[0, 0]


def mesh_from_occupancy(
    occ: torch.Tensor, bound: float = 1.0, smooth_sigma: float = 0.8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Marching cubes of a blurred (z, y, x) occupancy grid at 0.5, faces oriented outwards.

    occ: (R, R, R) float indexed (z, y, x) over cell centres of [-bound, bound]^3.
    Returns verts (V, 3) float in world units and faces (F, 3) int64.
    """
    from inverse3d.ops.marching_cubes import marching_cubes

    r = occ.shape[0]
    vol = torch.nn.functional.pad(_blur3d(occ.float(), smooth_sigma), (1, 1, 1, 1, 1, 1))
    verts, faces = marching_cubes(vol[None], isolevel=0.5, return_local_coords=False)
    v, f = verts[0].detach(), faces[0].long()
    # Index coordinates of the padded grid -> world: cell centre c maps to (c + 0.5) / r.
    v = ((v - 1.0 + 0.5) / r * 2.0 - 1.0) * bound
    # marching_cubes orients normals towards increasing values (the inside here): flip them.
    return v.float(), f[:, [0, 2, 1]]


def subdivide(
    verts: torch.Tensor, faces: torch.Tensor, feats: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Midpoint subdivision: every triangle into four; new vertices at edge midpoints.

    verts: (V, 3) float; faces: (F, 3) int64; feats: (V, D) float or None (averaged too).
    Returns (V + E, 3) verts, (4F, 3) faces and (V + E, D) feats; old vertices keep their index.
    """
    v = verts.shape[0]
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])  # (3F, 2)
    e_sorted = e.sort(dim=1).values
    uniq, inv = torch.unique(e_sorted, dim=0, return_inverse=True)
    mid = v + inv.reshape(3, -1).T  # (F, 3): midpoint of edges 01, 12, 20
    new_verts = torch.cat([verts, verts[uniq].mean(1)])
    a, b, c = faces.unbind(1)
    ab, bc, ca = mid.unbind(1)
    new_faces = torch.cat(
        [
            torch.stack([a, ab, ca], 1),
            torch.stack([ab, b, bc], 1),
            torch.stack([ca, bc, c], 1),
            torch.stack([ab, bc, ca], 1),
        ]
    )
    new_feats = None if feats is None else torch.cat([feats, feats[uniq].mean(1)])
    return new_verts, new_faces, new_feats


def project_vertex_colors(verts: torch.Tensor, faces: torch.Tensor, data) -> torch.Tensor:
    """Mean colour of each vertex over the training views that see it (depth test against the
    data's depth maps, else against a hard rasterization of the mesh); vertices seen by none get
    the mean of the seen ones.

    Returns: (V, 3) float in [0, 1].
    """
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.structures.meshes import Meshes

    h, w = data.image_size
    rast = MeshRasterizer(raster_settings=RasterizationSettings(image_size=(h, w)))
    mesh = Meshes([verts], [faces])
    acc = torch.zeros(verts.shape[0], 3, device=verts.device)
    cnt = torch.zeros(verts.shape[0], device=verts.device)
    tol = 0.02 * float((verts.max(0).values - verts.min(0).values).max())
    with torch.no_grad():
        for i in data.train_idx:
            cam = data.cameras[i]
            if data.depths is not None:  # the data's depth maps make the visibility test cheap
                zbuf = data.depths[i]
            else:
                zbuf = rast(mesh, cameras=cam).zbuf[0, ..., 0]
            scr = cam.transform_points_screen(verts[None], image_size=((h, w),))[0]
            z = cam.get_world_to_view_transform().transform_points(verts[None])[0][:, 2]
            xi, yi = scr[:, 0].floor().long(), scr[:, 1].floor().long()
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            xi, yi = xi.clamp(0, w - 1), yi.clamp(0, h - 1)
            zb = zbuf[yi, xi]
            vis = ok & (zb > 0) & (z <= zb + tol)
            acc[vis] += data.images[i][yi[vis], xi[vis]]
            cnt[vis] += 1
    seen = cnt > 0
    out = torch.empty_like(acc)
    out[seen] = acc[seen] / cnt[seen, None]
    out[~seen] = acc[seen].sum(0) / cnt[seen].sum().clamp(min=1) if seen.any() else 0.5
    return out.clamp(0, 1)
