"""Ball query: the first K points of p2 within a radius of each point of p1 (PyTorch3D API)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_float, check_positive_int, check_tensor
from inverse3d.ops._knn_common import KNN, check_lengths

__all__ = ["ball_query"]

# (query, reference) pairs examined at once; peak memory ~ (4 D + 30) bytes per pair.
BALL_QUERY_CHUNK_ELEMENTS = 1 << 22


def _masked_gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (N, P2, D), idx (N, P1, K) with -1 padding -> (N, P1, K, D), zeros at -1."""
    N, P1, K = idx.shape
    D = x.shape[2]
    safe = idx.clamp(min=0).reshape(N, P1 * K, 1).expand(N, P1 * K, D)
    if x.shape[1] == 0:
        return x.new_zeros((N, P1, K, D))
    out = x.gather(1, safe).reshape(N, P1, K, D)
    return out.masked_fill((idx < 0)[..., None], 0.0)


def ball_query(
    p1: torch.Tensor,
    p2: torch.Tensor,
    lengths1: torch.Tensor | None = None,
    lengths2: torch.Tensor | None = None,
    K: int = 500,
    radius: float = 0.2,
    return_nn: bool = True,
) -> KNN:
    """For each point of p1, the first K points of p2 (in index order) within `radius`.

    A point j of p2 is a neighbour of p1[n, i] when |p1[n, i] - p2[n, j]|^2 < radius^2. The
    neighbours are not sorted by distance: they are the K smallest such indices, ascending.

    Args:
        p1: (N, P1, D) float query clouds.
        p2: (N, P2, D) float reference clouds.
        lengths1: (N,) int64 valid points per cloud of p1 (None: all).
        lengths2: (N,) int64 valid points per cloud of p2 (None: all).
        K: maximum number of neighbours (>= 1).
        radius: ball radius (> 0).
        return_nn: also return the neighbour coordinates.

    Returns:
        KNN(dists, idx, knn): dists (N, P1, K) float squared distances (0 where padded,
        differentiable in p1 and p2), idx (N, P1, K) int64 (-1 where padded), knn
        (N, P1, K, D) float neighbours (0 where padded) or None.
    """
    check_tensor(p1, "p1", ("N", "P1", "D"), "float")
    check_tensor(p2, "p2", (None, None, None), "float")
    if p2.shape[0] != p1.shape[0] or p2.shape[2] != p1.shape[2]:
        raise ValueError(
            f"p2 must have shape ({p1.shape[0]}, P2, {p1.shape[2]}) to match p1; "
            f"got {tuple(p2.shape)}"
        )
    K = check_positive_int(K, "K")
    radius = check_positive_float(radius, "radius")
    N, P1, D = p1.shape
    P2 = p2.shape[1]
    lengths1 = check_lengths(lengths1, "lengths1", N, P1, p1.device)
    lengths2 = check_lengths(lengths2, "lengths2", N, P2, p1.device)
    p2 = p2.to(p1.dtype)
    r2 = radius * radius
    idx = torch.full((N, P1, K), -1, dtype=torch.int64, device=p1.device)
    if N and P1 and P2:
        rc = min(P2, 65536)
        qc = max(1, BALL_QUERY_CHUNK_ELEMENTS // (N * rc))
        ar2 = torch.arange(P2, device=p1.device)
        valid2 = ar2[None] < lengths2[:, None]  # (N, P2)
        valid1 = torch.arange(P1, device=p1.device)[None] < lengths1[:, None]  # (N, P1)
        with torch.no_grad():
            a, b = p1.detach(), p2.detach()
            for qs in range(0, P1, qc):
                q = a[:, qs : qs + qc]
                count = torch.zeros(q.shape[:2], dtype=torch.int64, device=p1.device)
                for rs in range(0, P2, rc):
                    d = (q[:, :, None, :] - b[:, None, rs : rs + rc, :]).pow(2).sum(-1)
                    inside = (d < r2) & valid2[:, None, rs : rs + rc]
                    inside &= valid1[:, qs : qs + qc, None]
                    rank = inside.cumsum(-1) + count[..., None]  # 1-based slot
                    sel = inside & (rank <= K)
                    n_i, q_i, j_i = sel.nonzero(as_tuple=True)
                    slot = rank[n_i, q_i, j_i] - 1
                    idx[n_i, q_i + qs, slot] = j_i + rs
                    count = count + inside.sum(-1)
    valid = idx >= 0
    nn = _masked_gather(p2, idx)
    dists = ((p1[:, :, None, :] - nn) ** 2).sum(-1)
    dists = torch.where(valid, dists, torch.zeros_like(dists))
    return KNN(dists=dists, idx=idx, knn=nn if return_nn else None)
