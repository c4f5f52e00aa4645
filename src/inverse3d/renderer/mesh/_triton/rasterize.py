"""Coarse-to-fine mesh rasterization as one Triton kernel (the selection stage of
`rasterize_meshes`).

Coarse (PyTorch ops, no fixed capacity): every drawable face is paired with each screen tile
(BH x BW pixels) its grown bounding box touches; the pairs are sorted by (tile, depth lower
bound) and cut into per-tile segments by their offsets. However many faces land on one tile,
its segment holds them all.

Fine (Triton): one program per tile walks its segment in chunks of BF faces, evaluates the
(pixels, faces) block with the reference's formulas in the reference's operation order (no
fused multiply-add, correctly rounded divisions, the per-face table the reference computes),
so that coverage and depth decisions are bit-identical, and keeps for every pixel the K
smallest keys (depth bits << 32 | face): nearest depth first, equal depths by lower face
index, as the reference. With blur_radius == 0 every covering pixel lies strictly inside its
face, so its depth is at least the face's (rounding-safe) lower bound; the walk then stops as
soon as the next chunk's lower bound exceeds every pixel's current K-th depth (exact).

Only the integer selection (N, H, W, K) leaves the kernel: depth, barycentrics and distances
and their gradients are computed by the reference's pair geometry from it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["select_faces", "silhouette_backward", "silhouette_forward", "tile_shape"]

_KEY_MAX: tl.constexpr = tl.constexpr(0x7FFFFFFFFFFFFFFF)
_U32 = 2.0**-24  # float32 unit roundoff


@triton.jit
def _pair(tab_ptr, rng_ptr, F, f, fm, i, j, px, py, blur, PERSP: tl.constexpr, CLIPB: tl.constexpr):
    """Depth, squared distance and coverage of pixels (P,) x faces (BF,) -> (P, BF) each.

    Mirrors `_pair_geometry` + the reference's candidate test operation by operation.
    tab: (22, F) float32 rows of `_face_table`; rng: (4, F) int32 pixel row/col ranges."""
    f = f.to(tl.int64)  # row offsets r * F + f may pass 2**31
    x0 = tl.load(tab_ptr + 0 * F + f, mask=fm, other=0.0)[None, :]
    y0 = tl.load(tab_ptr + 1 * F + f, mask=fm, other=0.0)[None, :]
    x1 = tl.load(tab_ptr + 2 * F + f, mask=fm, other=0.0)[None, :]
    y1 = tl.load(tab_ptr + 3 * F + f, mask=fm, other=0.0)[None, :]
    x2 = tl.load(tab_ptr + 4 * F + f, mask=fm, other=0.0)[None, :]
    y2 = tl.load(tab_ptr + 5 * F + f, mask=fm, other=0.0)[None, :]
    e01x = tl.load(tab_ptr + 6 * F + f, mask=fm, other=0.0)[None, :]
    e01y = tl.load(tab_ptr + 7 * F + f, mask=fm, other=0.0)[None, :]
    e02x = tl.load(tab_ptr + 8 * F + f, mask=fm, other=0.0)[None, :]
    e02y = tl.load(tab_ptr + 9 * F + f, mask=fm, other=0.0)[None, :]
    e12x = tl.load(tab_ptr + 10 * F + f, mask=fm, other=0.0)[None, :]
    e12y = tl.load(tab_ptr + 11 * F + f, mask=fm, other=0.0)[None, :]
    inv_area = tl.load(tab_ptr + 12 * F + f, mask=fm, other=0.0)[None, :]
    il01 = tl.load(tab_ptr + 13 * F + f, mask=fm, other=0.0)[None, :]
    il02 = tl.load(tab_ptr + 14 * F + f, mask=fm, other=0.0)[None, :]
    il12 = tl.load(tab_ptr + 15 * F + f, mask=fm, other=0.0)[None, :]
    z0 = tl.load(tab_ptr + 16 * F + f, mask=fm, other=0.0)[None, :]
    z1 = tl.load(tab_ptr + 17 * F + f, mask=fm, other=0.0)[None, :]
    z2 = tl.load(tab_ptr + 18 * F + f, mask=fm, other=0.0)[None, :]
    ilo = tl.load(rng_ptr + 0 * F + f, mask=fm, other=1)[None, :]
    ihi = tl.load(rng_ptr + 1 * F + f, mask=fm, other=0)[None, :]
    jlo = tl.load(rng_ptr + 2 * F + f, mask=fm, other=1)[None, :]
    jhi = tl.load(rng_ptr + 3 * F + f, mask=fm, other=0)[None, :]
    pxc = px[:, None]
    pyc = py[:, None]
    dx0 = pxc - x0
    dy0 = pyc - y0
    dx1 = pxc - x1
    dy1 = pyc - y1
    dx2 = pxc - x2
    dy2 = pyc - y2
    w0 = (dx1 * e12y - dy1 * e12x) * inv_area
    w1 = (dy2 * e02x - dx2 * e02y) * inv_area
    w2 = (dx0 * e01y - dy0 * e01x) * inv_area
    if PERSP:
        z12 = tl.load(tab_ptr + 19 * F + f, mask=fm, other=0.0)[None, :]
        z02 = tl.load(tab_ptr + 20 * F + f, mask=fm, other=0.0)[None, :]
        z01 = tl.load(tab_ptr + 21 * F + f, mask=fm, other=0.0)[None, :]
        t0 = w0 * z12
        t1 = w1 * z02
        t2 = w2 * z01
        inv_s = tl.math.div_rn(tl.full(t0.shape, 1.0, tl.float32), t0 + t1 + t2)
        w0 = t0 * inv_s
        w1 = t1 * inv_s
        w2 = t2 * inv_s
    inside = (w0 > 0) & (w1 > 0) & (w2 > 0)
    if CLIPB:
        # clamp as torch: NaN stays NaN (a zero perspective sum gives 0 * inf)
        c0 = tl.maximum(w0, 0.0, propagate_nan=tl.PropagateNan.ALL)
        c1 = tl.maximum(w1, 0.0, propagate_nan=tl.PropagateNan.ALL)
        c2 = tl.maximum(w2, 0.0, propagate_nan=tl.PropagateNan.ALL)
        csum = tl.maximum(c0 + c1 + c2, 1e-5, propagate_nan=tl.PropagateNan.ALL)
        inv_c = tl.math.div_rn(tl.full(c0.shape, 1.0, tl.float32), csum)
        w0 = c0 * inv_c
        w1 = c1 * inv_c
        w2 = c2 * inv_c
    pz = w0 * z0 + w1 * z1 + w2 * z2
    # squared distances to the three edges (segment clamp as the reference)
    t = tl.minimum(tl.maximum((dx0 * e01x + dy0 * e01y) * il01, 0.0), 1.0)
    qx = dx0 - t * e01x
    qy = dy0 - t * e01y
    d01 = qx * qx + qy * qy
    t = tl.minimum(tl.maximum((dx0 * e02x + dy0 * e02y) * il02, 0.0), 1.0)
    qx = dx0 - t * e02x
    qy = dy0 - t * e02y
    d02 = qx * qx + qy * qy
    t = tl.minimum(tl.maximum((dx1 * e12x + dy1 * e12y) * il12, 0.0), 1.0)
    qx = dx1 - t * e12x
    qy = dy1 - t * e12y
    d12 = qx * qx + qy * qy
    dist = tl.minimum(tl.minimum(d01, d02), d12)
    ic = i[:, None]
    jc = j[:, None]
    inbox = (ic >= ilo) & (ic <= ihi) & (jc >= jlo) & (jc <= jhi)
    ok = inbox & (pz >= 0) & (inside | (dist < blur))
    return pz, dist, ok


@triton.jit
def _tile_pixels(tid, H, W, TX, TPI, BH: tl.constexpr, BW: tl.constexpr):
    """Image n, pixel rows i (P,), columns j (P,) and in-image mask of tile `tid`."""
    n = tid // TPI
    tt = tid % TPI
    ty = tt // TX
    tx = tt % TX
    r = tl.arange(0, BH * BW)
    i = ty * BH + r // BW
    j = tx * BW + r % BW
    pmask = (i < H) & (j < W)
    return n, i, j, pmask


@triton.jit
def _tile_topk(
    tab_ptr, rng_ptr, nb_ptr, pface_ptr, pzlb_ptr, start, end, F, i, j, px, py, pmask, blur,
    K: tl.constexpr, KP: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, BF: tl.constexpr,
    PERSP: tl.constexpr, CLIPB: tl.constexpr, HAS_NB: tl.constexpr, EARLY: tl.constexpr,
):  # fmt: skip
    """The K smallest keys (depth bits << 32 | face) of every pixel of a tile over the faces
    pface[start:end]: (P, KP) int64, unfilled slots _KEY_MAX (any order within a row)."""
    offs_f = tl.arange(0, BF)
    if K == 1:
        best = tl.full((BH * BW,), _KEY_MAX, tl.int64)
        worst = best
    else:
        cols = tl.arange(0, KP)
        # padding slots (k >= K) hold -1: never the worst, never replaced
        td = tl.where(cols[None, :] < K, _KEY_MAX, -1).to(tl.int64) + tl.zeros(
            (BH * BW, KP), tl.int64
        )
        worst = tl.max(td, axis=1)
    c = start
    while c < end:
        stop = False
        if EARLY:
            # every later face's depth is >= its lower bound, the bounds increase along the
            # segment: once the next bound exceeds each pixel's K-th depth, nothing can enter
            zl = tl.load(pzlb_ptr + c)
            worst_z = tl.max(tl.where(pmask, worst >> 32, -1))
            stop = zl.to(tl.int64) > worst_z
        if stop:
            c = end
        else:
            fo = c + offs_f
            fm = fo < end
            f = tl.load(pface_ptr + fo, mask=fm, other=0)
            pz, dist, ok = _pair(tab_ptr, rng_ptr, F, f, fm, i, j, px, py, blur, PERSP, CLIPB)
            ok = ok & fm[None, :] & pmask[:, None]
            if HAS_NB:
                # of the two halves of a clipped face at one pixel keep one: the lower index
                # unless the other is strictly closer to the pixel
                nb = tl.load(nb_ptr + f, mask=fm, other=-1)
                nm = fm & (nb >= 0)
                nbs = tl.where(nm, nb, 0)
                _, dist2, ok2 = _pair(
                    tab_ptr, rng_ptr, F, nbs, nm, i, j, px, py, blur, PERSP, CLIPB
                )
                fc = f[None, :]
                nc = nbs[None, :]
                drop = (
                    ok2
                    & nm[None, :]
                    & (((fc < nc) & (dist2 < dist)) | ((fc > nc) & ~(dist < dist2)))
                )
                ok = ok & ~drop
            zb = (tl.maximum(pz, 0.0) + 0.0).to(tl.int32, bitcast=True).to(tl.int64)
            key = tl.where(ok, (zb << 32) | f[None, :].to(tl.int64), _KEY_MAX)
            if K == 1:
                best = tl.minimum(best, tl.min(key, axis=1))
                worst = best
            else:
                n_better = tl.sum((key < worst[:, None]).to(tl.int32))
                while n_better > 0:
                    m = tl.min(key, axis=1)
                    take = m < worst
                    wpos = tl.argmax(td, axis=1)
                    repl = (cols[None, :] == wpos[:, None]) & take[:, None]
                    td = tl.where(repl, m[:, None], td)
                    worst = tl.max(td, axis=1)
                    key = tl.where(key == m[:, None], _KEY_MAX, key)
                    n_better = tl.sum((key < worst[:, None]).to(tl.int32))
            c += BF
    if K == 1:
        td = best[:, None]
    else:
        td = tl.where(cols[None, :] < K, td, _KEY_MAX)
    return td


@triton.jit
def _raster_kernel(
    tab_ptr,  # (22, F) float32 per-face table
    rng_ptr,  # (4, F) int32 inclusive pixel row / column ranges (empty for undrawn faces)
    nb_ptr,  # (F,) int32 other half of a clipped face, or -1 (read when HAS_NB)
    xs_ptr,  # (W,) float32 pixel centre x
    ys_ptr,  # (H,) float32 pixel centre y
    seg_ptr,  # (T + 1,) int64 segment offsets of the tiles in the pair list
    pface_ptr,  # (M,) int32 face of each (tile, face) pair, sorted by tile
    pzlb_ptr,  # (M,) int32 bits of the face's depth lower bound (sorted within a tile)
    out_ptr,  # (N * H * W * K,) int64 output faces, nearest first, -1 padded
    F,
    H,
    W,
    TX,  # tiles per image row
    TPI,  # tiles per image
    blur,
    K: tl.constexpr,
    KP: tl.constexpr,
    BH: tl.constexpr,
    BW: tl.constexpr,
    BF: tl.constexpr,
    PERSP: tl.constexpr,
    CLIPB: tl.constexpr,
    HAS_NB: tl.constexpr,
    EARLY: tl.constexpr,
):
    tid = tl.program_id(0)
    start = tl.load(seg_ptr + tid)
    end = tl.load(seg_ptr + tid + 1)
    n, i, j, pmask = _tile_pixels(tid, H, W, TX, TPI, BH, BW)
    px = tl.load(xs_ptr + j, mask=pmask, other=0.0)
    py = tl.load(ys_ptr + i, mask=pmask, other=0.0)
    td = _tile_topk(
        tab_ptr, rng_ptr, nb_ptr, pface_ptr, pzlb_ptr, start, end, F, i, j, px, py, pmask, blur,
        K, KP, BH, BW, BF, PERSP, CLIPB, HAS_NB, EARLY,
    )  # fmt: skip
    pix = (n.to(tl.int64) * H + i) * W + j
    for k in range(K):
        m = tl.min(td, axis=1)
        face = tl.where(m == _KEY_MAX, -1, m & 0x7FFFFFFF)
        tl.store(out_ptr + pix * K + k, face, mask=pmask)
        td = tl.where(td == m[:, None], _KEY_MAX, td)


@triton.jit
def _log_sigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), accurate for large |x|."""
    e = tl.exp(-tl.abs(x))
    sp = tl.where(e < 1e-4, e - 0.5 * e * e, tl.log(1.0 + e))
    return tl.minimum(x, 0.0) - sp


