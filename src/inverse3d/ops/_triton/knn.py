"""Exact K-nearest-neighbour search as one Triton kernel (the search stage of `knn_points`).

Each program owns BQ queries of one cloud and sweeps that cloud's references in tiles of BR:
a (BQ, BR) tile of distances is formed in registers (difference form, no |q|^2 - 2 q.r + |r|^2
cancellation), and only when some distance in the tile beats its query's current K-th best is
the tile merged into the per-query top-K (unsorted, the worst slot replaced). After the first
tiles, merges are rare, so the cost is one distance and one comparison per pair. Memory:
the outputs only (no (P1, P2) block). Distances, sorting and gradients stay in `knn_points`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["knn_search", "MAX_DIM"]

MAX_DIM = 16  # larger D: the reference's blocked matrix products are the better tool


@triton.jit
def _knn_kernel(
    q_ptr,  # (N, D, P1) queries, coordinate-major
    r_ptr,  # (N, D, P2) references, coordinate-major
    len1_ptr,  # (N,) int64
    len2_ptr,  # (N,) int64
    out_ptr,  # (N, P1, K) int64, pre-filled with -1
    P1,
    P2,
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
        for r0 in range(0, l2, BR):
            offs_r = r0 + offs_t
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
            dist = tl.where(rmask[None, :], dist, float("inf")).to(acc)
            n_better = tl.sum((dist < worst[:, None]).to(tl.int32))
            while n_better > 0:
                m = tl.min(dist, axis=1)
                am = tl.argmin(dist, axis=1)
                take = m < worst
                wpos = tl.argmax(td, axis=1)
                repl = (cols[None, :] == wpos[:, None]) & take[:, None]
                td = tl.where(repl, m[:, None], td)
                ti = tl.where(repl, (r0 + am).to(tl.int32)[:, None], ti)
                worst = tl.max(td, axis=1)
                dist = tl.where(offs_t[None, :] == am[:, None], float("inf"), dist).to(acc)
                n_better = tl.sum((dist < worst[:, None]).to(tl.int32))
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
        block_q, block_r: tile sizes (powers of two; None: chosen from the sizes).
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
    with torch.no_grad():
        q = p1.detach().to(dt).transpose(1, 2).contiguous()  # (N, D, P1)
        r = p2.detach().to(dt).transpose(1, 2).contiguous()  # (N, D, P2)
        l1 = lengths1.to(device=p1.device, dtype=torch.int64).contiguous()
        l2 = lengths2.to(device=p1.device, dtype=torch.int64).contiguous()
        bq = block_q or (32 if N * P1 < 200_000 else 64)
        br = block_r or 128
        grid = (triton.cdiv(P1, bq), N)
        _knn_kernel[grid](
            q, r, l1, l2, out, P1, P2,
            D=D, K=K, KP=_next_pow2(K), NORM=norm, BQ=bq, BR=br, num_warps=num_warps,
        )  # fmt: skip
    return out
