"""K nearest neighbours between batches of point clouds (PyTorch3D `ops.knn` API).

The search is an exact brute force over blocks of (query, reference) pairs: queries and
references are both cut into chunks, each block's distances are computed at once and a running
top-K is merged block after block. The search runs without autograd; the distances of the K
selected pairs are then recomputed from the inputs with autograd, so gradients reach both clouds
and cost O(N P1 K D) memory, never O(P1 P2).

Memory: the search block holds at most `KNN_CHUNK_ELEMENTS` distances (default 2**22); the peak
is about 3 x (4 + 8) x KNN_CHUNK_ELEMENTS bytes (~ 150 MB) for the block, its top-K and the
merge, plus the outputs N P1 K (element size + 8) bytes (+ N P1 K D element size for
return_nn). A 1M x 1M search with K=8 therefore needs about 0.15 GB + 1M*8*12 B ~ 0.25 GB.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from inverse3d._validation import check_choice, check_positive_int, check_tensor

__all__ = ["knn_points", "knn_gather"]

KNN_CHUNK_ELEMENTS = 1 << 22


class _KNN(NamedTuple):
    dists: torch.Tensor
    idx: torch.Tensor
    knn: torch.Tensor | None


def _check_lengths(lengths, name: str, N: int, P: int, device) -> torch.Tensor:
    if lengths is None:
        return torch.full((N,), P, dtype=torch.int64, device=device)
    check_tensor(lengths, name, (N,), "int")
    lengths = lengths.to(device=device, dtype=torch.int64)
    if N and (int(lengths.min()) < 0 or int(lengths.max()) > P):
        raise ValueError(
            f"{name} values must lie in [0, {P}] (the padded size); got min {int(lengths.min())}, "
            f"max {int(lengths.max())}"
        )
    return lengths


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
) -> _KNN:
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
        _KNN(dists, idx, knn):
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
            f"p1 and p2 must have the same batch size N; got {p1.shape[0]} and {p2.shape[0]}"
        )
    if p2.shape[2] != p1.shape[2]:
        raise ValueError(
            f"p1 and p2 must have the same point dimension D; got {p1.shape[2]} and {p2.shape[2]}"
        )
    if p1.device != p2.device:
        raise ValueError(f"p1 and p2 must be on the same device; got {p1.device} and {p2.device}")
    K = check_positive_int(K, "K")
    check_choice(norm, "norm", (1, 2))
    N, P1, _ = p1.shape
    P2 = p2.shape[1]
    lengths1 = _check_lengths(lengths1, "lengths1", N, P1, p1.device)
    lengths2 = _check_lengths(lengths2, "lengths2", N, P2, p1.device)
    if p2.dtype != p1.dtype:
        p2 = p2.to(p1.dtype)

    idx = _knn_search(p1, p2, lengths2, K, norm)
    valid = idx >= 0
    valid = valid & (torch.arange(P1, device=p1.device)[None, :, None] < lengths1[:, None, None])
    idx = torch.where(valid, idx, torch.zeros_like(idx))
    nn = knn_gather(p2, idx)
    dists = _pair_dists(p1, nn, norm)
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
    return _KNN(dists=dists, idx=idx, knn=knn)


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
        lengths = _check_lengths(lengths, "lengths", N, M, x.device)
        if N and int(lengths.min()) < K:
            mask = torch.arange(K, device=x.device)[None, :] >= lengths[:, None]  # (N, K)
            out = out.masked_fill(mask[:, None, :, None], 0.0)
    return out
