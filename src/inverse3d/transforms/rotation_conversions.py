"""Conversions between rotation representations (PyTorch3D conventions).

Conventions (see docs/transforms.md):
- Rotation matrices act on COLUMN vectors here: ``v_rotated = R @ v``. (`Transform3d` uses row
  vectors, so ``Rotate(R)`` applies ``points @ R``, i.e. the rotation by ``R^T``.)
- Quaternions are real part first: ``(w, x, y, z)``.
- Axis-angle: a 3-vector whose direction is the axis and whose norm is the angle in radians
  (counter-clockwise when looking down the axis towards the origin).
- Euler angles: ``euler_angles_to_matrix(a, "XYZ") = R_X(a0) @ R_Y(a1) @ R_Z(a2)``, i.e. intrinsic
  rotations, the same as ``scipy.spatial.transform.Rotation.from_euler("XYZ", a)``.
- 6D: the first two ROWS of the matrix (Zhou et al. 2019), as PyTorch3D.

Every function accepts any number of leading batch dimensions ``...``. The public functions
are scriptable (torch.jit.script), as PyTorch3D's: input checks run in Python
(torch.jit.ignore), and the module keeps its annotations unpostponed for TorchScript.
"""

import operator
from typing import List, Tuple

import torch
import torch.nn.functional as F

from inverse3d._validation import check_nonneg_int
from inverse3d.transforms._rotation_math import (
    angle_ratios,
    axis_angle_rotation,
    skew,
)

__all__ = [
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "euler_angles_to_matrix",
    "matrix_to_euler_angles",
    "random_quaternions",
    "random_rotations",
    "random_rotation",
    "standardize_quaternion",
    "quaternion_raw_multiply",
    "quaternion_multiply",
    "quaternion_invert",
    "quaternion_apply",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "rotation_6d_to_matrix",
    "matrix_to_rotation_6d",
]

# Below the squared angle 1e-6 the trigonometric ratios are evaluated by their Taylor series
# (their error there is below 1e-22, and gradients stay finite at exactly zero). The literal is
# written in each function: TorchScript cannot read a module-level float.


@torch.jit.ignore
def _check_last(x: torch.Tensor, name: str, sizes: List[int]) -> None:  # noqa: UP006
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    k = len(sizes)
    if x.dim() < k or list(x.shape[-k:]) != list(sizes):
        want = "(..., " + ", ".join(str(s) for s in sizes) + ")"
        raise ValueError(f"{name} must have shape {want}; got {tuple(x.shape)}")


# --------------------------------------------------------------------------- quaternions


