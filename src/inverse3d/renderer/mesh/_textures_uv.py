"""Private: TexturesUV, imported and exported by renderer/mesh/textures.py."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from inverse3d._validation import check_choice
from inverse3d.ops.interp_face_attrs import interpolate_face_attributes
from inverse3d.renderer.mesh._textures_base import TexturesBase, check_same_type
from inverse3d.renderer.mesh._textures_utils import (
    check_index_range,
    fragment_tensors,
    list_or_padded,
    pack_maps,
    resize_maps,
    tensor_key,
)
from inverse3d.structures.utils import list_to_padded, padded_to_list

__all__ = ["TexturesUV"]

_PADDING_MODES = ("zeros", "border", "reflection")
_SAMPLING_MODES = ("bilinear", "nearest", "bicubic")


def pad_or_empty(
    items: list[torch.Tensor] | None,
    empty_shape: tuple[int, ...],
    pad_value: float,
    device: torch.device,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The padded view of a texture's per-mesh list: list_to_padded(items), or zeros of
    empty_shape on device for an empty batch. Shared by the textures' *_padded methods."""
    if not items:
        return torch.zeros(empty_shape, dtype=dtype, device=device)
    return list_to_padded(items, pad_value=pad_value)


def _sample_maps(
    maps: torch.Tensor, uvs: torch.Tensor, mode: str, padding_mode: str, align_corners: bool
) -> torch.Tensor:
    """Sample maps (N, H, W, C) at uvs (N, A, B, 2) -> (N, C, A, B).

    u grows with the column index, v grows upwards: (u, v) = (0, 0) is the bottom-left corner
    of the image (row H - 1), i.e. grid_sample at x = 2u - 1, y = 1 - 2v.
    """
    uvs = uvs.to(maps.dtype)
    grid = torch.stack((uvs[..., 0] * 2.0 - 1.0, 1.0 - uvs[..., 1] * 2.0), dim=-1)
    return F.grid_sample(
        maps.permute(0, 3, 1, 2),
        grid,
        mode=mode,
        padding_mode=padding_mode,
        align_corners=align_corners,
    )


