"""Batched 3D transforms in PyTorch3D's row-vector convention.

A `Transform3d` holds a batch of 4x4 matrices M acting on homogeneous ROW vectors:
``[x, y, z, 1] @ M``. Composition reads left to right: ``t1.compose(t2)`` applies t1 first, then
t2 (matrix ``M1 @ M2``). The translation sits in the last row of M. Batch sizes broadcast when
one side has size 1.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import torch

from inverse3d.common.datatypes import Device, get_device, make_device
from inverse3d.transforms._rotation_math import axis_angle_rotation
from inverse3d.transforms.se3 import se3_log_map

__all__ = ["Transform3d", "Translate", "Scale", "Rotate", "RotateAxisAngle"]


def _broadcast_bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched a @ b where a batch of size 1 broadcasts against N. (N|1, P, K) @ (N|1, K, M)."""
    if a.dim() == 2:
        a = a[None]
    if len(a) != len(b):
        if len(a) != 1 and len(b) != 1:
            raise ValueError(
                f"batch sizes must be equal or 1 to broadcast; got {len(a)} and {len(b)}"
            )
        if len(a) == 1:
            a = a.expand(len(b), -1, -1)
        else:
            b = b.expand(len(a), -1, -1)
    return a.bmm(b)


def _eye_batch(N: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(N, 4, 4) identity matrices, the start of each subclass's matrix."""
    return torch.eye(4, dtype=dtype, device=device).view(1, 4, 4).repeat(N, 1, 1)


def _batch_index(index: int | slice | list | torch.Tensor) -> slice | list | torch.Tensor:
    """index as an index that keeps the batch dimension (an int i becomes [i])."""
    return [index] if isinstance(index, int) else index


class Transform3d:
    """A batch of 4x4 transforms acting on row vectors (see the module docstring).

    Args:
        dtype: of the identity matrix made when `matrix` is None.
        device: of the identity matrix made when `matrix` is None.
        matrix: (4, 4) or (N, 4, 4) float; its dtype and device then win.
    """

    def __init__(
        self,
        dtype: torch.dtype = torch.float32,
        device: Device = "cpu",
        matrix: torch.Tensor | None = None,
    ) -> None:
        if matrix is None:
            self._matrix = torch.eye(4, dtype=dtype, device=device).view(1, 4, 4)
        else:
            if not torch.is_tensor(matrix):
                raise TypeError(f"matrix must be a torch.Tensor; got {type(matrix).__name__}")
            if matrix.dim() not in (2, 3) or tuple(matrix.shape[-2:]) != (4, 4):
                raise ValueError(
                    f"matrix must have shape (4, 4) or (N, 4, 4); got {tuple(matrix.shape)}"
                )
            dtype = matrix.dtype
            device = matrix.device
            self._matrix = matrix.view(-1, 4, 4)
        self._transforms: list[Transform3d] = []
        self._lu = None
        self.device = make_device(device)
        self.dtype = dtype

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return self.get_matrix().shape[0]

    def __getitem__(self, index: int | slice | list | torch.Tensor) -> Transform3d:
        """Select transforms of the batch (int, slice, list, LongTensor or BoolTensor)."""
        return self.__class__(matrix=self.get_matrix()[_batch_index(index)])

    def compose(self, *others: Transform3d) -> Transform3d:
        """A new transform applying self, then each of `others` in order."""
        for other in others:
            if not isinstance(other, Transform3d):
                raise ValueError(
                    f"compose takes Transform3d objects only; got {type(other).__name__}"
                )
        out = Transform3d(dtype=self.dtype, device=self.device)
        out._matrix = self._matrix.clone()
        out._transforms = self._transforms + list(others)
        return out

    def get_matrix(self) -> torch.Tensor:
        """The composed (N, 4, 4) matrix (row-vector convention, translation in the last row)."""
        m = self._matrix.clone()
        for other in self._transforms:
            m = _broadcast_bmm(m, other.get_matrix())
        return m

    def _get_matrix_inverse(self) -> torch.Tensor:
        return torch.inverse(self._matrix)

    def inverse(self, invert_composed: bool = False) -> Transform3d:
        """The inverse transform.

        Args:
            invert_composed: invert the composed matrix in one go (fast) instead of inverting
                each member (exact for Translate/Scale/Rotate, which invert in closed form).
        """
        out = Transform3d(dtype=self.dtype, device=self.device)
        if invert_composed:
            out._matrix = torch.inverse(self.get_matrix())
            return out
        inv_own = self._get_matrix_inverse()
        if self._transforms:
            out._transforms = [t.inverse() for t in reversed(self._transforms)]
            last = Transform3d(dtype=self.dtype, device=self.device)
            last._matrix = inv_own
            out._transforms.append(last)
        else:
            out._matrix = inv_own
        return out

    def stack(self, *others: Transform3d) -> Transform3d:
        """Concatenate the batches of self and `others` into one transform."""
        for other in others:
            if not isinstance(other, Transform3d):
                raise ValueError(
                    f"stack takes Transform3d objects only; got {type(other).__name__}"
                )
        matrix = torch.cat([t.get_matrix() for t in (self, *others)], dim=0)
        out = Transform3d(dtype=self.dtype, device=self.device)
        out._matrix = matrix
        return out

    # ------------------------------------------------------------------ application
    def transform_points(self, points: torch.Tensor, eps: float | None = None) -> torch.Tensor:
        """Apply the transform to points, with the homogeneous divide.

        Args:
            points: (P, 3) or (N, P, 3) float.
            eps: if given, |w| is clamped to at least eps (keeping its sign; w == 0 counts as
                positive) before dividing, to avoid division by zero.

        Returns:
            Same shape as points ((N, P, 3) if a (P, 3) input meets an N > 1 transform).
        """
        if not torch.is_tensor(points):
            raise TypeError(f"points must be a torch.Tensor; got {type(points).__name__}")
        if points.dim() not in (2, 3) or points.shape[-1] != 3:
            raise ValueError(
                f"points must have shape (P, 3) or (N, P, 3); got {tuple(points.shape)}"
            )
        self._check_operand(points, "points")
        pts = points[None] if points.dim() == 2 else points
        N, P, _ = pts.shape
        ones = torch.ones(N, P, 1, dtype=pts.dtype, device=pts.device)
        out = _broadcast_bmm(torch.cat([pts, ones], dim=2), self.get_matrix())
        denom = out[..., 3:]
        if eps is not None:
            sign = denom.sign() + (denom == 0).type_as(denom)
            denom = sign * denom.abs().clamp(min=eps)
        out = out[..., :3] / denom
        if out.shape[0] == 1 and points.dim() == 2:
            out = out.reshape(points.shape)
        return out

    def transform_normals(self, normals: torch.Tensor) -> torch.Tensor:
        """Apply the transform to normals: n @ (A^-1)^T with A the top-left 3x3 block.

        Args:
            normals: (P, 3) or (N, P, 3) float.

        Returns:
            Same shape as normals (not renormalised).
        """
        if not torch.is_tensor(normals):
            raise TypeError(f"normals must be a torch.Tensor; got {type(normals).__name__}")
        if normals.dim() not in (2, 3) or normals.shape[-1] != 3:
            raise ValueError(
                f"normals must have shape (P, 3) or (N, P, 3); got {tuple(normals.shape)}"
            )
        self._check_operand(normals, "normals")
        mat = self.get_matrix()[:, :3, :3]
        out = _broadcast_bmm(normals, mat.transpose(1, 2).inverse())
        if out.shape[0] == 1 and normals.dim() == 2:
            out = out.reshape(normals.shape)
        return out

    def _check_operand(self, x: torch.Tensor, name: str) -> None:
        m = self._matrix
        if x.dtype != m.dtype:
            raise TypeError(
                f"{name} must have the transform's dtype {m.dtype}; got {x.dtype} "
                "(convert one side, e.g. transform.to(device, dtype=...))"
            )
        if x.device != m.device:
            raise ValueError(f"{name} must be on the transform's device {m.device}; got {x.device}")

    def get_se3_log(self, eps: float = 1e-4, cos_bound: float = 1e-4) -> torch.Tensor:
        """se(3) logarithm of the composed matrix: (N, 6) [translation, rotation]."""
        return se3_log_map(self.get_matrix(), eps, cos_bound)

    # ------------------------------------------------------------------ chaining
    def translate(self, *args: Any, **kwargs: Any) -> Transform3d:
        return self.compose(Translate(*args, device=self.device, dtype=self.dtype, **kwargs))

    def scale(self, *args: Any, **kwargs: Any) -> Transform3d:
        return self.compose(Scale(*args, device=self.device, dtype=self.dtype, **kwargs))

    def rotate(self, *args: Any, **kwargs: Any) -> Transform3d:
        return self.compose(Rotate(*args, device=self.device, dtype=self.dtype, **kwargs))

    def rotate_axis_angle(self, *args: Any, **kwargs: Any) -> Transform3d:
        return self.compose(RotateAxisAngle(*args, device=self.device, dtype=self.dtype, **kwargs))

    # ------------------------------------------------------------------ copies and devices
    def clone(self) -> Transform3d:
        out = Transform3d(dtype=self.dtype, device=self.device)
        if self._lu is not None:
            out._lu = [e.clone() for e in self._lu]
        out._matrix = self._matrix.clone()
        out._transforms = [t.clone() for t in self._transforms]
        return out

    def to(
        self, device: Device, copy: bool = False, dtype: torch.dtype | None = None
    ) -> Transform3d:
        """Move to a device / dtype. Returns self when nothing changes and copy is False."""
        device_ = make_device(device)
        dtype_ = self.dtype if dtype is None else dtype
        unchanged = self.device == device_ and self.dtype == dtype_
        if unchanged and not copy:
            return self
        out = self.clone()
        if unchanged:
            return out
        out.device = device_
        out.dtype = dtype_
        out._matrix = out._matrix.to(device=device_, dtype=dtype_)
        out._transforms = [t.to(device_, copy=copy, dtype=dtype_) for t in out._transforms]
        return out

    def cpu(self) -> Transform3d:
        return self.to("cpu")

    def cuda(self) -> Transform3d:
        return self.to("cuda")


# ---------------------------------------------------------------------- input helpers


def _handle_coord(c: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if not torch.is_tensor(c):
        c = torch.tensor(c, dtype=dtype, device=device)
    if c.dim() == 0:
        c = c.view(1)
    if c.dim() != 1:
        raise ValueError(
            f"each coordinate must be a scalar or have shape (N,); got {tuple(c.shape)}"
        )
    return c.to(device=device, dtype=dtype)


def _handle_input(
    x: Any,
    y: Any,
    z: Any,
    dtype: torch.dtype,
    device: Device | None,
    name: str,
    allow_singleton: bool = False,
) -> torch.Tensor:
    """(x, y, z) given as scalars / (N,) tensors, or x as an (N, 3) tensor -> (N, 3)."""
    device_ = get_device(x, device)
    if torch.is_tensor(x) and x.dim() == 2:
        if x.shape[1] != 3:
            raise ValueError(f"{name}: x must have shape (N, 3); got {tuple(x.shape)}")
        if y is not None or z is not None:
            raise ValueError(f"{name}: y and z must be None when x has shape (N, 3)")
        return x.to(device=device_, dtype=dtype)
    if allow_singleton and y is None and z is None:
        y = z = x
    if y is None or z is None:
        raise ValueError(f"{name}: give x, y and z, or x as an (N, 3) tensor")
    xyz = [_handle_coord(c, dtype, device_) for c in (x, y, z)]
    N = max(c.shape[0] for c in xyz)
    for c in xyz:
        if c.shape[0] not in (1, N):
            raise ValueError(
                f"{name}: x, y, z sizes must be 1 or N to broadcast; got "
                f"{[int(c.shape[0]) for c in xyz]}"
            )
    return torch.stack([c.expand(N) for c in xyz], dim=1)


def _handle_angle_input(
    x: Any, dtype: torch.dtype, device: Device | None, name: str
) -> torch.Tensor:
    device_ = get_device(x, device)
    if torch.is_tensor(x) and x.dim() > 1:
        raise ValueError(f"{name}: angle must be a scalar or have shape (N,); got {tuple(x.shape)}")
    return _handle_coord(x, dtype, device_)


def _check_valid_rotation_matrix(R: torch.Tensor, tol: float = 1e-7) -> None:
    """Warn if R is not orthogonal with determinant 1 (within tol)."""
    N = R.shape[0]
    eye = torch.eye(3, dtype=R.dtype, device=R.device).expand(N, 3, 3)
    orthogonal = torch.allclose(R.bmm(R.transpose(1, 2)), eye, atol=tol)
    det_one = torch.allclose(torch.det(R), torch.ones_like(R[:, 0, 0]))
    if not (orthogonal and det_one):
        warnings.warn("R is not a valid rotation matrix", stacklevel=3)


# ---------------------------------------------------------------------- subclasses


class Translate(Transform3d):
    """Translation by (x, y, z): points map to p + t (t in the last matrix row).

    Args:
        x: scalar, (N,) tensor, or an (N, 3) tensor of translations (then y, z are None).
        y, z: scalars or (N,) tensors (sizes 1 and N broadcast).
    """

    def __init__(
        self,
        x: Any,
        y: Any = None,
        z: Any = None,
        dtype: torch.dtype = torch.float32,
        device: Device | None = None,
    ) -> None:
        xyz = _handle_input(x, y, z, dtype, device, "Translate")
        super().__init__(device=xyz.device, dtype=dtype)
        mat = _eye_batch(xyz.shape[0], dtype, self.device)
        mat[:, 3, :3] = xyz
        self._matrix = mat

    def _get_matrix_inverse(self) -> torch.Tensor:
        mask = torch.ones(1, 4, 4, dtype=self._matrix.dtype, device=self._matrix.device)
        mask[0, 3, :3] = -1.0
        return self._matrix * mask

    def __getitem__(self, index: int | slice | list | torch.Tensor) -> Translate:
        return self.__class__(self.get_matrix()[_batch_index(index), 3, :3], dtype=self.dtype)


class Scale(Transform3d):
    """Scaling by (x, y, z); a single x scales uniformly.

    Args:
        x: scalar, (N,) tensor, or (N, 3) tensor of per-axis factors.
        y, z: scalars or (N,) tensors; when both are None, x is used for all three axes.
    """

    def __init__(
        self,
        x: Any,
        y: Any = None,
        z: Any = None,
        dtype: torch.dtype = torch.float32,
        device: Device | None = None,
    ) -> None:
        xyz = _handle_input(x, y, z, dtype, device, "Scale", allow_singleton=True)
        super().__init__(device=xyz.device, dtype=dtype)
        mat = _eye_batch(xyz.shape[0], dtype, self.device)
        mat[:, 0, 0] = xyz[:, 0]
        mat[:, 1, 1] = xyz[:, 1]
        mat[:, 2, 2] = xyz[:, 2]
        self._matrix = mat

    def _get_matrix_inverse(self) -> torch.Tensor:
        diag = torch.diagonal(self._matrix, dim1=1, dim2=2)  # (N, 4)
        return torch.diag_embed(1.0 / diag)

    def __getitem__(self, index: int | slice | list | torch.Tensor) -> Scale:
        mat = self.get_matrix()[_batch_index(index)]
        return self.__class__(torch.diagonal(mat, dim1=1, dim2=2)[:, :3].clone(), dtype=self.dtype)


class Rotate(Transform3d):
    """Rotation by matrices R acting on row vectors: points map to p @ R.

    Args:
        R: (3, 3) or (N, 3, 3) float.
        orthogonal_tol: tolerance of the orthogonality check, which runs (and warns) when the
            environment variable INVERSE3D_CHECK_ROTATION_MATRICES (or
            PYTORCH3D_CHECK_ROTATION_MATRICES) is "1".
    """

    def __init__(
        self,
        R: torch.Tensor,
        dtype: torch.dtype = torch.float32,
        device: Device | None = None,
        orthogonal_tol: float = 1e-5,
    ) -> None:
        if not torch.is_tensor(R):
            raise TypeError(f"R must be a torch.Tensor; got {type(R).__name__}")
        device_ = get_device(R, device)
        super().__init__(device=device_, dtype=dtype)
        if R.dim() == 2:
            R = R[None]
        if R.dim() != 3 or tuple(R.shape[-2:]) != (3, 3):
            raise ValueError(f"R must have shape (3, 3) or (N, 3, 3); got {tuple(R.shape)}")
        R = R.to(device=device_, dtype=dtype)
        if "1" in (
            os.environ.get("INVERSE3D_CHECK_ROTATION_MATRICES", "0"),
            os.environ.get("PYTORCH3D_CHECK_ROTATION_MATRICES", "0"),
        ):
            _check_valid_rotation_matrix(R, tol=orthogonal_tol)
        mat = _eye_batch(R.shape[0], dtype, device_)
        mat[:, :3, :3] = R
        self._matrix = mat

    def _get_matrix_inverse(self) -> torch.Tensor:
        return self._matrix.transpose(1, 2).contiguous()

    def __getitem__(self, index: int | slice | list | torch.Tensor) -> Rotate:
        """Select rotations; a Rotate, also for RotateAxisAngle (where PyTorch3D's fails)."""
        return Rotate(self.get_matrix()[_batch_index(index)][:, :3, :3], dtype=self.dtype)


class RotateAxisAngle(Rotate):
    """Rotation by `angle` about a coordinate axis (counter-clockwise looking down the axis).

    The 3x3 block is the transpose of the column-vector rotation matrix, so
    ``transform_points(p)`` rotates p counter-clockwise.

    Args:
        angle: scalar or (N,) tensor.
        axis: "X", "Y" or "Z" (case-insensitive).
        degrees: angle in degrees (True) or radians.
    """

    def __init__(
        self,
        angle: Any,
        axis: str = "X",
        degrees: bool = True,
        dtype: torch.dtype = torch.float32,
        device: Device | None = None,
    ) -> None:
        if not isinstance(axis, str) or axis.upper() not in ("X", "Y", "Z"):
            raise ValueError(f"axis must be one of ['X', 'Y', 'Z']; got {axis!r}")
        axis = axis.upper()
        angle = _handle_angle_input(angle, dtype, device, "RotateAxisAngle")
        if degrees:
            angle = angle / 180.0 * math.pi
        R = axis_angle_rotation(axis, angle).transpose(1, 2)  # (N, 3, 3) row-vector form
        super().__init__(device=angle.device, R=R, dtype=dtype)
