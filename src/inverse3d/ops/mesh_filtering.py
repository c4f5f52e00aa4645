"""Taubin smoothing of meshes (PyTorch3D `ops.taubin_smoothing`)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_nonneg_int

__all__ = ["taubin_smoothing"]


def _step(verts: torch.Tensor, edges: torch.Tensor, factor: float) -> torch.Tensor:
    """verts + factor * (weighted neighbour mean - verts), weights 1 / edge length."""
    e0, e1 = edges.unbind(1)
    w = 1.0 / ((verts[e0] - verts[e1]).norm(dim=1) + 1e-12)  # (E,)
    acc = torch.zeros_like(verts).index_add(0, e0, w[:, None] * verts[e1])
    acc = acc.index_add(0, e1, w[:, None] * verts[e0])
    total = torch.zeros_like(verts[:, 0]).index_add(0, e0, w).index_add(0, e1, w)  # (V,)
    has = total > 0
    mean = acc / torch.where(has, total, torch.ones_like(total))[:, None]
    mean = torch.where(has[:, None], mean, verts)  # isolated vertices stay where they are
    return (1 - factor) * verts + factor * mean


def taubin_smoothing(meshes, lambd: float = 0.53, mu: float = -0.53, num_iter: int = 10):
    """Taubin's lambda|mu smoothing: a shrinking step (lambd > 0) then an inflating one (mu < 0).

    Each step moves every vertex towards the mean of its neighbours weighted by inverse edge
    length (the normalised Laplacian of `ops.norm_laplacian`), recomputed before every step.

    Args:
        meshes: a Meshes batch.
        lambd: factor of the first step of each iteration.
        mu: factor of the second step of each iteration.
        num_iter: number of iterations.

    Returns:
        a new Meshes with the smoothed vertices and the same faces (differentiable in the input
        vertices). Vertices without edges are left unchanged (PyTorch3D makes them NaN).
    """
    from inverse3d.structures.meshes import Meshes

    if not (hasattr(meshes, "verts_packed") and hasattr(meshes, "edges_packed")):
        raise TypeError(f"meshes must be a Meshes object; got {type(meshes).__name__}")
    for name, v in (("lambd", lambd), ("mu", mu)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{name} must be a float; got {type(v).__name__}")
    num_iter = check_nonneg_int(num_iter, "num_iter")
    verts = meshes.verts_packed()  # (V, 3)
    edges = meshes.edges_packed()  # (E, 2)
    for _ in range(num_iter):
        verts = _step(verts, edges, lambd)
        verts = _step(verts, edges, mu)
    verts_list = list(verts.split(meshes.num_verts_per_mesh().tolist(), 0))
    return Meshes(verts=verts_list, faces=meshes.faces_list())