@triton.jit
def _pix_dist(tab_ptr, F, f, fm, px, py, PERSP: tl.constexpr):
    """Per pixel (P,) and its face f (P,): signed squared distance sd (negative inside, as
    the reference's dists), inside, and the nearest edge (first vertex ia, second ib of the
    face, clamped parameter t, residual rx, ry = p - a - t (b - a)) as `_pair_geometry`."""
    f = f.to(tl.int64)
    x0 = tl.load(tab_ptr + 0 * F + f, mask=fm, other=0.0)
    y0 = tl.load(tab_ptr + 1 * F + f, mask=fm, other=0.0)
    x1 = tl.load(tab_ptr + 2 * F + f, mask=fm, other=0.0)
    y1 = tl.load(tab_ptr + 3 * F + f, mask=fm, other=0.0)
    x2 = tl.load(tab_ptr + 4 * F + f, mask=fm, other=0.0)
    y2 = tl.load(tab_ptr + 5 * F + f, mask=fm, other=0.0)
    e01x = tl.load(tab_ptr + 6 * F + f, mask=fm, other=0.0)
    e01y = tl.load(tab_ptr + 7 * F + f, mask=fm, other=0.0)
    e02x = tl.load(tab_ptr + 8 * F + f, mask=fm, other=0.0)
    e02y = tl.load(tab_ptr + 9 * F + f, mask=fm, other=0.0)
    e12x = tl.load(tab_ptr + 10 * F + f, mask=fm, other=0.0)
    e12y = tl.load(tab_ptr + 11 * F + f, mask=fm, other=0.0)
    inv_area = tl.load(tab_ptr + 12 * F + f, mask=fm, other=0.0)
    il01 = tl.load(tab_ptr + 13 * F + f, mask=fm, other=0.0)
    il02 = tl.load(tab_ptr + 14 * F + f, mask=fm, other=0.0)
    il12 = tl.load(tab_ptr + 15 * F + f, mask=fm, other=0.0)
    dx0 = px - x0
    dy0 = py - y0
    dx1 = px - x1
    dy1 = py - y1
    dx2 = px - x2
    dy2 = py - y2
    w0 = (dx1 * e12y - dy1 * e12x) * inv_area
    w1 = (dy2 * e02x - dx2 * e02y) * inv_area
    w2 = (dx0 * e01y - dy0 * e01x) * inv_area
    if PERSP:
        z12 = tl.load(tab_ptr + 19 * F + f, mask=fm, other=0.0)
        z02 = tl.load(tab_ptr + 20 * F + f, mask=fm, other=0.0)
        z01 = tl.load(tab_ptr + 21 * F + f, mask=fm, other=0.0)
        t0 = w0 * z12
        t1 = w1 * z02
        t2 = w2 * z01
        inv_s = tl.math.div_rn(tl.full(t0.shape, 1.0, tl.float32), t0 + t1 + t2)
        w0 = t0 * inv_s
        w1 = t1 * inv_s
        w2 = t2 * inv_s
    inside = (w0 > 0) & (w1 > 0) & (w2 > 0)
    ta = tl.minimum(tl.maximum((dx0 * e01x + dy0 * e01y) * il01, 0.0), 1.0)
    ax = dx0 - ta * e01x
    ay = dy0 - ta * e01y
    d01 = ax * ax + ay * ay
    tb = tl.minimum(tl.maximum((dx0 * e02x + dy0 * e02y) * il02, 0.0), 1.0)
    bx = dx0 - tb * e02x
    by = dy0 - tb * e02y
    d02 = bx * bx + by * by
    tc = tl.minimum(tl.maximum((dx1 * e12x + dy1 * e12y) * il12, 0.0), 1.0)
    cx = dx1 - tc * e12x
    cy = dy1 - tc * e12y
    d12 = cx * cx + cy * cy
    d0 = tl.minimum(d01, d02)
    dist = tl.minimum(d0, d12)
    # nearest edge as the reference: (v1 v2) if strictly nearest, else (v0 v2) if strictly
    # nearer than (v0 v1), else (v0 v1)
    e12 = d12 < d0
    e02 = ~e12 & (d02 < d01)
    ia = tl.where(e12, 1, 0)
    ib = tl.where(e12 | e02, 2, 1)
    t = tl.where(e12, tc, tl.where(e02, tb, ta))
    rx = tl.where(e12, cx, tl.where(e02, bx, ax))
    ry = tl.where(e12, cy, tl.where(e02, by, ay))
    sd = tl.where(inside, -dist, dist)
    return sd, inside, ia, ib, t, rx, ry


