"""Private: TexturesBase, the common machinery of the texture classes (see textures.py)."""

from __future__ import annotations

from typing import Any

import torch

from inverse3d._validation import check_positive_int
from inverse3d.common.datatypes import make_device
from inverse3d.renderer.mesh._textures_utils import batch_indices

__all__ = ["TexturesBase", "check_same_type", "feature_channels"]


class TexturesBase:
    """Common machinery of the texture classes (batch size, validity, device moves, indexing)."""

    _N: int = 0
    valid: torch.Tensor | None = None
    device: torch.device = torch.device("cpu")

    def isempty(self) -> bool:
        """True when the batch is empty or no mesh in it is valid."""
        if self._N == 0:
            return True
        if self.valid is not None:
            return not bool(self.valid.any())
        return False

    def to(self, device: str | torch.device) -> TexturesBase:
        """Move every tensor (and list of tensors) to `device`, in place; returns self."""
        device = make_device(device)
        for key, value in list(vars(self).items()):
            if torch.is_tensor(value):
                setattr(self, key, value.to(device))
            elif isinstance(value, (list, tuple)) and value and all(map(torch.is_tensor, value)):
                setattr(self, key, [v.to(device) for v in value])
        self.device = device
        return self

    def _check_extend(self, N: int) -> int:
        return check_positive_int(N, "N")

    def _select(self, index: Any) -> tuple[list[int], bool]:
        return batch_indices(index, self._N)

    def sample_textures(self, fragments: Any, **kwargs: Any) -> torch.Tensor:
        """texels: (N, H, W, K, C) for the pixels of `fragments`; defined by each subclass."""
        raise NotImplementedError()

    def submeshes(self, vertex_ids_list: list, faces_ids_list: list) -> TexturesBase:
        """Textures of the submeshes given by vertex / face ids (see Meshes.submeshes)."""
        raise NotImplementedError(f"{self.__class__.__name__} does not support submeshes")

    def faces_verts_textures_packed(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """(sum F_i, 3, C) texture value at each vertex of each face."""
        raise NotImplementedError()

    def clone(self) -> TexturesBase:
        raise NotImplementedError()

    def detach(self) -> TexturesBase:
        raise NotImplementedError()

    def __getitem__(self, index: Any) -> TexturesBase:
        raise NotImplementedError()

    def extend(self, N: int) -> TexturesBase:
        raise NotImplementedError()

    def join_batch(self, textures: list) -> TexturesBase:
        raise NotImplementedError()

    def join_scene(self) -> TexturesBase:
        raise NotImplementedError()

    def check_shapes(self, batch_size: int, max_num_verts: int, max_num_faces: int) -> bool:
        raise NotImplementedError()

    def _copy_state(self, other: TexturesBase, fn) -> None:
        """Copy batch bookkeeping (sizes, valid) from self to `other`, mapping tensors by fn."""
        other._N = self._N
        if self.valid is not None:
            other.valid = fn(self.valid)


def check_same_type(textures: Any, cls: type, name: str = "textures") -> list:
    if not isinstance(textures, (list, tuple)):
        raise TypeError(f"{name} must be a list of {cls.__name__}; got {type(textures).__name__}")
    for i, t in enumerate(textures):
        if not isinstance(t, cls):
            raise ValueError(
                f"All textures must be of type {cls.__name__}; {name}[{i}] is {type(t).__name__}"
            )
    return list(textures)


def feature_channels(t: torch.Tensor | None, default: int = 3) -> int:
    return int(t.shape[-1]) if t is not None and t.ndim > 0 else default
