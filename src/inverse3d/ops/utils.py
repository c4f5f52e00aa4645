"""Small helpers shared by the point-cloud ops (PyTorch3D `ops.utils` API)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_nonneg_int, check_positive_int, check_tensor

__all__ = [
    "wmean",
    "eyes",
    "is_pointclouds",
    "convert_pointclouds_to_tensor",
    "get_point_covariances",
]


def wmean(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    dim: int | tuple[int, ...] = -2,
    keepdim: bool = True,
    eps: float = 1e-9,
) -> torch.Tensor:
    """Weighted mean of x over `dim`.

    Args:
        x: (..., P, D) float.
        weight: (..., P) float weights broadcastable with x[..., 0], or None (plain mean).
        dim: dimension(s) to reduce (default the points dimension -2).
        keepdim: keep the reduced dimension(s).
        eps: lower bound of the weight sum.

    Returns:
        sum(x * w) / max(sum(w), eps) over dim.
    """
    check_tensor(x, "x")
    if weight is None:
        return x.mean(dim=dim, keepdim=keepdim)
    check_tensor(weight, "weight")
    for xd, wd in zip(x.shape[-2::-1], weight.shape[::-1]):
        if xd != wd and xd != 1 and wd != 1:
            raise ValueError(
                f"weight of shape {tuple(weight.shape)} is not compatible with x of shape "
                f"{tuple(x.shape)} (weight must match x without its last dimension)"
            )
    w = weight[..., None]
    return (x * w).sum(dim=dim, keepdim=keepdim) / w.sum(dim=dim, keepdim=keepdim).clamp(min=eps)


def eyes(
    dim: int, N: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """A batch of N identity matrices: (N, dim, dim)."""
    dim = check_positive_int(dim, "dim")
    N = check_nonneg_int(N, "N")
    return torch.eye(dim, device=device, dtype=dtype)[None].repeat(N, 1, 1)


def is_pointclouds(pcl) -> bool:
    """True if pcl looks like a Pointclouds object (has points_padded and num_points_per_cloud)."""
    return hasattr(pcl, "points_padded") and hasattr(pcl, "num_points_per_cloud")


def convert_pointclouds_to_tensor(pcl):
    """(points (N, P, D) float, num_points (N,) int64) from a Pointclouds or a padded tensor."""
    if is_pointclouds(pcl):
        return pcl.points_padded(), pcl.num_points_per_cloud()
    if torch.is_tensor(pcl):
        check_tensor(pcl, "pcl", ("N", "P", "D"), "float")
        n = torch.full((pcl.shape[0],), pcl.shape[1], dtype=torch.int64, device=pcl.device)
        return pcl, n
    raise ValueError(
        f"pcl must be a Pointclouds object or a (N, P, D) tensor; got {type(pcl).__name__}"
    )


def get_point_covariances(
    points_padded: torch.Tensor, num_points_per_cloud: torch.Tensor, neighborhood_size: int
):
    """Covariance of each point's K-neighbourhood (the point itself included).

    Args:
        points_padded: (N, P, D) float.
        num_points_per_cloud: (N,) int64.
        neighborhood_size: K >= 1.

    Returns:
        covariances (N, P, D, D) float and k_nearest_neighbors (N, P, K, D) float.
    """
    from inverse3d.ops.knn import knn_points

    k = knn_points(
        points_padded,
        points_padded,
        lengths1=num_points_per_cloud,
        lengths2=num_points_per_cloud,
        K=neighborhood_size,
        return_nn=True,
    ).knn
    centred = k - k.mean(2, keepdim=True)  # (N, P, K, D)
    cov = centred[..., :, None] * centred[..., None, :]  # (N, P, K, D, D)
    return cov.mean(2), k
