"""Textures of a batch of meshes: per-vertex features, per-face atlases and UV-mapped images.

Three representations, as in PyTorch3D, all derived from `TexturesBase`:
- `TexturesVertex`: a feature vector per vertex, interpolated over each face.
- `TexturesAtlas`: an (R, R) grid of texels per face, looked up with the barycentric coordinates.
- `TexturesUV`: uv coordinates per face vertex and one (or M, with `maps_ids`) image per mesh.

Each accepts a list of per-mesh tensors or one padded tensor and exposes list / padded / packed
views computed lazily. `Meshes` sets `_N`, `valid` and the per-mesh face / vertex counts on the
textures it holds, and calls `sample_textures(fragments, faces_packed=...)` which returns
`texels: (N, H, W, K, C)`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from inverse3d.ops.interp_face_attrs import interpolate_face_attributes
from inverse3d.renderer.mesh._textures_base import TexturesBase, check_same_type, feature_channels
from inverse3d.renderer.mesh._textures_utils import fragment_tensors, list_or_padded
from inverse3d.renderer.mesh._textures_uv import TexturesUV, pad_or_empty
from inverse3d.structures.utils import padded_to_list

__all__ = ["TexturesBase", "TexturesVertex", "TexturesAtlas", "TexturesUV", "Textures"]


# --------------------------------------------------------------------------------------------
# TexturesVertex
# --------------------------------------------------------------------------------------------


class _OneTensorTextures(TexturesBase):
    """Shared code of TexturesVertex and TexturesAtlas, textures made of one tensor per mesh
    given as a list or padded: clone, detach, __getitem__ and extend.

    Subclasses give `_padded()` / `_list()` (the public padded / list views), the name of the
    cached list attribute (`_LIST_ATTR`) and of the per-mesh sizes property (`_SIZES_ATTR`).
    """

    _LIST_ATTR = ""
    _SIZES_ATTR = ""

    # Each subclass defines them: its public padded and list views.
    _padded: Callable[[], torch.Tensor]
    _list: Callable[[], list[torch.Tensor]]

    def clone(self):
        return self._map_tensors(lambda t: t.clone())

    def detach(self):
        return self._map_tensors(lambda t: t.detach())

    def _map_tensors(self, fn):
        items = getattr(self, self._LIST_ATTR)
        if items is not None and not self._from_padded:
            tex = self.__class__([fn(x) for x in items])
        else:
            tex = self.__class__(fn(self._padded()))
            setattr(tex, self._SIZES_ATTR, list(getattr(self, self._SIZES_ATTR)))
        self._copy_state(tex, fn)
        return tex

    def __getitem__(self, index: Any):
        idx, _ = self._select(index)
        if not idx:
            return self.__class__(self._padded()[:0])
        items = self._list()
        return self.__class__([items[i] for i in idx])

    def extend(self, N: int):
        """Each texture repeated N times in a row (batch of N * self._N)."""
        N = self._check_extend(N)
        items = self._list()
        if not items:
            return self.__class__(self._padded())
        return self.__class__([x for x in items for _ in range(N)])


class TexturesVertex(_OneTensorTextures):
    """A C-dimensional feature per vertex, interpolated over faces with barycentric coordinates.

    Args:
        verts_features: list of N tensors (V_i, C) float, or one padded tensor (N, V, C) float.
    """

    _LIST_ATTR = "_verts_features_list"
    _SIZES_ATTR = "_num_verts_per_mesh"

    def __init__(self, verts_features: torch.Tensor | list[torch.Tensor]) -> None:
        items, padded = list_or_padded(verts_features, "verts_features", (None, "C"), "float")
        self._verts_features_list = items
        self._verts_features_padded = padded
        if items is not None:
            self._N = len(items)
            self.device = items[0].device if items else torch.device("cpu")
            self._num_verts = [int(v.shape[0]) for v in items]
            self._from_padded = False
        else:
            self._N = int(padded.shape[0])
            self.device = padded.device
            self._num_verts = [int(padded.shape[1])] * self._N
            self._from_padded = True
        self.valid = torch.ones((self._N,), dtype=torch.bool, device=self.device)

    @property
    def _num_verts_per_mesh(self) -> list[int]:
        return self._num_verts

    @_num_verts_per_mesh.setter
    def _num_verts_per_mesh(self, value: Any) -> None:
        value = value.tolist() if torch.is_tensor(value) else [int(v) for v in value]
        if self._from_padded and value != self._num_verts:
            self._verts_features_list = None  # derived from padded with the old sizes
        self._num_verts = value

    def verts_features_padded(self) -> torch.Tensor:
        """(N, max V_i, C) float, zero padded."""
        if self._verts_features_padded is None:
            self._verts_features_padded = pad_or_empty(
                self._verts_features_list, (0, 0, 3), 0.0, self.device
            )
        return self._verts_features_padded

    def verts_features_list(self) -> list[torch.Tensor]:
        """N tensors (V_i, C) float."""
        if self._verts_features_list is None:
            self._verts_features_list = padded_to_list(
                self._verts_features_padded, split_size=self._num_verts
            )
        return self._verts_features_list

    def verts_features_packed(self) -> torch.Tensor:
        """(sum V_i, C) float."""
        items = self.verts_features_list()
        if not items:
            return self.verts_features_padded().reshape(
                0, feature_channels(self.verts_features_padded())
            )
        return torch.cat(items, 0)

    def _new(self, verts_features, num_verts=None) -> TexturesVertex:
        tex = self.__class__(verts_features)
        if num_verts is not None:
            tex._num_verts_per_mesh = num_verts
        return tex

    def _padded(self) -> torch.Tensor:
        return self.verts_features_padded()

    def _list(self) -> list[torch.Tensor]:
        return self.verts_features_list()

    def sample_textures(
        self, fragments: Any, faces_packed: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        """Interpolate the vertex features at each pixel.

        Args:
            fragments: rasterizer output with pix_to_face (N, H, W, K) int (packed face ids,
                -1 = empty) and bary_coords (N, H, W, K, 3) float.
            faces_packed: (sum F_i, 3) int, the packed faces of the meshes (packed vertex ids).

        Returns:
            texels: (N, H, W, K, C) float, zero where pix_to_face is -1.
        """
        p2f, bary = fragment_tensors(fragments)
        faces_verts = self.faces_verts_textures_packed(faces_packed)  # (F, 3, C)
        return interpolate_face_attributes(p2f, bary, faces_verts)

    def faces_verts_textures_packed(self, faces_packed: torch.Tensor | None = None) -> torch.Tensor:
        """(sum F_i, 3, C) float, the feature of each vertex of each packed face."""
        if faces_packed is None:
            raise ValueError(
                "faces_packed must be given to TexturesVertex (the (F, 3) packed faces of the "
                "meshes); got None"
            )
        if (
            not torch.is_tensor(faces_packed)
            or faces_packed.ndim != 2
            or faces_packed.shape[-1] != 3
        ):
            shape = (
                tuple(faces_packed.shape) if torch.is_tensor(faces_packed) else type(faces_packed)
            )
            raise ValueError(f"faces_packed must have shape (F, 3); got {shape}")
        feats = self.verts_features_packed()
        if faces_packed.numel() and int(faces_packed.max()) >= feats.shape[0]:
            raise ValueError(
                f"faces_packed must index the {feats.shape[0]} packed vertex features; "
                f"got a vertex index {int(faces_packed.max())}"
            )
        return feats[faces_packed.to(feats.device)]

    def submeshes(self, vertex_ids_list: list, faces_ids_list: list) -> TexturesVertex:
        """Vertex features of each submesh: item i, submesh j keeps vertex_ids_list[i][j]."""
        feats = self.verts_features_list()
        if len(vertex_ids_list) != len(feats):
            raise IndexError(
                "vertex_ids_list must have one entry per mesh "
                f"({len(feats)}); got {len(vertex_ids_list)}"
            )
        return self.__class__([f[ids] for f, vids in zip(feats, vertex_ids_list) for ids in vids])

    def join_batch(self, textures: list[TexturesVertex]) -> TexturesVertex:
        """A batch made of self followed by each of `textures`."""
        textures = check_same_type(textures, TexturesVertex)
        feats = list(self.verts_features_list())
        for t in textures:
            feats += t.verts_features_list()
        return self.__class__(feats)

    def join_scene(self) -> TexturesVertex:
        """One texture holding the features of all the meshes in the batch, concatenated."""
        return self.__class__([self.verts_features_packed()])

    def check_shapes(self, batch_size: int, max_num_verts: int, max_num_faces: int) -> bool:
        """True when the padded features are (batch_size, max_num_verts, C)."""
        return tuple(self.verts_features_padded().shape[:2]) == (batch_size, max_num_verts)


# --------------------------------------------------------------------------------------------
# TexturesAtlas
# --------------------------------------------------------------------------------------------


class TexturesAtlas(_OneTensorTextures):
    """An (R, R) grid of texels per face (SoftRasterizer's texture atlas).

    Texel (i, j) of face f covers the barycentric region b0 in [j/R, (j+1)/R), b1 in
    [i/R, (i+1)/R) below the diagonal, and the mirrored cell above it (see sample_textures).

    Args:
        atlas: list of N tensors (F_i, R, R, C) float, or one padded tensor (N, F, R, R, C).
    """

    _LIST_ATTR = "_atlas_list"
    _SIZES_ATTR = "_num_faces_per_mesh"

    def __init__(self, atlas: torch.Tensor | list[torch.Tensor]) -> None:
        items, padded = list_or_padded(atlas, "atlas", (None, "R", "R", "C"), "float")
        self._atlas_list = items
        self._atlas_padded = padded
        if items is not None:
            self._N = len(items)
            self.device = items[0].device if items else torch.device("cpu")
            self._num_faces = [int(a.shape[0]) for a in items]
            self._from_padded = False
        else:
            self._N = int(padded.shape[0])
            self.device = padded.device
            self._num_faces = [int(padded.shape[1])] * self._N
            self._from_padded = True
        self.valid = torch.ones((self._N,), dtype=torch.bool, device=self.device)

    @property
    def _num_faces_per_mesh(self) -> list[int]:
        return self._num_faces

    @_num_faces_per_mesh.setter
    def _num_faces_per_mesh(self, value: Any) -> None:
        value = value.tolist() if torch.is_tensor(value) else [int(v) for v in value]
        if self._from_padded and value != self._num_faces:
            self._atlas_list = None
        self._num_faces = value

    def atlas_padded(self) -> torch.Tensor:
        """(N, max F_i, R, R, C) float, zero padded."""
        if self._atlas_padded is None:
            self._atlas_padded = pad_or_empty(self._atlas_list, (0, 0, 0, 0, 3), 0.0, self.device)
        return self._atlas_padded

    def atlas_list(self) -> list[torch.Tensor]:
        """N tensors (F_i, R, R, C) float."""
        if self._atlas_list is None:
            self._atlas_list = padded_to_list(self._atlas_padded, split_size=self._num_faces)
        return self._atlas_list

    def atlas_packed(self) -> torch.Tensor:
        """(sum F_i, R, R, C) float."""
        items = self.atlas_list()
        if not items:
            return self.atlas_padded()[0:0].reshape(0, *self.atlas_padded().shape[2:])
        return torch.cat(items, 0)

    def _padded(self) -> torch.Tensor:
        return self.atlas_padded()

    def _list(self) -> list[torch.Tensor]:
        return self.atlas_list()

    def sample_textures(self, fragments: Any, **kwargs: Any) -> torch.Tensor:
        """Look up the atlas texel of each pixel (nearest cell; no gradient w.r.t. bary coords).

        The cell of barycentrics (b0, b1) is (row, col) = (floor(b1 R), floor(b0 R)) when
        (b0 + b1) R - row - col <= 1 (lower triangle of the cell), else the mirrored cell
        (R - 1 - row, R - 1 - col). Indices are clamped to [0, R - 1] (PyTorch3D clamps only
        above, so negative barycentrics from blur would wrap around there).

        Args:
            fragments: rasterizer output with pix_to_face (N, H, W, K) int (packed face ids,
                -1 = empty) and bary_coords (N, H, W, K, 3) float.

        Returns:
            texels: (N, H, W, K, C) float, zero where pix_to_face is -1.
        """
        p2f, bary = fragment_tensors(fragments)
        atlas = self.atlas_packed()  # (F, R, R, C)
        if p2f.numel() and int(p2f.max()) >= atlas.shape[0]:
            raise ValueError(
                f"fragments.pix_to_face must index the {atlas.shape[0]} packed faces of the "
                f"atlas; got a face index {int(p2f.max())}"
            )
        R = atlas.shape[1]
        empty = p2f < 0  # (N, H, W, K)
        b01 = torch.where(empty[..., None], torch.zeros_like(bary[..., :2]), bary[..., :2])
        w = (b01 * R).to(torch.int64).clamp(0, R - 1)  # (N, H, W, K, 2)
        lower = (b01.sum(-1) * R - w.sum(-1).to(b01.dtype)) <= 1.0
        w = torch.where(lower[..., None], w, R - 1 - w)
        texels = atlas.to(p2f.device)[p2f.clamp(min=0), w[..., 1], w[..., 0]]  # (N, H, W, K, C)
        return torch.where(empty[..., None], torch.zeros_like(texels), texels)

    def faces_verts_textures_packed(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """(sum F_i, 3, C) float: the texels that vertices 0, 1 and 2 of each face sample."""
        atlas = self.atlas_packed()
        return torch.stack((atlas[:, 0, -1], atlas[:, -1, 0], atlas[:, 0, 0]), dim=1)

    def submeshes(self, vertex_ids_list: list, faces_ids_list: list) -> TexturesAtlas:
        """Atlas of each submesh: item i, submesh j keeps the faces faces_ids_list[i][j]."""
        atlas = self.atlas_list()
        if len(faces_ids_list) != len(atlas):
            raise IndexError(
                f"faces_ids_list must have one entry per mesh ({len(atlas)}); "
                f"got {len(faces_ids_list)}"
            )
        return self.__class__([a[ids] for a, fids in zip(atlas, faces_ids_list) for ids in fids])

    def join_batch(self, textures: list[TexturesAtlas]) -> TexturesAtlas:
        """A batch made of self followed by each of `textures` (same R and C)."""
        textures = check_same_type(textures, TexturesAtlas)
        atlas = list(self.atlas_list())
        for t in textures:
            atlas += t.atlas_list()
        return self.__class__(atlas)

    def join_scene(self) -> TexturesAtlas:
        """One atlas holding the faces of all the meshes of the batch, in packed order."""
        return self.__class__([self.atlas_packed()])

    def check_shapes(self, batch_size: int, max_num_verts: int, max_num_faces: int) -> bool:
        """True when the padded atlas is (batch_size, max_num_faces, R, R, C)."""
        return tuple(self.atlas_padded().shape[:2]) == (batch_size, max_num_faces)


def Textures(
    maps: torch.Tensor | list[torch.Tensor] | None = None,
    faces_uvs: torch.Tensor | None = None,
    verts_uvs: torch.Tensor | None = None,
    verts_rgb: torch.Tensor | None = None,
) -> TexturesBase:
    """Deprecated: build a TexturesUV (maps, faces_uvs and verts_uvs) or a TexturesVertex.

    Args:
        maps: list of N (H, W, C) float or (N, H, W, C) float texture images.
        faces_uvs: (N, F, 3) int, index into verts_uvs of each face vertex.
        verts_uvs: (N, V, 2) float uv coordinates.
        verts_rgb: (N, V, C) float colour per vertex.

    Returns:
        TexturesUV when maps, faces_uvs and verts_uvs are all given, else TexturesVertex.
    """
    warnings.warn(
        "Textures is deprecated; use TexturesUV, TexturesAtlas or TexturesVertex instead.",
        PendingDeprecationWarning,
        stacklevel=2,
    )
    if maps is not None and faces_uvs is not None and verts_uvs is not None:
        return TexturesUV(maps=maps, faces_uvs=faces_uvs, verts_uvs=verts_uvs)
    if verts_rgb is not None:
        return TexturesVertex(verts_features=verts_rgb)
    raise ValueError(
        "Textures requires either all of (maps, faces_uvs, verts_uvs) or verts_rgb; got neither"
    )
