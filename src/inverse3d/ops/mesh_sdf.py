"""Exact point-to-triangle distances, winding numbers and signed distances to triangle meshes.

All searches are brute force over (points x triangles) blocks whose size is bounded by
`CHUNK_PAIRS`, so memory stays at a few hundred MB whatever the problem size. The argmin search
runs without autograd; the distance of each selected (point, triangle) pair is then recomputed
with autograd, so gradients flow to the points and the vertices.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from inverse3d._validation import check_tensor

__all__ = [
    "mesh_sdf",
    "winding_number",
    "point_triangle_distance",
    "point_segment_distance",
]

# Number of (query, primitive) pairs evaluated at once. Each pair needs about 30 floats of
# temporaries, so the peak memory of a block is about 30 * 4 * CHUNK_PAIRS bytes (~ 60 MB).
CHUNK_PAIRS = 1 << 19
_EPS = 1e-12


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1)


def point_segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distance from points to segments (broadcasting).

    Args:
        p: (..., 3) float points.
        a, b: (..., 3) float segment end points (broadcastable with p). A zero-length segment
            gives the squared distance to `a`.

    Returns:
        (...) float squared distances.
    """
    e = b - a
    ap = p - a
    ee = _dot(e, e)
    t = (_dot(ap, e) / ee.clamp(min=_EPS)).clamp(0.0, 1.0)
    t = torch.where(ee > _EPS, t, torch.zeros_like(t))
    d = ap - t[..., None] * e
    return _dot(d, d)


def point_triangle_distance(
    p: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    min_triangle_area: float = 0.0,
) -> torch.Tensor:
    """Exact squared Euclidean distance from points to triangles (broadcasting).

    A point whose projection falls inside the triangle gets its squared distance to the plane;
    otherwise the squared distance to the closest of the three edges. Triangles with area below
    `min_triangle_area` (or degenerate ones) are treated as their three edges only.

    Args:
        p: (..., 3) float points.
        a, b, c: (..., 3) float triangle corners, broadcastable with p.
        min_triangle_area: area under which a triangle counts as degenerate.

    Returns:
        (...) float squared distances, differentiable in p, a, b and c.
    """
    ab = b - a
    ac = c - a
    n = torch.linalg.cross(ab, ac, dim=-1)
    nn = _dot(n, n)
    ap = p - a
    # Inside test: p projects inside if it lies on the inner side of the three edge planes.
    s0 = _dot(torch.linalg.cross(ab, ap, dim=-1), n)
    s1 = _dot(torch.linalg.cross(c - b, p - b, dim=-1), n)
    s2 = _dot(torch.linalg.cross(a - c, p - c, dim=-1), n)
    big = nn > max(4.0 * min_triangle_area * min_triangle_area, _EPS * _EPS)
    inside = (s0 >= 0) & (s1 >= 0) & (s2 >= 0) & big
    plane = _dot(ap, n) ** 2 / nn.clamp(min=_EPS * _EPS)
    edges = torch.minimum(
        torch.minimum(point_segment_distance(p, a, b), point_segment_distance(p, b, c)),
        point_segment_distance(p, c, a),
    )
    return torch.where(inside, plane, edges)


