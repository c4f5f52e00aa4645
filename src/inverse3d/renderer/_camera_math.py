"""Projection matrices and frame conversions used by the cameras (internal to the renderer;
`get_world_to_view_transform` and the NDC/screen transforms are re-exported by cameras.py).

Matrices named K are column-vector (x' = K x) 4x4 projections; Transform3d matrices are their
transposes (row vectors). `cameras` arguments only need `_N`, `device` and `_dtype()`.
"""

from __future__ import annotations

from typing import Any

import torch

from inverse3d.transforms.transform3d import Transform3d

__all__ = [
    "DEFAULT_R",
    "DEFAULT_T",
    "check_K",
    "check_RT",
    "get_ndc_to_screen_transform",
    "get_screen_to_ndc_transform",
    "get_world_to_view_transform",
    "normalise_image_size",
    "sfm_calibration_matrix",
    "transform_from_column",
    "transform_from_matrix",
]

DEFAULT_R = torch.eye(3)[None]  # (1, 3, 3)
DEFAULT_T = torch.zeros(1, 3)  # (1, 3)


def check_RT(R: Any, T: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not torch.is_tensor(R):
        raise TypeError(f"R must be a torch.Tensor of shape (N, 3, 3); got {type(R).__name__}")
    if not torch.is_tensor(T):
        raise TypeError(f"T must be a torch.Tensor of shape (N, 3); got {type(T).__name__}")
    if R.dim() != 3 or tuple(R.shape[1:]) != (3, 3):
        raise ValueError(f"Expected R to have shape (N, 3, 3); got {tuple(R.shape)}")
    if T.dim() != 2 or T.shape[1] != 3:
        raise ValueError(f"Expected T to have shape (N, 3); got {tuple(T.shape)}")
    if R.shape[0] != T.shape[0]:
        raise ValueError(
            "Expected R, T to have the same batch dimension; got R: "
            f"{tuple(R.shape)}, T: {tuple(T.shape)}"
        )
    return R, T


def transform_from_matrix(matrix: torch.Tensor) -> Transform3d:
    """A Transform3d from a row-vector matrix (N, 4, 4)."""
    return Transform3d(matrix=matrix, dtype=matrix.dtype, device=matrix.device)


def transform_from_column(K: torch.Tensor, dtype: torch.dtype | None = None) -> Transform3d:
    """A Transform3d from a column-vector (N, 4, 4) projection matrix K (x' = K x)."""
    K = K if dtype is None else K.to(dtype)
    return transform_from_matrix(K.transpose(1, 2).contiguous())


def get_world_to_view_transform(
    R: torch.Tensor = DEFAULT_R, T: torch.Tensor = DEFAULT_T, *, dtype: torch.dtype = torch.float32
) -> Transform3d:
    """The world-to-view transform X_view = X_world @ R + T.

    Args:
        R: (N, 3, 3) float rotations (row-vector convention).
        T: (N, 3) float translations.
        dtype: of the transform. R and T are cast to it, whatever their own dtypes, as
            PyTorch3D's Rotate(R).compose(Translate(T)) casts them to its default float32.

    Returns:
        Transform3d of batch size N.
    """
    R, T = check_RT(R, T)
    N = R.shape[0]
    M = torch.zeros(N, 4, 4, dtype=dtype, device=R.device)
    M[:, :3, :3] = R
    M[:, 3, :3] = T
    M[:, 3, 3] = 1.0
    return transform_from_matrix(M)


def _image_size_tensor(image_size: Any, name: str = "image_size") -> torch.Tensor:
    """image_size as a (B, 2) tensor of (H, W) pairs, B = 1 or N."""
    if image_size is None:
        raise ValueError(
            f"{name} must be given as (H, W) (a camera attribute or a keyword argument) to "
            "convert between NDC and screen space; got None"
        )
    size = torch.as_tensor(image_size) if not torch.is_tensor(image_size) else image_size
    if size.dim() == 0 or size.shape[-1] != 2 or size.dim() > 2:
        raise ValueError(f"{name} must be (H, W) or (N, 2) pairs (H, W); got {tuple(size.shape)}")
    size = size.reshape(-1, 2)
    if bool((size <= 0).any()):
        raise ValueError(f"{name} must hold sizes > 0; got {size.tolist()}")
    return size


def _ndc_to_screen_matrix(cameras: Any, image_size: Any, with_xyflip: bool) -> torch.Tensor:
    """(N, 4, 4) row-vector matrix taking NDC to screen (xyflip) or to negated screen (no flip)."""
    size = _image_size_tensor(image_size)
    dtype = cameras._dtype()
    size = size.to(device=cameras.device, dtype=dtype)
    N = max(cameras._N, size.shape[0])
    height, width = size[:, 0], size[:, 1]
    scale = torch.minimum(height, width) / 2.0
    M = torch.zeros(size.shape[0], 4, 4, dtype=dtype, device=cameras.device)
    sign = -1.0 if with_xyflip else 1.0
    M[:, 0, 0] = sign * scale
    M[:, 1, 1] = sign * scale
    M[:, 3, 0] = -sign * width / 2.0
    M[:, 3, 1] = -sign * height / 2.0
    M[:, 2, 2] = 1.0
    M[:, 3, 3] = 1.0
    return M.expand(N, 4, 4) if M.shape[0] != N else M


def get_ndc_to_screen_transform(
    cameras: Any, with_xyflip: bool = False, image_size: Any = None
) -> Transform3d:
    """NDC -> screen transform for images of size (H, W).

    With with_xyflip=True: x_screen = W / 2 - s x_ndc, y_screen = H / 2 - s y_ndc with
    s = min(H, W) / 2 (PyTorch3D NDC +X left, +Y up; screen +x right, +y down). Without the flip
    the x and y outputs are negated. z is unchanged.
    """
    return transform_from_matrix(_ndc_to_screen_matrix(cameras, image_size, with_xyflip))


def get_screen_to_ndc_transform(
    cameras: Any, with_xyflip: bool = False, image_size: Any = None
) -> Transform3d:
    """Inverse of `get_ndc_to_screen_transform` (same arguments)."""
    M = _ndc_to_screen_matrix(cameras, image_size, with_xyflip)  # screen = a ndc + b per axis
    inv = torch.zeros_like(M)
    inv[:, 0, 0] = 1.0 / M[:, 0, 0]
    inv[:, 1, 1] = 1.0 / M[:, 1, 1]
    inv[:, 3, :2] = -M[:, 3, :2] / torch.stack([M[:, 0, 0], M[:, 1, 1]], dim=-1)
    inv[:, 2, 2] = 1.0
    inv[:, 3, 3] = 1.0
    return transform_from_matrix(inv)


def check_K(K: torch.Tensor, N: int) -> torch.Tensor:
    if not torch.is_tensor(K) or K.dim() != 3 or tuple(K.shape[1:]) != (4, 4):
        shape = tuple(K.shape) if torch.is_tensor(K) else type(K).__name__
        raise ValueError(f"Expected K to have shape of ({N}, 4, 4); got {shape}")
    if K.shape[0] not in (1, N):
        raise ValueError(f"Expected K to have shape of ({N}, 4, 4); got {tuple(K.shape)}")
    return K


def sfm_calibration_matrix(
    N: int,
    focal_length: torch.Tensor,
    principal_point: torch.Tensor,
    orthographic: bool,
) -> torch.Tensor:
    """(N, 4, 4) column-vector calibration matrix of SfM-style cameras."""
    if not torch.is_tensor(focal_length):
        focal_length = torch.as_tensor(focal_length, dtype=torch.float32)
    if not torch.is_tensor(principal_point):
        principal_point = torch.as_tensor(principal_point, dtype=focal_length.dtype)
    if focal_length.dim() == 0:
        focal_length = focal_length.reshape(1)
    if focal_length.dim() == 1 or focal_length.shape[-1] == 1:
        fx = fy = focal_length.reshape(-1)
    elif focal_length.dim() == 2 and focal_length.shape[-1] == 2:
        fx, fy = focal_length.unbind(1)
    else:
        raise ValueError(
            f"focal_length must have shape (N,), (N, 1) or (N, 2); got {tuple(focal_length.shape)}"
        )
    principal_point = principal_point.reshape(-1, 2).to(fx)
    px, py = principal_point.unbind(1)
    N = max(N, fx.shape[0], px.shape[0])
    K = torch.zeros(N, 4, 4, dtype=fx.dtype, device=fx.device)
    K[:, 0, 0] = fx
    K[:, 1, 1] = fy
    if orthographic:
        K[:, 0, 3] = px
        K[:, 1, 3] = py
        K[:, 2, 2] = 1.0
        K[:, 3, 3] = 1.0
    else:
        K[:, 0, 2] = px
        K[:, 1, 2] = py
        K[:, 3, 2] = 1.0
        K[:, 2, 3] = 1.0
    return K


def normalise_image_size(image_size: Any) -> Any:
    """Accept a single (H, W) pair as well as ((H, W),) / (N, 2)."""
    if image_size is None:
        return None
    if torch.is_tensor(image_size):
        return image_size[None] if image_size.dim() == 1 else image_size
    if (
        isinstance(image_size, (list, tuple))
        and len(image_size) == 2
        and all(isinstance(s, (int, float)) for s in image_size)
    ):
        return (tuple(image_size),)
    return image_size
