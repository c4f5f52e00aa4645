"""Laplacian smoothing regulariser for meshes (uniform, cotangent and cotangent curvature)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_choice

__all__ = ["mesh_laplacian_smoothing"]


def mesh_laplacian_smoothing(meshes, method: str = "uniform") -> torch.Tensor:
    """Mean over meshes of the mean over vertices of the norm of the Laplacian of the positions.

    method:
        "uniform": L x with L = meshes.laplacian_packed() (L_ij = 1/deg(i) for neighbours,
            L_ii = -1): x_i moved to the mean of its neighbours.
        "cot": (L_cot x) / rowsum(L_cot) - x with the cotangent weights L_cot of
            ops.cot_laplacian.
        "cotcurv": (L_cot x - rowsum(L_cot) x) / (4 A_i) with A_i the summed area of the faces
            around vertex i (the mean curvature normal).
    The weights are computed without gradient (as PyTorch3D); the loss is differentiable in the
    vertex positions.

    Args:
        meshes: Meshes with N meshes.
        method: "uniform", "cot" or "cotcurv".

    Returns:
        Scalar loss; an empty batch gives a (1,) zero tensor that requires grad.
    """
    check_choice(method, "method", ("uniform", "cot", "cotcurv"))
    if meshes.isempty():
        return torch.tensor([0.0], dtype=torch.float32, device=meshes.device, requires_grad=True)
    N = len(meshes)
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    nv = meshes.num_verts_per_mesh()
    v2m = meshes.verts_packed_to_mesh_idx()
    w = 1.0 / nv.gather(0, v2m).to(verts.dtype)
    with torch.no_grad():
        if method == "uniform":
            L = meshes.laplacian_packed()
        else:
            from inverse3d.ops.laplacian_matrices import cot_laplacian

            L, inv_areas = cot_laplacian(verts, faces)
            L_sum = torch.sparse.sum(L, dim=1).to_dense().view(-1, 1)
            if method == "cot":
                norm_w = torch.where(
                    L_sum > 0, 1.0 / L_sum.clamp(min=1e-30), torch.zeros_like(L_sum)
                )
            else:
                norm_w = 0.25 * inv_areas.view(-1, 1)
    L = L.to(verts.dtype)
    if method == "uniform":
        loss = torch.sparse.mm(L, verts)
    elif method == "cot":
        loss = torch.sparse.mm(L, verts) * norm_w.to(verts.dtype) - verts
    else:
        loss = (torch.sparse.mm(L, verts) - L_sum.to(verts.dtype) * verts) * norm_w.to(verts.dtype)
    loss = loss.norm(dim=1) * w
    return loss.sum() / N