@triton.jit
def _silhouette_kernel(
    tab_ptr, rng_ptr, nb_ptr, xs_ptr, ys_ptr, seg_ptr, pface_ptr, pzlb_ptr,
    logc_ptr,  # (N * H * W,) float32: written (forward) or read (backward)
    g_ptr,  # (N * H * W,) float32 gradient of alpha (read when BACKWARD)
    grad_ptr,  # (F * 3 * 2,) float32 gradient of the vertex x, y (atomic adds, BACKWARD)
    F, H, W, TX, TPI, blur, inv_sigma,
    K: tl.constexpr, KP: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, BF: tl.constexpr,
    PERSP: tl.constexpr, CLIPB: tl.constexpr, HAS_NB: tl.constexpr, EARLY: tl.constexpr,
    BACKWARD: tl.constexpr,
):  # fmt: skip
    """Forward: log c = sum_k log sigmoid(d_k / sigma) over the K nearest faces of each pixel
    of the tile (the selection of `_raster_kernel`, never stored). Backward: the same
    selection again, then for each pair d alpha / d d_k = -exp(log c + log sigmoid(-d_k /
    sigma)) / sigma, times the pixel's gradient, pushed through the nearest edge's squared
    distance to its two vertices' x, y."""
    tid = tl.program_id(0)
    start = tl.load(seg_ptr + tid)
    end = tl.load(seg_ptr + tid + 1)
    n, i, j, pmask = _tile_pixels(tid, H, W, TX, TPI, BH, BW)
    pix = (n.to(tl.int64) * H + i) * W + j
    if BACKWARD:
        gpix = tl.load(g_ptr + pix, mask=pmask, other=0.0)
        lc = tl.load(logc_ptr + pix, mask=pmask, other=0.0)
        pmask = pmask & (gpix != 0.0)
    if start < end:
        px = tl.load(xs_ptr + j, mask=pmask, other=0.0)
        py = tl.load(ys_ptr + i, mask=pmask, other=0.0)
        td = _tile_topk(
            tab_ptr, rng_ptr, nb_ptr, pface_ptr, pzlb_ptr, start, end, F, i, j, px, py, pmask,
            blur, K, KP, BH, BW, BF, PERSP, CLIPB, HAS_NB, EARLY,
        )  # fmt: skip
        acc = tl.zeros((BH * BW,), tl.float32)
        # only as many rounds as the fullest pixel of the tile has faces (often far below K)
        n_rounds = tl.max(tl.sum((td != _KEY_MAX).to(tl.int32), axis=1))
        k = 0
        while k < n_rounds:
            m = tl.min(td, axis=1)
            valid = (m != _KEY_MAX) & pmask
            f = tl.where(valid, m & 0x7FFFFFFF, 0).to(tl.int32)
            sd, inside, ia, ib, t, rx, ry = _pix_dist(tab_ptr, F, f, valid, px, py, PERSP)
            if BACKWARD:
                w = tl.exp(lc + _log_sigmoid(-sd * inv_sigma))
                g_sd = gpix * w * -inv_sigma
                g_d = tl.where(inside, -g_sd, g_sd)
                kk = -2.0 * g_d
                kb = kk * t
                ka = kk - kb
                base = f.to(tl.int64) * 3
                tl.atomic_add(grad_ptr + (base + ia) * 2, ka * rx, mask=valid, sem="relaxed")
                tl.atomic_add(grad_ptr + (base + ia) * 2 + 1, ka * ry, mask=valid, sem="relaxed")
                tl.atomic_add(grad_ptr + (base + ib) * 2, kb * rx, mask=valid, sem="relaxed")
                tl.atomic_add(grad_ptr + (base + ib) * 2 + 1, kb * ry, mask=valid, sem="relaxed")
            else:
                acc += tl.where(valid, _log_sigmoid(sd * inv_sigma), 0.0)
            td = tl.where(td == m[:, None], _KEY_MAX, td)
            k += 1
        if not BACKWARD:
            tl.store(logc_ptr + pix, acc, mask=pmask)


