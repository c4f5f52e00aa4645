"""Visual hull: the cells of a grid that every view's silhouette (and depth map) allows."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inverse3d._validation import check_positive_int, check_tensor

__all__ = ["carve_visual_hull", "grid_cell_centres"]


def grid_cell_centres(resolution: int, bound: float, device=None) -> torch.Tensor:
    """(R^3, 3) cell centres of the cube [-bound, bound]^3 split into R^3 cells, in the order of
    a (z, y, x) volume (x fastest), as marching_cubes expects."""
    resolution = check_positive_int(resolution, "resolution")
    lin = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) / resolution
    lin = (lin * 2.0 - 1.0) * bound
    z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")
    return torch.stack([x, y, z], dim=-1).reshape(-1, 3)


def carve_visual_hull(
    masks: torch.Tensor,
    cameras,
    resolution: int = 96,
    bound: float = 1.0,
    depths: torch.Tensor | None = None,
    mask_threshold: float = 0.3,
    depth_margin: float = 1.5,
) -> torch.Tensor:
    """Occupancy of the cells of [-bound, bound]^3 consistent with every view.

    A cell centre is carved when it projects into an image onto a point whose mask (bilinear
    between pixel centres, PyTorch3D's convention: pixel (i, j) has its centre at screen position
    (j + 0.5, i + 0.5)) is below `mask_threshold`, or, with depth maps, when it lies in front of the
    observed depth of the pixel that contains it by more than `depth_margin` cells. Points that
    project outside an image are not carved by it.

    masks: (N, H, W) float in [0, 1]; cameras: N cameras; depths: (N, H, W) float view depths
    (0 = unknown) or None.
    Returns: (R, R, R) float occupancy in {0, 1} indexed (z, y, x).
    """
    dims: dict[str, int] = {}
    check_tensor(masks, "masks", ("N", "H", "W"), "float", dims)
    if depths is not None:
        check_tensor(depths, "depths", ("N", "H", "W"), "float", dims)
    n, h, w = dims["N"], dims["H"], dims["W"]
    if len(cameras) != n:
        raise ValueError(f"cameras must hold one camera per mask ({n}); got {len(cameras)}")
    resolution = check_positive_int(resolution, "resolution")
    device = masks.device
    pts = grid_cell_centres(resolution, bound, device)
    alive = torch.arange(pts.shape[0], device=device)
    margin = depth_margin * 2.0 * bound / resolution
    for i in range(n):
        if alive.numel() == 0:
            break
        cam = cameras[i]
        p = pts[alive]
        scr = cam.transform_points_screen(p[None], image_size=((h, w),))[0]
        x, y = scr[:, 0], scr[:, 1]
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        grid = torch.stack([x / w * 2 - 1, y / h * 2 - 1], -1)[None, None]
        m = F.grid_sample(
            masks[i][None, None], grid, mode="bilinear", align_corners=False, padding_mode="border"
        )[0, 0, 0]
        keep = ~inside | (m >= mask_threshold)
        if depths is not None:
            z = cam.get_world_to_view_transform().transform_points(p[None])[0][:, 2]
            xi = x.floor().clamp(0, w - 1).long()
            yi = y.floor().clamp(0, h - 1).long()
            dep = depths[i][yi, xi]
            keep = keep & (~inside | (dep <= 0) | (z >= dep - margin))
        alive = alive[keep]
    occ = torch.zeros(pts.shape[0], device=device)
    occ[alive] = 1.0
    return occ.reshape(resolution, resolution, resolution)
