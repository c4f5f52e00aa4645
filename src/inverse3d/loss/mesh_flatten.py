"""Flatten regulariser of SoftRas: neighbouring faces should lie in one plane."""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_float

__all__ = ["mesh_flatten_loss"]


def _interior_edge_quads(meshes) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, 4) vertex indices (v0, v1, a, b) of every edge (v0, v1) shared by exactly two faces,
    a and b the faces' opposite corners, and the (Q,) mesh index of each. Without gradient."""
    faces = meshes.faces_packed()  # (F, 3)
    edges = meshes.edges_packed()  # (E, 2)
    f2e = meshes.faces_packed_to_edges_packed()  # (F, 3)
    nf, ne = faces.shape[0], edges.shape[0]
    device = faces.device
    edge_of = f2e.reshape(-1)  # (3F,) the edge in each (face, corner) slot
    face_of = torch.arange(nf, device=device).repeat_interleave(3)
    edge_of, order = edge_of.sort(stable=True)
    face_of = face_of[order]
    counts = edge_of.bincount(minlength=ne)  # faces per edge
    first = torch.cumsum(counts, 0) - counts
    two = (counts == 2).nonzero(as_tuple=True)[0]  # (Q,) manifold interior edges
    fa, fb = face_of[first[two]], face_of[first[two] + 1]
    v0, v1 = edges[two, 0], edges[two, 1]

    def opposite(f: torch.Tensor) -> torch.Tensor:
        fv = faces[f]  # (Q, 3)
        is_opp = (fv != v0[:, None]) & (fv != v1[:, None])
        return (fv * is_opp).sum(1)

    quads = torch.stack([v0, v1, opposite(fa), opposite(fb)], dim=1)
    return quads, meshes.edges_packed_to_mesh_idx()[two]


def mesh_flatten_loss(meshes, eps: float = 1e-6) -> torch.Tensor:
    """Mean over meshes of the mean over interior edges of (1 + cos theta)^2.

    For an edge (v0, v1) shared by two faces with opposite corners a and b, theta is the angle
    at the edge between the components of (a - v0) and (b - v0) perpendicular to the edge (the
    dihedral angle of the two faces): theta = pi (cos = -1, zero loss) when both faces lie in one
    plane on either side of the edge, theta -> 0 when the surface folds flat onto itself. SoftRas
    sums this term over the edges; here each mesh's terms are averaged (its weight does not grow
    with subdivision) and the meshes' means averaged, as `mesh_normal_consistency` does. Edges on
    a boundary (one face) or non-manifold edges (more than two) contribute nothing.

    Args:
        meshes: Meshes with N meshes.
        eps: > 0, added to the squared lengths before the square roots (degenerate faces).

    Returns:
        Scalar loss >= 0, differentiable in the vertex positions; a batch without interior
        edges gives a zero that requires grad.
    """
    eps = check_positive_float(eps, "eps")
    if not hasattr(meshes, "faces_packed_to_edges_packed"):
        raise TypeError(f"meshes must be a Meshes; got {type(meshes).__name__}")
    verts = meshes.verts_packed()
    if meshes.isempty():
        return torch.zeros((), dtype=verts.dtype, device=verts.device, requires_grad=True)
    with torch.no_grad():
        quads, mesh_of = _interior_edge_quads(meshes)
    if quads.shape[0] == 0:
        return verts.sum() * 0.0
    v0, v1, a, b = (verts[quads[:, k]] for k in range(4))  # (Q, 3) each
    e = v1 - v0
    e_hat = e / torch.sqrt((e * e).sum(-1, keepdim=True) + eps)
    pa = a - v0
    pb = b - v0
    pa = pa - (pa * e_hat).sum(-1, keepdim=True) * e_hat  # perpendicular to the edge
    pb = pb - (pb * e_hat).sum(-1, keepdim=True) * e_hat
    cos = (pa * pb).sum(-1) / torch.sqrt(((pa * pa).sum(-1) + eps) * ((pb * pb).sum(-1) + eps))
    term = (1.0 + cos) ** 2  # (Q,)
    n = len(meshes)
    num = mesh_of.bincount(minlength=n).to(verts.dtype)  # terms per mesh
    per_mesh = torch.zeros(n, dtype=verts.dtype, device=verts.device).index_add(0, mesh_of, term)
    has = num > 0
    return (per_mesh[has] / num[has]).sum() / n