def quaternion_to_matrix(quaternions: torch.Tensor) -> torch.Tensor:
    """Quaternions (w, x, y, z) to rotation matrices.

    Args:
        quaternions: (..., 4) float, real part first; need not be normalised (the matrix of
            q / |q| is returned).

    Returns:
        (..., 3, 3) float rotation matrices (column-vector convention).
    """
    _check_last(quaternions, "quaternions", [4])
    w, x, y, z = quaternions.unbind(-1)
    two_s = 2.0 / (quaternions * quaternions).sum(-1)
    m = torch.stack(
        (
            1 - two_s * (y * y + z * z),
            two_s * (x * y - z * w),
            two_s * (x * z + y * w),
            two_s * (x * y + z * w),
            1 - two_s * (x * x + z * z),
            two_s * (y * z - x * w),
            two_s * (x * z - y * w),
            two_s * (y * z + x * w),
            1 - two_s * (x * x + y * y),
        ),
        dim=-1,
    )
    return m.reshape(quaternions.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices to unit quaternions with non-negative real part.

    Four algebraically equivalent formulas exist, each dividing by one quaternion component;
    per matrix the one with the largest divisor (always >= 1/2) is used, so the result is
    accurate and the gradient finite for every rotation, including angles near 0 and pi.

    Args:
        matrix: (..., 3, 3) float rotation matrices.

    Returns:
        (..., 4) float quaternions (w, x, y, z), w >= 0.
    """
    _check_last(matrix, "matrix", [3, 3])
    batch = matrix.shape[:-2]
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = matrix.reshape(batch + (9,)).unbind(-1)
    # 4 * (w^2, x^2, y^2, z^2)
    sq4 = torch.stack(
        [
            1.0 + m00 + m11 + m22,
            1.0 + m00 - m11 - m22,
            1.0 - m00 + m11 - m22,
            1.0 - m00 - m11 + m22,
        ],
        dim=-1,
    )
    # Row k holds 4 * q_k * q (the quaternion scaled by four times its k-th component).
    rows = torch.stack(
        [
            torch.stack([sq4[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, sq4[..., 1], m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, sq4[..., 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, sq4[..., 3]], dim=-1),
        ],
        dim=-2,
    )  # (..., 4, 4)
    # 2 * |q_k|, floored so that unselected rows never divide by ~0 (no NaN gradients).
    denom = 2.0 * sq4.clamp(min=0.1).sqrt()
    candidates = rows / denom[..., None]
    best = sq4.detach().argmax(dim=-1)  # (...)
    idx = best[..., None, None].expand(batch + (1, 4))
    out = torch.gather(candidates, -2, idx).squeeze(-2)
    return standardize_quaternion(out)


def standardize_quaternion(quaternions: torch.Tensor) -> torch.Tensor:
    """Flip the sign of quaternions whose real part is negative.

    Args:
        quaternions: (..., 4) float, real part first.

    Returns:
        (..., 4) float with w >= 0 (q and -q are the same rotation).
    """
    _check_last(quaternions, "quaternions", [4])
    return torch.where(quaternions[..., 0:1] < 0, -quaternions, quaternions)


def quaternion_raw_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b, without standardising the result.

    Args:
        a: (..., 4) float, real part first.
        b: (..., 4) float, broadcastable with a.

    Returns:
        (..., 4) float product.
    """
    _check_last(a, "a", [4])
    _check_last(b, "b", [4])
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        dim=-1,
    )


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Quaternion product a * b (rotation b then a), standardised (w >= 0).

    Args:
        a: (..., 4) float, real part first.
        b: (..., 4) float, broadcastable with a.

    Returns:
        (..., 4) float.
    """
    return standardize_quaternion(quaternion_raw_multiply(a, b))


def quaternion_invert(quaternion: torch.Tensor) -> torch.Tensor:
    """Conjugate (the inverse of a unit quaternion).

    Args:
        quaternion: (..., 4) float, real part first.

    Returns:
        (..., 4) float.
    """
    _check_last(quaternion, "quaternion", [4])
    scale = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=quaternion.dtype, device=quaternion.device)
    return quaternion * scale


def quaternion_apply(quaternion: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Rotate points by unit quaternions: q * (0, p) * q^-1.

    Args:
        quaternion: (..., 4) float, real part first.
        point: (..., 3) float, broadcastable with quaternion's batch dimensions.

    Returns:
        (..., 3) float rotated points.
    """
    _check_last(point, "point", [3])
    _check_last(quaternion, "quaternion", [4])
    p = torch.cat([point.new_zeros(point.shape[:-1] + (1,)), point], dim=-1)
    out = quaternion_raw_multiply(
        quaternion_raw_multiply(quaternion, p), quaternion_invert(quaternion)
    )
    return out[..., 1:]


# --------------------------------------------------------------------------- euler angles

_AXES = "XYZ"


@torch.jit.ignore
def _check_convention(convention: str) -> Tuple[int, int, int]:  # noqa: UP006
    if not isinstance(convention, str):
        raise TypeError(f"convention must be a str like 'XYZ'; got {type(convention).__name__}")
    if len(convention) != 3:
        raise ValueError(f"convention must have 3 letters; got {convention!r}")
    for letter in convention:
        if letter not in _AXES:
            raise ValueError(f"convention: invalid letter {letter!r} in {convention!r}")
    if convention[1] in (convention[0], convention[2]):
        raise ValueError(
            f"convention {convention!r} is invalid: the middle axis must differ from the others"
        )
    i, j, k = (_AXES.index(c) for c in convention)
    return i, j, k