def tile_shape(K: int) -> tuple[int, int, int, int]:
    """(BH, BW, BF, num_warps): tile rows, tile columns, faces per chunk and warps used for K
    faces per pixel. Chosen so that the sm_90 build keeps everything in registers (ptxas -v:
    no spills; benchmarks/bm_raster_triton.py sweeps them on a GPU); smaller tiles for large K
    keep the per-pixel top-K in registers."""
    if K == 1:
        return 16, 16, 16, 8
    if K <= 8:
        return 8, 16, 16, 4
    return 8, 8, 16, 4


def _next_pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def select_faces(
    face_verts: torch.Tensor,
    tab: torch.Tensor,
    ranges: tuple[torch.Tensor, ...],
    face_to_mesh: torch.Tensor,
    N: int,
    xs: torch.Tensor,
    ys: torch.Tensor,
    K: int,
    blur_radius: float,
    perspective_correct: bool,
    clip_barycentric_coords: bool,
    neighbor: torch.Tensor | None = None,
    tile: tuple[int, int, int, int] | None = None,
) -> torch.Tensor:
    """The K nearest covering faces of every pixel, exactly as the reference selects them.

    Args:
        face_verts: (F, 3, 3) float32 NDC x, y and view z of each face's vertices.
        tab: (22, F) float32 per-face table of the reference (`_face_table` rows).
        ranges: (valid, i_lo, i_hi, j_lo, j_hi), each (F,): the reference's drawable mask and
            inclusive pixel row / column ranges of each face's grown bounding box.
        face_to_mesh: (F,) int64 image of each face.
        N: batch size; xs: (W,) and ys: (H,) float32 pixel centres (`pixel_centers_ndc`).
        K: faces per pixel; blur_radius, perspective_correct, clip_barycentric_coords: as
            `rasterize_meshes`.
        neighbor: (F,) int64 other half of a face split by z clipping, -1 if none (or None).
        tile: (BH, BW, BF, num_warps) override of `tile_shape(K)` (BH, BW, BF powers of two).

    Returns:
        (N, H, W, K) int64 face indices, nearest first (equal depths: lower index), -1 padded.
    """
    if face_verts.dtype != torch.float32 or tab.dtype != torch.float32:
        raise TypeError(f"face_verts must be float32; got {face_verts.dtype}")
    F = face_verts.shape[0]
    if F >= 2**31:
        raise ValueError(f"face_verts must hold fewer than 2**31 faces; got {F}")
    H, W = ys.numel(), xs.numel()
    BH, BW, BF, num_warps = tile or tile_shape(K)
    out = torch.full((N, H, W, K), -1, dtype=torch.int64, device=face_verts.device)
    with torch.no_grad():
        co = _coarse(
            face_verts, tab, ranges, face_to_mesh, N, H, W, BH, BW, blur_radius,
            perspective_correct, neighbor,
        )  # fmt: skip
        if co is None:
            return out
        rng, seg, pface, pzlb, nb, TX, TPI, early = co
        _raster_kernel[(N * TPI,)](
            tab.contiguous(), rng, nb, xs.contiguous(), ys.contiguous(), seg, pface, pzlb, out,
            F, H, W, TX, TPI, float(blur_radius),
            K=K, KP=_next_pow2(K), BH=BH, BW=BW, BF=BF, PERSP=bool(perspective_correct),
            CLIPB=bool(clip_barycentric_coords), HAS_NB=neighbor is not None, EARLY=early,
            num_warps=num_warps, enable_fp_fusion=False,
        )  # fmt: skip
    return out


