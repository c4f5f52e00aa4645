"""Edge length regulariser for meshes."""

from __future__ import annotations

import torch

__all__ = ["mesh_edge_loss"]


def mesh_edge_loss(meshes, target_length: float = 0.0) -> torch.Tensor:
    """Mean over meshes of the mean over edges of (|v0 - v1| - target_length)^2.

    Args:
        meshes: Meshes with N meshes.
        target_length: the length every edge is pulled to.

    Returns:
        Scalar loss (each mesh's edges weigh 1 / its number of edges; the sum is divided by N).
        An empty batch gives a zero tensor of shape (1,) that requires grad (PyTorch3D's value).
    """
    if meshes.isempty():
        return torch.tensor([0.0], dtype=torch.float32, device=meshes.device, requires_grad=True)
    N = len(meshes)
    edges = meshes.edges_packed()  # (E, 2)
    verts = meshes.verts_packed()
    e2m = meshes.edges_packed_to_mesh_idx()
    ne = meshes.num_edges_per_mesh()
    w = 1.0 / ne.gather(0, e2m).to(verts.dtype)
    v0, v1 = verts[edges].unbind(1)
    loss = ((v0 - v1).norm(dim=1) - target_length) ** 2
    return (loss * w).sum() / N
