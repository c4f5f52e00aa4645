"""Torus meshes."""

from __future__ import annotations

import math

import torch

from inverse3d._validation import check_positive_int
from inverse3d.structures.meshes import Meshes

__all__ = ["torus"]


def torus(
    r: float, R: float, sides: int, rings: int, device: torch.device | str | None = None
) -> Meshes:
    """A torus around the z axis, centred at the origin.

    Vertex i * sides + j sits at ring angle phi = 2 pi i / rings and tube angle
    theta = 2 pi j / sides: ((R + r cos theta) cos phi, (R + r cos theta) sin phi, r sin theta).
    Each (ring, side) cell gives two triangles, ordered and wound as in PyTorch3D.

    Args:
        r: tube (inner) radius.
        R: distance from the centre to the tube centre (outer radius).
        sides: number of divisions around the tube (> 0).
        rings: number of divisions around the z axis (> 0).
        device: of the output (default CPU).

    Returns:
        Meshes with one mesh: rings * sides verts (float32), 2 * rings * sides faces.
    """
    sides = check_positive_int(sides, "sides")
    rings = check_positive_int(rings, "rings")
    device = torch.device("cpu") if device is None else torch.device(device)
    phi = 2.0 * math.pi * torch.arange(rings, dtype=torch.float64) / rings
    theta = 2.0 * math.pi * torch.arange(sides, dtype=torch.float64) / sides
    ph, th = phi[:, None], theta[None, :]  # (rings, 1), (1, sides)
    rad = R + r * torch.cos(th)
    verts = torch.stack(
        torch.broadcast_tensors(rad * torch.cos(ph), rad * torch.sin(ph), r * torch.sin(th)),
        dim=-1,
    ).reshape(-1, 3)  # (rings * sides, 3)

    i1 = torch.arange(rings)
    i0 = (i1 - 1) % rings
    j1 = torch.arange(sides)
    j0 = (j1 - 1) % sides
    a00 = (i0[:, None] * sides + j0[None, :]).reshape(-1)
    a01 = (i0[:, None] * sides + j1[None, :]).reshape(-1)
    a10 = (i1[:, None] * sides + j0[None, :]).reshape(-1)
    a11 = (i1[:, None] * sides + j1[None, :]).reshape(-1)
    faces = torch.stack(
        [torch.stack([a00, a10, a11], 1), torch.stack([a11, a01, a00], 1)], dim=1
    ).reshape(-1, 3)  # two triangles per cell, cell-major order
    return Meshes(verts=[verts.to(device=device, dtype=torch.float32)], faces=[faces.to(device)])
