"""Points for fitting and evaluating signed distance fields of triangle meshes.

Conventions (docs/neural_sdf.md): a mesh is first mapped to the unit cube by
`unit_cube_transform` (the centre of its bounding box to the origin, its longest side to 1,
so it lies in [-0.5, 0.5]^3). Three kinds of points are drawn, each with its own
`torch.Generator` so that a seed gives the same points on every run:

- uniform points in a box [-b, b]^3 (`sample_uniform_points`);
- surface points, area-weighted, with their face normals (`sample_surface_points`);
- near-surface points: surface points plus isotropic Gaussian noise of standard deviation
  `std` on each coordinate (`sample_near_surface_points`).

`sdf_samples` labels points with the exact signed distance of `inverse3d.ops.mesh_sdf`
(negative inside; sign from the generalized winding number, fast variant).
"""

from __future__ import annotations

import torch

from inverse3d._validation import (
    check_finite,
    check_nonneg_int,
    check_positive_float,
    check_tensor,
)
from inverse3d.ops.mesh_sdf import mesh_sdf

__all__ = [
    "outward_faces",
    "sample_near_surface_points",
    "sample_surface_points",
    "sample_uniform_points",
    "sdf_samples",
    "unit_cube_transform",
]


def _check_mesh(verts: torch.Tensor, faces: torch.Tensor) -> None:
    check_tensor(verts, "verts", (None, 3), "float")
    check_tensor(faces, "faces", (None, 3), "int")
    if faces.shape[0] == 0:
        raise ValueError("faces must hold at least one triangle; got 0 faces")
    check_finite(verts, "verts")
    if int(faces.min()) < 0 or int(faces.max()) >= verts.shape[0]:
        raise ValueError(
            f"faces must index verts in [0, {verts.shape[0] - 1}]; got "
            f"[{int(faces.min())}, {int(faces.max())}]"
        )


def unit_cube_transform(verts: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Centre and scale that map a mesh into the unit cube: ``(verts - centre) / scale``.

    Args:
        verts: (V, 3) float, finite, V >= 1.

    Returns:
        centre (3,) float: the centre of the bounding box; scale: its longest side (1.0 for a
        single point or a flat box of zero size), so the mapped mesh lies in [-0.5, 0.5]^3 and
        touches two opposite faces of that cube along its longest axis.
    """
    check_tensor(verts, "verts", (None, 3), "float")
    if verts.shape[0] == 0:
        raise ValueError("verts must hold at least one vertex; got 0")
    check_finite(verts, "verts")
    lo, hi = verts.min(0).values, verts.max(0).values
    scale = float((hi - lo).max())
    return (lo + hi) / 2, scale if scale > 0 else 1.0


def outward_faces(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Faces oriented so that their normals point outward on the whole.

    The winding number is +1 inside a mesh whose faces are counter-clockwise seen from outside
    and -1 inside one wound the other way (the book's cube.obj), which would make every point
    "outside". When the signed volume ``sum det(a - c, b - c, d - c) / 6`` over the faces (c the
    vertex centroid) is negative, every face is reversed; else `faces` is returned as is.

    Args:
        verts: (V, 3) float; faces: (F, 3) int64 indices into verts, F >= 1.

    Returns:
        (F, 3) faces, same dtype and device.
    """
    _check_mesh(verts, faces)
    tri = verts.double()[faces] - verts.double().mean(0)  # (F, 3, 3)
    vol = torch.linalg.det(tri).sum() / 6.0
    return faces.flip(1) if float(vol) < 0 else faces


def sample_uniform_points(
    n: int, half_size: float = 0.5, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """(n, 3) float32 points uniform in the box [-half_size, half_size]^3."""
    n = check_nonneg_int(n, "n")
    half_size = check_positive_float(half_size, "half_size")
    u = torch.rand((n, 3), generator=generator, device=device)
    return (2.0 * u - 1.0) * half_size


def sample_surface_points(
    verts: torch.Tensor,
    faces: torch.Tensor,
    n: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points uniform on the surface (faces chosen by area) and their unit face normals.

    Args:
        verts: (V, 3) float; faces: (F, 3) int64, F >= 1, with a positive total area.
        n: number of points.

    Returns:
        points (n, 3) and normals (n, 3), in the dtype of verts. Normals follow the
        counter-clockwise orientation of the faces.
    """
    _check_mesh(verts, faces)
    n = check_nonneg_int(n, "n")
    tri = verts[faces]  # (F, 3, 3)
    cross = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    area = cross.norm(dim=-1)
    if not float(area.sum()) > 0:
        raise ValueError("the mesh has zero surface area (every face is degenerate)")
    dev = verts.device
    fid = torch.multinomial(area.float().cpu(), n, replacement=True, generator=generator).to(dev)
    u = torch.rand((n, 2), generator=generator).to(device=dev, dtype=verts.dtype)
    # uniform barycentric coordinates: (1 - sqrt(u0), sqrt(u0) (1 - u1), sqrt(u0) u1)
    s = u[:, 0].sqrt()
    w = torch.stack((1 - s, s * (1 - u[:, 1]), s * u[:, 1]), dim=1)  # (n, 3)
    points = (w[:, :, None] * tri[fid]).sum(1)
    normals = cross[fid] / area[fid].clamp(min=1e-30)[:, None]
    return points, normals


def sample_near_surface_points(
    verts: torch.Tensor,
    faces: torch.Tensor,
    n: int,
    std: float = 0.01,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(n, 3) surface points (`sample_surface_points`) plus N(0, std^2) noise per coordinate."""
    std = check_positive_float(std, "std")
    points, _ = sample_surface_points(verts, faces, n, generator)
    noise = torch.randn(points.shape, generator=generator).to(points)
    return points + std * noise


def sdf_samples(verts: torch.Tensor, faces: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) from each point to the mesh: (P, 3) -> (P,).

    `mesh_sdf` with the fast winding-number sign, which is robust for open and non-manifold
    meshes; no autograd.
    """
    _check_mesh(verts, faces)
    check_tensor(points, "points", (None, 3), "float")
    with torch.no_grad():
        return mesh_sdf((verts, faces), [points], sign_method="fast_winding")[0]
