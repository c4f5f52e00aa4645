"""Normal consistency regulariser: neighbouring faces should have parallel normals."""

from __future__ import annotations

import torch

__all__ = ["mesh_normal_consistency"]


def mesh_normal_consistency(meshes) -> torch.Tensor:
    """Mean over meshes of the mean over face pairs sharing an edge of 1 - cos(n_a, n_b).

    For an edge (v0, v1) and each face on it with opposite vertex w, the face normal is taken as
    n = (v1 - v0) x (w - v0); faces on opposite sides of a consistently oriented edge then have
    opposite n, so the pair term is 1 - cos(n_a, -n_b). Every pair of faces around an edge
    counts, so a non-manifold edge shared by k faces gives k (k - 1) / 2 terms (as PyTorch3D).
    Each mesh's terms weigh 1 / its number of terms; the sum is divided by N.

    Args:
        meshes: Meshes with N meshes.

    Returns:
        Scalar loss, differentiable in the vertex positions; an empty batch gives a (1,) zero
        tensor that requires grad.
    """
    if meshes.isempty():
        return torch.tensor([0.0], dtype=torch.float32, device=meshes.device, requires_grad=True)
    N = len(meshes)
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    edges = meshes.edges_packed()
    f2e = meshes.faces_packed_to_edges_packed()  # (F, 3)
    F = faces.shape[0]
    E = edges.shape[0]
    device = verts.device
    with torch.no_grad():
        edge_idx = f2e.reshape(F * 3)  # edge of each (face, corner) slot
        face_of = torch.arange(F, device=device).repeat_interleave(3)
        edge_idx, order = edge_idx.sort(stable=True)
        face_of = face_of[order]
        counts = edge_idx.bincount(minlength=E)  # faces per edge
        start = torch.cumsum(counts, 0) - counts  # first slot of each edge
        M = int(counts.max()) if E else 0
        if M < 2:
            return verts.sum() * 0.0
        ii, jj = torch.triu_indices(M, M, offset=1, device=device)  # all pairs i < j < M
        keep = (ii[None] < counts[:, None]) & (jj[None] < counts[:, None])  # (E, pairs)
        e_sel, p_sel = keep.nonzero(as_tuple=True)
        slot_a = start[e_sel] + ii[p_sel]
        slot_b = start[e_sel] + jj[p_sel]
        pair_edge = e_sel
    v0i, v1i = edges[pair_edge, 0], edges[pair_edge, 1]
    v0, v1 = verts[v0i], verts[v1i]

    def face_normal(slots):
        fv = faces[face_of[slots]]  # (Q, 3)
        # opposite vertex: the corner that is neither v0 nor v1
        is_opp = (fv != v0i[:, None]) & (fv != v1i[:, None])
        w = verts[(fv * is_opp).sum(1)]
        return torch.linalg.cross(v1 - v0, w - v0, dim=-1)

    n0 = face_normal(slot_a)
    n1 = -face_normal(slot_b)
    loss = 1 - torch.cosine_similarity(n0, n1, dim=1)
    with torch.no_grad():
        mesh_of = meshes.edges_packed_to_mesh_idx()[pair_edge]
        num = mesh_of.bincount(minlength=N)
        w = 1.0 / num[mesh_of].to(verts.dtype)
    return (loss * w).sum() / N
