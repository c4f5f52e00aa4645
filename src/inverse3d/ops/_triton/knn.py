"""Exact K-nearest-neighbour search as one Triton kernel (the search stage of `knn_points`).

Both clouds are first sorted along a Morton curve, so that consecutive points are close in
space; the queries are cut into blocks of BQ and the references into tiles of BR, each with its
bounding box. One program owns a query block and visits the tiles of its cloud starting with
the one at the same position along the curve. A tile whose box is farther from the block's box
than every query's current K-th distance is skipped; otherwise a (BQ, BR) tile of distances is
formed in registers (difference form, no |q|^2 - 2 q.r + |r|^2 cancellation) and, only where
some distance beats its query's K-th best, merged into the per-query top-K (unsorted, the worst
slot replaced). Exact: a skipped tile cannot hold a better point. Memory: O(N (P1 + P2)).
Distances, sorting and gradients stay in `knn_points`."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["MAX_DIM", "block_boxes", "knn_search", "morton_codes"]

MAX_DIM = 16  # larger D: the reference's blocked matrix products are the better tool
BLOCK_Q = 32  # queries per program
BLOCK_R = 32  # references per tile (bm_knn_tiles.py: best for both workloads)


@triton.jit
def _knn_kernel(
    q_ptr,  # (N, D, P1) queries, coordinate-major
    r_ptr,  # (N, D, P2) references, coordinate-major
    len1_ptr,  # (N,) int64
    len2_ptr,  # (N,) int64
    qlo_ptr,  # (N, D, TQ) per query block: coordinate minimum (valid points only)
    qhi_ptr,  # (N, D, TQ) coordinate maximum
    rlo_ptr,  # (N, D, TR) per reference tile: coordinate minimum
    rhi_ptr,  # (N, D, TR) coordinate maximum
    out_ptr,  # (N, P1, K) int64, pre-filled with -1
    P1,
    P2,
    TQ,
    TR,
    D: tl.constexpr,
    K: tl.constexpr,
    KP: tl.constexpr,  # K rounded up to a power of two
    NORM: tl.constexpr,
    BQ: tl.constexpr,
    BR: tl.constexpr,
):
    pid = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    l1 = tl.load(len1_ptr + n)
    l2 = tl.load(len2_ptr + n)
    q0 = pid * BQ
    if q0 < l1:
        offs_q = q0 + tl.arange(0, BQ)
        qmask = offs_q < l1
        cols = tl.arange(0, KP)
        # padding slots (k >= K) hold -inf: never the worst, never replaced
        acc = q_ptr.dtype.element_ty  # float32, or float64 for float64 inputs
        td = tl.where(cols[None, :] < K, float("inf"), -float("inf")).to(acc) + tl.zeros(
            (BQ, KP), dtype=acc
        )
        ti = tl.full((BQ, KP), -1, dtype=tl.int32)
        worst = tl.max(td, axis=1)
        offs_t = tl.arange(0, BR)
        n_tiles = tl.cdiv(l2, BR)
        # both clouds are sorted along a space-filling curve: start with the tiles at the same
        # relative position, which hold the nearest points, so that the bounds fall fast
        t0 = ((pid * BQ) * n_tiles // l1).to(tl.int32)
        worst_max = tl.max(tl.where(qmask, worst, -float("inf")))
        for i in range(0, n_tiles):
            t = t0 + i
            t = tl.where(t >= n_tiles, t - n_tiles, t)
            # lower bound of every distance between the query block and the tile (boxes)
            lb = 0.0
            for d in tl.static_range(D):
                qlo = tl.load(qlo_ptr + (n * D + d) * TQ + pid)
                qhi = tl.load(qhi_ptr + (n * D + d) * TQ + pid)
                rlo = tl.load(rlo_ptr + (n * D + d) * TR + t)
                rhi = tl.load(rhi_ptr + (n * D + d) * TR + t)
                gap = tl.maximum(tl.maximum(rlo - qhi, qlo - rhi), 0.0)
                if NORM == 2:
                    lb += gap * gap
                else:
                    lb += gap
            # margin: lb and the distances round differently (1 ulp); pruning stays exact
            if lb * 0.99999 < worst_max:
                offs_r = t * BR + offs_t
                rmask = offs_r < l2
                dist = tl.zeros((BQ, BR), dtype=acc)
                for d in tl.static_range(D):
                    qd = tl.load(q_ptr + (n * D + d) * P1 + offs_q, mask=qmask, other=0.0)
                    rd = tl.load(r_ptr + (n * D + d) * P2 + offs_r, mask=rmask, other=0.0)
                    diff = qd[:, None] - rd[None, :]
                    if NORM == 2:
                        dist += diff * diff
                    else:
                        dist += tl.abs(diff)
                # padding and NaN distances (NaN inputs) become +inf: never selected
                dist = tl.where(rmask[None, :] & (dist == dist), dist, float("inf")).to(acc)
                n_better = tl.sum((dist < worst[:, None]).to(tl.int32))
                while n_better > 0:
                    m = tl.min(dist, axis=1)
                    am = tl.argmin(dist, axis=1)
                    take = m < worst
                    wpos = tl.argmax(td, axis=1)
                    repl = (cols[None, :] == wpos[:, None]) & take[:, None]
                    td = tl.where(repl, m[:, None], td)
                    ti = tl.where(repl, (t * BR + am).to(tl.int32)[:, None], ti)
                    worst = tl.max(td, axis=1)
                    dist = tl.where(offs_t[None, :] == am[:, None], float("inf"), dist).to(acc)
                    n_better = tl.sum((dist < worst[:, None]).to(tl.int32))
                worst_max = tl.max(tl.where(qmask, worst, -float("inf")))
        optr = out_ptr + (n * P1 + offs_q[:, None]) * K + cols[None, :]
        tl.store(optr, ti.to(tl.int64), mask=qmask[:, None] & (cols[None, :] < K))


def _next_pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def knn_search(
    p1: torch.Tensor,
    p2: torch.Tensor,
    lengths1: torch.Tensor,
    lengths2: torch.Tensor,
    K: int,
    norm: int,
    block_q: int | None = None,
    block_r: int | None = None,
    num_warps: int = 4,
) -> torch.Tensor:
    """Indices of the K nearest valid points of p2 for every point of p1 (unsorted).

    Args:
        p1: (N, P1, D) float CUDA queries, D <= MAX_DIM.
        p2: (N, P2, D) float CUDA references.
        lengths1: (N,) int64 valid queries per cloud.
        lengths2: (N,) int64 valid references per cloud.
        K: neighbours per query.
        norm: 2 (squared Euclidean) or 1 (L1).
        block_q, block_r: tile sizes (powers of two; None: BLOCK_Q, BLOCK_R).
        num_warps: warps per program.

    Returns:
        (N, P1, K) int64 indices into p2, in no particular order; -1 in slots beyond
        lengths2[n] and in rows beyond lengths1[n]. The search runs in float64 for float64
        inputs, else in float32; the caller recomputes the distances with autograd and sorts.
    """
    N, P1, D = p1.shape
    P2 = p2.shape[1]
    out = torch.full((N, P1, K), -1, dtype=torch.int64, device=p1.device)
    if N == 0 or P1 == 0 or P2 == 0:
        return out
    dt = torch.float32 if p1.dtype != torch.float64 else torch.float64
    bq = block_q or BLOCK_Q
    br = block_r or BLOCK_R
    with torch.no_grad():
        p1 = p1.detach().to(dt)
        p2 = p2.detach().to(dt)
        l1 = lengths1.to(device=p1.device, dtype=torch.int64).contiguous()
        l2 = lengths2.to(device=p1.device, dtype=torch.int64).contiguous()
        # sort both clouds along a Morton curve in the references' box (padding last)
        valid2 = torch.arange(P2, device=p2.device)[None] < l2[:, None]  # (N, P2)
        valid1 = torch.arange(P1, device=p1.device)[None] < l1[:, None]  # (N, P1)
        big = torch.finfo(dt).max
        lo = torch.where(valid2[..., None], p2, big).amin(1, keepdim=True)  # (N, 1, D)
        hi = torch.where(valid2[..., None], p2, -big).amax(1, keepdim=True)
        perm1 = morton_codes(p1, valid1, lo, hi).argsort(dim=1)  # (N, P1)
        perm2 = morton_codes(p2, valid2, lo, hi).argsort(dim=1)  # (N, P2)
        q = p1.gather(1, perm1[..., None].expand(-1, -1, D))  # (N, P1, D) sorted
        r = p2.gather(1, perm2[..., None].expand(-1, -1, D))
        qlo, qhi = block_boxes(q, l1, bq)  # (N, D, TQ)
        rlo, rhi = block_boxes(r, l2, br)  # (N, D, TR)
        q = q.transpose(1, 2).contiguous()  # (N, D, P1)
        r = r.transpose(1, 2).contiguous()  # (N, D, P2)
        grid = (triton.cdiv(P1, bq), N)
        _knn_kernel[grid](
            q, r, l1, l2, qlo, qhi, rlo, rhi, out, P1, P2, qlo.shape[2], rlo.shape[2],
            D=D, K=K, KP=_next_pow2(K), NORM=norm, BQ=bq, BR=br, num_warps=num_warps,
        )  # fmt: skip
        # back to the callers' order: reference indices, then query rows
        hit = out >= 0
        idx = perm2.gather(1, out.clamp(min=0).view(N, P1 * K)).view(N, P1, K)
        idx = torch.where(hit, idx, -1)
        res = torch.empty_like(idx)
        res.scatter_(1, perm1[..., None].expand(-1, -1, K), idx)
    return res


def morton_codes(p: torch.Tensor, valid: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor):
    """(N, P) int64 Morton codes (10 bits per axis, first 3 axes) in the box [lo, hi];
    invalid points get a code above all valid ones."""
    D3 = min(p.shape[2], 3)
    cell = (p[..., :D3] - lo[..., :D3]) / (hi[..., :D3] - lo[..., :D3]).clamp(min=1e-30)
    c = (torch.nan_to_num(cell, 0.0) * 1024).floor().clamp(0, 1023).long()
    code = torch.zeros(c.shape[:2], dtype=torch.int64, device=p.device)
    for d in range(D3):
        x = c[..., d]
        x = (x | (x << 16)) & 0x030000FF
        x = (x | (x << 8)) & 0x0300F00F
        x = (x | (x << 4)) & 0x030C30C3
        x = (x | (x << 2)) & 0x09249249
        code |= x << d
    return torch.where(valid, code, 1 << 40)


def block_boxes(x: torch.Tensor, lengths: torch.Tensor, block: int):
    """Per block of `block` consecutive valid points of x (N, P, D): (lo, hi), each (N, D, T)
    with T = ceil(P / block); empty blocks get lo = +inf, hi = -inf. Points with a NaN
    coordinate are left out."""
    N, P, D = x.shape
    T = triton.cdiv(P, block)
    valid = torch.arange(T * block, device=x.device)[None] < lengths[:, None]  # (N, T*B)
    xp = torch.nn.functional.pad(x, (0, 0, 0, T * block - P))
    # NaN coordinates never win a comparison in the kernel: keep them out of the boxes, or a
    # NaN box would prune its whole tile
    valid = valid & ~xp.isnan().any(-1)
    inf = torch.tensor(float("inf"), dtype=x.dtype, device=x.device)
    lo = torch.where(valid[..., None], xp, inf).view(N, T, block, D).amin(2)
    hi = torch.where(valid[..., None], xp, -inf).view(N, T, block, D).amax(2)
    return lo.transpose(1, 2).contiguous(), hi.transpose(1, 2).contiguous()