def _coarse(face_verts, tab, ranges, face_to_mesh, N, H, W, BH, BW, blur_radius, persp, neighbor):
    """The coarse stage: (rng, seg, pface, pzlb, nb, TX, TPI, early) for the kernels (see
    `_raster_kernel`'s arguments), or None when no face is drawn."""
    dev = face_verts.device
    TY, TX = triton.cdiv(H, BH), triton.cdiv(W, BW)
    TPI = TY * TX
    valid, i_lo, i_hi, j_lo, j_hi = ranges
    fidx = valid.nonzero().squeeze(1)
    if fidx.numel() == 0 or N == 0:
        return None
    early = blur_radius == 0.0
    # per face: pixel ranges (empty for undrawn faces, which then never cover a pixel, not
    # even as the other half of a clipped face)
    rng = torch.stack(
        (
            torch.where(valid, i_lo, 1),
            torch.where(valid, i_hi, 0),
            torch.where(valid, j_lo, 1),
            torch.where(valid, j_hi, 0),
        )
    ).to(torch.int32)
    zlb = _depth_lower_bound(face_verts, tab, persp) if early else None
    # coarse: (tile, face) pairs, no capacity limit
    ty0, ty1 = i_lo[fidx] // BH, i_hi[fidx] // BH
    tx0, tx1 = j_lo[fidx] // BW, j_hi[fidx] // BW
    nx = tx1 - tx0 + 1
    cnt = (ty1 - ty0 + 1) * nx
    M = int(cnt.sum())
    which = torch.repeat_interleave(torch.arange(fidx.numel(), device=dev), cnt, output_size=M)
    first = torch.cumsum(cnt, 0) - cnt
    local = torch.arange(M, device=dev) - first[which]
    rows = local // nx[which]
    tiles = (
        face_to_mesh[fidx][which] * TPI
        + (ty0[which] + rows) * TX
        + tx0[which]
        + (local - rows * nx[which])
    )
    pface = fidx[which]
    zbits = (
        torch.zeros_like(tiles)
        if zlb is None
        else zlb.view(torch.int32).long().index_select(0, pface)
    )
    order = torch.argsort((tiles << 31) | zbits)
    tiles = tiles.index_select(0, order)
    pface = pface.index_select(0, order).to(torch.int32).contiguous()
    pzlb = zbits.index_select(0, order).to(torch.int32).contiguous()
    seg = torch.zeros(N * TPI + 1, dtype=torch.int64, device=dev)
    seg[1:] = torch.cumsum(torch.bincount(tiles, minlength=N * TPI), 0)
    nb = (
        neighbor.to(device=dev, dtype=torch.int32).contiguous()
        if neighbor is not None
        else pface  # unread
    )
    return rng, seg, pface, pzlb, nb, TX, TPI, early


