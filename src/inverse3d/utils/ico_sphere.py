"""Unit icosphere meshes, built by repeated midpoint subdivision of an icosahedron."""

from __future__ import annotations

import math

import torch

from inverse3d._validation import check_nonneg_int
from inverse3d.structures.meshes import Meshes

__all__ = ["ico_sphere"]

# Icosahedron corners: cyclic permutations of (+-1, +-phi, 0), in PyTorch3D's vertex order.
_PHI = (1.0 + math.sqrt(5.0)) / 2.0
_ICO_VERTS0 = [
    [-1.0, _PHI, 0.0],
    [1.0, _PHI, 0.0],
    [-1.0, -_PHI, 0.0],
    [1.0, -_PHI, 0.0],
    [0.0, -1.0, _PHI],
    [0.0, 1.0, _PHI],
    [0.0, -1.0, -_PHI],
    [0.0, 1.0, -_PHI],
    [_PHI, 0.0, -1.0],
    [_PHI, 0.0, 1.0],
    [-_PHI, 0.0, -1.0],
    [-_PHI, 0.0, 1.0],
]
# The 20 faces, counter-clockwise seen from outside (outward normals).
_ICO_FACES0 = [
    [0, 11, 5],
    [0, 5, 1],
    [0, 1, 7],
    [0, 7, 10],
    [0, 10, 11],
    [1, 5, 9],
    [5, 11, 4],
    [11, 10, 2],
    [10, 7, 6],
    [7, 1, 8],
    [3, 9, 4],
    [3, 4, 2],
    [3, 2, 6],
    [3, 6, 8],
    [3, 8, 9],
    [4, 9, 5],
    [2, 4, 11],
    [6, 2, 10],
    [8, 6, 7],
    [9, 8, 1],
]


def _subdivide(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each face into 4 with one shared midpoint per edge, projected onto the sphere.

    New vertices follow the old ones, one per unique edge in sorted (min, max) order; faces are
    ordered [corner-0 faces, corner-1 faces, corner-2 faces, centre faces], as PyTorch3D's
    SubdivideMeshes does.
    """
    V = verts.shape[0]
    v0, v1, v2 = faces.unbind(1)
    # Edge k of a face is the one opposite corner k.
    face_edges = torch.stack(
        [torch.stack([v1, v2], 1), torch.stack([v2, v0], 1), torch.stack([v0, v1], 1)], dim=1
    )  # (F, 3, 2)
    lo = face_edges.min(dim=2).values
    hi = face_edges.max(dim=2).values
    keys, inverse = torch.unique(lo * V + hi, return_inverse=True)  # sorted unique edges
    edges = torch.stack([keys // V, keys % V], dim=1)  # (E, 2)
    mid = verts[edges].mean(dim=1)
    mid = mid / mid.norm(dim=1, keepdim=True)
    e = inverse + V  # (F, 3) index of each edge's midpoint vertex
    e0, e1, e2 = e.unbind(1)
    new_faces = torch.cat(
        [
            torch.stack([v0, e2, e1], 1),
            torch.stack([v1, e0, e2], 1),
            torch.stack([v2, e1, e0], 1),
            torch.stack([e0, e1, e2], 1),
        ],
        dim=0,
    )
    return torch.cat([verts, mid], dim=0), new_faces


def ico_sphere(level: int = 0, device: torch.device | str | None = None) -> Meshes:
    """A unit icosphere with consistently outward-oriented faces.

    Args:
        level: number of subdivisions; level L has 10 * 4**L + 2 verts and 20 * 4**L faces
            (level 0: 12 / 20, level 4: 2562 / 5120).
        device: of the output (default CPU).

    Returns:
        Meshes with one mesh: verts (V, 3) float32 with |v| = 1, faces (F, 3) int64.
    """
    level = check_nonneg_int(level, "level")
    verts = torch.tensor(_ICO_VERTS0, dtype=torch.float64)
    verts = verts / verts.norm(dim=1, keepdim=True)
    faces = torch.tensor(_ICO_FACES0, dtype=torch.int64)
    for _ in range(level):
        verts, faces = _subdivide(verts, faces)
    device = torch.device("cpu") if device is None else torch.device(device)
    return Meshes(verts=[verts.to(device=device, dtype=torch.float32)], faces=[faces.to(device)])