def euler_angles_to_matrix(euler_angles: torch.Tensor, convention: str) -> torch.Tensor:
    """Euler angles (radians) to rotation matrices.

    Args:
        euler_angles: (..., 3) float, the angles about convention[0], [1], [2].
        convention: three letters from "XYZ", e.g. "XYZ" (Tait-Bryan) or "ZYZ" (proper Euler);
            the middle letter differs from its neighbours. The result is
            R_c0(a0) @ R_c1(a1) @ R_c2(a2) (intrinsic rotations).

    Returns:
        (..., 3, 3) float rotation matrices.
    """
    _check_last(euler_angles, "euler_angles", [3])
    _check_convention(convention)
    mats = [axis_angle_rotation(c, a) for c, a in zip(convention, euler_angles.unbind(-1))]
    return mats[0] @ mats[1] @ mats[2]


def _parity(i: int, j: int, k: int) -> float:
    """+1 if (i, j, k) is a cyclic order of (0, 1, 2), else -1."""
    return 1.0 if (j - i) % 3 == 1 else -1.0


def matrix_to_euler_angles(matrix: torch.Tensor, convention: str) -> torch.Tensor:
    """Rotation matrices to Euler angles (inverse of `euler_angles_to_matrix`).

    Args:
        matrix: (..., 3, 3) float rotation matrices.
        convention: as in `euler_angles_to_matrix`.

    Returns:
        (..., 3) float radians; the middle angle lies in [-pi/2, pi/2] (Tait-Bryan) or
        [0, pi] (proper Euler), the others in (-pi, pi].
    """
    _check_last(matrix, "matrix", [3, 3])
    i, j, k = _check_convention(convention)
    R = matrix
    if i != k:  # Tait-Bryan, e.g. XYZ
        s = _parity(i, j, k)
        cos_mid = torch.sqrt(R[..., i, i] ** 2 + R[..., i, j] ** 2)
        mid = torch.atan2(s * R[..., i, k], cos_mid)
        first = torch.atan2(-s * R[..., j, k], R[..., k, k])
        last = torch.atan2(-s * R[..., i, j], R[..., i, i])
    else:  # proper Euler, e.g. ZYZ
        m = 3 - i - j
        s = _parity(i, j, m)
        sin_mid = torch.sqrt(R[..., i, j] ** 2 + R[..., i, m] ** 2)
        mid = torch.atan2(sin_mid, R[..., i, i])
        first = torch.atan2(R[..., j, i], -s * R[..., m, i])
        last = torch.atan2(R[..., i, j], s * R[..., i, m])
    return torch.stack([first, mid, last], dim=-1)


# --------------------------------------------------------------------------- random


@torch.jit.ignore
def _check_count(n: int) -> int:
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"n must be an int; got {type(n).__name__}")
    return check_nonneg_int(operator.index(n), "n")