def _silhouette_launch(fv, tab, xs, ys, ranges, face_to_mesh, N, settings, neighbor, sigma,
                       logc, g, grad, tile):  # fmt: skip
    blur, _, K, persp, clipb, _ = settings
    if fv.dtype != torch.float32 or tab.dtype != torch.float32:
        raise TypeError(f"face_verts must be float32; got {fv.dtype}")
    F = fv.shape[0]
    if F >= 2**31:
        raise ValueError(f"face_verts must hold fewer than 2**31 faces; got {F}")
    H, W = ys.numel(), xs.numel()
    BH, BW, BF, num_warps = tile or tile_shape(K)
    co = _coarse(fv, tab, ranges, face_to_mesh, N, H, W, BH, BW, blur, persp, neighbor)
    if co is None:
        return
    rng, seg, pface, pzlb, nb, TX, TPI, early = co
    backward = g is not None
    _silhouette_kernel[(N * TPI,)](
        tab.contiguous(), rng, nb, xs.contiguous(), ys.contiguous(), seg, pface, pzlb,
        logc, g if backward else logc, grad if backward else logc,
        F, H, W, TX, TPI, float(blur), 1.0 / float(sigma),
        K=K, KP=_next_pow2(K), BH=BH, BW=BW, BF=BF, PERSP=bool(persp), CLIPB=bool(clipb),
        HAS_NB=neighbor is not None, EARLY=early, BACKWARD=backward,
        num_warps=num_warps, enable_fp_fusion=False,
    )  # fmt: skip


