"""Exact closest-triangle search as one Triton kernel (the search stage of `mesh_sdf` and
`point_mesh_face_distance`).

Queries are sorted along a Morton curve and triangles along the same curve by centroid, in the
box of the mesh; the queries are cut into blocks of BQ and the triangles into tiles of BT, each
with its bounding box (a tile's box holds every corner of its triangles). One program owns a
query block and visits the tiles, starting with the one at the same position along the curve.
A tile whose box is farther from the block's box than every query's current best distance is
skipped; otherwise the (BQ, BT) exact point-triangle squared distances are formed in registers
(the same regions as `ops.triangle_distance.point_triangle_distance`: the plane where the point
projects inside a non-degenerate triangle, else the nearest of the three edges) and each
query keeps its best triangle (exact ties: the smallest triangle id). Exact: a skipped tile
cannot hold a nearer triangle. Memory: O(Q + T).

`closest_point_search` is the transposed search (a block of triangles visits tiles of
queries: each triangle's nearest point), for `point_mesh_face_distance`'s face -> point term.

Only the integer selection happens here; the caller recomputes the distance of the selected
(query, triangle) pairs with autograd.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from inverse3d.ops._triton.knn import block_boxes, morton_codes

__all__ = ["BLOCK_Q", "BLOCK_T", "closest_point_search", "closest_triangle_search"]

BLOCK_Q = 32  # queries per program
BLOCK_T = 32  # triangles per tile
_EPS = 1e-12  # as ops.triangle_distance

# Rows of the per-triangle table (coordinate-major, (26, T); the kernels spell the row numbers
# out, Triton kernels may not read plain globals): a 0-2, b 3-5, c 6-8, n = ab x ac 9-11,
# n x ab 12-14, n x bc 15-17, n x ca 18-20, 1/|n|^2 21, 1/|ab|^2 22, 1/|bc|^2 23,
# 1/|ca|^2 24 (0 for a zero-length edge), 1.0 where the triangle is not degenerate 25.


@triton.jit
def _seg(ex, ey, ez, inv, px, py, pz):
    """Squared distance of the (BQ, BT) offsets p (from the segment start) to segments e."""
    t = (px * ex + py * ey + pz * ez) * inv
    t = tl.minimum(tl.maximum(t, 0.0), 1.0)
    dx = px - t * ex
    dy = py - t * ey
    dz = pz - t * ez
    return dx * dx + dy * dy + dz * dz


@triton.jit
def _pair_dists(qx, qy, qz, tab_ptr, o, tm, T):
    """(BQ, BT) exact squared distances of queries (BQ,) x, y, z to the triangles o (BT,) of
    the table (tm: valid columns); invalid columns and NaN distances are +inf."""
    acc = qx.dtype
    ax = tl.load(tab_ptr + 0 * T + o, mask=tm, other=0.0)
    ay = tl.load(tab_ptr + 1 * T + o, mask=tm, other=0.0)
    az = tl.load(tab_ptr + 2 * T + o, mask=tm, other=0.0)
    bx = tl.load(tab_ptr + 3 * T + o, mask=tm, other=0.0)
    by = tl.load(tab_ptr + 4 * T + o, mask=tm, other=0.0)
    bz = tl.load(tab_ptr + 5 * T + o, mask=tm, other=0.0)
    cx = tl.load(tab_ptr + 6 * T + o, mask=tm, other=0.0)
    cy = tl.load(tab_ptr + 7 * T + o, mask=tm, other=0.0)
    cz = tl.load(tab_ptr + 8 * T + o, mask=tm, other=0.0)
    # offsets of the queries from the three corners, (BQ, BT)
    apx = qx[:, None] - ax[None, :]
    apy = qy[:, None] - ay[None, :]
    apz = qz[:, None] - az[None, :]
    bpx = qx[:, None] - bx[None, :]
    bpy = qy[:, None] - by[None, :]
    bpz = qz[:, None] - bz[None, :]
    cpx = qx[:, None] - cx[None, :]
    cpy = qy[:, None] - cy[None, :]
    cpz = qz[:, None] - cz[None, :]
    # inside test: the inner side of the three edge planes (normals n x edge)
    m = tl.load(tab_ptr + 12 * T + o, mask=tm, other=0.0)
    s0 = apx * m[None, :]
    m = tl.load(tab_ptr + 13 * T + o, mask=tm, other=0.0)
    s0 += apy * m[None, :]
    m = tl.load(tab_ptr + 14 * T + o, mask=tm, other=0.0)
    s0 += apz * m[None, :]
    m = tl.load(tab_ptr + 15 * T + o, mask=tm, other=0.0)
    s1 = bpx * m[None, :]
    m = tl.load(tab_ptr + 16 * T + o, mask=tm, other=0.0)
    s1 += bpy * m[None, :]
    m = tl.load(tab_ptr + 17 * T + o, mask=tm, other=0.0)
    s1 += bpz * m[None, :]
    m = tl.load(tab_ptr + 18 * T + o, mask=tm, other=0.0)
    s2 = cpx * m[None, :]
    m = tl.load(tab_ptr + 19 * T + o, mask=tm, other=0.0)
    s2 += cpy * m[None, :]
    m = tl.load(tab_ptr + 20 * T + o, mask=tm, other=0.0)
    s2 += cpz * m[None, :]
    big = tl.load(tab_ptr + 25 * T + o, mask=tm, other=0.0)
    inside = (s0 >= 0) & (s1 >= 0) & (s2 >= 0) & (big[None, :] > 0)
    nx = tl.load(tab_ptr + 9 * T + o, mask=tm, other=0.0)
    ny = tl.load(tab_ptr + 10 * T + o, mask=tm, other=0.0)
    nz = tl.load(tab_ptr + 11 * T + o, mask=tm, other=0.0)
    inv = tl.load(tab_ptr + 21 * T + o, mask=tm, other=0.0)
    dn = apx * nx[None, :] + apy * ny[None, :] + apz * nz[None, :]
    plane = dn * dn * inv[None, :]
    inv = tl.load(tab_ptr + 22 * T + o, mask=tm, other=0.0)
    e = _seg(
        (bx - ax)[None, :], (by - ay)[None, :], (bz - az)[None, :], inv[None, :],
        apx, apy, apz,
    )  # fmt: skip
    inv = tl.load(tab_ptr + 23 * T + o, mask=tm, other=0.0)
    e2 = _seg(
        (cx - bx)[None, :], (cy - by)[None, :], (cz - bz)[None, :], inv[None, :],
        bpx, bpy, bpz,
    )  # fmt: skip
    e = tl.minimum(e, e2)
    inv = tl.load(tab_ptr + 24 * T + o, mask=tm, other=0.0)
    e2 = _seg(
        (ax - cx)[None, :], (ay - cy)[None, :], (az - cz)[None, :], inv[None, :],
        cpx, cpy, cpz,
    )  # fmt: skip
    e = tl.minimum(e, e2)
    dist = tl.where(inside, plane, e)
    # padding and NaN distances (NaN inputs) become +inf
    dist = tl.where(tm[None, :] & (dist == dist), dist, float("inf")).to(acc)
    return dist


@triton.jit
def _closest_triangle_kernel(
    q_ptr,  # (3, Q) sorted queries, coordinate-major
    tab_ptr,  # (ROWS, T) sorted triangle table
    tid_ptr,  # (T,) int32 original triangle id of each sorted triangle
    qlo_ptr,  # (3, TQ) per query block: coordinate minimum
    qhi_ptr,  # (3, TQ) coordinate maximum
    tlo_ptr,  # (3, TT) per triangle tile: coordinate minimum of the corners
    thi_ptr,  # (3, TT) coordinate maximum
    out_ptr,  # (Q,) int64 best original triangle id per sorted query
    Q,
    T,
    TQ,
    TT,
    BQ: tl.constexpr,
    BT: tl.constexpr,
):
    pid = tl.program_id(0)
    n_tiles = tl.cdiv(T, BT)
    offs_q = pid * BQ + tl.arange(0, BQ)
    qmask = offs_q < Q
    acc = q_ptr.dtype.element_ty
    qx = tl.load(q_ptr + offs_q, mask=qmask, other=0.0)
    qy = tl.load(q_ptr + Q + offs_q, mask=qmask, other=0.0)
    qz = tl.load(q_ptr + 2 * Q + offs_q, mask=qmask, other=0.0)
    best_d = tl.full((BQ,), float("inf"), dtype=acc)
    best_i = tl.full((BQ,), 2147483647, dtype=tl.int32)
    worst_max = tl.max(best_d)
    offs_t = tl.arange(0, BT)
    t0 = ((pid * BQ) * n_tiles // Q).to(tl.int32)
    # a while loop, not range(n_tiles): the interpreter cannot take a tensor loop bound
    i = 0
    while i < n_tiles:
        t = t0 + i
        t = tl.where(t >= n_tiles, t - n_tiles, t)
        lb = 0.0
        for d in tl.static_range(3):
            qlo = tl.load(qlo_ptr + d * TQ + pid)
            qhi = tl.load(qhi_ptr + d * TQ + pid)
            tlo = tl.load(tlo_ptr + d * TT + t)
            thi = tl.load(thi_ptr + d * TT + t)
            gap = tl.maximum(tl.maximum(tlo - qhi, qlo - thi), 0.0)
            lb += gap * gap
        # margin: the bound and the distances round differently; pruning stays exact
        if lb * 0.99999 <= worst_max:
            o = t * BT + offs_t
            tm = o < T
            dist = _pair_dists(qx, qy, qz, tab_ptr, o, tm, T)
            tid = tl.load(tid_ptr + o, mask=tm, other=2147483647)
            mn = tl.min(dist, axis=1)
            am = tl.min(tl.where(dist == mn[:, None], tid[None, :], 2147483647), axis=1)
            better = (mn < best_d) | ((mn == best_d) & (am < best_i))
            best_d = tl.where(better, mn, best_d)
            best_i = tl.where(better, am, best_i)
            worst_max = tl.max(tl.where(qmask, best_d, -float("inf")))
        i += 1
    tl.store(out_ptr + offs_q, best_i.to(tl.int64), mask=qmask)


@triton.jit
def _closest_point_kernel(
    q_ptr,  # (3, Q) sorted queries, coordinate-major
    tab_ptr,  # (ROWS, T) sorted triangle table
    qid_ptr,  # (Q,) int32 original query id of each sorted query
    qlo_ptr,  # (3, TQ) per query tile: coordinate minimum
    qhi_ptr,  # (3, TQ) coordinate maximum
    tlo_ptr,  # (3, TT) per triangle block: coordinate minimum of the corners
    thi_ptr,  # (3, TT) coordinate maximum
    out_ptr,  # (T,) int64 nearest original query id per sorted triangle
    Q,
    T,
    TQ,
    TT,
    BQ: tl.constexpr,
    BT: tl.constexpr,
):
    """The transposed search: one program per block of BT triangles, visiting query tiles."""
    pid = tl.program_id(0)
    n_tiles = tl.cdiv(Q, BQ)
    o = pid * BT + tl.arange(0, BT)
    tm = o < T
    acc = q_ptr.dtype.element_ty
    best_d = tl.full((BT,), float("inf"), dtype=acc)
    best_i = tl.full((BT,), 2147483647, dtype=tl.int32)
    worst_max = tl.max(best_d)
    offs_q = tl.arange(0, BQ)
    t0 = ((pid * BT) * n_tiles // T).to(tl.int32)
    i = 0
    while i < n_tiles:  # not range(n_tiles): see _closest_triangle_kernel
        t = t0 + i
        t = tl.where(t >= n_tiles, t - n_tiles, t)
        lb = 0.0
        for d in tl.static_range(3):
            qlo = tl.load(qlo_ptr + d * TQ + t)
            qhi = tl.load(qhi_ptr + d * TQ + t)
            tlo = tl.load(tlo_ptr + d * TT + pid)
            thi = tl.load(thi_ptr + d * TT + pid)
            gap = tl.maximum(tl.maximum(tlo - qhi, qlo - thi), 0.0)
            lb += gap * gap
        if lb * 0.99999 <= worst_max:
            oq = t * BQ + offs_q
            qm = oq < Q
            qx = tl.load(q_ptr + oq, mask=qm, other=0.0)
            qy = tl.load(q_ptr + Q + oq, mask=qm, other=0.0)
            qz = tl.load(q_ptr + 2 * Q + oq, mask=qm, other=0.0)
            dist = _pair_dists(qx, qy, qz, tab_ptr, o, tm, T)
            dist = tl.where(qm[:, None], dist, float("inf")).to(acc)
            qid = tl.load(qid_ptr + oq, mask=qm, other=2147483647)
            mn = tl.min(dist, axis=0)
            am = tl.min(tl.where(dist == mn[None, :], qid[:, None], 2147483647), axis=0)
            better = (mn < best_d) | ((mn == best_d) & (am < best_i))
            best_d = tl.where(better, mn, best_d)
            best_i = tl.where(better, am, best_i)
            worst_max = tl.max(tl.where(tm, best_d, -float("inf")))
        i += 1
    tl.store(out_ptr + o, best_i.to(tl.int64), mask=tm)


def _triangle_table(tri: torch.Tensor, min_triangle_area: float) -> torch.Tensor:
    """(ROWS, T) per-triangle constants of the kernel from tri (T, 3, 3)."""
    a, b, c = tri.unbind(1)
    ab, bc, ca = b - a, c - b, a - c
    n = torch.linalg.cross(ab, c - a, dim=-1)
    nn = (n * n).sum(-1)
    big = nn > max(4.0 * min_triangle_area * min_triangle_area, _EPS * _EPS)

    def inv_len2(e: torch.Tensor) -> torch.Tensor:
        ee = (e * e).sum(-1)
        return torch.where(ee > _EPS, 1.0 / ee.clamp(min=_EPS), torch.zeros_like(ee))

    rows = [
        a, b, c, n,
        torch.linalg.cross(n, ab, dim=-1),  # (ab x ap) . n = ap . (n x ab)
        torch.linalg.cross(n, bc, dim=-1),
        torch.linalg.cross(n, ca, dim=-1),
    ]  # fmt: skip
    scal = [1.0 / nn.clamp(min=_EPS * _EPS), inv_len2(ab), inv_len2(bc), inv_len2(ca), big]
    tab = torch.cat([r.T for r in rows] + [s.to(tri.dtype)[None] for s in scal], 0)
    return tab.contiguous()


def _prepare(points, tris, min_triangle_area, bq, bt):
    """Sorted, centred queries and triangles with their block boxes, the triangle table and
    the sorting permutations (see the module docstring)."""
    Q, T = points.shape[0], tris.shape[0]
    dev = points.device
    dt = torch.float64 if points.dtype == torch.float64 else torch.float32
    tri = tris.detach().to(dt)
    centre = tri.reshape(-1, 3).mean(0)
    tri = tri - centre
    q = points.detach().to(dt) - centre
    flat = tri.reshape(1, -1, 3)
    lo = flat.amin(1, keepdim=True)  # (1, 1, 3)
    hi = flat.amax(1, keepdim=True)
    ones_q = torch.ones(1, Q, dtype=torch.bool, device=dev)
    ones_t = torch.ones(1, T, dtype=torch.bool, device=dev)
    perm_q = morton_codes(q[None], ones_q, lo, hi)[0].argsort()
    perm_t = morton_codes(tri.mean(1)[None], ones_t, lo, hi)[0].argsort()
    q = q[perm_q]
    tri = tri[perm_t]
    lq = torch.tensor([Q], device=dev)
    lt = torch.tensor([T], device=dev)
    qlo, qhi = block_boxes(q[None], lq, bq)  # (1, 3, TQ)
    tlo, _ = block_boxes(tri.amin(1)[None], lt, bt)  # (1, 3, TT)
    _, thi = block_boxes(tri.amax(1)[None], lt, bt)
    table = _triangle_table(tri, min_triangle_area)
    boxes = [x[0].contiguous() for x in (qlo, qhi, tlo, thi)]
    return q.T.contiguous(), table, perm_q, perm_t, boxes


def _check(points: torch.Tensor, tris: torch.Tensor) -> None:
    if points.dim() != 2 or points.shape[1] != 3:
        raise ValueError(f"points must have shape (Q, 3); got {tuple(points.shape)}")
    if tris.dim() != 3 or tris.shape[1:] != (3, 3):
        raise ValueError(f"tris must have shape (T, 3, 3); got {tuple(tris.shape)}")
    if tris.shape[0] == 0:
        raise ValueError("tris must hold at least one triangle; got 0")


def closest_triangle_search(
    points: torch.Tensor,
    tris: torch.Tensor,
    min_triangle_area: float = 0.0,
    block_q: int | None = None,
    block_t: int | None = None,
    num_warps: int = 4,
) -> torch.Tensor:
    """Index of the closest triangle (exact point-triangle distance) of every query point.

    Args:
        points: (Q, 3) float queries.
        tris: (T, 3, 3) float triangle corners, T > 0, same device.
        min_triangle_area: triangles of smaller area count as their three edges (as in
            `point_triangle_distance`).
        block_q, block_t: queries per block and triangles per tile (powers of two; None:
            BLOCK_Q, BLOCK_T).
        num_warps: warps per program.

    Returns:
        (Q,) int64 triangle ids; exact ties go to the smallest id. The search runs in float64
        for float64 inputs, else in float32; the caller recomputes the distances.
    """
    _check(points, tris)
    Q, T = points.shape[0], tris.shape[0]
    if Q == 0:
        return torch.zeros(0, dtype=torch.int64, device=points.device)
    bq = block_q or BLOCK_Q
    bt = block_t or BLOCK_T
    with torch.no_grad():
        q, table, perm_q, perm_t, boxes = _prepare(points, tris, min_triangle_area, bq, bt)
        out = torch.empty(Q, dtype=torch.int64, device=points.device)
        _closest_triangle_kernel[(triton.cdiv(Q, bq),)](
            q, table, perm_t.to(torch.int32).contiguous(), *boxes, out,
            Q, T, boxes[0].shape[1], boxes[2].shape[1], BQ=bq, BT=bt, num_warps=num_warps,
        )  # fmt: skip
        res = torch.empty_like(out)
        res[perm_q] = out.clamp(0, T - 1)
    return res


def closest_point_search(
    points: torch.Tensor,
    tris: torch.Tensor,
    min_triangle_area: float = 0.0,
    block_q: int | None = None,
    block_t: int | None = None,
    num_warps: int = 4,
) -> torch.Tensor:
    """Index of the nearest query point of every triangle (exact point-triangle distance):
    the transposed search of `closest_triangle_search`, same arguments.

    Returns:
        (T,) int64 point ids (0 where there are no points); exact ties go to the smallest id.
    """
    _check(points, tris)
    Q, T = points.shape[0], tris.shape[0]
    if Q == 0:
        return torch.zeros(T, dtype=torch.int64, device=points.device)
    bq = block_q or BLOCK_Q
    bt = block_t or BLOCK_T
    with torch.no_grad():
        q, table, perm_q, perm_t, boxes = _prepare(points, tris, min_triangle_area, bq, bt)
        out = torch.empty(T, dtype=torch.int64, device=points.device)
        _closest_point_kernel[(triton.cdiv(T, bt),)](
            q, table, perm_q.to(torch.int32).contiguous(), *boxes, out,
            Q, T, boxes[0].shape[1], boxes[2].shape[1], BQ=bq, BT=bt, num_warps=num_warps,
        )  # fmt: skip
        res = torch.empty_like(out)
        res[perm_t] = out.clamp(0, Q - 1)
    return res
