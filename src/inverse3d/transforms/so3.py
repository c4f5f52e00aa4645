"""The rotation group SO(3): exponential and logarithm maps, angles, hat operator.

`so3_exp_map` and `so3_log_map` are scriptable (torch.jit.script), as PyTorch3D's; the input
checks run in Python (torch.jit.ignore), so this module keeps its annotations unpostponed.

Matrices here are column-vector rotation matrices (as in rotation_conversions); batches are
(N, 3, 3). As in PyTorch3D 0.7.9, `so3_exp_map` is Rodrigues' formula (here with series for
small angles, so gradients are finite at exactly zero) and `so3_log_map` goes through the
best-conditioned quaternion formula, accurate with finite gradients near 0 and near pi.
"""

import warnings

import torch

from inverse3d.transforms._rotation_math import angle_ratios, check_vec_batch, skew
from inverse3d.transforms.math import acos_linear_extrapolation
from inverse3d.transforms.rotation_conversions import (
    matrix_to_quaternion,
    quaternion_to_axis_angle,
)

__all__ = [
    "hat",
    "hat_inv",
    "so3_exp_map",
    "so3_exponential_map",
    "so3_log_map",
    "so3_relative_angle",
    "so3_rotation_angle",
]

HAT_INV_SKEW_SYMMETRIC_TOL = 1e-5


@torch.jit.ignore
def _check_rot_batch(R: torch.Tensor, name: str) -> None:
    if not torch.is_tensor(R):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(R).__name__}")
    if R.dim() != 3 or R.shape[1:] != (3, 3):
        raise ValueError(f"{name} must have shape (N, 3, 3); got {tuple(R.shape)}")


@torch.jit.ignore
def _check_skew(h: torch.Tensor) -> None:
    _check_rot_batch(h, "h")
    if h.numel():
        asym = float((h + h.transpose(1, 2)).detach().abs().max())
        if asym > HAT_INV_SKEW_SYMMETRIC_TOL:
            raise ValueError(f"h must be skew-symmetric; max |h + h^T| is {asym:.3g}")


def hat(v: torch.Tensor) -> torch.Tensor:
    """Skew-symmetric cross-product matrices: hat(v) @ u = v x u.

    Args:
        v: (N, 3) float.

    Returns:
        (N, 3, 3) float [[0, -z, y], [z, 0, -x], [-y, x, 0]].
    """
    check_vec_batch(v, "v", 3)
    return skew(v)


def hat_inv(h: torch.Tensor) -> torch.Tensor:
    """Inverse of `hat`: the vector of a skew-symmetric matrix.

    Args:
        h: (N, 3, 3) float skew-symmetric matrices (|h + h^T| <= 1e-5 elementwise).

    Returns:
        (N, 3) float.
    """
    _check_skew(h)
    return torch.stack([h[:, 2, 1], h[:, 0, 2], h[:, 1, 0]], dim=1)


def so3_rotation_angle(
    R: torch.Tensor,
    eps: float = 1e-4,
    cos_angle: bool = False,
    cos_bound: float = 1e-4,
) -> torch.Tensor:
    """Rotation angle of each matrix: acos((trace(R) - 1) / 2).

    Args:
        R: (N, 3, 3) float rotation matrices.
        eps: tolerance on the trace, which must lie in [-1 - eps, 3 + eps].
        cos_angle: return the cosine of the angle instead of the angle.
        cos_bound: if > 0, acos is replaced by its tangent line outside
            [-1 + cos_bound, 1 - cos_bound] (`acos_linear_extrapolation`) so the gradient stays
            finite; the angle is then approximate below ~sqrt(2 cos_bound) and near pi.

    Returns:
        (N,) float angles in [0, pi] (or their cosines).
    """
    _check_rot_batch(R, "R")
    trace = R[:, 0, 0] + R[:, 1, 1] + R[:, 2, 2]
    if trace.numel() and bool(((trace < -1.0 - eps) | (trace > 3.0 + eps)).any()):
        raise ValueError(
            f"R: a matrix has trace outside the valid range [-1 - eps, 3 + eps] (eps={eps}); "
            "is it a rotation matrix?"
        )
    phi_cos = (trace - 1.0) * 0.5
    if cos_angle:
        return phi_cos
    if cos_bound > 0.0:
        bound = 1.0 - cos_bound
        return acos_linear_extrapolation(phi_cos, (-bound, bound))
    return torch.acos(phi_cos)