def _blockwise_min(
    fn: Callable[[torch.Tensor, slice, slice], torch.Tensor],
    Q: int,
    T: int,
    ref: torch.Tensor,
    chunk_pairs: int | None = None,
    cols: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Row and (optionally) column minima of a (Q, T) matrix computed block by block.

    Args:
        fn: fn(qsl, tsl) -> (Qc, Tc) values of the block; called without autograd.
        Q, T: matrix size.
        ref: a tensor giving the dtype and device of the results.
        cols: also return the column minima.

    Returns:
        row_min (Q,), row_arg (Q,) int64, col_min (T,) or None, col_arg (T,) int64 or None.
        Minima over an empty side are +inf with argument 0.
    """
    chunk_pairs = chunk_pairs or CHUNK_PAIRS
    dev = ref.device
    row_min = ref.new_full((Q,), float("inf"))
    row_arg = torch.zeros(Q, dtype=torch.int64, device=dev)
    col_min = ref.new_full((T,), float("inf")) if cols else None
    col_arg = torch.zeros(T, dtype=torch.int64, device=dev) if cols else None
    if Q == 0 or T == 0:
        return row_min, row_arg, col_min, col_arg
    tc = min(T, max(1, chunk_pairs // 64), 16384)
    qc = max(1, chunk_pairs // tc)
    with torch.no_grad():
        for qs in range(0, Q, qc):
            qsl = slice(qs, min(Q, qs + qc))
            for ts in range(0, T, tc):
                tsl = slice(ts, min(T, ts + tc))
                vals = fn(qsl, tsl)  # (Qc, Tc)
                v, i = vals.min(dim=1)
                better = v < row_min[qsl]
                row_min[qsl] = torch.where(better, v, row_min[qsl])
                row_arg[qsl] = torch.where(better, i + ts, row_arg[qsl])
                if cols:
                    v, i = vals.min(dim=0)
                    better = v < col_min[tsl]
                    col_min[tsl] = torch.where(better, v, col_min[tsl])
                    col_arg[tsl] = torch.where(better, i + qs, col_arg[tsl])
    return row_min, row_arg, col_min, col_arg


def _tri_block_fn(p: torch.Tensor, tris: torch.Tensor, min_triangle_area: float = 0.0):
    """Block function for _blockwise_min: squared distances points x triangles.

    Every dot product of a block comes out of one matmul (coordinates are centred first), so
    a pair costs a few flops; values carry an absolute error ~ eps * extent^2, which only
    affects which triangle is selected, never the distance returned by the callers.
    """
    p = p.detach()
    tris = tris.detach().to(p.dtype)
    centre = tris.reshape(-1, 3).mean(0) if tris.numel() else p.new_zeros(3)
    p = p - centre
    a = tris[:, 0] - centre
    ab = tris[:, 1] - tris[:, 0]
    ac = tris[:, 2] - tris[:, 0]
    n = torch.linalg.cross(ab, ac, dim=-1)
    d00, d01, d11, nn = _dot(ab, ab), _dot(ab, ac), _dot(ac, ac), _dot(n, n)
    denom = (d00 * d11 - d01 * d01).clamp(min=_EPS * _EPS)
    big = nn > max(4.0 * min_triangle_area * min_triangle_area, _EPS * _EPS)
    a2, a_ab, a_ac, a_n = _dot(a, a), _dot(a, ab), _dot(a, ac), _dot(a, n)
    bc2 = (d00 + d11 - 2 * d01).clamp(min=_EPS)
    mats = torch.stack([a, ab, ac, n], 0)  # (4, T, 3)
    p2 = _dot(p, p)

    def fn(qsl: slice, tsl: slice) -> torch.Tensor:
        q = p[qsl]
        m = mats[:, tsl].reshape(-1, 3)
        Tc = m.shape[0] // 4
        pa, pab, pac, pn = (q @ m.T).reshape(q.shape[0], 4, Tc).unbind(1)
        ap2 = p2[qsl, None] - 2 * pa + a2[tsl]
        d1 = pab - a_ab[tsl]
        d2 = pac - a_ac[tsl]
        dn = pn - a_n[tsl]
        e00, e01, e11, den = d00[tsl], d01[tsl], d11[tsl], denom[tsl]
        v = (e11 * d1 - e01 * d2) / den
        w = (e00 * d2 - e01 * d1) / den
        inside = (v >= 0) & (w >= 0) & (v + w <= 1) & big[tsl]
        plane = dn * dn / nn[tsl].clamp(min=_EPS * _EPS)
        t = (d1 / e00.clamp(min=_EPS)).clamp(0, 1)
        best = ap2 - t * (2 * d1 - t * e00)
        t = (d2 / e11.clamp(min=_EPS)).clamp(0, 1)
        best = torch.minimum(best, ap2 - t * (2 * d2 - t * e11))
        bpbc = d2 - d1 - e01 + e00
        bp2 = ap2 - 2 * d1 + e00
        f2 = bc2[tsl]
        t = (bpbc / f2).clamp(0, 1)
        best = torch.minimum(best, bp2 - t * (2 * bpbc - t * f2))
        return torch.where(inside, plane, best)

    return fn


def _seg_block_fn(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """Block function for _blockwise_min: squared distances points x segments (a, b)."""
    p = p.detach()
    a = a.detach().to(p.dtype)
    b = b.detach().to(p.dtype)
    centre = torch.cat([a, b]).mean(0) if a.numel() else p.new_zeros(3)
    p = p - centre
    a = a - centre
    e = b - centre - a
    ee = _dot(e, e)
    a2, a_e = _dot(a, a), _dot(a, e)
    mats = torch.stack([a, e], 0)
    p2 = _dot(p, p)

    def fn(qsl: slice, tsl: slice) -> torch.Tensor:
        q = p[qsl]
        m = mats[:, tsl].reshape(-1, 3)
        pa, pe = (q @ m.T).reshape(q.shape[0], 2, -1).unbind(1)
        ap2 = p2[qsl, None] - 2 * pa + a2[tsl]
        d = pe - a_e[tsl]
        f = ee[tsl]
        t = (d / f.clamp(min=_EPS)).clamp(0, 1)
        return ap2 - t * (2 * d - t * f)

    return fn


def _tri_sq_dists(p: torch.Tensor, tris: torch.Tensor, min_triangle_area: float = 0.0):
    """Squared distance of every point p (Q, 3) to its closest triangle of tris (T, 3, 3).

    Returns (Q,) squared distances (differentiable) and (Q,) int64 closest triangle index.
    """
    if tris.shape[0] == 0:
        return p.new_full((p.shape[0],), float("inf")), torch.zeros_like(p[:, 0], dtype=torch.long)
    fn = _tri_block_fn(p, tris, min_triangle_area)
    _, idx, _, _ = _blockwise_min(fn, p.shape[0], tris.shape[0], p)
    t = tris[idx]
    return point_triangle_distance(p, t[:, 0], t[:, 1], t[:, 2], min_triangle_area), idx


def winding_number(
    points: torch.Tensor,
    verts: torch.Tensor,
    faces: torch.Tensor,
    chunk_pairs: int | None = None,
) -> torch.Tensor:
    """Generalized winding number of a triangle mesh at query points.

    w(p) = sum over triangles of the signed solid angle they subtend at p, divided by 4 pi
    (Van Oosterom and Strackee formula). For a closed, outward-oriented mesh w is 1 inside and
    0 outside; for open or inconsistent meshes it is a smooth inside-ness measure.

    Args:
        points: (P, 3) float query points.
        verts: (V, 3) float.
        faces: (F, 3) int64.

    Returns:
        (P,) float winding numbers (not differentiable: computed without autograd).
    """
    check_tensor(points, "points", (None, 3), "float")
    check_tensor(verts, "verts", (None, 3), "float")
    check_tensor(faces, "faces", (None, 3), "int")
    chunk_pairs = chunk_pairs or CHUNK_PAIRS
    P, F = points.shape[0], faces.shape[0]
    out = points.new_zeros((P,))
    if P == 0 or F == 0:
        return out
    with torch.no_grad():
        # float64 and centred coordinates: every pair quantity comes from one matmul
        tri = verts.detach().double()[faces]  # (F, 3, 3)
        centre = tri.reshape(-1, 3).mean(0)
        tri = tri - centre
        p = points.detach().double() - centre
        a, b, c = tri.unbind(1)
        g = (
            torch.linalg.cross(a, b, dim=-1)
            + torch.linalg.cross(b, c, dim=-1)
            + torch.linalg.cross(c, a, dim=-1)
        )
        det0 = _dot(a, torch.linalg.cross(b, c, dim=-1))
        sq = torch.stack([_dot(a, a), _dot(b, b), _dot(c, c)], 0)  # (3, F)
        pair = torch.stack([_dot(a, b), _dot(b, c), _dot(c, a)], 0)  # (3, F)
        mats = torch.stack([a, b, c, a + b, b + c, c + a, g], 0)  # (7, F, 3)
        p2 = _dot(p, p)
        tc = min(F, max(1, chunk_pairs // 64), 16384)
        qc = max(1, chunk_pairs // tc)
        acc = torch.zeros(P, dtype=torch.float64, device=points.device)
        for ts in range(0, F, tc):
            tsl = slice(ts, ts + tc)
            m = mats[:, tsl].reshape(-1, 3)
            for qs in range(0, P, qc):
                q = p[qs : qs + qc]
                q2 = p2[qs : qs + qc, None]
                pa, pb, pc, pab, pbc, pca, pg = (q @ m.T).reshape(q.shape[0], 7, -1).unbind(1)
                la = (sq[0, tsl] - 2 * pa + q2).clamp(min=0).sqrt()
                lb = (sq[1, tsl] - 2 * pb + q2).clamp(min=0).sqrt()
                lc = (sq[2, tsl] - 2 * pc + q2).clamp(min=0).sqrt()
                ab = pair[0, tsl] - pab + q2
                bc = pair[1, tsl] - pbc + q2
                ca = pair[2, tsl] - pca + q2
                det = det0[tsl] - pg
                den = la * lb * lc + ab * lc + bc * la + ca * lb
                acc[qs : qs + qc] += torch.atan2(det, den).sum(dim=1)
        out = (acc / (2.0 * math.pi)).to(points.dtype)
    return out


def _mesh_lists(meshes) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if hasattr(meshes, "verts_list") and hasattr(meshes, "faces_list"):
        return list(meshes.verts_list()), list(meshes.faces_list())
    if isinstance(meshes, (tuple, list)) and len(meshes) == 2 and torch.is_tensor(meshes[0]):
        v, f = meshes
        if v.ndim == 2:
            return [v], [f]
        return list(v), list(f)
    raise TypeError(
        f"meshes must be a Meshes object or a (verts, faces) tuple; got {type(meshes).__name__}"
    )


def mesh_sdf(meshes, points: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | list:
    """Signed distance from query points to each mesh of a batch (negative inside).

    The magnitude is the exact Euclidean distance to the closest triangle; the sign comes from
    the generalized winding number (inside where w > 0.5), which is robust for closed meshes and
    degrades gracefully on small holes. Work is done in blocks of `CHUNK_PAIRS` (point,
    triangle) pairs: memory is O(CHUNK_PAIRS + P + F) whatever P and F are (1M points on a
    100k-face mesh run in well under 1 GB; time is O(P F)).

    Args:
        meshes: Meshes with N meshes (or a (verts (V, 3), faces (F, 3)) tuple for one mesh).
        points: (N, P, 3) float, or a list of N (P_n, 3) tensors.

    Returns:
        (N, P) float signed distances, or a list of (P_n,) tensors when points is a list.
        Differentiable in the points and the vertex positions (the sign is piecewise constant).
        A mesh with no faces gives +inf.
    """
    verts_list, faces_list = _mesh_lists(meshes)
    N = len(verts_list)
    as_list = isinstance(points, (list, tuple))
    if as_list:
        pts = list(points)
        if len(pts) != N:
            raise ValueError(f"points must hold one tensor per mesh ({N}); got {len(pts)}")
        for i, p in enumerate(pts):
            check_tensor(p, f"points[{i}]", (None, 3), "float")
    else:
        check_tensor(points, "points", (N, None, 3), "float")
        pts = list(points.unbind(0))
    out = []
    for v, f, p in zip(verts_list, faces_list, pts):
        if f.shape[0] == 0:
            out.append(p.new_full((p.shape[0],), float("inf")))
            continue
        d2, _ = _tri_sq_dists(p, v[f])
        d = d2.clamp(min=1e-30).sqrt()
        w = winding_number(p, v, f)
        out.append(torch.where(w > 0.5, -d, d))
    if as_list:
        return out
    return torch.stack(out, 0) if out else points.new_zeros((0, points.shape[1]))
