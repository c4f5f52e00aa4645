"""K nearest neighbours between batches of point clouds (PyTorch3D `ops.knn` API).

The search is exact and runs without autograd; the distances of the K selected pairs are then
recomputed from the inputs with autograd, so gradients reach both clouds and cost O(N P1 K D)
memory, never O(P1 P2). Search stages (docs/ops.md has the details and measurements):

- uniform grid (D <= 3 on CPU, P1 * P2 >= GRID_MIN_PAIRS): per-cloud cubic cells, candidates
  from the 3x3x3 (then 5x5x5, then coarser) cells around each query, accepted only when
  provably complete; a level that would cost more than a quarter of brute force is skipped.
  Memory O(GRID_QUERY_BLOCK + GRID_CHUNK_PAIRS).
- cluster search for what the grid leaves (queries far from the references): representatives
  and radii of ~16 sqrt(R) clusters prune by the triangle inequality; exact, cost O(Q C) plus
  the candidates, so off-surface inputs no longer fall back to O(Q R).
- Triton (CUDA, D <= 16, see `_dispatch`): one fused kernel, `ops/_triton/knn.py`.
- brute force: queries and references both cut into chunks, each block's distances computed at
  once and a running top-K merged block after block. The block holds at most
  `KNN_CHUNK_ELEMENTS` distances (2**22); peak about 3 x (4 + 8) x KNN_CHUNK_ELEMENTS bytes
  (~ 150 MB) plus the outputs N P1 K (element size + 8) bytes (+ N P1 K D element size for
  return_nn and the same again for the gathered neighbours of the gradient pass).
"""

from __future__ import annotations

import math

import torch

from inverse3d._dispatch import use_triton
from inverse3d._validation import check_choice, check_positive_int, check_tensor, with_phrase
from inverse3d.ops._knn_common import KNN, check_lengths

__all__ = ["knn_points", "knn_gather"]

KNN_CHUNK_ELEMENTS = 1 << 22


def _block_dists(q: torch.Tensor, r: torch.Tensor, norm: int, q2, r2) -> torch.Tensor:
    """Distances (N, Qc, Rc) between q (N, Qc, D) and r (N, Rc, D)."""
    if norm == 2:
        # |q|^2 - 2 q.r + |r|^2 (inputs are centred by the caller to limit cancellation)
        d = torch.baddbmm(r2[:, None, :], q, r.transpose(1, 2), alpha=-2.0)
        return d.add_(q2[:, :, None]).clamp_(min=0)
    return torch.cdist(q, r, p=1.0)