def so3_relative_angle(
    R1: torch.Tensor,
    R2: torch.Tensor,
    cos_angle: bool = False,
    cos_bound: float = 1e-4,
    eps: float = 1e-4,
) -> torch.Tensor:
    """Angle of the relative rotation R1 @ R2^T (see `so3_rotation_angle`).

    Args:
        R1: (N, 3, 3) float.
        R2: (N, 3, 3) float.

    Returns:
        (N,) float angles (or cosines).
    """
    _check_rot_batch(R1, "R1")
    _check_rot_batch(R2, "R2")
    if R1.shape[0] != R2.shape[0]:
        raise ValueError(
            f"R1 and R2 must have the same batch size; got {R1.shape[0]} and {R2.shape[0]}"
        )
    R12 = torch.bmm(R1, R2.transpose(1, 2))
    return so3_rotation_angle(R12, cos_angle=cos_angle, cos_bound=cos_bound, eps=eps)


def so3_exp_map(log_rot: torch.Tensor, eps: float = 0.0001) -> torch.Tensor:
    """Rotation matrices exp(hat(log_rot)) by Rodrigues' formula.

    Args:
        log_rot: (N, 3) float axis-angle vectors.
        eps: kept for PyTorch3D compatibility; not needed (the small-angle ratios are
            evaluated by their series, which is exact to float precision and smooth at zero).

    Returns:
        (N, 3, 3) float rotation matrices.
    """
    check_vec_batch(log_rot, "log_rot", 3)
    a, b, _ = angle_ratios((log_rot * log_rot).sum(1))
    K = skew(log_rot)
    eye = torch.eye(3, dtype=log_rot.dtype, device=log_rot.device)
    return eye + a[:, None, None] * K + b[:, None, None] * torch.bmm(K, K)


def _so3_exp_map(
    log_rot: torch.Tensor, eps: float = 0.0001
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """PyTorch3D's private helper: (R, angles clamped at sqrt(eps), hat(log_rot), hat^2)."""
    R = so3_exp_map(log_rot, eps)
    angles = (log_rot * log_rot).sum(1).clamp(min=eps).sqrt()
    skews = skew(log_rot)
    return R, angles, skews, torch.bmm(skews, skews)


def so3_exponential_map(log_rot: torch.Tensor, eps: float = 0.0001) -> torch.Tensor:
    """Deprecated alias of `so3_exp_map`."""
    warnings.warn(
        "so3_exponential_map is deprecated; use so3_exp_map instead.",
        PendingDeprecationWarning,
        stacklevel=2,
    )
    return so3_exp_map(log_rot, eps)


def so3_log_map(R: torch.Tensor, eps: float = 0.0001, cos_bound: float = 1e-4) -> torch.Tensor:
    """Logarithm of rotation matrices: axis-angle vectors with angle in [0, pi].

    Computed through the best-conditioned quaternion, so it is accurate and has finite
    gradients for every angle, including near 0 and near pi (where the older
    (R - R^T) / (2 sin t) formula loses precision). At exactly pi the axis sign is arbitrary.

    Args:
        R: (N, 3, 3) float rotation matrices.
        eps, cos_bound: unused, kept for compatibility (as in PyTorch3D 0.7.9).

    Returns:
        (N, 3) float axis-angle vectors.
    """
    _check_rot_batch(R, "R")
    return quaternion_to_axis_angle(matrix_to_quaternion(R))
