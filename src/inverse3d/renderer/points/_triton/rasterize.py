"""Point rasterization as tile lists + one Triton kernel (the selection stage of
`rasterize_points`).

Coarse stage (PyTorch ops, no fixed capacity): the points are ordered by depth (ties by packed
index); every point is paired with each tile of TH x TW pixels that its disk's pixel box
touches; the (tile, point) pairs are stable-sorted by tile, so each tile's points form one
segment, nearest first, and `offsets` gives the segment bounds. Nothing is dropped however many
points fall on a tile: the segment is as long as it needs to be.

Fine stage (one program per tile): the tile's points are read in chunks of BP; for each pixel
the covering points of a chunk are numbered with a running count, and the first K of them are
the K nearest (the segment is in depth order), written straight into the pixel's slots. The
loop stops early once every pixel of the tile holds K points.

Memory: the pairs are built for at most PAIR_BUDGET of them at once: points (nearest first) go
in batches, and the kernel of a later batch starts from the slots the earlier ones filled, so
the result is the same whatever the batch size.

The kernel only selects integer indices; `rasterize_points` recomputes zbuf and dists with
autograd from them. Coverage is evaluated with the same float operations as the reference
(pixel centres passed in, no fused multiply-add), so the selection matches it exactly.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = [
    "BLOCK_P",
    "NUM_WARPS",
    "PAIR_BUDGET",
    "TILE_H",
    "TILE_W",
    "rasterize_points_select",
]

TILE_H = 16  # pixel rows per tile
TILE_W = 16  # pixel columns per tile
BLOCK_P = 16  # points per chunk of a tile's segment (32: register spills at 4 or 8 warps)
NUM_WARPS = 4
# (tile, point) pairs built at once (about 30 bytes each with the sort): larger problems run in
# batches of nearest-first points
PAIR_BUDGET = 1 << 25


@triton.jit
def _raster_kernel(
    offsets_ptr,  # (n_tiles + 1,) int64 segment bounds into pair_pt
    pair_pt_ptr,  # (pairs,) int64 packed point ids, grouped by tile, nearest first
    x_ptr,  # (P,) point x (NDC)
    y_ptr,  # (P,) point y (NDC)
    r_ptr,  # (P,) radius
    box_ptr,  # (4, P) int32 c0, c1, r0, r1: the point's pixel box (inclusive)
    xs_ptr,  # (W,) pixel centre x per column
    ys_ptr,  # (H,) pixel centre y per row
    out_ptr,  # (N, H, W, K) int64, pre-filled with -1
    P,
    H,
    W,
    TY,
    TX,
    K: tl.constexpr,
    KP: tl.constexpr,  # K rounded up to a power of two
    RESUME: tl.constexpr,  # out already holds the points of earlier batches
    TH: tl.constexpr,
    TW: tl.constexpr,
    BP: tl.constexpr,
):
    tile = tl.program_id(0).to(tl.int64)
    start = tl.load(offsets_ptr + tile)
    end = tl.load(offsets_ptr + tile + 1)
    n = tile // (TY * TX)
    ty = (tile // TX) % TY
    tx = tile % TX
    lin = tl.arange(0, TH * TW)
    row = ty * TH + lin // TW
    col = tx * TW + lin % TW
    pmask = (row < H) & (col < W)
    xs = tl.load(xs_ptr + col, mask=pmask, other=0.0)
    ys = tl.load(ys_ptr + row, mask=pmask, other=0.0)
    base = ((n * H + row) * W + col) * K  # (TH*TW,) first slot of each pixel
    if RESUME:  # a later batch of (farther) points: continue after the slots already filled
        slot = tl.arange(0, KP)
        smask = pmask[:, None] & (slot[None, :] < K)
        prev = tl.load(out_ptr + base[:, None] + slot[None, :], mask=smask, other=-1)
        count = tl.sum((prev >= 0).to(tl.int32), axis=1)
    else:
        count = tl.zeros((TH * TW,), dtype=tl.int32)
    count = tl.where(pmask, count, K)  # pixels outside the image count as full
    offs = tl.arange(0, BP)
    i = start
    todo = start < end
    while todo:
        o = i + offs
        m = o < end
        pid = tl.load(pair_pt_ptr + o, mask=m, other=0)
        px = tl.load(x_ptr + pid, mask=m, other=0.0)
        py = tl.load(y_ptr + pid, mask=m, other=0.0)
        pr = tl.load(r_ptr + pid, mask=m, other=0.0)
        c0 = tl.load(box_ptr + pid, mask=m, other=1)
        c1 = tl.load(box_ptr + P + pid, mask=m, other=0)
        r0 = tl.load(box_ptr + 2 * P + pid, mask=m, other=1)
        r1 = tl.load(box_ptr + 3 * P + pid, mask=m, other=0)
        dx = px[None, :] - xs[:, None]
        dy = py[None, :] - ys[:, None]
        d2 = dx * dx + dy * dy
        inbox = (col[:, None] >= c0[None, :]) & (col[:, None] <= c1[None, :])
        inbox = inbox & (row[:, None] >= r0[None, :]) & (row[:, None] <= r1[None, :])
        hit = (d2 < pr[None, :] * pr[None, :]) & inbox & m[None, :] & pmask[:, None]
        hit_i = hit.to(tl.int32)
        pos = count[:, None] + tl.cumsum(hit_i, axis=1) - 1
        keep = hit & (pos < K)
        tl.store(out_ptr + base[:, None] + pos, pid[None, :], mask=keep)
        count += tl.sum(hit_i, axis=1)
        i += BP
        todo = (i < end) & (tl.min(count) < K)


def _next_pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def rasterize_points_select(
    px: torch.Tensor,
    py: torch.Tensor,
    pz: torch.Tensor,
    radius: torch.Tensor,
    cloud: torch.Tensor,
    box: torch.Tensor,
    valid: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
    N: int,
    K: int,
    tile: tuple[int, int] | None = None,
    block_p: int | None = None,
    num_warps: int | None = None,
) -> torch.Tensor:
    """Per pixel, the packed ids of the K covering points of smallest z (ties: lower id).

    Args:
        px, py, pz: (P,) float point x, y (NDC) and z; float32 or float64, on one device.
        radius: (P,) float disk radius (same dtype).
        cloud: (P,) int64 cloud of each point, in [0, N).
        box: (4, P) int64 c0, c1, r0, r1: inclusive pixel column and row range the point's
            disk may cover, already clamped to the image.
        valid: (P,) bool points to rasterize (z >= 0, finite, overlapping the image).
        xs: (W,) float pixel centre x per column; ys: (H,) float pixel centre y per row.
        N: number of clouds. K: points per pixel.
        tile: (TH, TW) pixels per tile, powers of two (None: TILE_H, TILE_W).
        block_p: points per chunk (power of two; None: BLOCK_P).
        num_warps: warps per program (None: NUM_WARPS).

    Returns:
        (N, H, W, K) int64 packed point ids in ascending z, -1 in unfilled slots. A pixel is
        covered by a point when its pixel is inside the box and (px - xs)^2 + (py - ys)^2 < r^2.
    """
    H, W = ys.shape[0], xs.shape[0]
    dev = px.device
    out = torch.full((N, H, W, K), -1, dtype=torch.int64, device=dev)
    P = px.shape[0]
    if N == 0 or P == 0:
        return out
    th, tw = tile or (TILE_H, TILE_W)
    bp = block_p or BLOCK_P
    TY, TX = triton.cdiv(H, th), triton.cdiv(W, tw)
    n_tiles = N * TY * TX
    with torch.no_grad():
        c0, c1, r0, r1 = box.unbind(0)
        tc0, tc1 = c0 // tw, c1 // tw
        tr0, tr1 = r0 // th, r1 // th
        ntx = (tc1 - tc0 + 1).clamp(min=0)
        cnt = torch.where(valid, ntx * (tr1 - tr0 + 1).clamp(min=0), 0)
        # depth order (stable: equal depths keep the packed order), invalid points last
        key = torch.where(valid, pz, torch.full_like(pz, float("inf")))
        zorder = torch.sort(key + 0.0, stable=True).indices  # + 0.0: -0.0 sorts as 0.0
        cnt_z = cnt[zorder]
        ends = torch.cumsum(cnt_z, 0)
        total = int(ends[-1])
        # batches of nearest-first points, at most PAIR_BUDGET pairs each (one point's pairs
        # are never split): each batch's kernel continues where the previous one stopped
        args = (px.contiguous(), py.contiguous(), radius.contiguous(), box.to(torch.int32))
        args = args + (xs.contiguous(), ys.contiguous(), out.view(-1), P, H, W, TY, TX)
        start = done = 0
        while done < total:
            stop = int(torch.searchsorted(ends, done + PAIR_BUDGET, right=True))
            stop = max(stop, start + 1)
            n_pairs = int(ends[stop - 1]) - done
            pair_pt = torch.repeat_interleave(
                zorder[start:stop], cnt_z[start:stop], output_size=n_pairs
            )
            first = ends[start:stop] - cnt_z[start:stop] - done
            j = torch.arange(n_pairs, device=dev) - torch.repeat_interleave(
                first, cnt_z[start:stop], output_size=n_pairs
            )
            w = ntx[pair_pt]
            tile_id = (cloud[pair_pt] * TY + tr0[pair_pt] + j // w) * TX + tc0[pair_pt] + j % w
            if n_tiles < 2**31:
                tile_id = tile_id.to(torch.int32)
            order = torch.sort(tile_id, stable=True).indices
            pair_pt = pair_pt[order].contiguous()
            per_tile = torch.bincount(tile_id, minlength=n_tiles)
            offsets = torch.zeros(n_tiles + 1, dtype=torch.int64, device=dev)
            torch.cumsum(per_tile, 0, out=offsets[1:])
            _raster_kernel[(n_tiles,)](
                offsets, pair_pt, *args, K=K, KP=_next_pow2(K), RESUME=done > 0, TH=th, TW=tw,
                BP=bp, num_warps=num_warps or NUM_WARPS, enable_fp_fusion=False,
            )  # fmt: skip
            done += n_pairs
            start = stop
    return out