def silhouette_forward(
    face_verts: torch.Tensor,
    tab: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
    ranges: tuple[torch.Tensor, ...],
    face_to_mesh: torch.Tensor,
    N: int,
    settings: tuple,
    neighbor: torch.Tensor | None,
    sigma: float,
    tile: tuple[int, int, int, int] | None = None,
) -> torch.Tensor:
    """Per pixel log c = sum_k log sigmoid(d_k / sigma) over the K nearest faces that
    `select_faces` selects, without storing the selection.

    Args:
        face_verts, tab, xs, ys, ranges, face_to_mesh, N, neighbor, tile: as `select_faces`.
        settings: (blur_radius, kernel, K, perspective_correct, clip_barycentric_coords,
            cull_backfaces) as the reference's rasterizer settings.
        sigma: > 0.

    Returns:
        (N H W,) float32 log c (0 where no face is kept).
    """
    H, W = ys.numel(), xs.numel()
    logc = torch.zeros(N * H * W, dtype=torch.float32, device=face_verts.device)
    with torch.no_grad():
        _silhouette_launch(face_verts, tab, xs, ys, ranges, face_to_mesh, N, settings, neighbor,
                           sigma, logc, None, None, tile)  # fmt: skip
    return logc


def silhouette_backward(
    face_verts: torch.Tensor,
    tab: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
    ranges: tuple[torch.Tensor, ...],
    face_to_mesh: torch.Tensor,
    N: int,
    settings: tuple,
    neighbor: torch.Tensor | None,
    sigma: float,
    logc: torch.Tensor,
    g: torch.Tensor,
    tile: tuple[int, int, int, int] | None = None,
) -> torch.Tensor:
    """Gradient of sum(g * alpha), alpha = 1 - exp(log c), w.r.t. the faces' vertex x, y.

    Args: as `silhouette_forward`, and logc: (N H W,) float32 its output, g: (N H W,) float32.

    Returns:
        (3 F, 2) float32, row 3 f + v: vertex v of face f.
    """
    grad = torch.zeros(face_verts.shape[0] * 6, dtype=torch.float32, device=face_verts.device)
    with torch.no_grad():
        _silhouette_launch(face_verts, tab, xs, ys, ranges, face_to_mesh, N, settings, neighbor,
                           sigma, logc.contiguous(), g.float().contiguous(), grad, tile)  # fmt: skip
    return grad.view(-1, 2)


