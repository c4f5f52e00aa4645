"""Normals and local frames of point clouds by PCA of neighbourhoods (PyTorch3D
`ops.points_normals`)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_int, check_tensor
from inverse3d.ops.utils import convert_pointclouds_to_tensor, get_point_covariances, is_pointclouds

__all__ = ["estimate_pointcloud_normals", "estimate_pointcloud_local_coord_frames"]


def _disambiguate(points: torch.Tensor, knns: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
    """Flip vecs (N, P, 3) to point where most neighbours (N, P, K, 3) are."""
    K = knns.shape[2]
    proj = ((knns - points[:, :, None]) * vecs[:, :, None]).sum(3)  # (N, P, K)
    flip = (proj > 0).sum(2, keepdim=True) < 0.5 * K  # (N, P, 1)
    return torch.where(flip, -vecs, vecs)


def estimate_pointcloud_local_coord_frames(
    pointclouds,
    neighborhood_size: int = 50,
    disambiguate_directions: bool = True,
    *,
    use_symeig_workaround: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal curvatures and local frames from the covariance of each point's K nearest
    neighbours (the point itself included).

    Args:
        pointclouds: (N, P, 3) float tensor or Pointclouds.
        neighborhood_size: K, must be smaller than every cloud's size.
        disambiguate_directions: orient the normal and the main direction towards the side
            holding most of the neighbours (the second direction is normal x main).
        use_symeig_workaround: accepted for compatibility; torch.linalg.eigh is always used.

    Returns:
        curvatures: (N, P, 3) float, covariance eigenvalues in ascending order.
        local_coord_frames: (N, P, 3, 3) float, column k the eigenvector of eigenvalue k (column
        0 is the normal). Padding points give zeros.
    """
    if not (is_pointclouds(pointclouds) or torch.is_tensor(pointclouds)):
        raise TypeError(
            "pointclouds must be a Pointclouds object or a (N, P, 3) tensor; got "
            f"{type(pointclouds).__name__}"
        )
    if torch.is_tensor(pointclouds):
        check_tensor(pointclouds, "pointclouds", ("N", "P", 3), "float")
    K = check_positive_int(neighborhood_size, "neighborhood_size")
    points, num = convert_pointclouds_to_tensor(pointclouds)
    if points.shape[-1] != 3:
        raise ValueError(f"points must be 3D; got {tuple(points.shape)}")
    if bool((num <= K).any()):
        raise ValueError(
            f"neighborhood_size must be smaller than the size of every point cloud; got "
            f"neighborhood_size={K} and cloud sizes {num.tolist()}"
        )
    N, P, _ = points.shape
    mask = torch.arange(P, device=points.device)[None] < num[:, None]  # (N, P)
    cov, knns = get_point_covariances(points, num, K)  # (N, P, 3, 3), (N, P, K, 3)
    eye = torch.eye(3, dtype=cov.dtype, device=cov.device)
    cov = torch.where(mask[..., None, None], cov, eye)  # keep eigh well defined on padding
    curvatures, frames = torch.linalg.eigh(cov)  # ascending
    if disambiguate_directions:
        n = _disambiguate(points, knns, frames[..., 0])
        z = _disambiguate(points, knns, frames[..., 2])
        y = torch.cross(n, z, dim=2)
        frames = torch.stack((n, y, z), dim=3)
    curvatures = torch.where(mask[..., None], curvatures, torch.zeros_like(curvatures))
    frames = torch.where(mask[..., None, None], frames, torch.zeros_like(frames))
    return curvatures, frames


def estimate_pointcloud_normals(
    pointclouds,
    neighborhood_size: int = 50,
    disambiguate_directions: bool = True,
    *,
    use_symeig_workaround: bool = True,
) -> torch.Tensor:
    """Unit normals (N, P, 3) float: the least-variance direction of each point's K nearest
    neighbours; see estimate_pointcloud_local_coord_frames for the arguments."""
    _, frames = estimate_pointcloud_local_coord_frames(
        pointclouds,
        neighborhood_size=neighborhood_size,
        disambiguate_directions=disambiguate_directions,
        use_symeig_workaround=use_symeig_workaround,
    )
    return frames[..., 0]
