"""Camera helpers: batching cameras, rotating them in place, recovering eye/at/up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from inverse3d.renderer.cameras import CamerasBase
from inverse3d.transforms.transform3d import Transform3d

__all__ = ["camera_to_eye_at_up", "join_cameras_as_batch", "rotate_on_spot"]


def camera_to_eye_at_up(
    world_to_view_transform: Transform3d,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(eye, at, up), each (N, 3) float, such that look_at_view_transform(eye=eye, at=at, up=up)
    gives back the world-to-view transform (at is one unit in front of the eye)."""
    view_to_world = world_to_view_transform.inverse()
    dtype = world_to_view_transform.get_matrix().dtype
    pts = torch.tensor(
        [[0, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=dtype, device=view_to_world.device
    )  # eye, at, eye + up in view space
    world = view_to_world.transform_points(pts).reshape(-1, 3, 3)
    eye, at, up_plus_eye = world.unbind(1)
    return eye, at, up_plus_eye - eye


def rotate_on_spot(
    R: torch.Tensor, T: torch.Tensor, rotation: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate cameras about their own centres.

    The new world-to-view rotation is R followed by the inverse of `rotation`
    (new_R = R @ rotation^T), and T is changed so that the camera centre stays where it was;
    view-space points become X_view @ rotation^T. E.g. rotation = axis_angle_to_matrix of
    (0, 10 degrees, 0) turns the camera to the right.

    Args:
        R: (N, 3, 3) or (3, 3) float, T: (N, 3) or (3,) float, rotation: (n, 3, 3) or (3, 3)
            float, with n and N equal or one of them 1.

    Returns:
        R: (max(N, n), 3, 3) float, T: (max(N, n), 3) float.
    """
    R = R[None] if R.dim() == 2 else R
    T = T[None] if T.dim() == 1 else T
    rotation = rotation[None] if rotation.dim() == 2 else rotation
    if R.dim() != 3 or tuple(R.shape[1:]) != (3, 3):
        raise ValueError(f"R must have shape (N, 3, 3) or (3, 3); got {tuple(R.shape)}")
    if T.dim() != 2 or T.shape[1] != 3:
        raise ValueError(f"T must have shape (N, 3) or (3,); got {tuple(T.shape)}")
    if rotation.dim() != 3 or tuple(rotation.shape[1:]) != (3, 3):
        raise ValueError(
            f"rotation must have shape (N, 3, 3) or (3, 3); got {tuple(rotation.shape)}"
        )
    sizes = {R.shape[0], T.shape[0], rotation.shape[0]} - {1}
    if len(sizes) > 1:
        raise ValueError(
            "R, T and rotation must have batch sizes 1 or N; got "
            f"{R.shape[0]}, {T.shape[0]} and {rotation.shape[0]}"
        )
    rot_t = rotation.transpose(1, 2)
    new_R = R @ rot_t  # (N, 3, 3)
    new_T = (T[:, None, :] @ rot_t)[:, 0, :]  # (N, 3): T @ rotation^T keeps the centre
    n = new_R.shape[0]
    return new_R, new_T.expand(n, 3) if new_T.shape[0] != n else new_T


def join_cameras_as_batch(cameras_list: Sequence[CamerasBase]) -> CamerasBase:
    """One camera object holding all cameras of `cameras_list` (concatenated along the batch).

    All items must be of the same class and on the same device, and agree on shared fields
    (e.g. in_ndc, degrees); optional fields (K, image_size) must be given by all or none.
    """
    if not isinstance(cameras_list, (list, tuple)) or len(cameras_list) == 0:
        raise ValueError("cameras_list must be a non-empty list of cameras")
    if not all(isinstance(c, CamerasBase) for c in cameras_list):
        raise ValueError("cameras_list must hold CamerasBase instances only")
    c0 = cameras_list[0]
    if not all(type(c) is type(c0) for c in cameras_list):
        names = sorted({type(c).__name__ for c in cameras_list})
        raise ValueError(f"cameras_list must hold cameras of one class; got {names}")
    if not all(c.device == c0.device for c in cameras_list):
        raise ValueError("cameras_list must hold cameras on one device")
    kwargs: dict[str, Any] = {"device": c0.device}
    for field in c0._FIELDS:
        values = [getattr(c, field, None) for c in cameras_list]
        present = [v is not None for v in values]
        if not any(present):
            continue
        if not all(present):
            raise ValueError(f"cameras_list: attribute {field} is set on some cameras only")
        key = field[1:] if field.startswith("_") else field
        if field in c0._SHARED_FIELDS:
            if not all(v == values[0] for v in values):
                raise ValueError(f"cameras_list: attribute {field} differs between cameras")
            kwargs[key] = values[0]
        elif all(torch.is_tensor(v) for v in values):
            n = [len(c) for c in cameras_list]
            kwargs[key] = torch.cat([v.expand(k, *v.shape[1:]) for v, k in zip(values, n)])
        else:
            raise ValueError(f"cameras_list: attribute {field} cannot be batched")
    return c0.__class__(**kwargs)
