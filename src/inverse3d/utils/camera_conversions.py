"""Conversions between OpenCV pinhole cameras and PyTorch3D-style PerspectiveCameras.

OpenCV: x_cam = R x_world + tvec (column vectors), +x right, +y down, +z forward, pixel
u = fx x / z + cx with K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], image_size (H, W).
PyTorch3D: X_view = X_world @ R + T (row vectors), +X left, +Y up, +Z forward. The two view
frames differ by a rotation of 180 degrees about z, so R_p3d = R_cv^T diag(-1, -1, 1) and
T_p3d = diag(-1, -1, 1) tvec.
"""

from __future__ import annotations

import torch

from inverse3d.renderer.cameras import PerspectiveCameras

__all__ = ["cameras_from_opencv_projection", "opencv_from_cameras_projection"]

_FLIP = (-1.0, -1.0, 1.0)


def _check(R, tvec, camera_matrix, image_size) -> int:
    for name, value in (
        ("R", R),
        ("tvec", tvec),
        ("camera_matrix", camera_matrix),
        ("image_size", image_size),
    ):
        if not torch.is_tensor(value):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    N = R.shape[0]
    specs = (
        ("R", R, (3, 3)),
        ("tvec", tvec, (3,)),
        ("camera_matrix", camera_matrix, (3, 3)),
        ("image_size", image_size, (2,)),
    )
    for name, value, tail in specs:
        if value.dim() != 1 + len(tail) or tuple(value.shape[1:]) != tail or value.shape[0] != N:
            want = ", ".join(["N", *map(str, tail)])
            raise ValueError(
                f"{name} must have shape ({want}) with N={N}; got {tuple(value.shape)}"
            )
    if bool((image_size <= 0).any()):
        raise ValueError(f"image_size must hold sizes > 0; got {image_size.tolist()}")
    return N


def _ndc_scale(image_size: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1) half of the shorter side and (N, 2) image centre (cx, cy) in pixels."""
    size_wh = image_size.to(like).flip(dims=(1,))  # (N, 2) (W, H)
    scale = size_wh.min(dim=1, keepdim=True).values / 2.0
    return scale, size_wh / 2.0


def cameras_from_opencv_projection(
    R: torch.Tensor,
    tvec: torch.Tensor,
    camera_matrix: torch.Tensor,
    image_size: torch.Tensor,
    *,
    dtype: torch.dtype = torch.float32,
) -> PerspectiveCameras:
    """NDC PerspectiveCameras equivalent to OpenCV cameras.

    Args:
        R: (N, 3, 3) float OpenCV rotations, tvec: (N, 3) float translations.
        camera_matrix: (N, 3, 3) float intrinsics K.
        image_size: (N, 2) (H, W) of the images.
        dtype: of the cameras' transforms (PyTorch3D's are always float32, whatever the
            inputs' dtype; see PerspectiveCameras).

    Returns:
        PerspectiveCameras (in_ndc=True, image_size set) whose transform_points_screen equals
        the OpenCV projection (u, v) of every point.
    """
    _check(R, tvec, camera_matrix, image_size)
    focal = torch.stack([camera_matrix[:, 0, 0], camera_matrix[:, 1, 1]], dim=-1)  # (N, 2)
    principal = camera_matrix[:, :2, 2]  # (N, 2)
    scale, centre = _ndc_scale(image_size, R)
    flip = R.new_tensor(_FLIP)
    R_p3d = R.transpose(1, 2) * flip  # scale the columns
    T_p3d = tvec * flip
    return PerspectiveCameras(
        R=R_p3d,
        T=T_p3d,
        focal_length=focal / scale,
        principal_point=-(principal - centre) / scale,
        image_size=image_size,
        device=R.device,
        dtype=dtype,
    )


def opencv_from_cameras_projection(
    cameras: PerspectiveCameras, image_size: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """OpenCV (R, tvec, camera_matrix) of PerspectiveCameras for images of size image_size.

    Works for NDC cameras (in_ndc=True) and screen-space cameras (in_ndc=False, focal length and
    principal point in pixels). Inverse of `cameras_from_opencv_projection`.

    Args:
        cameras: PerspectiveCameras of batch size N.
        image_size: (N, 2) (H, W) of the images.

    Returns:
        R: (N, 3, 3) float, tvec: (N, 3) float, camera_matrix: (N, 3, 3) float.
    """
    if not isinstance(cameras, PerspectiveCameras):
        raise TypeError(f"cameras must be PerspectiveCameras; got {type(cameras).__name__}")
    if not torch.is_tensor(image_size):
        image_size = torch.as_tensor(image_size)
    image_size = image_size.reshape(-1, 2).expand(len(cameras), 2)
    if bool((image_size <= 0).any()):
        raise ValueError(f"image_size must hold sizes > 0; got {image_size.tolist()}")
    R_p3d, T_p3d = cameras.R, cameras.T
    flip = R_p3d.new_tensor(_FLIP)
    R = (R_p3d * flip).transpose(1, 2)
    tvec = T_p3d * flip
    focal = cameras.focal_length
    focal = (
        focal.reshape(-1, 1).expand(-1, 2) if focal.dim() == 1 or focal.shape[-1] == 1 else focal
    )
    focal = focal.to(R)
    p0 = cameras.principal_point.to(R)
    if cameras.in_ndc():
        scale, centre = _ndc_scale(image_size, R)
        principal = -p0 * scale + centre
        focal = focal * scale
    else:
        principal = p0
    camera_matrix = torch.zeros_like(R)
    camera_matrix[:, 0, 0] = focal[:, 0]
    camera_matrix[:, 1, 1] = focal[:, 1]
    camera_matrix[:, :2, 2] = principal
    camera_matrix[:, 2, 2] = 1.0
    return R, tvec, camera_matrix