def random_quaternions(
    n: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Uniformly distributed random unit quaternions with w >= 0.

    Args:
        n: number of quaternions.
        dtype, device: of the output.

    Returns:
        (n, 4) float quaternions, real part first.
    """
    n = _check_count(n)
    if isinstance(device, str):
        device = torch.device(device)
    q = torch.randn((n, 4), dtype=dtype, device=device)
    norm = q.norm(p=2, dim=1, keepdim=True)
    sign = torch.where(q[:, :1] < 0, -1.0, 1.0).to(q.dtype)
    return q / (norm * sign)


def random_rotations(
    n: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Uniformly distributed random rotation matrices.

    Returns:
        (n, 3, 3) float.
    """
    return quaternion_to_matrix(random_quaternions(n, dtype=dtype, device=device))


def random_rotation(
    dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """One uniformly distributed random rotation matrix.

    Returns:
        (3, 3) float.
    """
    return random_rotations(1, dtype=dtype, device=device)[0]


# --------------------------------------------------------------------------- axis-angle


def axis_angle_to_matrix(axis_angle: torch.Tensor, fast: bool = False) -> torch.Tensor:
    """Axis-angle vectors to rotation matrices (Rodrigues' formula, exact near angle 0).

    Args:
        axis_angle: (..., 3) float, axis times angle in radians.
        fast: accepted for PyTorch3D compatibility; the one implementation used is both fast
            and accurate.

    Returns:
        (..., 3, 3) float rotation matrices.
    """
    _check_last(axis_angle, "axis_angle", [3])
    a, b, _ = angle_ratios((axis_angle * axis_angle).sum(-1))
    K = skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a[..., None, None] * K + b[..., None, None] * (K @ K)


def matrix_to_axis_angle(matrix: torch.Tensor, fast: bool = False) -> torch.Tensor:
    """Rotation matrices to axis-angle vectors with angle in [0, pi].

    Goes through `matrix_to_quaternion`, so it is accurate near 0 and near pi.

    Args:
        matrix: (..., 3, 3) float rotation matrices.
        fast: accepted for PyTorch3D compatibility (same result either way).

    Returns:
        (..., 3) float axis-angle vectors.
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors to unit quaternions (cos(t/2), sin(t/2) * axis).

    Args:
        axis_angle: (..., 3) float.

    Returns:
        (..., 4) float, real part first.
    """
    _check_last(axis_angle, "axis_angle", [3])
    theta_sq = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta_sq < 1e-6
    t = torch.where(small, torch.ones_like(theta_sq), theta_sq).sqrt()
    half_sin_ratio = torch.where(
        small,
        0.5 - theta_sq / 48.0 + theta_sq * theta_sq / 3840.0,
        torch.sin(0.5 * t) / t,
    )
    cos_half = torch.where(
        small, 1.0 - theta_sq / 8.0 + theta_sq * theta_sq / 384.0, torch.cos(0.5 * t)
    )
    return torch.cat([cos_half, axis_angle * half_sin_ratio], dim=-1)


def quaternion_to_axis_angle(quaternions: torch.Tensor) -> torch.Tensor:
    """Quaternions to axis-angle vectors.

    The angle is 2 * atan2(|v|, w): in [0, pi] for standardised input (w >= 0), in (pi, 2 pi)
    otherwise (as PyTorch3D). Quaternions need not be normalised.

    Args:
        quaternions: (..., 4) float, real part first.

    Returns:
        (..., 3) float axis-angle vectors.
    """
    _check_last(quaternions, "quaternions", [4])
    w = quaternions[..., :1]
    v = quaternions[..., 1:]
    v_sq = (v * v).sum(-1, keepdim=True)
    # |v| / w small: angle / (2 |v|) = atan(s) / (s w) with s = |v| / w, a series in s^2.
    w_safe = torch.where(w > 0, w, torch.ones_like(w))
    s_sq = v_sq / (w_safe * w_safe)
    small = (w > 0) & (s_sq < 1e-6)
    # v = 0 with w <= 0 (a full turn) has no axis: any finite ratio gives the zero vector.
    norm = torch.where(small | (v_sq == 0), torch.ones_like(v_sq), v_sq).sqrt()
    ratio_big = torch.atan2(norm, w) / norm
    ratio_small = (1.0 - s_sq / 3.0 + s_sq * s_sq / 5.0) / w_safe
    ratio = torch.where(small, ratio_small, ratio_big)
    return 2.0 * ratio * v


# --------------------------------------------------------------------------- 6D


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """6D representation (two rows) to rotation matrices by Gram-Schmidt (Zhou et al. 2019).

    Args:
        d6: (..., 6) float, the first and second rows concatenated.

    Returns:
        (..., 3, 3) float rotation matrices whose rows are b1, b2, b1 x b2.
    """
    _check_last(d6, "d6", [6])
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices to the 6D representation: the first two rows, flattened.

    Args:
        matrix: (..., 3, 3) float.

    Returns:
        (..., 6) float.
    """
    _check_last(matrix, "matrix", [3, 3])
    return matrix[..., :2, :].clone().reshape(matrix.shape[:-2] + (6,))
