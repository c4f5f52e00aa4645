"""Iterative farthest point sampling (PyTorch3D `ops.sample_farthest_points` API)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_tensor
from inverse3d.ops._knn_common import check_lengths

__all__ = ["sample_farthest_points", "sample_farthest_points_naive"]


def sample_farthest_points(
    points: torch.Tensor,
    lengths: torch.Tensor | None = None,
    K: int | list | torch.Tensor = 50,
    random_start_point: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Farthest point sampling of K points per cloud.

    Starting from point 0 (or a uniformly random valid point), repeatedly select the point
    whose Euclidean distance to the already selected set is largest (ties: smallest index).
    The loop runs K times and is vectorized over the batch and the points.

    Args:
        points: (N, P, D) float clouds.
        lengths: (N,) int64 valid points per cloud (None: all P).
        K: samples per cloud: an int, or a list / (N,) int64 tensor of per-cloud values.
        random_start_point: start from a random valid point instead of index 0.

    Returns:
        selected points (N, max(K), D) float and indices (N, max(K)) int64. Slots beyond
        min(K[n], lengths[n]) hold index -1 and zero points.
    """
    check_tensor(points, "points", ("N", "P", "D"), "float")
    N, P, D = points.shape
    device = points.device
    lengths = check_lengths(lengths, "lengths", N, P, device)
    if isinstance(K, bool):
        raise TypeError(f"K must be an int, a list or a tensor; got {type(K).__name__}")
    if isinstance(K, int):
        K = torch.full((N,), K, dtype=torch.int64, device=device)
    elif isinstance(K, (list, tuple)):
        K = torch.tensor(K, dtype=torch.int64, device=device)
    elif torch.is_tensor(K):
        K = K.to(device=device, dtype=torch.int64)
    else:
        raise TypeError(f"K must be an int, a list or a tensor; got {type(K).__name__}")
    if K.shape != (N,):
        raise ValueError(f"K must have shape ({N},) (one value per cloud); got {tuple(K.shape)}")
    if N and int(K.min()) < 1:
        raise ValueError(f"K must be >= 1; got {int(K.min())}")
    max_k = int(K.max()) if N else 0
    idx = torch.full((N, max_k), -1, dtype=torch.int64, device=device)
    if N == 0 or max_k == 0:
        return points.new_zeros((N, max_k, D)), idx
    n_take = torch.minimum(K, lengths)  # (N,)
    valid = torch.arange(P, device=device)[None] < lengths[:, None]  # (N, P)
    with torch.no_grad():
        pts = points.detach()
        if random_start_point:
            start = (torch.rand(N, device=device) * lengths.clamp(min=1)).long()
            start = torch.minimum(start, (lengths - 1).clamp(min=0))
        else:
            start = torch.zeros(N, dtype=torch.int64, device=device)
        inf = torch.tensor(float("inf"), dtype=pts.dtype, device=device)
        min_d = torch.where(valid, inf, -inf) if P else pts.new_zeros((N, 0))
        cur = start
        ar = torch.arange(N, device=device)
        for k in range(max_k):
            active = k < n_take  # (N,)
            idx[:, k] = torch.where(active, cur, torch.full_like(cur, -1))
            if k == max_k - 1 or P == 0:
                break
            d = ((pts - pts[ar, cur][:, None]) ** 2).sum(-1)  # (N, P)
            min_d = torch.minimum(min_d, torch.where(valid, d, -inf))
            cur = min_d.argmax(dim=1)
    sel = idx.clamp(min=0)
    out = (
        points.gather(1, sel[..., None].expand(N, max_k, D))
        if P
        else points.new_zeros((N, max_k, D))
    )
    out = out.masked_fill((idx < 0)[..., None], 0.0)
    return out, idx


def sample_farthest_points_naive(
    points: torch.Tensor,
    lengths: torch.Tensor | None = None,
    K: int | list | torch.Tensor = 50,
    random_start_point: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch3D's reference (Python loop) farthest point sampling, same arguments and outputs.
    Here it is `sample_farthest_points` itself (the same greedy rule, vectorised)."""
    return sample_farthest_points(
        points, lengths=lengths, K=K, random_start_point=random_start_point
    )