def _knn_search(
    p1: torch.Tensor,
    p2: torch.Tensor,
    lengths2: torch.Tensor,
    K: int,
    norm: int,
    chunk_elements: int | None = None,
) -> torch.Tensor:
    """Indices (N, P1, K) of the K nearest valid points of p2 (ascending distance).

    Slots beyond lengths2[n] hold index -1. Computed without autograd.
    """
    chunk_elements = chunk_elements or KNN_CHUNK_ELEMENTS
    N, P1, D = p1.shape
    P2 = p2.shape[1]
    Kk = min(K, P2)
    idx_out = torch.full((N, P1, K), -1, dtype=torch.int64, device=p1.device)
    if N == 0 or P1 == 0 or P2 == 0:
        return idx_out
    with torch.no_grad():
        p1 = p1.detach()
        p2 = p2.detach()
        if norm == 2:
            # centre both clouds on the reference centroid: reduces float cancellation
            cnt = lengths2.clamp(min=1).to(p2.dtype)[:, None]
            mask2 = (torch.arange(P2, device=p2.device)[None] < lengths2[:, None]).to(p2.dtype)
            centre = (p2 * mask2[..., None]).sum(1) / cnt
            p1 = p1 - centre[:, None]
            p2 = p2 - centre[:, None]
        rc = min(P2, max(Kk, chunk_elements // max(1, N * 16), 1), 65536)
        qc = max(1, chunk_elements // (N * rc))
        ar = torch.arange(P2, device=p2.device)
        invalid_ref = ar[None, :] >= lengths2[:, None]  # (N, P2)
        r2_all = (p2 * p2).sum(-1) if norm == 2 else None
        for qs in range(0, P1, qc):
            q = p1[:, qs : qs + qc]
            q2 = (q * q).sum(-1) if norm == 2 else None
            best_d = best_i = None
            for rs in range(0, P2, rc):
                r = p2[:, rs : rs + rc]
                r2 = r2_all[:, rs : rs + rc] if norm == 2 else None
                d = _block_dists(q, r, norm, q2, r2)
                d.masked_fill_(invalid_ref[:, None, rs : rs + rc], float("inf"))
                k_here = min(Kk, d.shape[-1])
                if best_d is None:
                    best_d, best_i = torch.topk(d, k_here, dim=-1, largest=False, sorted=False)
                else:
                    dv, di = torch.topk(d, k_here, dim=-1, largest=False, sorted=False)
                    cat_d = torch.cat([best_d, dv], -1)
                    cat_i = torch.cat([best_i, di + rs], -1)
                    best_d, sel = torch.topk(cat_d, Kk, dim=-1, largest=False, sorted=False)
                    best_i = cat_i.gather(-1, sel)
                    continue
                best_i = best_i + rs
            best_i = torch.where(torch.isinf(best_d), torch.full_like(best_i, -1), best_i)
            idx_out[:, qs : qs + qc, :Kk] = best_i
    return idx_out


# --- uniform-grid search (D <= 3) -------------------------------------------------------------
# Reference points are bucketed in cubic cells of side h (about GRID_OCCUPANCY * K points per
# non-empty cell). Queries are grouped by cell; the queries of a cell compare themselves with
# the references of the (2r+1)^3 cells around it, take the K best and keep them only if the K-th
# distance is <= the L_inf distance from the query to the boundary of that block of cells: then
# no point outside can be closer, so the result is exact. Queries that fail with r = 1 retry
# with r = 2, the rest fall back to brute force.
GRID_CHUNK_PAIRS = 1 << 20
GRID_OCCUPANCY = 0.5
GRID_MIN_PAIRS = 1 << 21  # below P1 * P2 of this, brute force is as fast
GRID_QUERY_BLOCK = 1 << 17  # queries handled together (~ 0.5 KB of bookkeeping each)
# (cell size / base cell size, block radius in cells) tried in turn; then the cluster search
GRID_LEVELS = ((1, 1), (1, 2), (4, 1), (12, 1))


def _grid_cell_size(r: torch.Tensor, lo: torch.Tensor, ext: torch.Tensor, K: int) -> float:
    """Cell side giving about max(1, GRID_OCCUPANCY * K) points per non-empty cell."""
    P = r.shape[0]
    target = max(1.0, GRID_OCCUPANCY * K)
    span = ext.clamp(min=float(ext.max()) * 1e-3 + 1e-12)
    h = float((span.prod() * target / P) ** (1.0 / 3.0))
    best_h, best_err = h, float("inf")
    for _ in range(4):
        G = (span / h).floor().clamp(max=(1 << 16) - 1) + 1
        cells = ((r - lo) / h).floor().clamp(min=0)
        cells = torch.minimum(cells, G - 1).long()
        key = (cells[:, 0] * int(G[1]) + cells[:, 1]) * int(G[2]) + cells[:, 2]
        n_cells = int(G.prod())
        if n_cells <= 8 * P + 4096:
            n_used = int((torch.bincount(key, minlength=n_cells) > 0).sum())
        else:
            n_used = int(torch.unique(key).numel())
        occ = P / max(1, n_used)
        err = abs(math.log(occ / target))
        if err < best_err:
            best_h, best_err = h, err
        if err < 0.7:  # within a factor 2: good enough
            break
        h = h * (target / occ) ** 0.5  # surfaces: occupancy ~ h^2
    return max(best_h, float(span.max()) / ((1 << 16) - 2))


def _grid_knn_one(q: torch.Tensor, r: torch.Tensor, K: int, norm: int) -> torch.Tensor:
    """Exact K nearest neighbours (indices (Q, min(K, R))) of q (Q, 3) in r (R, 3)."""
    return _grid_knn_pooled([q], [r], K, norm)[0]


def _grid_knn_pooled(qs: list, rs: list, K: int, norm: int) -> list:
    """Grid search of several clouds at once (queries qs[i] (Q_i, 3) in references rs[i]).

    Each cloud keeps its own origin, cell size and grid; the cloud index is folded into the
    cell keys, so all clouds share one sort, one table and one pass of vector operations.
    Returns per cloud (Q_i, min(K, R_i)) int64 indices into rs[i].
    """
    dev = qs[0].device
    C = len(qs)
    outs = [
        torch.full((q.shape[0], min(K, r.shape[0])), -1, dtype=torch.int64, device=dev)
        for q, r in zip(qs, rs)
    ]
    # clouds with fewer than K references: brute force (tiny)
    big = [i for i in range(C) if rs[i].shape[0] >= K and qs[i].shape[0] > 0]
    for i in range(C):
        if i not in big and qs[i].shape[0] and rs[i].shape[0]:
            R = rs[i].shape[0]
            outs[i] = _knn_search(qs[i][None], rs[i][None], torch.tensor([R], device=dev), R, norm)[
                0
            ]
    if not big:
        return outs
    qs_b = [qs[i] for i in big]
    rs_b = [rs[i] for i in big]
    nb = len(big)
    los, hs = [], []
    for r in rs_b:
        lo = r.min(0).values
        ext = r.max(0).values - lo
        h = _grid_cell_size(r, lo, ext, K)
        los.append(lo)
        hs.append(h)
    lo = torch.stack(los)  # (C, 3)
    h0 = torch.tensor(hs, dtype=lo.dtype, device=dev)  # (C,)
    ext = torch.stack([r.max(0).values for r in rs_b]) - lo  # (C, 3)
    r_cnt = torch.tensor([r.shape[0] for r in rs_b], device=dev)
    r_first = torch.cumsum(r_cnt, 0) - r_cnt
    r_all = torch.cat(rs_b)
    rb = torch.repeat_interleave(torch.arange(nb, device=dev), r_cnt)
    grids: dict = {}

    def grid(f: int) -> dict:
        """The references bucketed in cells f times the base size (built once per f)."""
        if f in grids:
            return grids[f]
        h = h0 * f
        G = ((ext / h[:, None]).floor() + 1).long()  # (C, 3)
        gm = tuple(int(x) for x in G.max(0).values)
        n_cells = nb * gm[0] * gm[1] * gm[2]
        cr = ((r_all - lo[rb]) / h[rb, None]).floor().long().clamp(min=0)
        cr = torch.minimum(cr, G[rb] - 1)
        key_r = ((rb * gm[0] + cr[:, 0]) * gm[1] + cr[:, 1]) * gm[2] + cr[:, 2]
        key_sorted, order = key_r.sort()
        g = {"h": h, "G": G, "gm": gm, "n_cells": n_cells, "key_sorted": key_sorted}
        g["local"] = (torch.arange(r_all.shape[0], device=dev) - r_first[rb])[order]
        g["cell_end"] = g["cell_cnt"] = None
        if n_cells <= 8 * r_all.shape[0] + 4096:
            g["cell_cnt"] = torch.bincount(key_r, minlength=n_cells)
            g["cell_end"] = torch.cumsum(g["cell_cnt"], 0)
        # references by coordinate, sorted by cell, plus an infinitely far padding point
        g["coords"] = torch.cat([r_all[order], r_all.new_full((1, 3), float("inf"))]).T
        g["coords"] = g["coords"].contiguous()
        grids[f] = g
        return g

    pad = r_all.shape[0]

    def runs_of(g: dict, cells: torch.Tensor, cb: torch.Tensor, rad: int):
        """(start, count) in the sorted references of the (2 rad + 1)^2 runs of each cell.

        Cells (x+dx, y+dy, z-rad..z+rad) have consecutive keys: one contiguous run each.
        """
        gm0, gm1, gm2 = g["gm"]
        n_cells, cell_end, cell_cnt = g["n_cells"], g["cell_end"], g["cell_cnt"]
        rng = torch.arange(-rad, rad + 1, device=dev)
        offs = torch.stack(torch.meshgrid(rng, rng, indexing="ij"), -1).reshape(-1, 2)
        Gc = g["G"][cb]  # (U, 3)
        nxy = cells[:, None, :2] + offs[None]  # (U, M, 2)
        inb = ((nxy >= 0) & (nxy < Gc[:, None, :2])).all(-1)
        inb &= (cells[:, 2:] + rad >= 0) & (cells[:, 2:] - rad < Gc[:, 2:])
        z0 = torch.minimum((cells[:, 2] - rad).clamp(min=0), Gc[:, 2] - 1)[:, None]
        z1 = torch.minimum((cells[:, 2] + rad).clamp(min=0), Gc[:, 2] - 1)[:, None]
        base = ((cb[:, None] * gm0 + nxy[..., 0]) * gm1 + nxy[..., 1]) * gm2
        lo_key = (base + z0).clamp(0, n_cells - 1)
        hi_key = (base + z1).clamp(0, n_cells - 1)
        if cell_end is not None:  # dense table: O(1) lookups
            st = cell_end[lo_key] - cell_cnt[lo_key]
            en = cell_end[hi_key]
        else:
            st = torch.searchsorted(g["key_sorted"], lo_key)
            en = torch.searchsorted(g["key_sorted"], hi_key + 1)
        return st, torch.where(inb, en - st, torch.zeros_like(st))

    q_cnt = torch.tensor([q.shape[0] for q in qs_b], device=dev)
    q_first = (torch.cumsum(q_cnt, 0) - q_cnt).tolist()
    q_all = torch.cat(qs_b)
    qb_all = torch.repeat_interleave(torch.arange(nb, device=dev), q_cnt)
    res_all = torch.full((q_all.shape[0], K), -1, dtype=torch.int64, device=dev)
    clus: dict = {}  # cluster structure of each cloud, built on first use
    i32 = torch.int32

    def run(q: torch.Tensor, qb: torch.Tensor, out: torch.Tensor) -> None:
        # Queries are grouped by cell: the candidates of a cell are gathered once, then every
        # query of the cell is compared with them (no per-pair index arithmetic).
        rem = torch.arange(q.shape[0], device=dev)
        for f, rad in GRID_LEVELS:
            if rem.numel() == 0:
                break
            g = grid(f)
            G, h, coords, local = g["G"], g["h"], g["coords"], g["local"]
            gm0, gm1, gm2 = g["gm"]
            qq, cb_q = q[rem], qb[rem]
            cq = ((qq - lo[cb_q]) / h[cb_q, None]).floor().long()
            s_ = rad + 1
            cq = torch.maximum(torch.minimum(cq, G[cb_q] + s_ - 1), torch.full_like(cq, -s_))
            d0, d1, d2 = gm0 + 2 * s_, gm1 + 2 * s_, gm2 + 2 * s_
            keyq = (((cb_q * d0 + cq[:, 0] + s_) * d1 + (cq[:, 1] + s_)) * d2) + (cq[:, 2] + s_)
            ukey, inv = torch.unique(keyq, return_inverse=True)
            ucb = ukey // (d0 * d1 * d2)
            rest = ukey % (d0 * d1 * d2)
            ucell = torch.stack(
                [rest // (d1 * d2) - s_, (rest // d2) % d1 - s_, rest % d2 - s_], -1
            )  # (U, 3)
            st, cnt = runs_of(g, ucell, ucb, rad)
            total = cnt.sum(1)  # candidates per cell
            if 4 * int(total[inv].sum()) > int(r_cnt[cb_q].sum()):
                break  # this level would cost a quarter of brute force: clusters instead
            hq = h[cb_q, None]
            cell_lo = lo[cb_q] + cq.to(q.dtype) * hq
            margin = torch.minimum(qq - (cell_lo - rad * hq), (cell_lo + (rad + 1) * hq) - qq)
            margin = margin.min(-1).values  # L_inf distance to the block boundary
            # order cells by candidate count, queries by the rank of their cell
            corder = torch.argsort(total)
            rank = torch.empty_like(corder)
            rank[corder] = torch.arange(corder.numel(), device=dev)
            q_rank = rank[inv]
            qperm = torch.argsort(q_rank)
            q_end = torch.cumsum(torch.bincount(q_rank, minlength=corder.numel()), 0).tolist()
            tot_sorted = total[corder].tolist()
            ok_all = torch.zeros(rem.numel(), dtype=torch.bool, device=dev)
            U = corder.numel()
            i = 0
            while i < U:
                # grow the chunk while (queries x max candidates) fits the budget
                q0 = q_end[i - 1] if i else 0
                j, step = i + 1, 1
                while j < U:
                    nj = min(U, j + step)
                    if (q_end[nj - 1] - q0) * tot_sorted[nj - 1] > GRID_CHUNK_PAIRS:
                        break
                    j, step = nj, step * 2
                cmax = tot_sorted[j - 1]
                cells = corder[i:j]
                qsel = qperm[q0 : q_end[j - 1]]
                i0, i = i, j
                if cmax < K or qsel.numel() == 0:
                    continue
                m = cells.numel()
                cntf = cnt[cells].reshape(-1).to(i32)
                c_tot = total[cells].to(i32)
                n_c = int(c_tot.sum())
                run_off = torch.cumsum(cntf, 0, dtype=i32) - cntf
                flat = torch.arange(n_c, device=dev, dtype=i32)
                rpos = flat + torch.repeat_interleave(
                    st[cells].reshape(-1).to(i32) - run_off, cntf, output_size=n_c
                )
                coff = torch.cumsum(c_tot, 0, dtype=i32) - c_tot
                shift = torch.arange(m, device=dev, dtype=i32) * cmax - coff
                slot = flat + torch.repeat_interleave(shift, c_tot, output_size=n_c)
                cand = torch.full((m * cmax,), pad, dtype=torch.int64, device=dev)
                cand[slot] = rpos.long()
                cand = cand.view(m, cmax)
                loc = rank[inv[qsel]] - i0  # local cell of each query
                qs_ = qq[qsel]
                d = None
                for ax in range(3):  # coordinate by coordinate: contiguous (nq, cmax) arrays
                    diff = coords[ax][cand][loc] - qs_[:, ax, None]
                    diff = diff * diff if norm == 2 else diff.abs()
                    d = diff if d is None else d.add_(diff)
                bd, bi = torch.topk(d, K, dim=1, largest=False, sorted=True)
                dk = bd[:, -1].sqrt() if norm == 2 else bd[:, -1]
                all_in = c_tot[loc].long() == r_cnt[cb_q[qsel]]
                ok = torch.isfinite(bd[:, -1]) & ((dk <= margin[qsel]) | all_in)
                ok_all[qsel] = ok
                out[rem[qsel[ok]]] = local[cand[loc[ok]].gather(1, bi[ok])]
            rem = rem[~ok_all]
        if rem.numel():  # cluster search, cloud by cloud
            cbr = qb[rem]
            for c in torch.unique(cbr).tolist():
                sel = rem[cbr == c]
                if c not in clus:
                    clus[c] = _clusters(rs_b[c], K, norm)
                out[sel] = _cluster_knn(q[sel], rs_b[c], K, norm, clus[c])

    for q0 in range(0, q_all.shape[0], GRID_QUERY_BLOCK):  # bounds the per-query bookkeeping
        sl = slice(q0, q0 + GRID_QUERY_BLOCK)
        run(q_all[sl], qb_all[sl], res_all[sl])
    for k, i in enumerate(big):
        outs[i] = res_all[q_first[k] : q_first[k] + qs_b[k].shape[0]]
    return outs


# --- cluster search for the queries the grid leaves (far from the references) ----------------
# The references are grouped into the non-empty cells of a coarse grid (about
# CLUSTER_PER_SQRT * sqrt(R) clusters). Each cluster has a representative member (the one
# nearest its centroid) and a radius (largest distance from it to a member). The K-th smallest
# representative distance U bounds the K-th neighbour distance (K distinct points), so only
# clusters with dist(query, representative) - radius <= U can hold a neighbour; their points are
# compared exactly. Bounds use generous float slack, so the result is exact whatever the
# distance between the clouds; the cost is O(Q C) plus the candidates, never O(Q R) unless the
# clouds force it.
CLUSTER_PER_SQRT = 16.0
CLUSTER_DIST_BUDGET = 1 << 22  # (query, cluster) distances at once
CLUSTER_PAIR_BUDGET = 1 << 21  # (query, point) candidates at once (~60 bytes each)


def _clusters(r: torch.Tensor, K: int, norm: int):
    """Cluster the references r (R, 3): (order, starts, counts, reps (C, 3), radius (C,))."""
    R = r.shape[0]
    dev = r.device
    lo = r.min(0).values
    ext = max(float((r.max(0).values - lo).max()), 1e-30)
    target = min(float(R), max(CLUSTER_PER_SQRT * R**0.5, 4.0 * K))
    cell = ext / max(1.0, target**0.5)  # surfaces: occupied cells ~ (ext / cell)^2
    for _ in range(6):
        n = int(ext / cell) + 2
        ijk = ((r - lo) / cell).floor().long().clamp(0, n - 1)
        key = (ijk[:, 0] * n + ijk[:, 1]) * n + ijk[:, 2]
        key, order = torch.sort(key)
        counts = torch.unique_consecutive(key, return_counts=True)[1]
        ratio = counts.numel() / target
        if 0.5 <= ratio <= 2.0 or counts.numel() == R or (ratio < 1 and n > 4096):
            break
        cell *= ratio**0.5
    pts = r[order]
    C = counts.numel()
    starts = torch.cumsum(counts, 0) - counts
    cid = torch.repeat_interleave(torch.arange(C, device=dev), counts)
    cen = torch.zeros(C, 3, dtype=r.dtype, device=dev).index_add_(0, cid, pts)
    cen = cen / counts[:, None].to(r.dtype)
    dc = (pts - cen[cid]).square().sum(-1)
    dmin = torch.full((C,), float("inf"), dtype=r.dtype, device=dev)
    dmin = dmin.scatter_reduce(0, cid, dc, reduce="amin", include_self=True)
    rep = starts.clone()
    is_min = dc == dmin[cid]
    rep[cid[is_min]] = torch.nonzero(is_min)[:, 0]
    reps = pts[rep]
    diff = pts - reps[cid]
    d = diff.norm(dim=-1) if norm == 2 else diff.abs().sum(-1)
    radius = torch.zeros(C, dtype=r.dtype, device=dev)
    radius = radius.scatter_reduce(0, cid, d, reduce="amax", include_self=True)
    return order, starts, counts, reps, radius * (1 + 1e-5) + 1e-30


def _cluster_knn(q: torch.Tensor, r: torch.Tensor, K: int, norm: int, cl=None) -> torch.Tensor:
    """Exact K nearest neighbours (indices (Q, K)) of q (Q, 3) in r (R, 3), R >= K."""
    dev = q.device
    Q = q.shape[0]
    out = torch.full((Q, K), -1, dtype=torch.int64, device=dev)
    order, starts, counts, reps, radius = cl if cl is not None else _clusters(r, K, norm)
    C = reps.shape[0]
    if C < K:
        return _knn_search(q[None], r[None], torch.tensor([r.shape[0]], device=dev), K, norm)[0]
    pts = r[order]
    rep2 = reps.square().sum(-1)
    # slack of the matmul distances: a few hundred ulps of |q|^2 + |rep|^2 (float32 or 64)
    eps = 1e3 * torch.finfo(q.dtype).eps
    rmax = float(rep2.max())
    chunk = max(1, CLUSTER_DIST_BUDGET // C)
    for s in range(0, Q, chunk):
        qc = q[s : s + chunk]
        if norm == 2:  # squared distances; d <= U + radius <=> d^2 <= (U + radius)^2
            q2 = qc.square().sum(-1)
            d = torch.addmm(rep2[None], qc, reps.T, alpha=-2.0).add_(q2[:, None])
            err = (eps * (q2 + rmax))[:, None]  # (B, 1)
            kth = torch.topk(d, K, dim=1, largest=False, sorted=True).values[:, -1:]
            upper = (kth + err).clamp_(min=0).sqrt_()  # >= the K-th representative distance
            thr = (upper + radius[None]).square_().add_(err).add_(err)
        else:
            d = torch.cdist(qc, reps, p=1.0)
            err = eps * (qc.abs().sum(-1, keepdim=True) + float(reps.abs().sum(-1).max()))
            kth = torch.topk(d, K, dim=1, largest=False, sorted=True).values[:, -1:]
            thr = kth + err + radius[None] + err
        qi, cj = torch.nonzero(d <= thr, as_tuple=True)
        npts = counts[cj]
        per_q = torch.zeros(qc.shape[0], dtype=torch.int64, device=dev)
        per_q.index_add_(0, qi, npts)
        q_end = torch.cumsum(per_q, 0)
        pair_end = torch.cumsum(torch.bincount(qi, minlength=qc.shape[0]), 0)
        a = 0
        while a < qc.shape[0]:  # sub-blocks of whole queries, bounded candidate arrays
            if K == 1:
                base = int(q_end[a - 1]) if a else 0
                b = int(torch.searchsorted(q_end, base + CLUSTER_PAIR_BUDGET, right=True))
            else:  # padded (queries x most candidates) array
                cm = torch.cummax(per_q[a:], 0).values
                w = torch.arange(1, cm.numel() + 1, device=dev) * cm
                b = a + int((w <= CLUSTER_PAIR_BUDGET).sum())
            b = max(b, a + 1)
            p0 = int(pair_end[a - 1]) if a else 0
            p1 = int(pair_end[b - 1])
            qi_, cj_, n_ = qi[p0:p1], cj[p0:p1], npts[p0:p1]
            total = int(n_.sum())
            first = torch.cumsum(n_, 0) - n_
            pt = torch.repeat_interleave(starts[cj_] - first, n_, output_size=total)
            pt += torch.arange(total, device=dev)  # (M,) positions in pts
            qq = torch.repeat_interleave(qi_ - a, n_, output_size=total)  # (M,) ascending
            diff = qc[a + qq] - pts[pt]
            dist = diff.square().sum(-1) if norm == 2 else diff.abs().sum(-1)
            gidx = order[pt]
            nq = b - a
            if K == 1:  # smallest distance, ties to the smallest index
                best = dist.new_full((nq,), float("inf"))
                best = best.scatter_reduce(0, qq, dist, reduce="amin", include_self=True)
                hit = dist == best[qq]
                bi = torch.full((nq,), r.shape[0], dtype=torch.int64, device=dev)
                bi = bi.scatter_reduce(0, qq[hit], gidx[hit], reduce="amin", include_self=True)
                out[s + a : s + b, 0] = bi
            else:
                cnt_q = per_q[a:b]
                slot = torch.arange(total, device=dev) - (torch.cumsum(cnt_q, 0) - cnt_q)[qq]
                width = int(cnt_q.max())
                dm = dist.new_full((nq, width), float("inf"))
                dm[qq, slot] = dist
                im = torch.zeros((nq, width), dtype=torch.int64, device=dev)
                im[qq, slot] = gidx
                sel = torch.topk(dm, K, dim=1, largest=False, sorted=False).indices
                out[s + a : s + b] = im.gather(1, sel)
            a = b
    return out


def _grid_knn_search(p1, p2, lengths1, lengths2, K, norm):
    """Same contract as _knn_search (D <= 3), using the grid for all clouds at once."""
    N, P1, D = p1.shape
    idx_out = torch.full((N, P1, K), -1, dtype=torch.int64, device=p1.device)
    with torch.no_grad():
        p1, p2 = p1.detach(), p2.detach()
        if D < 3:
            pad = (0, 3 - D)
            p1 = torch.nn.functional.pad(p1, pad)
            p2 = torch.nn.functional.pad(p2, pad)
        l1s, l2s = lengths1.tolist(), lengths2.tolist()
        keep = [n for n in range(N) if l1s[n] > 0 and l2s[n] > 0]
        if not keep:
            return idx_out
        res = _grid_knn_pooled(
            [p1[n, : l1s[n]] for n in keep], [p2[n, : l2s[n]] for n in keep], K, norm
        )
        for n, r in zip(keep, res):
            idx_out[n, : l1s[n], : r.shape[1]] = r
    return idx_out


def _pair_dists(p1: torch.Tensor, nn: torch.Tensor, norm: int) -> torch.Tensor:
    diff = p1[:, :, None, :] - nn  # (N, P1, K, D)
    if norm == 2:
        return (diff * diff).sum(-1)
    return diff.abs().sum(-1)


def knn_points(
    p1: torch.Tensor,
    p2: torch.Tensor,
    lengths1: torch.Tensor | None = None,
    lengths2: torch.Tensor | None = None,
    norm: int = 2,
    K: int = 1,
    version: int = -1,
    return_nn: bool = False,
    return_sorted: bool = True,
) -> KNN:
    """K nearest neighbours in p2 of every point of p1, batched and ragged.

    Args:
        p1: (N, P1, D) float query clouds.
        p2: (N, P2, D) float reference clouds.
        lengths1: (N,) int64 in [0, P1]: number of valid points of each p1 cloud (None: all).
        lengths2: (N,) int64 in [0, P2]: number of valid points of each p2 cloud (None: all).
        norm: 2 for squared Euclidean distances, 1 for L1 distances.
        K: number of neighbours (>= 1).
        version: accepted for PyTorch3D compatibility, ignored (one exact implementation).
        return_nn: also return the neighbour coordinates.
        return_sorted: accepted for compatibility; results are always sorted by distance
            (ascending, ties broken by the smaller index). When several points tie for the
            K-th place, which of them is kept is unspecified.

    Returns:
        KNN(dists, idx, knn):
        dists: (N, P1, K) float squared L2 (norm=2) or L1 (norm=1) distances, differentiable
            with respect to p1 and p2.
        idx: (N, P1, K) int64 indices into p2.
        knn: (N, P1, K, D) float neighbour coordinates if return_nn else None.
        Entries where p2 has fewer than K valid points, and rows of padded p1 points, hold
        dists 0 and idx 0 (PyTorch3D's convention). Empty clouds give those padded results.
    """
    check_tensor(p1, "p1", ("N", "P1", "D"), "float")
    check_tensor(p2, "p2", (None, None, None), "float")
    if p2.shape[0] != p1.shape[0]:
        raise ValueError(
            f"pts1 and pts2 must have the same batch dimension: p1 and p2 must have the same "
            f"batch size N; got {p1.shape[0]} and {p2.shape[0]}"
        )
    if p2.shape[2] != p1.shape[2]:
        raise ValueError(
            f"pts1 and pts2 must have the same point dimension: p1 and p2 must have the same "
            f"point dimension D; got {p1.shape[2]} and {p2.shape[2]}"
        )
    if p1.device != p2.device:
        raise ValueError(f"p1 and p2 must be on the same device; got {p1.device} and {p2.device}")
    K = check_positive_int(K, "K")
    with with_phrase("Support for 1 or 2 norm"):
        check_choice(norm, "norm", (1, 2))
    N, P1, _ = p1.shape
    P2 = p2.shape[1]
    lengths1 = check_lengths(lengths1, "lengths1", N, P1, p1.device)
    lengths2 = check_lengths(lengths2, "lengths2", N, P2, p1.device)
    if p2.dtype != p1.dtype:
        p2 = p2.to(p1.dtype)

    if p1.shape[2] <= 16 and use_triton(p1, p2):
        from inverse3d.ops._triton.knn import knn_search

        idx = knn_search(p1, p2, lengths1, lengths2, K, norm)
    elif p1.shape[2] <= 3 and P1 * P2 >= GRID_MIN_PAIRS and not p1.is_cuda:
        idx = _grid_knn_search(p1, p2, lengths1, lengths2, K, norm)
    else:
        idx = _knn_search(p1, p2, lengths2, K, norm)
    valid = idx >= 0
    valid = valid & (torch.arange(P1, device=p1.device)[None, :, None] < lengths1[:, None, None])
    idx = torch.where(valid, idx, torch.zeros_like(idx))
    if P2 == 0:
        nn = p2.new_zeros((N, P1, K, p2.shape[2]))
    else:  # indices are in range by construction: gather without knn_gather's checks
        D = p2.shape[2]
        nn = p2.gather(1, idx.reshape(N, P1 * K, 1).expand(N, P1 * K, D)).view(N, P1, K, D)
    dists = _pair_dists(p1, nn, norm)
    if K > 1:
        with torch.no_grad():
            # sort by the exact distances, ties by index; invalid slots last
            key = torch.where(valid, dists, torch.full_like(dists, float("inf")))
            order = torch.argsort(torch.where(valid, idx, torch.full_like(idx, P2)), dim=-1)
            order = order.gather(-1, torch.argsort(key.gather(-1, order), dim=-1, stable=True))
        idx, valid = idx.gather(-1, order), valid.gather(-1, order)
        dists = dists.gather(-1, order)
        nn = nn.gather(2, order[..., None].expand_as(nn))
    dists = torch.where(valid, dists, torch.zeros_like(dists))
    knn = None
    if return_nn:
        knn = torch.where(valid[..., None], nn, torch.zeros_like(nn))
    return KNN(dists=dists, idx=idx, knn=knn)


def knn_gather(
    x: torch.Tensor, idx: torch.Tensor, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Gather the features of the neighbours found by knn_points.

    Args:
        x: (N, M, U) float features (e.g. the p2 points).
        idx: (N, L, K) int64 indices into dimension 1 of x.
        lengths: (N,) int64 number of valid rows of x; slots k >= lengths[n] are set to 0
            (PyTorch3D's convention). None: all M rows valid.

    Returns:
        (N, L, K, U) gathered features, differentiable in x.
    """
    check_tensor(x, "x", ("N", "M", "U"))
    with with_phrase("x and idx must have same batch dimension"):
        check_tensor(idx, "idx", (x.shape[0], "L", "K"), "int")
    N, M, U = x.shape
    _, L, K = idx.shape
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= max(M, 1)) and M > 0:
        raise ValueError(
            f"idx values must lie in [0, {M - 1}]; got [{int(idx.min())}, {int(idx.max())}]"
        )
    if M == 0:
        if idx.numel() and int(idx.abs().max()) != 0:
            raise ValueError("idx must be 0 when x has no rows")
        return x.new_zeros((N, L, K, U))
    flat = idx.reshape(N, L * K, 1).expand(N, L * K, U)
    out = x.gather(1, flat).reshape(N, L, K, U)
    if lengths is not None:
        lengths = check_lengths(lengths, "lengths", N, M, x.device)
        if N and int(lengths.min()) < K:
            mask = torch.arange(K, device=x.device)[None, :] >= lengths[:, None]  # (N, K)
            out = out.masked_fill(mask[:, None, :, None], 0.0)
    return out
