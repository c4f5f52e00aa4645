"""Differentiable Laplacian matrices of meshes and graphs, as sparse (V, V) tensors.

- `laplacian`: uniform graph Laplacian, L[i, i] = -1, L[i, j] = 1 / deg(i) for an edge (i, j).
- `cot_laplacian`: cotangent weights L[i, j] = cot a_ij + cot b_ij, plus the inverse of the area
  of the faces around each vertex.
- `norm_laplacian`: L[i, j] = 1 / |v_i - v_j| for an edge (i, j).

All matrices are returned coalesced, in the dtype of `verts` (PyTorch3D always uses float32;
taking the input dtype lets float64 code and gradcheck work). Values are differentiable with
respect to `verts` where they depend on it (cotangent and norm weights).
"""

from __future__ import annotations

import warnings

import torch

from inverse3d._validation import check_tensor

__all__ = ["laplacian", "cot_laplacian", "norm_laplacian"]


def _check_graph(verts, elems, name: str, k: int) -> None:
    check_tensor(verts, "verts", ("V", None), dtype="float")
    check_tensor(elems, name, (None, k), dtype="int")
    if verts.device != elems.device:
        raise ValueError(
            f"verts and {name} must be on the same device; got {verts.device} and {elems.device}"
        )
    if elems.numel() > 0:
        lo, hi = int(elems.min()), int(elems.max())
        if lo < 0 or hi >= verts.shape[0]:
            raise ValueError(
                f"{name} must index verts of shape {tuple(verts.shape)} (values in "
                f"[0, {verts.shape[0] - 1}]); got values in [{lo}, {hi}]"
            )


def _sparse(idx: torch.Tensor, val: torch.Tensor, V: int) -> torch.Tensor:
    with warnings.catch_warnings():  # recent torch warns about invariant checks on every build
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        return torch.sparse_coo_tensor(idx, val, (V, V), check_invariants=False).coalesce()


def laplacian(verts: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Uniform Laplacian of the graph (verts, edges).

    L[i, j] = -1 if i == j, 1 / deg(i) if (i, j) is an edge, 0 otherwise; deg counts each edge
    as listed (a repeated edge counts twice, and adds twice to L[i, j]).

    Args:
        verts: (V, 3) float, vertex positions (only V and the dtype/device are used).
        edges: (E, 2) int, vertex indices of each edge.

    Returns:
        L: (V, V) sparse float tensor.
    """
    _check_graph(verts, edges, "edges", 2)
    V = verts.shape[0]
    edges = edges.long()
    e0, e1 = edges.unbind(1)
    deg = torch.bincount(torch.cat([e0, e1]), minlength=V).to(verts.dtype)  # (V,)
    inv_deg = torch.where(deg > 0, 1.0 / deg.clamp(min=1), torch.zeros_like(deg))
    diag = torch.arange(V, device=verts.device)
    idx = torch.cat(
        [torch.stack([e0, e1]), torch.stack([e1, e0]), torch.stack([diag, diag])], dim=1
    )  # (2, 2E + V)
    val = torch.cat(
        [inv_deg[e0], inv_deg[e1], -torch.ones(V, dtype=verts.dtype, device=diag.device)]
    )
    return _sparse(idx, val, V)


def cot_laplacian(
    verts: torch.Tensor, faces: torch.Tensor, eps: float = 1e-12
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cotangent Laplacian of a triangle mesh and the inverse vertex areas.

    For each face, the angle at a corner gives weight cot(angle) to the opposite edge;
    L[i, j] = cot a_ij + cot b_ij sums over the (one or two) faces sharing edge (i, j). The
    diagonal is left at 0. Face areas come from Heron's formula with the squared area clamped
    to at least `eps`.

    Args:
        verts: (V, 3) float, vertex positions.
        faces: (F, 3) int, vertex indices of each triangle.
        eps: lower bound of the squared face area, keeps degenerate faces finite.

    Returns:
        L: (V, V) sparse float tensor, symmetric.
        inv_areas: (V, 1) float, 1 / (sum of the areas of the faces around each vertex);
            0 for a vertex in no face.
    """
    _check_graph(verts, faces, "faces", 3)
    V = verts.shape[0]
    faces = faces.long()
    fv = verts[faces]  # (F, 3, D)
    v0, v1, v2 = fv.unbind(1)
    a = (v1 - v2).norm(dim=1)  # side opposite v0
    b = (v0 - v2).norm(dim=1)  # side opposite v1
    c = (v0 - v1).norm(dim=1)  # side opposite v2
    s = 0.5 * (a + b + c)
    area = (s * (s - a) * (s - b) * (s - c)).clamp(min=eps).sqrt()  # (F,)
    a2, b2, c2 = a * a, b * b, c * c
    # cot of the angle at each corner: (adjacent^2 + adjacent^2 - opposite^2) / (4 area)
    cot = torch.stack([b2 + c2 - a2, a2 + c2 - b2, a2 + b2 - c2], dim=1) / (4.0 * area[:, None])
    ii = faces[:, [1, 2, 0]].reshape(-1)  # edge opposite corner k joins ii, jj
    jj = faces[:, [2, 0, 1]].reshape(-1)
    w = cot.reshape(-1)  # (3F,)
    idx = torch.stack([torch.cat([ii, jj]), torch.cat([jj, ii])])  # (2, 6F)
    L = _sparse(idx, torch.cat([w, w]), V)

    vert_area = torch.zeros(V, dtype=verts.dtype, device=verts.device)
    vert_area = vert_area.index_add(0, faces.reshape(-1), area[:, None].expand(-1, 3).reshape(-1))
    pos = vert_area > 0
    inv_areas = torch.where(pos, 1.0 / torch.where(pos, vert_area, torch.ones_like(vert_area)), 0.0)
    return L, inv_areas.view(-1, 1)


def norm_laplacian(verts: torch.Tensor, edges: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Laplacian weighted by inverse edge lengths: L[i, j] = 1 / (|v_i - v_j| + eps).

    Args:
        verts: (V, 3) float, vertex positions.
        edges: (E, 2) int, vertex indices of each edge.
        eps: added to each length before inverting.

    Returns:
        L: (V, V) sparse float tensor, symmetric, zero diagonal (for edges without self loops).
    """
    _check_graph(verts, edges, "edges", 2)
    V = verts.shape[0]
    edges = edges.long()
    ev = verts[edges]  # (E, 2, D)
    w = 1.0 / ((ev[:, 0] - ev[:, 1]).norm(dim=1) + eps)  # (E,)
    e0, e1 = edges.unbind(1)
    idx = torch.stack([torch.cat([e0, e1]), torch.cat([e1, e0])])  # (2, 2E)
    return _sparse(idx, torch.cat([w, w]), V)