class TexturesUV(TexturesBase):
    """uv coordinates per face vertex and a texture image per mesh (or M, selected per face).

    Args:
        maps: one image per mesh: list of N (H_i, W_i, C) float or padded (N, H, W, C) float
            (list items of different sizes are resized bilinearly to the largest H and W for
            the padded form). With `maps_ids`: M images per mesh, list of N (M_i, H_i, W_i, C)
            or padded (N, M, H, W, C) (missing maps are zero).
        faces_uvs: list of N (F_i, 3) int or padded (N, F, 3) int, index into verts_uvs of each
            vertex of each face (in [-1, V_i); -1, load_obj's mark of a face without uvs, reads
            the last uv as in PyTorch3D).
        verts_uvs: list of N (V_i, 2) float or padded (N, V, 2) float uv coordinates, u to the
            right, v upwards, [0, 1] covering the image.
        padding_mode: "border" (default), "zeros" or "reflection": what uvs outside [0, 1] read
            (as torch.nn.functional.grid_sample).
        align_corners: True (default): uv 0 and 1 are the centres of the edge texels; False:
            they are the outer edges of the edge texels.
        sampling_mode: "bilinear" (default), "nearest" (or "bicubic").
        maps_ids: None (one map per mesh) or list of N (F_i,) int / padded (N, F) int, the map
            (in [0, M)) each face reads.

    With align_corners=True a texel (row i, col j) of an (H, W) map is hit by
    u = j / (W - 1), v = 1 - i / (H - 1); with False by u = (j + 0.5) / W, v = 1 - (i + 0.5) / H.
    """

    def __init__(
        self,
        maps: torch.Tensor | list[torch.Tensor],
        faces_uvs: torch.Tensor | list[torch.Tensor],
        verts_uvs: torch.Tensor | list[torch.Tensor],
        padding_mode: str = "border",
        align_corners: bool = True,
        sampling_mode: str = "bilinear",
        maps_ids: torch.Tensor | list[torch.Tensor] | None = None,
    ) -> None:
        self.padding_mode = check_choice(padding_mode, "padding_mode", _PADDING_MODES)
        self.sampling_mode = check_choice(sampling_mode, "sampling_mode", _SAMPLING_MODES)
        if not isinstance(align_corners, bool):
            raise TypeError(f"align_corners must be a bool; got {type(align_corners).__name__}")
        self.align_corners = align_corners

        f_list, f_pad = list_or_padded(faces_uvs, "faces_uvs", (None, 3), "int")
        v_list, v_pad = list_or_padded(verts_uvs, "verts_uvs", (None, 2), "float")
        multi = maps_ids is not None
        map_shape = (None, None, None, "C") if multi else (None, None, "C")
        m_list, m_pad = list_or_padded(maps, "maps", map_shape, "float")
        if multi:
            i_list, i_pad = list_or_padded(maps_ids, "maps_ids", (None,), "int")
        else:
            i_list, i_pad = None, None

        self._N = len(f_list) if f_list is not None else int(f_pad.shape[0])
        self.device = (
            f_pad.device
            if f_pad is not None
            else (f_list[0].device if f_list else torch.device("cpu"))
        )
        for name, lst, pad in (
            ("verts_uvs", v_list, v_pad),
            ("maps", m_list, m_pad),
            ("maps_ids", i_list, i_pad),
        ):
            if name == "maps_ids" and not multi:
                continue
            n = len(lst) if lst is not None else int(pad.shape[0])
            if n != self._N:
                raise ValueError(
                    f"{name} must have the batch size of faces_uvs ({self._N}); got {n}"
                )
            items = lst if lst is not None else [pad]
            for t in items:
                if t.device != self.device:
                    raise ValueError(
                        f"{name} must be on the device of faces_uvs ({self.device}); got {t.device}"
                    )

        self._faces_uvs_list, self._faces_uvs_padded = f_list, f_pad
        self._verts_uvs_list, self._verts_uvs_padded = v_list, v_pad
        self._maps_list, self._maps_padded = m_list, m_pad
        self._maps_ids_list, self._maps_ids_padded = i_list, i_pad
        self._from_padded = f_pad is not None
        self._ids_from_padded = i_pad is not None
        self._num_faces = (
            [int(f.shape[0]) for f in f_list]
            if f_list is not None
            else [int(f_pad.shape[1])] * self._N
        )
        self._validate_indices()
        self.valid = torch.ones((self._N,), dtype=torch.bool, device=self.device)

    def _validate_indices(self) -> None:
        """faces_uvs must index verts_uvs; maps_ids must index the maps; face counts agree."""
        if self._N == 0:
            return
        faces = self._faces_uvs_list or list(self._faces_uvs_padded.unbind(0))
        n_verts = (
            [int(v.shape[0]) for v in self._verts_uvs_list]
            if self._verts_uvs_list is not None
            else [int(self._verts_uvs_padded.shape[1])] * self._N
        )
        # -1 pads a padded tensor, and load_obj marks faces without uvs with it: as in
        # PyTorch3D such a face reads the last uv (negative indexing).
        check_index_range(faces, n_verts, "faces_uvs", "verts_uvs", low=-1)
        if not self.is_multi_map():
            return
        ids_items = self._maps_ids_list or list(self._maps_ids_padded.unbind(0))
        for i, (ids, fc) in enumerate(zip(ids_items, faces)):
            if ids.shape[0] != fc.shape[0]:
                raise ValueError(
                    f"maps_ids[{i}] must have one entry per face ({fc.shape[0]}); "
                    f"got {ids.shape[0]}"
                )
        n_maps = (
            [int(m.shape[0]) for m in self._maps_list]
            if self._maps_list is not None
            else [int(self._maps_padded.shape[1])] * self._N
        )
        low = -1 if self._maps_ids_padded is not None else 0
        check_index_range(ids_items, n_maps, "maps_ids", "the maps of the mesh", low=low)

    # ---------------------------------------------------------------- batch bookkeeping
    def is_multi_map(self) -> bool:
        """True when each mesh has M maps selected per face by maps_ids."""
        return self._maps_ids_list is not None or self._maps_ids_padded is not None

    @property
    def _num_faces_per_mesh(self) -> list[int]:
        return self._num_faces

    @_num_faces_per_mesh.setter
    def _num_faces_per_mesh(self, value: Any) -> None:
        value = value.tolist() if torch.is_tensor(value) else [int(v) for v in value]
        if value != self._num_faces:
            if self._faces_uvs_padded is not None and self._from_padded:
                self._faces_uvs_list = None
            if self._ids_from_padded:
                self._maps_ids_list = None
        self._num_faces = value

    # ---------------------------------------------------------------- list / padded views
    def faces_uvs_padded(self) -> torch.Tensor:
        """(N, max F_i, 3) int, zero padded."""
        if self._faces_uvs_padded is None:
            self._faces_uvs_padded = pad_or_empty(
                self._faces_uvs_list, (0, 0, 3), 0, self.device, torch.int64
            )
        return self._faces_uvs_padded

    def faces_uvs_list(self) -> list[torch.Tensor]:
        """N tensors (F_i, 3) int."""
        if self._faces_uvs_list is None:
            self._faces_uvs_list = padded_to_list(
                self._faces_uvs_padded, split_size=self._num_faces
            )
        return self._faces_uvs_list

    def verts_uvs_padded(self) -> torch.Tensor:
        """(N, max V_i, 2) float, zero padded."""
        if self._verts_uvs_padded is None:
            self._verts_uvs_padded = pad_or_empty(self._verts_uvs_list, (0, 0, 2), 0.0, self.device)
        return self._verts_uvs_padded

    def verts_uvs_list(self) -> list[torch.Tensor]:
        """N tensors (V_i, 2) float (all V rows of the padded tensor when built from it)."""
        if self._verts_uvs_list is None:
            self._verts_uvs_list = list(self._verts_uvs_padded.unbind(0))
        return self._verts_uvs_list

    def maps_padded(self) -> torch.Tensor:
        """(N, H, W, C) float, or (N, M, H, W, C) with maps_ids."""
        if self._maps_padded is None:
            if not self._maps_list:
                shape = (0, 0, 0, 0, 3) if self.is_multi_map() else (0, 0, 0, 3)
                self._maps_padded = torch.zeros(shape, device=self.device)
            else:
                self._maps_padded = resize_maps(self._maps_list, self.align_corners)
        return self._maps_padded

    def maps_list(self) -> list[torch.Tensor]:
        """N tensors (H_i, W_i, C) (or (M_i, H_i, W_i, C)), as given when built from a list."""
        if self._maps_list is not None:
            return self._maps_list
        return list(self._maps_padded.unbind(0))

    def maps_ids_padded(self) -> torch.Tensor | None:
        """(N, max F_i) int map index per face (zero padded), or None without maps_ids."""
        if not self.is_multi_map():
            return None
        if self._maps_ids_padded is None:
            self._maps_ids_padded = list_to_padded(self._maps_ids_list, pad_value=0)
        return self._maps_ids_padded

    def maps_ids_list(self) -> list[torch.Tensor] | None:
        """N tensors (F_i,) int, or None without maps_ids."""
        if not self.is_multi_map():
            return None
        if self._maps_ids_list is None:
            self._maps_ids_list = padded_to_list(self._maps_ids_padded, split_size=self._num_faces)
        return self._maps_ids_list

    def faces_verts_uvs_packed(self) -> torch.Tensor:
        """(sum F_i, 3, 2) float, the uv of each vertex of each packed face."""
        items = [v[f] for v, f in zip(self.verts_uvs_list(), self.faces_uvs_list())]
        if not items:
            return self.verts_uvs_padded().new_zeros((0, 3, 2))
        return torch.cat(items, 0)

    def maps_ids_packed(self) -> torch.Tensor | None:
        """(sum F_i,) int map index of each packed face, or None without maps_ids."""
        ids = self.maps_ids_list()
        return None if ids is None else torch.cat(ids, 0)

    # ---------------------------------------------------------------- construction helpers
    def _kwargs(self) -> dict:
        return {
            "padding_mode": self.padding_mode,
            "align_corners": self.align_corners,
            "sampling_mode": self.sampling_mode,
        }

    def _from_lists(self, maps, faces_uvs, verts_uvs, maps_ids=None) -> TexturesUV:
        return self.__class__(maps, faces_uvs, verts_uvs, maps_ids=maps_ids, **self._kwargs())

    def _map_tensors(self, fn) -> TexturesUV:
        def pick(lst, pad):
            return [fn(t) for t in lst] if lst is not None else fn(pad)

        faces = (
            [fn(f) for f in self._faces_uvs_list]
            if not self._from_padded
            else fn(self.faces_uvs_padded())
        )
        ids = None
        if self.is_multi_map():
            ids = (
                [fn(t) for t in self._maps_ids_list]
                if not self._ids_from_padded
                else fn(self._maps_ids_padded)
            )
        tex = self._from_lists(
            pick(self._maps_list, self._maps_padded),
            faces,
            pick(self._verts_uvs_list, self._verts_uvs_padded),
            ids,
        )
        tex._num_faces_per_mesh = list(self._num_faces)
        self._copy_state(tex, fn)
        return tex

    def clone(self) -> TexturesUV:
        return self._map_tensors(lambda t: t.clone())

    def detach(self) -> TexturesUV:
        return self._map_tensors(lambda t: t.detach())

    def _pieces(self, idx: list[int]) -> tuple:
        maps, faces, verts = self.maps_list(), self.faces_uvs_list(), self.verts_uvs_list()
        ids = self.maps_ids_list()
        return (
            [maps[i] for i in idx],
            [faces[i] for i in idx],
            [verts[i] for i in idx],
            None if ids is None else [ids[i] for i in idx],
        )

    def __getitem__(self, index: Any) -> TexturesUV:
        idx, _ = self._select(index)
        if not idx:
            ids = self.maps_ids_padded()
            return self._from_lists(
                self.maps_padded()[:0],
                self.faces_uvs_padded()[:0],
                self.verts_uvs_padded()[:0],
                None if ids is None else ids[:0],
            )
        return self._from_lists(*self._pieces(idx))

    def extend(self, N: int) -> TexturesUV:
        """Each texture repeated N times in a row (batch of N * self._N); maps are shared."""
        N = self._check_extend(N)
        return self._from_lists(*self._pieces([i for i in range(self._N) for _ in range(N)]))

    # ---------------------------------------------------------------- sampling
    def sample_textures(self, fragments: Any, **kwargs: Any) -> torch.Tensor:
        """Sample the maps at the uv of each pixel.

        The face vertex uvs are interpolated with the barycentric coordinates, then the map of
        the pixel's image (and, with maps_ids, of its face) is sampled there with
        grid_sample(mode=sampling_mode, padding_mode, align_corners) at x = 2u - 1, y = 1 - 2v.
        Empty pixels (pix_to_face = -1) sample uv (0, 0), as in PyTorch3D.

        Args:
            fragments: rasterizer output with pix_to_face (N, H, W, K) int (packed face ids,
                -1 = empty) and bary_coords (N, H, W, K, 3) float.

        Returns:
            texels: (N, H, W, K, C) float; differentiable w.r.t. maps, verts_uvs and bary_coords.
        """
        p2f, bary = fragment_tensors(fragments)
        N, H, W, K = p2f.shape
        if N != self._N:
            raise ValueError(
                f"fragments.pix_to_face must have batch size {self._N} (the textures); got {N}"
            )
        fv_uvs = self.faces_verts_uvs_packed().to(p2f.device)  # (F, 3, 2)
        pixel_uvs = interpolate_face_attributes(p2f, bary, fv_uvs)  # (N, H, W, K, 2)
        uvs = pixel_uvs.reshape(N, H, W * K, 2)
        maps = self.maps_padded().to(p2f.device)
        args = (self.sampling_mode, self.padding_mode, self.align_corners)
        if not self.is_multi_map():
            texels = _sample_maps(maps, uvs, *args)  # (N, C, H, W*K)
        else:
            ids = self.maps_ids_packed().to(p2f.device)[p2f.clamp(min=0)].reshape(N, 1, H, W * K)
            texels = _sample_maps(maps[:, 0], uvs, *args)
            for m in range(1, maps.shape[1]):  # loop over the M maps, not over pixels
                texels = torch.where(ids == m, _sample_maps(maps[:, m], uvs, *args), texels)
        C = texels.shape[1]
        return texels.reshape(N, C, H, W, K).permute(0, 2, 3, 4, 1)

    def faces_verts_textures_packed(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """(sum F_i, 3, C) float: the maps sampled at the uv of each vertex of each face."""
        items = [v[f] for v, f in zip(self.verts_uvs_list(), self.faces_uvs_list())]
        maps = self.maps_padded()
        if not items or sum(t.shape[0] for t in items) == 0:
            return maps.new_zeros((0, 3, maps.shape[-1]))
        uvs = list_to_padded(items, pad_value=0.0)  # (N, max F, 3, 2)
        args_ = (self.sampling_mode, self.padding_mode, self.align_corners)
        if not self.is_multi_map():
            out = _sample_maps(maps, uvs, *args_)  # (N, C, max F, 3)
        else:
            ids = list_to_padded(self.maps_ids_list(), pad_size=[uvs.shape[1]], pad_value=0)
            ids = ids[:, None, :, None]  # (N, 1, max F, 1)
            out = _sample_maps(maps[:, 0], uvs, *args_)
            for m in range(1, maps.shape[1]):
                out = torch.where(ids == m, _sample_maps(maps[:, m], uvs, *args_), out)
        out = out.permute(0, 2, 3, 1)  # (N, max F, 3, C)
        return torch.cat([out[i, : t.shape[0]] for i, t in enumerate(items)], 0)

    # ---------------------------------------------------------------- joins and subsets
    def submeshes(self, vertex_ids_list: list, faces_ids_list: list) -> TexturesUV:
        """Texture of each submesh: item i, submesh j keeps the faces faces_ids_list[i][j]."""
        if len(faces_ids_list) != self._N:
            raise IndexError(
                f"faces_ids_list must have one entry per mesh ({self._N}); "
                f"got {len(faces_ids_list)}"
            )
        maps, faces, verts = self.maps_list(), self.faces_uvs_list(), self.verts_uvs_list()
        ids = self.maps_ids_list()
        out: tuple[list, list, list, list] = ([], [], [], [])
        for i, fids in enumerate(faces_ids_list):
            for sub in fids:
                out[0].append(maps[i])
                out[1].append(faces[i][sub])
                out[2].append(verts[i])
                if ids is not None:
                    out[3].append(ids[i][sub])
        return self._from_lists(out[0], out[1], out[2], out[3] if ids is not None else None)

    def join_batch(self, textures: list[TexturesUV]) -> TexturesUV:
        """A batch made of self followed by each of `textures` (same modes and channels)."""
        textures = check_same_type(textures, TexturesUV)
        for i, t in enumerate(textures):
            for attr in ("padding_mode", "align_corners", "sampling_mode"):
                if getattr(t, attr) != getattr(self, attr):
                    raise ValueError(
                        f"All textures must have the same {attr}; textures[{i}] has "
                        f"{getattr(t, attr)!r}, self has {getattr(self, attr)!r}"
                    )
            if t.is_multi_map() != self.is_multi_map():
                raise ValueError(
                    "All textures must either all have maps_ids or none; "
                    f"textures[{i}] differs from self"
                )
        every = [self, *textures]
        parts = [t._pieces(list(range(t._N))) for t in every]
        joined = [sum((p[k] for p in parts), []) for k in range(3)]
        ids = sum((p[3] for p in parts), []) if self.is_multi_map() else None
        return self._from_lists(*joined, ids)

    def join_scene(self) -> TexturesUV:
        """One texture for the whole batch seen as a single mesh.

        Without maps_ids the maps are packed side by side into one image (shelf packing; maps
        that are the same tensor are stored once) and the uvs are remapped into it; with
        align_corners=False each map gets a one-texel border (replicated, or zero for
        padding_mode="zeros") so that uvs in [0, 1] sample exactly as before. uvs outside
        [0, 1] read neighbouring maps instead of the padding (as in PyTorch3D).
        With maps_ids the maps are concatenated along M and maps_ids offset (exact for all uvs).
        """
        faces, verts = self.faces_uvs_list(), self.verts_uvs_list()
        offsets = torch.tensor([0] + [v.shape[0] for v in verts][:-1]).cumsum(0).tolist()
        faces_j = torch.cat([f + o for f, o in zip(faces, offsets)], 0)
        if self.is_multi_map():
            maps_p = self.maps_padded()
            counts = [int(m.shape[0]) for m in self.maps_list()]
            maps = torch.cat([maps_p[i, :c] for i, c in enumerate(counts)], 0)
            moff = torch.tensor([0] + counts[:-1]).cumsum(0).tolist()
            ids = torch.cat([d + o for d, o in zip(self.maps_ids_list(), moff)], 0)
            return self._from_lists(maps[None], faces_j[None], torch.cat(verts, 0)[None], ids[None])

        maps = self.maps_list()
        b = 0 if self.align_corners else 1
        unique: dict[tuple, int] = {}
        for m in maps:
            unique.setdefault(tensor_key(m), len(unique))
        first = {}
        for m in maps:
            first.setdefault(tensor_key(m), m)
        sizes = [(int(m.shape[0]) + 2 * b, int(m.shape[1]) + 2 * b) for m in first.values()]
        (TH, TW), places = pack_maps(sizes)
        single = maps[0].new_zeros((TH, TW, maps[0].shape[-1]))
        for (h, w), (y, x), m in zip(sizes, places, first.values()):
            region = m
            if b:
                mode = "constant" if self.padding_mode == "zeros" else "replicate"
                region = F.pad(m.permute(2, 0, 1)[None], (b, b, b, b), mode=mode)[0].permute(
                    1, 2, 0
                )
            single[y : y + h, x : x + w] = region
        new_verts = []
        for m, uv in zip(maps, verts):
            y, x = places[unique[tensor_key(m)]]
            h, w = int(m.shape[0]), int(m.shape[1])
            u, v = uv[:, 0], uv[:, 1]
            if self.align_corners:
                U = (x + u * (w - 1)) / max(TW - 1, 1)
                V = 1.0 - (y + (1.0 - v) * (h - 1)) / max(TH - 1, 1)
            else:
                U = (x + b + u * w) / TW
                V = 1.0 - (y + b + (1.0 - v) * h) / TH
            new_verts.append(torch.stack((U, V), dim=-1))
        return self._from_lists([single], [faces_j], [torch.cat(new_verts, 0)])

    def centers_for_image(self, index: int) -> torch.Tensor:
        """(V, 2) float on the CPU: the (column, row) texel position hit by each verts_uvs of
        mesh `index` (for plotting the uvs over the map); only for a batch of one mesh."""
        if self._N != 1:
            raise ValueError(f"centers_for_image needs a batch of one mesh; got N={self._N}")
        maps = self.maps_padded()
        H, W = int(maps.shape[-3]), int(maps.shape[-2])
        rows, cols = torch.meshgrid(
            torch.arange(H, device=maps.device), torch.arange(W, device=maps.device), indexing="ij"
        )
        coords = torch.stack((cols, rows), -1)[None].to(maps.dtype)  # (1, H, W, 2)
        uvs = self.verts_uvs_list()[index][None, None]  # (1, 1, V, 2)
        with torch.no_grad():
            centers = _sample_maps(
                coords, uvs, self.sampling_mode, self.padding_mode, self.align_corners
            )  # (1, 2, 1, V)
        return centers[0, :, 0].T.cpu()

    def check_shapes(self, batch_size: int, max_num_verts: int, max_num_faces: int) -> bool:
        """True when faces_uvs is (batch_size, max_num_faces, 3) and verts_uvs has N items."""
        return tuple(self.faces_uvs_padded().shape[:2]) == (batch_size, max_num_faces) and (
            self.verts_uvs_padded().shape[0] == batch_size
        )
