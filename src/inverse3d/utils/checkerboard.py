"""A flat checkerboard mesh with per-face colours (TexturesAtlas)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from inverse3d._validation import check_positive_int
from inverse3d.renderer.mesh.textures import TexturesAtlas
from inverse3d.structures.meshes import Meshes

__all__ = ["checkerboard"]


def checkerboard(
    radius: int = 4,
    color1: Sequence[float] = (0.0, 0.0, 0.0),
    color2: Sequence[float] = (1.0, 1.0, 1.0),
    device: torch.device | str | None = None,
) -> Meshes:
    """Unit squares in the z = 0 plane covering [-radius, radius]^2, in alternating colours.

    Vertex row * (2 radius + 1) + col sits at (col - radius, row - radius, 0). Each square gives
    two triangles wound counter-clockwise seen from +z (normals +z); a square whose lower-left
    corner has even col + row is color1 (background), the others color2 (as PyTorch3D).

    Args:
        radius: number of squares from the origin in each direction (>= 1).
        color1: background colour (C channels).
        color2: foreground colour, with the same number of channels as color1.
        device: of the output (default CPU).

    Returns:
        Meshes with one mesh of (2 radius + 1)^2 verts and 2 (2 radius)^2 faces, textured by a
        TexturesAtlas of resolution 1: atlas (1, F, 1, 1, C).
    """
    radius = check_positive_int(radius, "radius")
    c1 = torch.as_tensor(color1, dtype=torch.float32).reshape(-1)
    c2 = torch.as_tensor(color2, dtype=torch.float32).reshape(-1)
    if c1.shape != c2.shape:
        raise ValueError(
            f"color1 and color2 must have the same number of channels; got {c1.numel()} "
            f"and {c2.numel()}"
        )
    device = torch.device("cpu") if device is None else torch.device(device)
    n = 2 * radius + 1
    coords = torch.arange(-radius, radius + 1, dtype=torch.float32)
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    verts = torch.stack([gx, gy, torch.zeros_like(gx)], dim=-1).reshape(-1, 3)

    row = torch.arange(n - 1)[:, None]
    col = torch.arange(n - 1)[None, :]
    v = (row * n + col).reshape(-1)  # lower-left corner of each square
    upper = torch.stack([v, v + 1, v + n + 1], dim=1)
    lower = torch.stack([v, v + n + 1, v + n], dim=1)
    faces = torch.stack([upper, lower], dim=1).reshape(-1, 3)  # (F, 3), squares row-major

    parity = ((row + col) % 2).reshape(-1).repeat_interleave(2)  # (F,)
    colors = torch.where(parity[:, None] == 1, c2[None], c1[None])  # (F, C)
    atlas = colors[None, :, None, None, :]  # (1, F, 1, 1, C)
    return Meshes(
        verts=[verts.to(device)],
        faces=[faces.to(device)],
        textures=TexturesAtlas(atlas.to(device)),
    )
