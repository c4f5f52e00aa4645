"""Exact 3D nearest neighbours for evaluation, fast whatever the distance between the two sets.

A uniform-grid search (ops.knn_points) slows down badly when many queries lie far from the
reference points (a poor reconstruction against its ground truth). Here:

1. Grid levels with cells c0, 2 c0, 4 c0: a query compares itself with the points of the 27
   cells around its own; the best found is exact when it is no farther than the border of that
   3x3x3 block (any point outside is farther). Resolved queries leave; the others go up a level.
2. The queries left (far from every point) use coarser grid cells (about 16 sqrt(R) of them) as
   clusters, each with a representative member (the one nearest the centroid) and a radius: the nearest representative bounds the nearest-neighbour
   distance U, and only clusters with dist(query, representative) - radius <= U can hold it.

Both stages are exact; candidate (query, point) pairs are evaluated in bounded chunks.
"""

from __future__ import annotations

import itertools

import torch

_PAIR_BUDGET = 1 << 22  # (query, point) pairs compared at once
_DIST_BUDGET = 1 << 23  # (query, cluster) distances at once
_QUERY_CHUNK = 1 << 15
_LEVELS = 3


def _grid(ref: torch.Tensor, lo: torch.Tensor, cell: float, n: int):
    ijk = ((ref - lo) / cell).floor().long().clamp(0, n - 1)
    key = (ijk[:, 0] * n + ijk[:, 1]) * n + ijk[:, 2]
    key, order = torch.sort(key)
    ukeys, counts = torch.unique_consecutive(key, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    return order, ukeys, starts, counts


def _scan(q, qi, cid, pts, starts, counts):
    """Best squared distance (Q,) and point index (Q,) of each query q over the points of the
    clusters paired with it (pairs qi[k], cid[k]); inf / 0 for queries with no pair."""
    Q = q.shape[0]
    best = torch.full((Q,), float("inf"), dtype=q.dtype, device=q.device)
    best_idx = torch.zeros(Q, dtype=torch.long, device=q.device)
    npts = counts[cid]
    cum = torch.cumsum(npts, 0)
    p0 = 0
    while p0 < qi.numel():
        base = int(cum[p0 - 1]) if p0 else 0
        p1 = max(int(torch.searchsorted(cum, base + _PAIR_BUDGET, right=True)), p0 + 1)
        qi_, cid_, n_ = qi[p0:p1], cid[p0:p1], npts[p0:p1]
        total = int(n_.sum())
        first = torch.cumsum(n_, 0) - n_
        off = torch.arange(total, device=q.device) - torch.repeat_interleave(first, n_)
        pt = torch.repeat_interleave(starts[cid_], n_) + off  # (pairs,)
        qq = torch.repeat_interleave(qi_, n_)
        dist2 = (q[qq] - pts[pt]).square().sum(-1)
        pbest = torch.full((Q,), float("inf"), dtype=q.dtype, device=q.device)
        pbest = pbest.scatter_reduce(0, qq, dist2, reduce="amin", include_self=True)
        pidx = torch.zeros(Q, dtype=torch.long, device=q.device)
        hit = dist2 == pbest[qq]
        pidx[qq[hit]] = pt[hit]
        better = pbest < best
        best[better] = pbest[better]
        best_idx[better] = pidx[better]
        p0 = p1
    return best, best_idx


def _offsets(device) -> torch.Tensor:
    return torch.tensor(list(itertools.product((-1, 0, 1), repeat=3)), device=device)  # (27, 3)


def nearest_neighbors(query: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance (P,) and index into ref (P,) of the nearest ref point of every query point.

    query: (P, 3) float, ref: (R, 3) float (R >= 1). No autograd. Ties: any of the nearest.
    """
    with torch.no_grad():
        P, R = query.shape[0], ref.shape[0]
        dev = query.device
        lo = torch.minimum(query.min(0).values, ref.min(0).values) if P else ref.min(0).values
        hi = torch.maximum(query.max(0).values, ref.max(0).values) if P else ref.max(0).values
        ext = max(float((hi - lo).max()), 1e-12)
        rext = float((ref.max(0).values - ref.min(0).values).max())
        cell = max(2.0 * rext / R**0.5, ext * 1e-6, 1e-12)
        best = torch.full((P,), float("inf"), dtype=query.dtype, device=dev)
        best_idx = torch.zeros(P, dtype=torch.long, device=dev)
        todo = torch.arange(P, device=dev)
        offs = _offsets(dev)
        for _ in range(_LEVELS):
            n = int(ext / cell) + 3
            order, ukeys, starts, counts = _grid(ref, lo, cell, n)
            pts = ref[order]
            left = []
            for s in range(0, todo.numel(), _QUERY_CHUNK):
                ids = todo[s : s + _QUERY_CHUNK]
                q = query[ids]
                ijk = ((q - lo) / cell).floor().long()  # (Q, 3)
                nb = ijk[:, None, :] + offs  # (Q, 27, 3)
                valid = ((nb >= 0) & (nb < n)).all(-1)
                keys = (nb[..., 0] * n + nb[..., 1]) * n + nb[..., 2]
                pos = torch.searchsorted(ukeys, keys).clamp(max=ukeys.numel() - 1)
                qi, k = torch.nonzero(valid & (ukeys[pos] == keys), as_tuple=True)
                b, bi = _scan(q, qi, pos[qi, k], pts, starts, counts)
                corner = lo + (ijk - 1).to(q.dtype) * cell  # the 3x3x3 block's border
                border = torch.minimum(q - corner, corner + 3 * cell - q).min(-1).values
                ok = b <= border.clamp(min=0).square()
                best[ids[ok]] = b[ok]
                best_idx[ids[ok]] = order[bi[ok]]
                left.append(ids[~ok])
            todo = torch.cat(left) if left else todo[:0]
            if todo.numel() == 0:
                break
            if _ < _LEVELS - 1:
                cell *= 2.0
        if todo.numel():
            _far(query, todo, ref, lo, ext, best, best_idx)
        return best.clamp(min=0).sqrt(), best_idx


def _far(query, todo, ref, lo, ext, best, best_idx) -> None:
    """Cluster search for the queries left after the grid levels (updates best / best_idx)."""
    R = ref.shape[0]
    cell = ext / 8.0
    for _ in range(6):  # about 16 sqrt(R) clusters: balances the two costs below
        n = int(ext / cell) + 3
        order, ukeys, starts, counts = _grid(ref, lo, cell, n)
        ratio = counts.numel() / max(1.0, 16.0 * R**0.5)
        if 0.5 <= ratio <= 2.0 or counts.numel() == R or cell < ext * 1e-4:
            break
        cell *= ratio**0.5  # occupied cells of a surface ~ 1 / cell^2
    pts = ref[order]
    C = counts.numel()
    cid = torch.repeat_interleave(torch.arange(C, device=pts.device), counts)
    # representative: the member nearest to the cluster's centroid (small radius)
    cen = torch.zeros(C, 3, dtype=pts.dtype, device=pts.device).index_add_(0, cid, pts)
    cen = cen / counts[:, None].to(pts.dtype)
    dc = (pts - cen[cid]).norm(dim=1)
    dmin = torch.full((C,), float("inf"), dtype=pts.dtype, device=pts.device)
    dmin = dmin.scatter_reduce(0, cid, dc, reduce="amin", include_self=True)
    rep_idx = starts.clone()
    is_min = dc == dmin[cid]
    rep_idx[cid[is_min]] = torch.nonzero(is_min)[:, 0]
    reps = pts[rep_idx]
    d = (pts - reps[cid]).norm(dim=1)
    radius = torch.zeros(C, dtype=pts.dtype, device=pts.device)
    radius = radius.scatter_reduce(0, cid, d, reduce="amax", include_self=True)
    chunk = max(1, _DIST_BUDGET // C)
    for s in range(0, todo.numel(), chunk):
        ids = todo[s : s + chunk]
        q = query[ids]
        dq = torch.cdist(q, reps)  # (B, C)
        upper = dq.min(1).values
        slack = 1e-6 * (upper + radius.max()) + 1e-12
        qi, cj = torch.nonzero(dq - radius <= (upper + slack)[:, None], as_tuple=True)
        b, bi = _scan(q, qi, cj, pts, starts, counts)
        best[ids] = b
        best_idx[ids] = order[bi]
