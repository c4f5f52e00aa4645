"""Vectorized, chunked point rasterization (PyTorch3D 0.7.9 semantics, no bin overflow).

Every point is a disk of radius r (NDC units) facing the camera. A pixel is covered by a point
when the squared xy distance between the pixel centre and the point is < r**2 and the point's
z is >= 0; each pixel keeps its K covering points of smallest z.

How it works (loops only over chunks, never over points or pixels):

1. Each point's disk is turned into a range of pixel rows and columns (bounding box).
2. The (point, pixel) candidate pairs are numbered point after point and taken in ranges of
   ``_PAIR_BUDGET`` (even one huge disk is split); for each range the squared distances are
   evaluated and the covering pairs kept. When the kept pairs pass the budget they are reduced
   to the K nearest per pixel with one stable sort on a (pixel, depth) key (ties go to the
   lower point index).
3. The selected point indices are scattered into the dense (N, H, W, K) idx; zbuf and dists are
   then gathered from the point positions with autograd, so gradients reach the points.

``bin_size`` and ``max_points_per_bin`` are accepted for compatibility; they change nothing:
the output is complete whatever they say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from inverse3d._dispatch import use_triton
from inverse3d._validation import check_finite, check_nonneg_int, check_positive_int
from inverse3d.renderer.points._radius import format_radius

__all__ = ["rasterize_points"]

# Candidate (point, pixel) pairs evaluated at once; bounds the working memory of a chunk.
_PAIR_BUDGET = 1 << 21


def _parse_image_size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, (tuple, list, torch.Size)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be an int or a pair (H, W); got {image_size!r}")
        return (
            check_positive_int(image_size[0], "image_size[0] (H)"),
            check_positive_int(image_size[1], "image_size[1] (W)"),
        )
    s = check_positive_int(image_size, "image_size")
    return s, s


def _ndc_half_extents(H: int, W: int) -> tuple[float, float]:
    """Half extents (along y, along x) of the image in NDC: the shorter side spans [-1, 1]."""
    return (H / W if H > W else 1.0), (W / H if W > H else 1.0)


def _pixel_centers(H: int, W: int, dtype: torch.dtype, device: torch.device):
    """NDC centres ys: (H,) (row 0 at the top, +Y) and xs: (W,) (column 0 at the left, +X)."""
    offy, offx = _ndc_half_extents(H, W)
    i_row = torch.arange(H, dtype=dtype, device=device)
    i_col = torch.arange(W, dtype=dtype, device=device)
    ys = offy - offy * (2.0 * i_row + 1.0) / H
    xs = offx - offx * (2.0 * i_col + 1.0) / W
    return ys, xs


def _sort_by_pixel_then_depth(pix: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Permutation ordering the pairs by pixel, then depth, then input order (stable)."""
    if z.dtype in (torch.float32, torch.float16, torch.bfloat16) and z.numel():
        # z >= 0 here, and the bits of a non-negative float32 sort like its value: one sort
        # on (pixel << 32 | bits(z)) does both keys (+ 0.0 turns -0.0 into +0.0)
        zbits = (z.float() + 0.0).view(torch.int32).to(torch.int64)
        return torch.sort((pix << 32) | zbits, stable=True).indices
    order = torch.sort(z, stable=True).indices
    return order[torch.sort(pix[order], stable=True).indices]