def _depth_lower_bound(face_verts: torch.Tensor, tab: torch.Tensor, persp: bool) -> torch.Tensor:
    """(F,) float32 >= 0: a lower bound of the depth the reference computes at any pixel
    strictly inside the face (blur_radius 0), rounding included.

    Inside a face the (perspective-corrected) barycentrics are positive, so the depth is at
    least min z times their sum. Perspective-corrected (and clipped) barycentrics are
    normalised (sum 1 up to a few ulps); plain ones sum to A / (A + 1e-8) (A the doubled
    signed area) up to the rounding of the edge functions, bounded by 64 u diam^2 / |A + 1e-8|.
    The result is scaled by (1 - 1e-5), far above the few ulps of the depth's own rounding."""
    fv = face_verts.detach().double()
    zmin = fv[..., 2].amin(1)
    if persp:
        s = torch.ones_like(zmin)
    else:
        x, y = fv[..., 0], fv[..., 1]
        e01x, e01y = x[:, 1] - x[:, 0], y[:, 1] - y[:, 0]
        e02x, e02y = x[:, 2] - x[:, 0], y[:, 2] - y[:, 0]
        e12x, e12y = x[:, 2] - x[:, 1], y[:, 2] - y[:, 1]
        area = e02x * e01y - e02y * e01x
        diam2 = torch.stack((e01x**2 + e01y**2, e02x**2 + e02y**2, e12x**2 + e12y**2)).amax(0)
        inv = tab[12].double()
        s = (area * inv - 64 * _U32 * diam2 * inv.abs()).clamp(0.0, 1.0)
    zlb = (zmin * s * (1 - 1e-5)).clamp_min(0.0)
    return torch.nan_to_num(zlb, nan=0.0).float()
