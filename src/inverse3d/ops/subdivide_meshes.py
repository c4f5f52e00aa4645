"""Midpoint (1 -> 4) subdivision of triangle meshes (PyTorch3D `ops.SubdivideMeshes`)."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["SubdivideMeshes"]


def _is_meshes(x) -> bool:
    return hasattr(x, "verts_packed") and hasattr(x, "faces_packed_to_edges_packed")


class SubdivideMeshes(nn.Module):
    """Split every triangle into 4 by adding a vertex at the midpoint of every edge.

    For a mesh with V vertices the new vertex of edge e (in `edges_packed` order within the
    mesh) gets index V + e. Face (a, b, c) with edge ids (e_a, e_b, e_c) opposite a, b, c becomes
    (a, e_c, e_b), (b, e_a, e_c), (c, e_b, e_a) and (e_a, e_b, e_c); a mesh's new faces are all
    its first corner triangles, then all second, third and middle ones (PyTorch3D's order).
    Orientation is preserved. Textures are not carried over (as PyTorch3D).
    """

    def __init__(self, meshes=None) -> None:
        """
        Args:
            meshes: optional Meshes whose topology (faces of its first mesh) all meshes passed
                to forward share; when given, forward uses that precomputed topology.
        """
        super().__init__()
        self.precomputed = False
        self._N = -1
        if meshes is not None:
            if not _is_meshes(meshes):
                raise TypeError(f"meshes must be a Meshes object; got {type(meshes).__name__}")
            mesh = meshes[0]
            with torch.no_grad():
                faces = self.subdivide_faces(mesh)
            self.register_buffer("_subdivided_faces", faces)
            self.register_buffer("_edges", mesh.edges_packed())
            self._V = int(mesh.num_verts_per_mesh()[0])
            self.precomputed = True

    def subdivide_faces(self, meshes) -> torch.Tensor:
        """(4 * sum F_n, 3) int64 packed faces of the subdivided meshes, indexing
        [verts_packed, midpoints of edges_packed] (new vertex of packed edge e is sum V + e)."""
        verts = meshes.verts_packed()
        with torch.no_grad():
            f = meshes.faces_packed()  # (F, 3)
            e = meshes.faces_packed_to_edges_packed() + verts.shape[0]  # (F, 3)
            f0 = torch.stack([f[:, 0], e[:, 2], e[:, 1]], dim=1)
            f1 = torch.stack([f[:, 1], e[:, 0], e[:, 2]], dim=1)
            f2 = torch.stack([f[:, 2], e[:, 1], e[:, 0]], dim=1)
            return torch.cat([f0, f1, f2, e], dim=0)

    def forward(self, meshes, feats: torch.Tensor | None = None):
        """
        Args:
            meshes: a Meshes batch.
            feats: optional (sum V_n, D) float packed per-vertex features; the new vertices get
                the mean of their edge's two end points' features.

        Returns:
            the subdivided Meshes, or (Meshes, (sum V'_n, D) float packed features) when feats
            is given.
        """
        from inverse3d.structures.meshes import Meshes

        if not _is_meshes(meshes):
            raise TypeError(f"meshes must be a Meshes object; got {type(meshes).__name__}")
        verts = meshes.verts_packed()  # (V, 3)
        if feats is not None:
            if not torch.is_tensor(feats) or feats.dim() != 2 or feats.shape[0] != len(verts):
                raise ValueError(
                    f"feats must be a (sum V_n, D) = ({len(verts)}, D) tensor; got "
                    f"{tuple(feats.shape) if torch.is_tensor(feats) else type(feats).__name__}"
                )
        if self.precomputed:
            nv = meshes.num_verts_per_mesh()
            nf = meshes.num_faces_per_mesh()
            if bool((nv != self._V).any()) or bool((nf != len(self._subdivided_faces) // 4).any()):
                raise ValueError(
                    "meshes must all have the topology given to SubdivideMeshes(meshes): "
                    f"{self._V} verts and {len(self._subdivided_faces) // 4} faces each"
                )
        N = len(meshes)
        edges = meshes.edges_packed()  # (E, 2), grouped by mesh
        new_verts = verts[edges].mean(dim=1)  # (E, 3)
        faces = self.subdivide_faces(meshes)  # (4F, 3) over [verts, new_verts]
        V, E, F = len(verts), len(edges), len(faces) // 4
        nv = meshes.num_verts_per_mesh()
        ne = torch.bincount(meshes.edges_packed_to_mesh_idx(), minlength=N)
        nf = meshes.num_faces_per_mesh()
        # new packed order: per mesh, its old verts then its edge midpoints
        v_first = torch.cumsum(nv, 0) - nv
        e_first = torch.cumsum(ne, 0) - ne
        new_first = v_first + e_first  # first new index of each mesh
        v_mesh = meshes.verts_packed_to_mesh_idx()
        e_mesh = meshes.edges_packed_to_mesh_idx()
        old_pos = new_first[v_mesh] + torch.arange(V, device=verts.device) - v_first[v_mesh]
        mid_pos = (
            new_first[e_mesh] + nv[e_mesh] + torch.arange(E, device=verts.device) - e_first[e_mesh]
        )
        remap = torch.cat([old_pos, mid_pos])  # (V + E,) index in the new packed verts
        all_verts = torch.cat([verts, new_verts])
        out_verts = torch.empty_like(all_verts).index_copy(0, remap, all_verts)
        faces_new = remap[faces]  # (4F, 3) new packed indices
        # per mesh: its f0, f1, f2, f3 blocks in order
        f_mesh = meshes.faces_packed_to_mesh_idx().repeat(4)
        block = torch.arange(4, device=verts.device).repeat_interleave(F)
        order = torch.argsort(f_mesh * 4 + block, stable=True)
        faces_new = faces_new[order]
        nv_new = (nv + ne).tolist()
        verts_list = list(out_verts.split(nv_new, 0))
        starts = torch.cat([new_first.new_zeros(1), torch.cumsum(nv + ne, 0)[:-1]])
        faces_list = [
            fl - s for fl, s in zip(faces_new.split((4 * nf).tolist(), 0), starts.tolist())
        ]
        out = Meshes(verts=verts_list, faces=faces_list)
        if feats is None:
            return out
        new_feats = feats[edges].mean(dim=1)  # (E, D)
        all_feats = torch.cat([feats, new_feats])
        return out, torch.empty_like(all_feats).index_copy(0, remap, all_feats)
