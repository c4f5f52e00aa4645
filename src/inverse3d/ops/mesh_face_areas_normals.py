"""Areas and unit normals of packed triangle faces."""

from __future__ import annotations

import torch

from inverse3d._validation import check_tensor

__all__ = ["mesh_face_areas_normals"]


def mesh_face_areas_normals(
    verts: torch.Tensor, faces: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Area and unit normal of every face.

    Args:
        verts: (V, 3) float packed vertices.
        faces: (F, 3) int64 packed faces indexing verts.

    Returns:
        areas (F,) float and normals (F, 3) float: n = (v1 - v0) x (v2 - v0) / |.| (a
        degenerate face gets a zero normal), differentiable in verts.
    """
    check_tensor(verts, "verts", (None, 3), "float")
    check_tensor(faces, "faces", (None, 3), "int")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= verts.shape[0]):
        raise ValueError(
            f"faces must index verts (0..{verts.shape[0] - 1}); got values in "
            f"[{int(faces.min())}, {int(faces.max())}]"
        )
    tri = verts[faces.long()]  # (F, 3, 3)
    n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    length = n.norm(dim=-1)
    return 0.5 * length, n / length.clamp(min=1e-12)[:, None]
