"""Exact point-to-triangle and point-to-segment squared distances, and their chunked search.

`point_triangle_distance` / `point_segment_distance` evaluate matched pairs with autograd.
For a nearest-primitive search, `point_triangle_block_fn` / `point_segment_block_fn` build a
function giving a (points x primitives) block of squared distances (all dot products of a block
from one matmul) and `blockwise_min` reduces the (Q, T) matrix block by block without autograd,
at most `CHUNK_PAIRS` entries at once; the callers then recompute the distance of each selected
pair with the differentiable functions, so gradients reach points and vertices. Used by
`ops.mesh_sdf` and `loss.point_mesh_distance`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from inverse3d._dispatch import use_triton

__all__ = [
    "CHUNK_PAIRS",
    "blockwise_min",
    "closest_triangle_pairs",
    "point_segment_block_fn",
    "point_segment_distance",
    "point_triangle_block_fn",
    "point_triangle_distance",
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


def blockwise_min(
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
        chunk_pairs: entries per block (default `CHUNK_PAIRS`).
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


def point_triangle_block_fn(p: torch.Tensor, tris: torch.Tensor, min_triangle_area: float = 0.0):
    """Block function for `blockwise_min`: squared distances points x triangles.

    p: (Q, 3) float points; tris: (T, 3, 3) float triangle corners. Returns
    fn(qsl, tsl) -> (Qc, Tc) squared distances (detached), triangles with area below
    `min_triangle_area` counting as their edges, as in `point_triangle_distance`.

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


def point_segment_block_fn(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """Block function for `blockwise_min`: squared distances points x segments.

    p: (Q, 3) float points; a, b: (T, 3) float segment end points. Returns
    fn(qsl, tsl) -> (Qc, Tc) squared distances (detached).
    """
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


def closest_triangle_pairs(
    p: torch.Tensor, tris: torch.Tensor, min_triangle_area: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both nearest-neighbour searches between points and triangles, without autograd.

    p: (P, 3) float points; tris: (T, 3, 3) float triangle corners.
    Returns (pi, ti): pi (P,) long, each point's nearest triangle; ti (T,) long, each triangle's
    nearest point (exact distances; ties to the smallest index on the Triton path). On CUDA with
    Triton (`INVERSE3D_KERNELS`) the searches run as kernels, else by `blockwise_min`.
    """
    if not torch.is_tensor(p) or p.ndim != 2 or p.shape[-1] != 3:
        raise ValueError(f"p must be a (P, 3) tensor; got {getattr(p, 'shape', type(p))}")
    if not torch.is_tensor(tris) or tris.ndim != 3 or tris.shape[1:] != (3, 3):
        raise ValueError(
            f"tris must be a (T, 3, 3) tensor; got {getattr(tris, 'shape', type(tris))}"
        )
    if use_triton(p, tris, experimental=True):
        from inverse3d.ops._triton.closest_triangle import (
            closest_point_search,
            closest_triangle_search,
        )

        return (
            closest_triangle_search(p, tris, min_triangle_area),
            closest_point_search(p, tris, min_triangle_area),
        )
    _, pi, _, ti = blockwise_min(
        point_triangle_block_fn(p, tris, min_triangle_area), p.shape[0], tris.shape[0], p, cols=True
    )
    return pi, ti
