"""Visual hull: the cells of a regular grid that every view's mask (and depth map) leaves occupied.

Conventions (PyTorch3D's):

- Pixel (i, j) of an (H, W) image covers screen positions [j, j + 1) x [i, i + 1) and has its
  centre at screen (j + 0.5, i + 0.5); screen space is what `cameras.transform_points_screen`
  returns (origin top-left, +x right, +y down). A point is *seen* by a view when its screen
  position lies in [0, W) x [0, H) and, for perspective cameras, its view depth z is > 0 (points
  on or behind the camera plane are not seen). Orthographic cameras see every depth.
- A view never carves a point it does not see (outside its image or behind it); `min_views` then
  carves the points seen by too few views.
- The grid over the box [min, max] has D x H x W cells (counts along z, y, x); cell (d, h, w) has
  its centre at ``min + (index + 0.5) * (max - min) / count`` per axis, i.e. at
  (x_w, y_h, z_d): the (D, H, W) layout of `Volumes` densities and of `marching_cubes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from inverse3d._validation import (
    check_choice,
    check_nonneg_int,
    check_positive_float,
    check_positive_int,
    check_tensor,
)

__all__ = ["visual_hull", "visual_hull_grid_points"]

_CHUNK = 1 << 20  # points projected at once


def _check_bounds(bounds: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    b = torch.as_tensor(bounds, dtype=torch.float64)
    if b.shape != (2, 3):
        raise ValueError(
            "bounds must have shape (2, 3) ([[xmin, ymin, zmin], [xmax, ymax, zmax]]); "
            f"got {tuple(b.shape)}"
        )
    if not bool(torch.isfinite(b).all()) or not bool((b[1] > b[0]).all()):
        raise ValueError(f"bounds must be finite with max > min on every axis; got {b.tolist()}")
    return b.to(dtype=dtype, device=device)


def _check_resolution(resolution: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(resolution, Sequence):
        if len(resolution) != 3:
            raise ValueError(f"resolution must be an int or (D, H, W); got {tuple(resolution)}")
        d, h, w = (check_positive_int(r, "resolution") for r in resolution)
        return d, h, w
    r = check_positive_int(resolution, "resolution")
    return r, r, r


def visual_hull_grid_points(
    bounds: Any,
    resolution: int | Sequence[int],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Centres of the cells of the regular grid over a box.

    bounds: (2, 3) float: [[xmin, ymin, zmin], [xmax, ymax, zmax]].
    resolution: int (a cube of cells) or (D, H, W): cell counts along z, y and x.
    Returns: (D, H, W, 3) float; entry [d, h, w] is (x_w, y_h, z_d) with
    ``x_w = xmin + (w + 0.5) * (xmax - xmin) / W`` (and likewise for y over H, z over D).
    """
    d, h, w = _check_resolution(resolution)
    b = _check_bounds(bounds, dtype, torch.device(device))

    def axis(n: int, k: int) -> torch.Tensor:
        t = (torch.arange(n, dtype=dtype, device=b.device) + 0.5) / n
        return b[0, k] + t * (b[1, k] - b[0, k])

    z, y, x = torch.meshgrid(axis(d, 2), axis(h, 1), axis(w, 0), indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def _sample_nearest(image: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """image: (H, W); px, py: (P,) screen positions inside [0, W) x [0, H). Returns (P,)."""
    h, w = image.shape
    i = py.floor().long().clamp(0, h - 1)
    j = px.floor().long().clamp(0, w - 1)
    return image[i, j]


def _sample_bilinear(image: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Bilinear between pixel centres (j + 0.5, i + 0.5), edge pixels extended. Returns (P,)."""
    h, w = image.shape
    grid = torch.stack([px / w * 2.0 - 1.0, py / h * 2.0 - 1.0], dim=-1)  # (P, 2)
    out = F.grid_sample(
        image[None, None],
        grid[None, None].to(image.dtype),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )
    return out[0, 0, 0]


def visual_hull(
    cameras: Any,
    masks: torch.Tensor,
    bounds: Any,
    resolution: int | Sequence[int] = 64,
    depths: torch.Tensor | None = None,
    mask_threshold: float = 0.5,
    depth_tolerance: float = 0.0,
    min_views: int = 0,
    mask_sampling: str = "nearest",
) -> torch.Tensor:
    """Occupancy of the grid over `bounds` that agrees with every view's mask (and depth).

    A cell, represented by its centre, is carved (empty) when

    - a view that sees it (see the module docstring) samples its mask below `mask_threshold`
      at the cell's projection;
    - `depths` is given and a view that sees it observed a depth d > 0 at the pixel it projects
      into while the cell lies in front of that surface by more than `depth_tolerance`:
      z < d - depth_tolerance, z the cell's view depth. Cells behind the observed surface (z >=
      d - depth_tolerance: inside the object or hidden by it) are kept; pixels with d <= 0 or a
      non-finite d (no observation) carve nothing;
    - fewer than `min_views` views see it.

    cameras: a batch of N cameras (any `CamerasBase`), one per mask.
    masks: (N, H, W) float (or bool) foreground masks, 1 = object.
    bounds: (2, 3) float: [[xmin, ymin, zmin], [xmax, ymax, zmax]] in world units.
    resolution: int or (D, H, W) cell counts along z, y, x.
    depths: (N, H, W) float view-space depths (z, as in a rasterizer's zbuf) or None.
    mask_threshold: masks are foreground where >= this value.
    depth_tolerance: world units (>= 0) a cell may lie in front of the observed depth and stay.
    min_views: cells seen by fewer views are carved (0: a cell no view sees is kept).
    mask_sampling: "nearest" (the mask value of the pixel containing the projection) or
        "bilinear" (interpolated between pixel centres). Depths are always sampled nearest.
    Returns: (D, H, W) bool occupancy, True = occupied, on the masks' device; cell [d, h, w] has
    its centre at `visual_hull_grid_points(bounds, resolution)[d, h, w]`.
    """
    masks = check_tensor(masks, "masks", ("N", None, None), dtype=("float", "bool"))
    n, h, w = masks.shape
    if not hasattr(cameras, "transform_points_screen") or not hasattr(cameras, "__len__"):
        raise TypeError(f"cameras must be a CamerasBase batch; got {type(cameras).__name__}")
    if len(cameras) != n:
        raise ValueError(f"cameras must hold one camera per mask (N={n}); got {len(cameras)}")
    if depths is not None:
        depths = check_tensor(depths, "depths", (n, h, w), dtype="float")
    mask_threshold = float(mask_threshold)
    depth_tolerance = check_positive_float(depth_tolerance, "depth_tolerance", allow_zero=True)
    min_views = check_nonneg_int(min_views, "min_views")
    check_choice(mask_sampling, "mask_sampling", ("nearest", "bilinear"))
    sample = _sample_nearest if mask_sampling == "nearest" else _sample_bilinear

    device = masks.device
    pts = visual_hull_grid_points(bounds, resolution, device=device).reshape(-1, 3)  # (P, 3)
    masks_f = masks.float()
    alive = torch.arange(pts.shape[0], device=device)  # cells not carved yet
    seen = torch.zeros(pts.shape[0], dtype=torch.int32, device=device)
    for v in range(n):
        if alive.numel() == 0:
            break
        cam = cameras[v]
        perspective = bool(cam.is_perspective())
        keep_parts = []
        for start in range(0, alive.numel(), _CHUNK):
            idx = alive[start : start + _CHUNK]
            p = pts[idx].to(cam.R.dtype)[None]  # (1, P, 3)
            scr = cam.transform_points_screen(p, image_size=((h, w),))[0]
            z = cam.get_world_to_view_transform().transform_points(p)[0, :, 2]
            px, py = scr[:, 0], scr[:, 1]
            vis = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            if perspective:
                vis &= z > 0
            px = torch.where(vis, px, torch.zeros_like(px))
            py = torch.where(vis, py, torch.zeros_like(py))
            keep = ~vis | (sample(masks_f[v], px, py) >= mask_threshold)
            if depths is not None:
                dep = _sample_nearest(depths[v], px, py)
                observed = vis & torch.isfinite(dep) & (dep > 0)
                keep &= ~observed | (z >= dep - depth_tolerance)
            seen[idx] += vis.int()
            keep_parts.append(keep)
        alive = alive[torch.cat(keep_parts)]
    occ = torch.zeros(pts.shape[0], dtype=torch.bool, device=device)
    occ[alive] = True
    if min_views > 0:
        occ &= seen >= min_views
    d_, h_, w_ = _check_resolution(resolution)
    return occ.reshape(d_, h_, w_)