def _reduce_topk(
    pix: torch.Tensor, z: torch.Tensor, pt: torch.Tensor, K: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep, per pixel, the K pairs of smallest z (ties keep the input order); the result is
    grouped by pixel, nearest first."""
    order = _sort_by_pixel_then_depth(pix, z)
    pix, z, pt = pix[order], z[order], pt[order]
    new_group = torch.ones_like(pix, dtype=torch.bool)
    new_group[1:] = pix[1:] != pix[:-1]
    pos = torch.arange(pix.shape[0], device=pix.device)
    group_start = torch.cummax(torch.where(new_group, pos, torch.zeros_like(pos)), dim=0).values
    keep = (pos - group_start) < K
    return pix[keep], z[keep], pt[keep]


def _select_reference(idx_flat, px, py, pz, r, cloud, c0, c1, r0, r1, valid, H, W, K):
    """The reference selection: fills idx_flat (N*H*W*K,) with the K nearest covering
    points of every pixel (see the module docstring)."""
    device, dtype = px.device, px.dtype
    ncol = (c1 - c0 + 1).clamp(min=0)
    counts = torch.where(valid, ncol * (r1 - r0 + 1).clamp(min=0), 0)
    ys, xs = _pixel_centers(H, W, dtype, device)
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1])
    starts = ends - counts
    keep_pix: list[torch.Tensor] = []
    keep_z: list[torch.Tensor] = []
    keep_pt: list[torch.Tensor] = []
    n_kept = n_reduced = 0
    # the candidate pairs are numbered 0..total-1 point after point; take them in
    # ranges of _PAIR_BUDGET (a point with a huge disk is split over several ranges)
    for s0 in range(0, total, _PAIR_BUDGET):
        pair = torch.arange(s0, min(s0 + _PAIR_BUDGET, total), device=device)
        pt = torch.searchsorted(ends, pair, right=True)  # owning point of each pair
        off = pair - starts[pt]
        col = c0[pt] + off % ncol[pt]
        row = r0[pt] + off // ncol[pt]
        d2 = (px[pt] - xs[col]) ** 2 + (py[pt] - ys[row]) ** 2
        hit = d2 < r[pt] ** 2
        pt, col, row = pt[hit], col[hit], row[hit]
        keep_pix.append((cloud[pt] * H + row) * W + col)
        keep_z.append(pz[pt])
        keep_pt.append(pt)
        n_kept += pt.shape[0]
        if n_kept > n_reduced + 2 * _PAIR_BUDGET:  # bound the memory of kept pairs
            sel = _reduce_topk(torch.cat(keep_pix), torch.cat(keep_z), torch.cat(keep_pt), K)
            keep_pix, keep_z, keep_pt = [sel[0]], [sel[1]], [sel[2]]
            n_kept = n_reduced = sel[0].shape[0]
    if keep_pix:
        pix, _, pt = _reduce_topk(torch.cat(keep_pix), torch.cat(keep_z), torch.cat(keep_pt), K)
        # rank of each kept pair within its pixel (pairs are grouped by pixel)
        new_group = torch.ones_like(pix, dtype=torch.bool)
        new_group[1:] = pix[1:] != pix[:-1]
        pos = torch.arange(pix.shape[0], device=device)
        first = torch.cummax(torch.where(new_group, pos, 0), dim=0).values
        idx_flat[pix * K + (pos - first)] = pt


def rasterize_points(
    pointclouds: Any,
    image_size: int | Sequence[int] = 256,
    radius: float | list | tuple | torch.Tensor = 0.01,
    points_per_pixel: int = 8,
    bin_size: int | None = None,
    max_points_per_bin: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rasterize a batch of point clouds given in NDC (x, y) and view depth z.

    Args:
        pointclouds: `Pointclouds` of N clouds whose points are (x_ndc, y_ndc, z).
        image_size: S or (H, W); the shorter side spans NDC [-1, 1].
        radius: disk radius in NDC units: a number, a (N, P) padded or (P_packed,) tensor, or a
            list of N (P_i,) tensors (one radius per point), all > 0.
        points_per_pixel: K, points kept per pixel (nearest in z first).
        bin_size, max_points_per_bin: accepted for compatibility; they do not affect anything.

    Returns:
        idx: (N, H, W, K) int64 packed point indices, in ascending z; -1 where fewer than K.
        zbuf: (N, H, W, K) float z of those points; -1 where empty.
        dists: (N, H, W, K) float squared NDC xy distance pixel centre <-> point; -1 where
            empty. zbuf and dists are differentiable with respect to the point positions.
    """
    H, W = _parse_image_size(image_size)
    K = check_positive_int(points_per_pixel, "points_per_pixel")
    if bin_size is not None:
        check_nonneg_int(bin_size, "bin_size")
    if max_points_per_bin is not None:
        check_positive_int(max_points_per_bin, "max_points_per_bin")
    if not hasattr(pointclouds, "points_packed"):
        raise TypeError(f"pointclouds must be a Pointclouds; got {type(pointclouds).__name__}")
    points = pointclouds.points_packed()  # (P, 3)
    pts_d = points.detach()
    if pts_d.numel() and not bool(torch.isfinite(pts_d).all()):
        # x/y of a point on or behind the camera plane may be 0/0 (a world point at the camera
        # centre): it is skipped, as in PyTorch3D. Anything else non-finite is an error.
        xy_ok = torch.isfinite(pts_d[:, :2]).all(-1) | (pts_d[:, 2] <= 0)
        if not bool(torch.isfinite(pts_d[:, 2]).all()) or not bool(xy_ok.all()):
            check_finite(pts_d, "pointclouds points")
    N = len(pointclouds)
    device, dtype = points.device, points.dtype
    r = format_radius(radius, pointclouds, points)  # (P,)

    idx_flat = torch.full((N * H * W * K,), -1, dtype=torch.int64, device=device)
    P = points.shape[0]
    if P > 0:
        with torch.no_grad():
            pts = points.detach()
            cloud = pointclouds.packed_to_cloud_idx().to(device)
            offy, offx = _ndc_half_extents(H, W)
            px, py, pz = pts[:, 0], pts[:, 1], pts[:, 2]
            # pixel i has centre x_i = offx - offx (2 i + 1) / W: invert for the disk's span
            c0 = torch.floor((W * (offx - px - r) / offx - 1.0) / 2.0).clamp(0, W - 1)
            c1 = torch.ceil((W * (offx - px + r) / offx - 1.0) / 2.0).clamp(0, W - 1)
            r0 = torch.floor((H * (offy - py - r) / offy - 1.0) / 2.0).clamp(0, H - 1)
            r1 = torch.ceil((H * (offy - py + r) / offy - 1.0) / 2.0).clamp(0, H - 1)
            c0, c1, r0, r1 = (t.long() for t in (c0, c1, r0, r1))
            outside = (px - r >= offx) | (px + r <= -offx) | (py - r >= offy) | (py + r <= -offy)
            valid = (pz >= 0) & ~outside & torch.isfinite(px) & torch.isfinite(py)
            ys, xs = _pixel_centers(H, W, dtype, device)
            if dtype in (torch.float32, torch.float64) and use_triton(pts, experimental=True):
                from inverse3d.renderer.points._triton.rasterize import rasterize_points_select

                box = torch.stack([c0, c1, r0, r1])
                sel = rasterize_points_select(px, py, pz, r, cloud, box, valid, xs, ys, N, K)
                idx_flat = sel.view(-1)
            else:
                _select_reference(idx_flat, px, py, pz, r, cloud, c0, c1, r0, r1, valid, H, W, K)
    # zbuf and dists of the filled entries only, gathered from the points with autograd
    filled = torch.nonzero(idx_flat >= 0)[:, 0]  # (M,) flat entries
    p = points[idx_flat[filled]]  # (M, 3)
    pix = filled // K
    ys, xs = _pixel_centers(H, W, dtype, device)
    dx = p[:, 0] - xs[pix % W]
    dy = p[:, 1] - ys[(pix // W) % H]
    empty = torch.full((N * H * W * K,), -1.0, dtype=dtype, device=device)
    zbuf = empty.index_put((filled,), p[:, 2])
    dists = empty.index_put((filled,), dx * dx + dy * dy)
    shape = (N, H, W, K)
    return idx_flat.reshape(shape), zbuf.reshape(shape), dists.reshape(shape)
