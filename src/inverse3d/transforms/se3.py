"""The rigid-motion group SE(3): exponential and logarithm maps.

Layout (PyTorch3D's row-vector convention): a 4x4 transform is

    [[R^T, 0],
     [T,   1]]

so that ``[x, 1] @ M = [x @ R^T + T, 1]`` (rotation in the top-left block, translation in the
last ROW). The log vector is ``[log_translation, log_rotation]`` of shape (N, 6).
"""

from __future__ import annotations

import torch

from inverse3d.transforms._rotation_math import angle_ratios, check_vec_batch, skew
from inverse3d.transforms.so3 import hat, so3_exp_map, so3_log_map  # noqa: F401

__all__ = ["se3_exp_map", "se3_log_map"]


def _se3_V_matrix(log_rotation: torch.Tensor) -> torch.Tensor:
    """V = I + (1 - cos t)/t^2 K + (t - sin t)/t^3 K^2, smooth at t = 0. (N, 3) -> (N, 3, 3)."""
    _, b, c = angle_ratios((log_rotation * log_rotation).sum(1))
    K = skew(log_rotation)
    eye = torch.eye(3, dtype=log_rotation.dtype, device=log_rotation.device)
    return eye + b[:, None, None] * K + c[:, None, None] * torch.bmm(K, K)


def se3_exp_map(log_transform: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Exponential map from se(3) to 4x4 rigid transforms (row-vector layout).

    Args:
        log_transform: (N, 6) float, [translation part (3), axis-angle rotation (3)].
        eps: kept for PyTorch3D compatibility (small angles use exact series).

    Returns:
        (N, 4, 4) float: top-left 3x3 = R^T with R = so3_exp_map(log_rotation), last row =
        [V @ log_translation, 1], last column = (0, 0, 0, 1).
    """
    check_vec_batch(log_transform, "log_transform", 6)
    log_translation = log_transform[:, :3]
    log_rotation = log_transform[:, 3:]
    R = so3_exp_map(log_rotation, eps=eps)
    V = _se3_V_matrix(log_rotation)
    T = torch.bmm(V, log_translation[:, :, None])[:, :, 0]
    N = log_transform.shape[0]
    top = torch.cat([R.transpose(1, 2), log_transform.new_zeros(N, 3, 1)], dim=2)  # (N, 3, 4)
    bottom = torch.cat([T, log_transform.new_ones(N, 1)], dim=1)[:, None]  # (N, 1, 4)
    return torch.cat([top, bottom], dim=1)


def se3_log_map(
    transform: torch.Tensor, eps: float = 1e-4, cos_bound: float = 1e-4
) -> torch.Tensor:
    """Logarithm of 4x4 rigid transforms in the row-vector layout of `se3_exp_map`.

    Args:
        transform: (N, 4, 4) float, with transform[:, :3, 3] == 0.
        eps, cos_bound: passed to `so3_log_map`.

    Returns:
        (N, 6) float [log_translation, log_rotation].
    """
    if not torch.is_tensor(transform):
        raise TypeError(f"transform must be a torch.Tensor; got {type(transform).__name__}")
    if transform.dim() != 3 or transform.shape[1:] != (4, 4):
        raise ValueError(f"transform must have shape (N, 4, 4); got {tuple(transform.shape)}")
    if transform.numel() and float(transform[:, :3, 3].detach().abs().max()) > eps:
        raise ValueError(
            "transform[:, :3, 3] must be 0 (row-vector layout: translation in the last row)"
        )
    R = transform[:, :3, :3].transpose(1, 2)
    log_rotation = so3_log_map(R, eps=eps, cos_bound=cos_bound)
    T = transform[:, 3, :3]
    V = _se3_V_matrix(log_rotation)
    log_translation = torch.linalg.solve(V, T[:, :, None])[:, :, 0]
    return torch.cat([log_translation, log_rotation], dim=1)
