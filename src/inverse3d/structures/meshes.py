"""`Meshes`: a batch of triangle meshes held in list, padded and packed forms.

list: N tensors (V_n, 3) / (F_n, 3); padded: (N, max V_n, 3) zero padded / (N, max F_n, 3)
padded with -1; packed: (sum V_n, 3) / (sum F_n, 3) with faces indexing the packed verts.
Forms are computed lazily from whichever one the mesh was built from and cached; every view is
built with differentiable tensor ops, so gradients flow between them.

Behaviour follows PyTorch3D 0.7.9, with these deliberate differences:
- every form is computed from the data even when no mesh has faces (PyTorch3D returns empty
  tensors and a num_verts_per_mesh of length 0 then);
- bad inputs (wrong dtype or shape, face indices out of range, list lengths that differ) raise
  ValueError/TypeError at construction;
- offset_verts_/scale_verts_ rebuild the padded form out of place (no in-place write into a
  tensor the caller passed in, which breaks autograd on leaves);
- num_edges_per_mesh is int64 (PyTorch3D: int32); get_bounding_boxes gives 0 for a mesh with no
  verts; `to` also accepts a dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from inverse3d._validation import check_tensor, with_phrase
from inverse3d.common.datatypes import Device, make_device
from inverse3d.common.errors import ArgTypeError
from inverse3d.structures import utils as struct_utils

_faces = struct_utils.faces_to_int

__all__ = ["Meshes", "join_meshes_as_batch", "join_meshes_as_scene"]


# cached tensors that depend on the faces only (shared by update_padded)
_PACKED_TOPOLOGY = (
    "_faces_packed _verts_packed_to_mesh_idx _faces_packed_to_mesh_idx "
    "_mesh_to_verts_packed_first_idx _mesh_to_faces_packed_first_idx"
).split()
_EDGE_TOPOLOGY = (
    "_edges_packed _edges_packed_to_mesh_idx _mesh_to_edges_packed_first_idx "
    "_faces_packed_to_edges_packed _num_edges_per_mesh _laplacian_packed"
).split()


def _face_areas_normals(verts: torch.Tensor, faces: torch.Tensor):
    """Areas (F,) and unit normals (F, 3) of faces (F, 3) int64 over verts (V, 3) float.

    The normal of face (v0, v1, v2) is (v1 - v0) x (v2 - v0) normalised (0 for a degenerate
    face); the area is half the length of that cross product.
    """
    fv = verts[faces]  # (F, 3, 3)
    n = torch.cross(fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0], dim=1)  # (F, 3)
    areas = 0.5 * n.norm(dim=1)
    return areas, torch.nn.functional.normalize(n, eps=1e-6, dim=1)


def _vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit vertex normals (V, 3): per vertex, the sum over its faces of the cross product of
    the two face edges leaving it (|cross| = 2 * area, so the sum is area weighted)."""
    fv = verts[faces]  # (F, 3, 3)
    acc = torch.zeros_like(verts)
    for k in range(3):  # the three corners of every face
        p, a, b = fv[:, k], fv[:, (k + 1) % 3], fv[:, (k + 2) % 3]
        acc = acc.index_add(0, faces[:, k], torch.cross(a - p, b - p, dim=1))
    return torch.nn.functional.normalize(acc, eps=1e-6, dim=1)


def _edges_from_faces(faces: torch.Tensor, faces_to_mesh: torch.Tensor, V: int):
    """Unique edges of packed faces.

    Args:
        faces: (F, 3) int64 packed faces.
        faces_to_mesh: (F,) int64 mesh of each face.
        V: number of packed verts.

    Returns:
        edges: (E, 2) int64, unique, v0 < v1, sorted by (v0, v1).
        edges_to_mesh: (E,) int64.
        faces_to_edges: (F, 3) int64, for each face the edges opposite v0, v1, v2.
    """
    F = faces.shape[0]
    v0, v1, v2 = faces.unbind(1)
    all_e = torch.cat(
        [torch.stack([v1, v2], 1), torch.stack([v2, v0], 1), torch.stack([v0, v1], 1)]
    )  # (3F, 2): edges opposite v0, v1, v2
    all_e, _ = all_e.sort(dim=1)
    key = all_e[:, 0] * max(V, 1) + all_e[:, 1]  # (3F,) one integer per undirected edge
    uniq, inverse = torch.unique(key, sorted=True, return_inverse=True)
    edges = torch.stack([uniq // max(V, 1), uniq % max(V, 1)], dim=1)
    edges_to_mesh = torch.zeros(uniq.shape[0], dtype=torch.int64, device=faces.device)
    edges_to_mesh = edges_to_mesh.scatter(0, inverse, faces_to_mesh.repeat(3))
    return edges, edges_to_mesh, inverse.reshape(3, F).t()


class Meshes:
    """A batch of N triangle meshes of possibly different sizes.

    Args:
        verts: list of N tensors (V_n, 3) float, or a padded (N, V, 3) float tensor (every
            mesh then has V verts).
        faces: list of N tensors (F_n, 3) int, or a padded (N, F, 3) int tensor whose padding
            rows are -1 and come last. Rows holding a negative index are dropped as padding;
            float faces are cast to int64, empty 1-D tensors are empty meshes (PyTorch3D).
        textures: optional textures object (TexturesVertex, TexturesUV, TexturesAtlas).
        verts_normals: optional list of N (V_n, 3) float, or padded (N, V, 3) float, normals
            to use instead of computing them from the faces.
    """

    _INTERNAL_TENSORS = (
        "_verts_packed _verts_packed_to_mesh_idx _mesh_to_verts_packed_first_idx _verts_padded "
        "_num_verts_per_mesh _faces_packed _faces_packed_to_mesh_idx "
        "_mesh_to_faces_packed_first_idx _faces_padded _faces_areas_packed "
        "_verts_normals_packed _faces_normals_packed _num_faces_per_mesh _edges_packed "
        "_edges_packed_to_mesh_idx _mesh_to_edges_packed_first_idx "
        "_faces_packed_to_edges_packed _num_edges_per_mesh _verts_padded_to_packed_idx "
        "_laplacian_packed valid"
    ).split()

    def __init__(self, verts, faces, textures=None, *, verts_normals=None) -> None:
        if textures is not None and not hasattr(textures, "sample_textures"):
            raise ValueError(
                "textures must be a textures object (TexturesVertex, TexturesUV, ...); "
                f"got {type(textures).__name__}"
            )
        self.device = torch.device("cpu")
        self.textures = textures
        self.equisized = False
        self.valid = None
        self._N = 0
        self._V = 0
        self._F = 0
        self._verts_list = None
        self._faces_list = None
        for k in self._INTERNAL_TENSORS:
            setattr(self, k, None)

        if isinstance(verts, (list, tuple)) and isinstance(faces, (list, tuple)):
            self._init_from_lists(list(verts), list(faces))
        elif torch.is_tensor(verts) and torch.is_tensor(faces):
            self._init_from_padded(verts, faces)
        else:
            raise ArgTypeError(
                "Verts and Faces must be either a list or a tensor: "
                "verts and faces must both be lists of tensors or both be padded tensors of "
                f"shape (N, V, 3) and (N, F, 3); got {type(verts).__name__} and "
                f"{type(faces).__name__}"
            )

        if textures is not None:
            self._attach_textures(textures)
        if verts_normals is not None:
            self._set_verts_normals(verts_normals)

    # ------------------------------------------------------------------ construction
    def _init_from_lists(self, verts: list, faces: list) -> None:
        if len(verts) != len(faces):
            raise ValueError(
                f"verts and faces must hold one tensor per mesh; got {len(verts)} verts "
                f"tensors and {len(faces)} faces tensors"
            )
        # PyTorch3D: torch.tensor([]) is an empty mesh and float faces are cast to int64
        verts, faces = [struct_utils.empty_to_rows(v) for v in verts], list(map(_faces, faces))
        for i, (v, f) in enumerate(zip(verts, faces)):
            check_tensor(v, f"verts[{i}]", (None, 3), dtype="float")
            check_tensor(f, f"faces[{i}]", (None, 3), dtype="int")
        self._N = len(verts)
        if self._N == 0:
            self._verts_list, self._faces_list = [], []
            self.valid = torch.zeros(0, dtype=torch.bool)
            self._num_verts_per_mesh = torch.zeros(0, dtype=torch.int64)
            self._num_faces_per_mesh = torch.zeros(0, dtype=torch.int64)
            return
        self.device = verts[0].device
        for name, items in (("verts", verts), ("faces", faces)):
            for i, t in enumerate(items):
                if t.device != self.device:
                    raise ValueError(
                        f"all verts and faces must be on one device; {name}[{i}] is on "
                        f"{t.device}, verts[0] on {self.device}"
                    )
        faces = [f.long() for f in faces]
        f_all = torch.cat(faces)  # (sum F_n, 3), checked at once: two syncs whatever N is
        if f_all.shape[0] > 0 and bool((f_all < 0).any()):
            # rows with a negative index are padding: drop them
            faces = [f[(f >= 0).all(1)] for f in faces]
            f_all = torch.cat(faces)
        nv_l, nf_l = [v.shape[0] for v in verts], [f.shape[0] for f in faces]
        nv = torch.tensor(nv_l, dtype=torch.int64, device=self.device)
        nf = torch.tensor(nf_l, dtype=torch.int64, device=self.device)
        if f_all.shape[0] > 0:
            mesh = torch.repeat_interleave(torch.arange(self._N, device=self.device), nf)
            over = f_all.amax(1) >= nv[mesh]  # (sum F_n,)
            if bool(over.any()):
                i = int(mesh[over.nonzero()[0, 0]])
                raise ValueError(
                    f"faces[{i}] indexes vertex {int(faces[i].max())} but verts[{i}] has "
                    f"shape {tuple(verts[i].shape)}"
                )
        self._verts_list = list(verts)
        self._faces_list = faces
        self._num_verts_per_mesh = nv
        self._num_faces_per_mesh = nf
        self._V, self._F = max(nv_l), max(nf_l)
        self.valid = (nv > 0) & (nf > 0)
        self.equisized = len(set(nv_l)) == 1 and len(set(nf_l)) == 1

    def _init_from_padded(self, verts: torch.Tensor, faces: torch.Tensor) -> None:
        dims: dict[str, int] = {}
        faces = _faces(faces)
        with with_phrase("Verts or Faces tensors have incorrect dimensions"):
            check_tensor(verts, "verts", ("N", "V", 3), dtype="float", dims=dims)
            check_tensor(faces, "faces", ("N", "F", 3), dtype="int", dims=dims)
        if verts.device != faces.device:
            raise ValueError(
                f"verts and faces must be on the same device; got {verts.device} and {faces.device}"
            )
        self.device = verts.device
        faces = faces.long()
        self._verts_padded = verts
        self._faces_padded = faces
        self._N, self._V = int(verts.shape[0]), int(verts.shape[1])
        real = (faces >= 0).all(2)  # (N, F) rows that are faces, not padding
        if bool((real[:, 1:] & ~real[:, :-1]).any()):
            raise ValueError(
                "Padding of faces must be at the end: rows of -1 must come after all faces of "
                "a mesh"
            )
        if faces.numel() > 0 and int(faces.max()) >= self._V:
            raise ValueError(
                f"faces indexes vertex {int(faces.max())} but verts has shape {tuple(verts.shape)}"
            )
        self._num_faces_per_mesh = real.sum(1)
        self._num_verts_per_mesh = torch.full(
            (self._N,), self._V, dtype=torch.int64, device=self.device
        )
        self.valid = (self._num_faces_per_mesh > 0) & (self._V > 0)
        if self._N > 0:
            self._F = int(self._num_faces_per_mesh.max())
            self.equisized = bool((self._num_faces_per_mesh == self._F).all())

    def _attach_textures(self, textures) -> None:
        check = getattr(textures, "check_shapes", None)
        if check is not None and not check(self._N, self._V, self._F):
            raise ValueError(
                f"Textures do not match the dimensions of Meshes (N={self._N}, V={self._V}, "
                f"F={self._F})"
            )
        textures._num_faces_per_mesh = self._num_faces_per_mesh.tolist()
        textures._num_verts_per_mesh = self._num_verts_per_mesh.tolist()
        textures.valid = self.valid

    def _set_verts_normals(self, verts_normals) -> None:
        nv = self._num_verts_per_mesh.tolist()
        if isinstance(verts_normals, (list, tuple)):
            if len(verts_normals) != self._N:
                raise ValueError(
                    f"verts_normals must hold {self._N} tensors; got {len(verts_normals)}"
                )
            for i, n in enumerate(verts_normals):
                check_tensor(n, f"verts_normals[{i}]", (nv[i], 3), dtype="float")
            packed = torch.cat(list(verts_normals)) if self._N else torch.zeros(0, 3)
        elif torch.is_tensor(verts_normals):
            check_tensor(verts_normals, "verts_normals", (self._N, self._V, 3), dtype="float")
            packed = struct_utils.padded_to_packed(verts_normals, split_size=nv)
        else:
            raise TypeError(
                "verts_normals must be a list of tensors or a padded tensor; got "
                f"{type(verts_normals).__name__}"
            )
        self._verts_normals_packed = packed

    # ------------------------------------------------------------------ batch basics
    def __len__(self) -> int:
        return self._N

    def __getitem__(self, index) -> Meshes:
        """Select meshes by int, slice, list of ints, LongTensor or BoolTensor (not cloned)."""
        verts, faces = self.verts_list(), self.faces_list()
        if isinstance(index, int):
            sel = [index]
            if not -self._N <= index < self._N:
                raise IndexError(f"mesh index {index} out of range for {self._N} meshes")
        elif isinstance(index, slice):
            sel = list(range(self._N))[index]
        elif isinstance(index, list):
            sel = index
        elif torch.is_tensor(index):
            if index.dim() != 1 or index.dtype.is_floating_point:
                raise IndexError(f"index tensor must be 1-D long or bool; got {index}")
            if index.dtype == torch.bool:
                if index.shape[0] != self._N:
                    raise IndexError(
                        f"bool index must have shape ({self._N},); got {tuple(index.shape)}"
                    )
                index = index.nonzero().flatten()
            sel = index.tolist()
        else:
            raise IndexError(f"cannot index Meshes with {type(index).__name__}")
        textures = None if self.textures is None else self.textures[index]
        return self.__class__(
            verts=[verts[i] for i in sel], faces=[faces[i] for i in sel], textures=textures
        )

    def isempty(self) -> bool:
        """True when the batch holds no mesh with both verts and faces."""
        return self._N == 0 or not bool(self.valid.any())

    def verts_list(self) -> list[torch.Tensor]:
        """List of N (V_n, 3) float tensors."""
        if self._verts_list is None:
            self._verts_list = struct_utils.padded_to_list(
                self._verts_padded, self._num_verts_per_mesh.tolist()
            )
        return self._verts_list

    def faces_list(self) -> list[torch.Tensor]:
        """List of N (F_n, 3) int64 tensors, indices into each mesh's verts."""
        if self._faces_list is None:
            self._faces_list = struct_utils.padded_to_list(
                self._faces_padded, self._num_faces_per_mesh.tolist()
            )
        return self._faces_list

    def num_verts_per_mesh(self) -> torch.Tensor:
        """(N,) int64."""
        return self._num_verts_per_mesh

    def num_faces_per_mesh(self) -> torch.Tensor:
        """(N,) int64."""
        return self._num_faces_per_mesh

    # ------------------------------------------------------------------ packed / padded
    def _compute_packed(self, refresh: bool = False) -> None:
        if not refresh and self._verts_packed is not None and self._faces_packed is not None:
            return
        if self._N == 0:
            z = torch.zeros(0, dtype=torch.int64, device=self.device)
            self._verts_packed = torch.zeros(0, 3, device=self.device)
            self._faces_packed = torch.zeros(0, 3, dtype=torch.int64, device=self.device)
            self._verts_packed_to_mesh_idx = self._faces_packed_to_mesh_idx = z
            self._mesh_to_verts_packed_first_idx = self._mesh_to_faces_packed_first_idx = z
            return
        if self._verts_list is None and self._verts_padded is not None:
            v_packed = struct_utils.padded_to_packed(
                self._verts_padded, split_size=self._num_verts_per_mesh.tolist()
            )
        else:
            v_packed = torch.cat(self.verts_list(), 0)
        nv, nf = self._num_verts_per_mesh, self._num_faces_per_mesh
        ar = torch.arange(self._N, device=self.device)
        v_first = torch.cumsum(nv, 0) - nv
        f_first = torch.cumsum(nf, 0) - nf
        f_to_mesh = torch.repeat_interleave(ar, nf)
        f_local = torch.cat(self.faces_list(), 0)
        self._verts_packed = v_packed
        self._verts_packed_to_mesh_idx = torch.repeat_interleave(ar, nv)
        self._mesh_to_verts_packed_first_idx = v_first
        self._faces_packed = f_local + v_first[f_to_mesh][:, None]
        self._faces_packed_to_mesh_idx = f_to_mesh
        self._mesh_to_faces_packed_first_idx = f_first

    def _compute_padded(self, refresh: bool = False) -> None:
        if not refresh and self._verts_padded is not None and self._faces_padded is not None:
            return
        if self._N == 0:
            self._verts_padded = torch.zeros(0, 0, 3, device=self.device)
            self._faces_padded = torch.zeros(0, 0, 3, dtype=torch.int64, device=self.device)
            return
        self._verts_padded = struct_utils.list_to_padded(
            self.verts_list(), (self._V, 3), pad_value=0.0, equisized=self.equisized
        )
        self._faces_padded = struct_utils.list_to_padded(
            self.faces_list(), (self._F, 3), pad_value=-1, equisized=self.equisized
        )

    def verts_packed(self) -> torch.Tensor:
        """(sum V_n, 3) float."""
        self._compute_packed()
        return self._verts_packed

    def verts_packed_to_mesh_idx(self) -> torch.Tensor:
        """(sum V_n,) int64, the mesh of each packed vertex."""
        self._compute_packed()
        return self._verts_packed_to_mesh_idx

    def mesh_to_verts_packed_first_idx(self) -> torch.Tensor:
        """(N,) int64, index of each mesh's first vertex in verts_packed."""
        self._compute_packed()
        return self._mesh_to_verts_packed_first_idx

    def faces_packed(self) -> torch.Tensor:
        """(sum F_n, 3) int64, indices into verts_packed."""
        self._compute_packed()
        return self._faces_packed

    def faces_packed_to_mesh_idx(self) -> torch.Tensor:
        """(sum F_n,) int64, the mesh of each packed face."""
        self._compute_packed()
        return self._faces_packed_to_mesh_idx

    def mesh_to_faces_packed_first_idx(self) -> torch.Tensor:
        """(N,) int64, index of each mesh's first face in faces_packed."""
        self._compute_packed()
        return self._mesh_to_faces_packed_first_idx

    def verts_padded(self) -> torch.Tensor:
        """(N, max V_n, 3) float, zero padded."""
        self._compute_padded()
        return self._verts_padded

    def faces_padded(self) -> torch.Tensor:
        """(N, max F_n, 3) int64, indices per mesh, padded with -1."""
        self._compute_padded()
        return self._faces_padded

    def verts_padded_to_packed_idx(self) -> torch.Tensor:
        """(sum V_n,) int64: verts_padded().reshape(-1, 3)[idx] == verts_packed()."""
        if self._verts_padded_to_packed_idx is None:
            nv = self._num_verts_per_mesh
            mesh = torch.repeat_interleave(torch.arange(self._N, device=self.device), nv)
            first = torch.cumsum(nv, 0) - nv
            local = torch.arange(mesh.shape[0], device=self.device) - first[mesh]
            self._verts_padded_to_packed_idx = mesh * self._V + local
        return self._verts_padded_to_packed_idx

    # ------------------------------------------------------------------ edges
    def _compute_edges_packed(self, refresh: bool = False) -> None:
        if not refresh and self._edges_packed is not None:
            return
        faces = self.faces_packed()
        edges, e_to_mesh, f_to_e = _edges_from_faces(
            faces, self.faces_packed_to_mesh_idx(), self.verts_packed().shape[0]
        )
        counts = torch.bincount(e_to_mesh, minlength=self._N)
        self._edges_packed = edges
        self._edges_packed_to_mesh_idx = e_to_mesh
        self._faces_packed_to_edges_packed = f_to_e
        self._num_edges_per_mesh = counts
        self._mesh_to_edges_packed_first_idx = torch.cumsum(counts, 0) - counts

    def edges_packed(self) -> torch.Tensor:
        """(sum E_n, 2) int64 unique edges (v0 < v1, sorted), indices into verts_packed."""
        self._compute_edges_packed()
        return self._edges_packed

    def edges_packed_to_mesh_idx(self) -> torch.Tensor:
        """(sum E_n,) int64, the mesh of each packed edge."""
        self._compute_edges_packed()
        return self._edges_packed_to_mesh_idx

    def mesh_to_edges_packed_first_idx(self) -> torch.Tensor:
        """(N,) int64, index of each mesh's first edge in edges_packed."""
        self._compute_edges_packed()
        return self._mesh_to_edges_packed_first_idx

    def faces_packed_to_edges_packed(self) -> torch.Tensor:
        """(sum F_n, 3) int64: for face (v0, v1, v2) the edges opposite v0, v1, v2."""
        self._compute_edges_packed()
        return self._faces_packed_to_edges_packed

    def num_edges_per_mesh(self) -> torch.Tensor:
        """(N,) int64."""
        self._compute_edges_packed()
        return self._num_edges_per_mesh

    # ------------------------------------------------------------------ normals / areas
    def has_verts_normals(self) -> bool:
        return self._verts_normals_packed is not None

    def _compute_face_areas_normals(self, refresh: bool = False) -> None:
        if not refresh and self._faces_areas_packed is not None:
            return
        areas, normals = _face_areas_normals(self.verts_packed(), self.faces_packed())
        self._faces_areas_packed, self._faces_normals_packed = areas, normals

    def _compute_vertex_normals(self, refresh: bool = False) -> None:
        if not refresh and self._verts_normals_packed is not None:
            return
        self._verts_normals_packed = _vertex_normals(self.verts_packed(), self.faces_packed())

    def verts_normals_packed(self) -> torch.Tensor:
        """(sum V_n, 3) float unit normals: area-weighted sums of face normals."""
        self._compute_vertex_normals()
        return self._verts_normals_packed

    def verts_normals_list(self) -> list[torch.Tensor]:
        """List of N (V_n, 3) float."""
        return struct_utils.packed_to_list(
            self.verts_normals_packed(), self._num_verts_per_mesh.tolist()
        )

    def verts_normals_padded(self) -> torch.Tensor:
        """(N, max V_n, 3) float, zero padded."""
        return self._list_to_padded(self.verts_normals_list(), self._V)

    def faces_normals_packed(self) -> torch.Tensor:
        """(sum F_n, 3) float unit normals, (v1 - v0) x (v2 - v0) normalised."""
        self._compute_face_areas_normals()
        return self._faces_normals_packed

    def faces_normals_list(self) -> list[torch.Tensor]:
        """List of N (F_n, 3) float."""
        return struct_utils.packed_to_list(
            self.faces_normals_packed(), self._num_faces_per_mesh.tolist()
        )

    def faces_normals_padded(self) -> torch.Tensor:
        """(N, max F_n, 3) float, zero padded."""
        return self._list_to_padded(self.faces_normals_list(), self._F)

    def faces_areas_packed(self) -> torch.Tensor:
        """(sum F_n,) float triangle areas."""
        self._compute_face_areas_normals()
        return self._faces_areas_packed

    def _list_to_padded(self, items: list[torch.Tensor], size: int) -> torch.Tensor:
        if self._N == 0:
            return torch.zeros(0, 0, 3, device=self.device)
        return struct_utils.list_to_padded(items, (size, 3), 0.0, equisized=self.equisized)

    def laplacian_packed(self) -> torch.Tensor:
        """(sum V_n, sum V_n) sparse float uniform Laplacian (ops.laplacian_matrices.laplacian)."""
        from inverse3d.ops.laplacian_matrices import laplacian

        if self._laplacian_packed is None:
            self._laplacian_packed = laplacian(self.verts_packed(), self.edges_packed())
        return self._laplacian_packed

    # ------------------------------------------------------------------ copies / devices
    def _copy_with(self, fn, textures_fn) -> Meshes:
        other = self.__class__(
            verts=[fn(v) for v in self.verts_list()], faces=[fn(f) for f in self.faces_list()]
        )
        for k in self._INTERNAL_TENSORS:
            v = getattr(self, k)
            if torch.is_tensor(v):
                setattr(other, k, fn(v))
        other.equisized = self.equisized
        other._V, other._F = self._V, self._F
        if self.textures is not None:
            other.textures = textures_fn(self.textures)
        return other

    def clone(self) -> Meshes:
        """Deep copy: every tensor is cloned, textures too."""
        return self._copy_with(lambda t: t.clone(), lambda tex: tex.clone())

    def detach(self) -> Meshes:
        """Copy whose tensors are detached from the autograd graph."""
        return self._copy_with(lambda t: t.detach(), lambda tex: tex.detach())

    def to(self, device: Device | torch.dtype | None = None, copy: bool = False, *, dtype=None):
        """Move to `device` (and/or cast float tensors to `dtype`); self if nothing changes.

        `device` may also be a torch.dtype, as in `Tensor.to`.
        """
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        device_ = self.device if device is None else make_device(device)
        same_dtype = dtype is None or self.verts_packed().dtype == dtype
        if not copy and device_ == self.device and same_dtype:
            return self
        other = self.clone()
        if device_ == self.device and same_dtype:
            return other

        def move(t: torch.Tensor) -> torch.Tensor:
            if dtype is not None and t.is_floating_point():
                return t.to(device=device_, dtype=dtype)
            return t.to(device_)

        other.device = device_
        other._verts_list = [move(v) for v in other.verts_list()]
        other._faces_list = [f.to(device_) for f in other.faces_list()]
        for k in self._INTERNAL_TENSORS:
            v = getattr(other, k)
            if torch.is_tensor(v):
                setattr(other, k, move(v))
        if other.textures is not None and device_ != self.device:
            other.textures = other.textures.to(device_)
        return other

    def cpu(self) -> Meshes:
        return self.to("cpu")

    def cuda(self) -> Meshes:
        return self.to("cuda")

    def get_mesh_verts_faces(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """verts (V_n, 3) float and faces (F_n, 3) int64 of mesh `index`."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"Mesh index must be an integer; got {type(index).__name__}")
        if not 0 <= index < self._N:
            raise ValueError(
                f"Mesh index must be in the range [0, N) where N is the number of meshes in the "
                f"batch (N={self._N}); got {index}"
            )
        return self.verts_list()[index], self.faces_list()[index]

    def split(self, split_sizes: Sequence[int]) -> list[Meshes]:
        """Split into len(split_sizes) Meshes of the given sizes (like torch.split)."""
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in split_sizes):
            raise ValueError(
                f"Value of split_sizes must be a list of integers; got {split_sizes!r}"
            )
        out, start = [], 0
        for s in split_sizes:
            out.append(self[start : start + s])
            start += s
        return out

    # ------------------------------------------------------------------ vertex updates
    def _replace_verts(self, new_list: list[torch.Tensor], new_packed: torch.Tensor) -> None:
        self._verts_list = new_list
        self._verts_packed = new_packed
        if self._verts_padded is not None:
            self._verts_padded = struct_utils.list_to_padded(
                new_list, (self._V, 3), pad_value=0.0, equisized=self.equisized
            )
        self._faces_areas_packed = None
        self._faces_normals_packed = None

    def offset_verts_(self, vert_offsets_packed: torch.Tensor) -> Meshes:
        """Add offsets to the verts in place; returns self.

        Args:
            vert_offsets_packed: (sum V_n, 3) float per vertex, or (3,) float for all verts.
        """
        verts_packed = self.verts_packed()
        check_tensor(vert_offsets_packed, "vert_offsets_packed", dtype="float")
        if tuple(vert_offsets_packed.shape) == (3,):
            translate_only = True
            vert_offsets_packed = vert_offsets_packed.expand_as(verts_packed)
        else:
            translate_only = False
            with with_phrase("Verts offsets must have dimension (all_v, 3)"):
                check_tensor(vert_offsets_packed, "vert_offsets_packed", tuple(verts_packed.shape))
        new_packed = verts_packed + vert_offsets_packed
        new_list = struct_utils.packed_to_list(new_packed, self._num_verts_per_mesh.tolist())
        self._replace_verts(new_list, new_packed)
        if not translate_only:
            self._verts_normals_packed = None
        return self

    def offset_verts(self, vert_offsets_packed: torch.Tensor) -> Meshes:
        """Out-of-place offset_verts_."""
        return self.clone().offset_verts_(vert_offsets_packed)

    def scale_verts_(self, scale: float | torch.Tensor) -> Meshes:
        """Multiply the verts of each mesh by a scale in place; returns self.

        Args:
            scale: a number, or (N,) float (one scale per mesh).
        """
        if not torch.is_tensor(scale):
            scale = torch.full((self._N,), float(scale), device=self.device)
        if scale.ndim == 0:
            scale = scale.expand(self._N)
        check_tensor(scale, "scale", (self._N,))
        per_vert = scale[self.verts_packed_to_mesh_idx()][:, None]  # (sum V_n, 1)
        new_packed = self.verts_packed() * per_vert
        new_list = struct_utils.packed_to_list(new_packed, self._num_verts_per_mesh.tolist())
        self._replace_verts(new_list, new_packed)
        return self

    def scale_verts(self, scale: float | torch.Tensor) -> Meshes:
        """Out-of-place scale_verts_."""
        return self.clone().scale_verts_(scale)

    def update_padded(self, new_verts_padded: torch.Tensor) -> Meshes:
        """New Meshes with verts `new_verts_padded` (N, max V_n, 3) and the same topology.

        Faces, sizes, edges and the Laplacian are shared (not copied) with self; textures too.
        """
        check_tensor(new_verts_padded, "new_verts_padded", dtype="float")
        for dim, what in enumerate(("batch dimension", "number of points", "dimension")):
            want = (self._N, self._V, 3)[dim]
            if new_verts_padded.dim() != 3 or new_verts_padded.shape[dim] != want:
                raise ValueError(
                    f"new values must have the same {what}: new_verts_padded must have shape "
                    f"({self._N}, {self._V}, 3); got {tuple(new_verts_padded.shape)}"
                )
        new = self.__class__(verts=new_verts_padded, faces=self.faces_padded())
        new.equisized = self.equisized
        new.textures = self.textures
        new._num_verts_per_mesh = self._num_verts_per_mesh
        new._num_faces_per_mesh = self._num_faces_per_mesh
        new.valid = self.valid
        new._F = self._F
        new._faces_list = self._faces_list
        if self._verts_packed is not None:
            for k in _PACKED_TOPOLOGY:
                setattr(new, k, getattr(self, k))
            idx = self.verts_padded_to_packed_idx()
            new._verts_packed = new_verts_padded.reshape(-1, 3)[idx]
            new._verts_padded_to_packed_idx = idx
        for k in _EDGE_TOPOLOGY:
            setattr(new, k, getattr(self, k))
        return new

    # ------------------------------------------------------------------ misc
    def get_bounding_boxes(self) -> torch.Tensor:
        """(N, 3, 2) float: [n, j] = (min, max) of mesh n along axis j (0 for no verts)."""
        verts = self.verts_padded()  # (N, V, 3)
        nv = self._num_verts_per_mesh
        mask = (torch.arange(verts.shape[1], device=self.device)[None] < nv[:, None])[..., None]
        big = torch.finfo(verts.dtype).max
        mins = torch.where(mask, verts, big).amin(1) if verts.shape[1] else verts.sum(1)
        maxs = torch.where(mask, verts, -big).amax(1) if verts.shape[1] else verts.sum(1)
        has = (nv > 0)[:, None]
        mins = torch.where(has, mins, torch.zeros_like(mins))
        maxs = torch.where(has, maxs, torch.zeros_like(maxs))
        return torch.stack([mins, maxs], dim=2)

    def extend(self, N: int) -> Meshes:
        """New Meshes holding each mesh N times in a row (cloned), textures extended too."""
        if isinstance(N, bool) or not isinstance(N, int):
            raise ValueError(f"N must be an integer; got {type(N).__name__}")
        if N <= 0:
            raise ValueError(f"N must be > 0; got {N}")
        verts = [v.clone() for v in self.verts_list() for _ in range(N)]
        faces = [f.clone() for f in self.faces_list() for _ in range(N)]
        tex = None if self.textures is None else self.textures.extend(N)
        return self.__class__(verts=verts, faces=faces, textures=tex)

    def sample_textures(self, fragments):
        """Texture values at the rasterised fragments: textures.sample_textures(...)."""
        if self.textures is None:
            raise ValueError("Meshes does not have textures")
        check = getattr(self.textures, "check_shapes", None)
        if check is not None and not check(self._N, self._V, self._F):
            raise ValueError(
                f"Textures do not match the dimensions of Meshes (N={self._N}, V={self._V}, "
                f"F={self._F})"
            )
        return self.textures.sample_textures(fragments, faces_packed=self.faces_packed())

    def submeshes(self, face_indices) -> Meshes:
        """Meshes made of chosen faces of each mesh.

        Args:
            face_indices: one entry per mesh, each a sequence of 1-D LongTensors of face
                indices (one per submesh); or an (N, S, K) LongTensor.

        Returns:
            Meshes with sum over meshes of the number of submeshes items; each keeps only the
            verts its faces use, in increasing index order.
        """
        if len(face_indices) != self._N:
            raise ValueError(
                "You must specify exactly one set of submeshes for each mesh in this Meshes "
                f"object: face_indices must have one entry per mesh ({self._N}); got "
                f"{len(face_indices)}"
            )
        sub_verts, sub_faces, verts_ids, faces_ids = [], [], [], []
        for ids_per_mesh, faces, verts in zip(face_indices, self.faces_list(), self.verts_list()):
            verts_ids.append([])
            faces_ids.append([])
            for ids in ids_per_mesh:
                kept = faces[ids]  # (K, 3)
                uniq, remap = torch.unique(kept, sorted=True, return_inverse=True)
                sub_verts.append(verts[uniq])
                sub_faces.append(remap.reshape(-1, 3))
                verts_ids[-1].append(uniq)
                faces_ids[-1].append(kept)
        tex = None
        if self.textures is not None:
            tex = self.textures.submeshes(verts_ids, faces_ids)
        return self.__class__(verts=sub_verts, faces=sub_faces, textures=tex)


def join_meshes_as_batch(meshes: list[Meshes], include_textures: bool = True) -> Meshes:
    """One Meshes holding all meshes of the given Meshes objects, in order.

    With include_textures, the inputs must all have textures of one type (joined with
    `join_batch`) or all have none.
    """
    if isinstance(meshes, Meshes):
        raise ValueError(
            "Wrong first argument to join_meshes_as_batch: meshes must be a list of Meshes; "
            "got a single Meshes"
        )
    meshes = list(meshes)
    for i, m in enumerate(meshes):
        if not isinstance(m, Meshes):
            raise TypeError(f"meshes[{i}] must be a Meshes; got {type(m).__name__}")
    if len({m.device for m in meshes}) > 1:
        raise ValueError(f"meshes must be on one device; got {[str(m.device) for m in meshes]}")
    verts = [v for m in meshes for v in m.verts_list()]
    faces = [f for m in meshes for f in m.faces_list()]
    if len(meshes) == 0 or not include_textures:
        return Meshes(verts=verts, faces=faces)
    has = [m.textures is not None for m in meshes]
    if not any(has):
        return Meshes(verts=verts, faces=faces)
    if not all(has):
        raise ValueError("Inconsistent textures in join_meshes_as_batch: some meshes have none")
    first = meshes[0].textures
    if any(type(m.textures) is not type(first) for m in meshes):
        raise ValueError("All meshes in the batch must have the same type of texture")
    tex = first.join_batch([m.textures for m in meshes[1:]])
    return Meshes(verts=verts, faces=faces, textures=tex)


def join_meshes_as_scene(meshes: Meshes | list[Meshes], include_textures: bool = True) -> Meshes:
    """A Meshes of one mesh made of all meshes of `meshes` (a Meshes or a list of them)."""
    if not isinstance(include_textures, (bool, int)):
        raise ValueError(f"include_textures must be a bool; got {type(include_textures).__name__}")
    if isinstance(meshes, (list, tuple)):
        meshes = join_meshes_as_batch(list(meshes), include_textures=include_textures)
    if not isinstance(meshes, Meshes):
        raise TypeError(f"meshes must be a Meshes or a list of Meshes; got {type(meshes)}")
    if len(meshes) == 1:
        return meshes
    textures = None
    if include_textures and meshes.textures is not None:
        textures = meshes.textures.join_scene()
    return Meshes(verts=[meshes.verts_packed()], faces=[meshes.faces_packed()], textures=textures)
