"""Batches of point clouds in list, padded and packed form (PyTorch3D's ``Pointclouds``).

A batch of N clouds with P_n points each is held as
- list:   N tensors (P_n, 3) (points, normals) or (P_n, C) (features);
- padded: (N, max P_n, 3), zero-padded;
- packed: (sum P_n, 3), with `packed_to_cloud_idx` and `cloud_to_packed_first_idx`.
Each form is computed lazily from whichever one was given and cached; every form is a
differentiable function of the input tensors. Clouds with zero points may appear anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from inverse3d.common.errors import ArgTypeError
from inverse3d.structures._device_moves import DeviceMoves
from inverse3d.structures.utils import (
    list_to_packed,
    list_to_padded,
    padded_to_list,
    padded_to_packed,
)

__all__ = ["Pointclouds", "join_pointclouds_as_batch", "join_pointclouds_as_scene"]

# Upper bound on the number of entries of one distance block in `_estimate_normals_padded`.
_KNN_BLOCK = 1 << 24


_ArgTypeError = ArgTypeError  # a TypeError, also caught by PyTorch3D-style `except ValueError`


def _shape(x: Any) -> Any:
    return tuple(x.shape) if torch.is_tensor(x) else type(x).__name__


class Pointclouds(DeviceMoves):
    """A batch of N point clouds with optional per-point normals and features.

    Args:
        points: list of N tensors (P_n, 3) float (an empty cloud may be (0, 3) or (0,)),
            or a padded tensor (N, P, 3) float (all clouds then have P points).
        normals: None, a list of N tensors (P_n, 3), or a padded tensor (N, P, 3).
        features: None, a list of N tensors (P_n, C), or a padded tensor (N, P, C).

    Attributes: `valid` (N,) bool (cloud has points), `equisized` (all P_n equal), `device`,
    `_N` (clouds), `_P` (largest P_n), `_C` (feature channels or None).
    """

    _INTERNAL_TENSORS = tuple(
        f"_{a}_{b}" for a in ("points", "normals", "features") for b in ("packed", "padded")
    ) + ("_packed_to_cloud_idx", "_cloud_to_packed_first_idx", "_num_points_per_cloud")
    _INTERNAL_TENSORS += ("_padded_to_packed_idx", "valid")
    _INTERNAL_LISTS = ("_points_list", "_normals_list", "_features_list")

    def __init__(
        self,
        points: list[torch.Tensor] | torch.Tensor,
        normals: list[torch.Tensor] | torch.Tensor | None = None,
        features: list[torch.Tensor] | torch.Tensor | None = None,
    ) -> None:
        self.device = torch.device("cpu")
        self.equisized = False
        self.valid: torch.Tensor | None = None
        self._N = 0
        self._P = 0
        self._C: int | None = None
        # list / packed / padded forms, each computed lazily from another and cached
        self._points_list = self._normals_list = self._features_list = None
        self._points_packed = self._normals_packed = self._features_packed = None
        self._points_padded = self._normals_padded = self._features_padded = None
        self._num_points_per_cloud = None  # (N,) int64
        self._packed_to_cloud_idx = self._padded_to_packed_idx = None  # (sum P_n,) int64
        self._cloud_to_packed_first_idx = None  # (N,) int64

        if isinstance(points, (list, tuple)):
            self._init_from_list(list(points))
        elif torch.is_tensor(points):
            if points.dim() != 3 or points.shape[2] != 3:
                raise ValueError(
                    "Points tensor has incorrect dimensions: points must have shape (N, P, 3); "
                    f"got {_shape(points)}"
                )
            self._points_padded = points
            self._N, self._P = int(points.shape[0]), int(points.shape[1])
            self.device = points.device
            self.valid = torch.full((self._N,), self._P > 0, dtype=torch.bool, device=self.device)
            self._num_points_per_cloud = torch.full(
                (self._N,), self._P, dtype=torch.int64, device=self.device
            )
            self.equisized = True
        else:
            raise _ArgTypeError(
                "Points must be either a list or a tensor: "
                "points must be a list of (P_n, 3) tensors or a tensor (N, P, 3); "
                f"got {type(points).__name__}"
            )

        self._normals_list, self._normals_padded, normals_c = self._parse_auxiliary_input(
            normals, "normals"
        )
        if normals_c is not None and normals_c != 3:
            raise ValueError(
                f"Normals are expected to be 3-dimensional: normals must have 3 channels (last "
                f"dim); got {normals_c}"
            )
        self._features_list, self._features_padded, self._C = self._parse_auxiliary_input(
            features, "features"
        )

    def _init_from_list(self, points: list) -> None:
        self._N = len(points)
        if self._N == 0:
            self._points_list = []
            self._num_points_per_cloud = torch.zeros((0,), dtype=torch.int64)
            self.valid = torch.zeros((0,), dtype=torch.bool)
            return
        for i, p in enumerate(points):
            if not torch.is_tensor(p):
                raise _ArgTypeError(f"points[{i}] must be a torch.Tensor; got {type(p).__name__}")
        self.device = points[0].device
        dtype = next((p.dtype for p in points if p.numel() > 0), points[0].dtype)
        if not dtype.is_floating_point:
            dtype = torch.get_default_dtype()
        fixed = []
        for i, p in enumerate(points):
            if p.device != self.device:
                raise ValueError(
                    f"points must all be on one device; points[0] is on {self.device}, "
                    f"points[{i}] on {p.device}"
                )
            if p.numel() == 0 and not (p.dim() == 2 and p.shape[1] == 3):
                p = torch.zeros((0, 3), dtype=dtype, device=self.device)
            elif p.dim() != 2 or p.shape[1] != 3:
                raise ValueError(
                    f"Clouds in list must be of shape Px3 or empty: points[{i}] has shape "
                    f"{_shape(p)}"
                )
            fixed.append(p)
        self._points_list = fixed
        counts = [int(p.shape[0]) for p in fixed]
        self._num_points_per_cloud = torch.tensor(counts, dtype=torch.int64, device=self.device)
        self._P = max(counts)
        self.valid = self._num_points_per_cloud > 0
        self.equisized = len(set(counts)) == 1

    def _parse_auxiliary_input(
        self, aux: Any, name: str
    ) -> tuple[list[torch.Tensor] | None, torch.Tensor | None, int | None]:
        """-> (list or None, padded or None, channels or None) for normals / features."""
        if aux is None or self._N == 0:
            return None, None, None
        if isinstance(aux, (list, tuple)):
            return self._parse_auxiliary_list(list(aux), name)
        if torch.is_tensor(aux):
            if aux.dim() != 3 or aux.shape[0] != self._N or aux.shape[1] != self._P:
                if aux.dim() != 3:
                    phrase = "Auxiliary input tensor has incorrect dimensions"
                elif aux.shape[0] != self._N:
                    phrase = "Points and inputs must be the same length"
                else:
                    phrase = (
                        "Inputs tensor must have the right maximum number of points in each cloud"
                    )
                raise ValueError(
                    f"{phrase}: {name} must have shape (N, P, C) with N={self._N}, "
                    f"P={self._P}; got {_shape(aux)}"
                )
            if aux.device != self.device:
                raise ValueError(
                    f"{name} must be on {self.device} like the points; got {aux.device}"
                )
            return None, aux, int(aux.shape[2])
        raise _ArgTypeError(
            f"{name} must be None, a list of (P_n, C) tensors or a tensor (N, P, C); "
            f"got {type(aux).__name__}"
        )

    def _parse_auxiliary_list(
        self, aux: list, name: str
    ) -> tuple[list[torch.Tensor] | None, None, int | None]:
        if len(aux) != self._N:
            raise ValueError(
                f"Points and auxiliary input must be the same length: {name} must hold one "
                f"tensor per cloud ({self._N}); got {len(aux)}"
            )
        counts = self._num_points_per_cloud.tolist()
        channels = None
        usable = []
        for i, (n, d) in enumerate(zip(counts, aux)):
            ok = torch.is_tensor(d) and d.dim() == 2 and d.shape[0] == n
            if n > 0 and not ok:
                raise ValueError(
                    f"A cloud has mismatched numbers of points and inputs: {name}[{i}] must "
                    f"have shape ({n}, C) to match points[{i}]; got {_shape(d)}"
                )
            usable.append(ok)
            if not ok:
                continue
            if channels is None:
                channels = int(d.shape[1])
            elif d.shape[1] != channels:
                raise ValueError(
                    f"The clouds must have the same number of channels: {name}[{i}] has "
                    f"{d.shape[1]}, an earlier one {channels}"
                )
            if d.device != self.device:
                raise ValueError(f"{name}[{i}] must be on {self.device}; got {d.device}")
        if channels is None:
            return None, None, None
        ref = next(d for d, ok in zip(aux, usable) if ok)
        out = [d if ok else ref.new_zeros((0, channels)) for d, ok in zip(aux, usable)]
        return out, None, channels

    # ------------------------------------------------------------------ size and indexing
    def __len__(self) -> int:
        return self._N

    def __getitem__(self, index: int | list | slice | torch.Tensor) -> Pointclouds:
        """Pointclouds with the selected clouds (int, slice, list, LongTensor, BoolTensor).
        The tensors are not copied."""
        if isinstance(index, bool):
            raise IndexError(f"index must be an int, slice, list or 1-D tensor; got {index!r}")
        if isinstance(index, int):
            if not -self._N <= index < self._N:
                raise IndexError(f"index {index} is out of range for {self._N} clouds")
            ids = [index % self._N]
        elif isinstance(index, slice):
            ids = list(range(self._N))[index]
        elif isinstance(index, (list, tuple)):
            ids = [int(i) for i in index]
        elif torch.is_tensor(index):
            if index.dim() != 1 or index.dtype.is_floating_point:
                raise IndexError(
                    "index tensor must be 1-D of integer or bool dtype; got shape "
                    f"{tuple(index.shape)} and dtype {index.dtype}"
                )
            if index.dtype == torch.bool:
                if index.shape[0] != self._N:
                    raise IndexError(f"bool index must have length {self._N}; got {index.shape[0]}")
                index = index.nonzero().reshape(-1)
            ids = index.tolist()
        else:
            raise IndexError(
                f"index must be an int, slice, list or 1-D tensor; got {type(index).__name__}"
            )
        points_list = self.points_list()
        normals_list, features_list = self.normals_list(), self.features_list()
        return self.__class__(
            points=[points_list[i] for i in ids],
            normals=None if normals_list is None else [normals_list[i] for i in ids],
            features=None if features_list is None else [features_list[i] for i in ids],
        )

    def isempty(self) -> bool:
        """True if there are no clouds or every cloud has zero points."""
        return self._N == 0 or not bool(self.valid.any())

    # ------------------------------------------------------------------ list form
    def points_list(self) -> list[torch.Tensor]:
        """N tensors (P_n, 3)."""
        if self._points_list is None:
            self._points_list = padded_to_list(
                self._points_padded, self._num_points_per_cloud.tolist()
            )
        return self._points_list

    def _aux_list(self, name: str) -> list[torch.Tensor] | None:
        lst = getattr(self, f"_{name}_list")
        if lst is None:
            padded = getattr(self, f"_{name}_padded")
            packed = getattr(self, f"_{name}_packed")
            if padded is not None:
                lst = padded_to_list(padded, self._num_points_per_cloud.tolist())
            elif packed is not None:
                lst = list(packed.split(self._num_points_per_cloud.tolist(), 0))
            else:
                return None
            setattr(self, f"_{name}_list", lst)
        return lst

    def normals_list(self) -> list[torch.Tensor] | None:
        """N tensors (P_n, 3), or None without normals."""
        return self._aux_list("normals")

    def features_list(self) -> list[torch.Tensor] | None:
        """N tensors (P_n, C), or None without features."""
        return self._aux_list("features")

    # ------------------------------------------------------------------ packed form
    def _compute_packed(self, refresh: bool = False) -> None:
        if not refresh and not any(
            v is None
            for v in (
                self._points_packed,
                self._packed_to_cloud_idx,
                self._cloud_to_packed_first_idx,
            )
        ):
            return
        num = self._num_points_per_cloud.to(self.device)
        self._cloud_to_packed_first_idx = torch.cumsum(num, 0) - num
        self._packed_to_cloud_idx = torch.repeat_interleave(
            torch.arange(self._N, dtype=torch.int64, device=self.device), num
        )
        for name in ("points", "normals", "features"):
            if refresh or getattr(self, f"_{name}_packed") is None:
                setattr(self, f"_{name}_packed", self._pack(name))

    def _pack(self, name: str) -> torch.Tensor | None:
        lst = getattr(self, f"_{name}_list")
        padded = getattr(self, f"_{name}_padded")
        if self._N == 0:
            if name != "points":
                return None
            return torch.zeros((0, 3), dtype=torch.get_default_dtype(), device=self.device)
        if lst is not None:
            return list_to_packed(lst)[0]
        if padded is not None:
            if self.equisized:
                return padded.reshape(-1, padded.shape[2])
            return padded_to_packed(padded, self._num_points_per_cloud.tolist())
        return None

    def points_packed(self) -> torch.Tensor:
        """points: (sum P_n, 3)."""
        self._compute_packed()
        return self._points_packed

    def normals_packed(self) -> torch.Tensor | None:
        """normals: (sum P_n, 3), or None."""
        self._compute_packed()
        return self._normals_packed

    def features_packed(self) -> torch.Tensor | None:
        """features: (sum P_n, C), or None."""
        self._compute_packed()
        return self._features_packed

    def packed_to_cloud_idx(self) -> torch.Tensor:
        """(sum P_n,) int64: the cloud of each packed point."""
        self._compute_packed()
        return self._packed_to_cloud_idx

    def cloud_to_packed_first_idx(self) -> torch.Tensor:
        """(N,) int64: the packed index of each cloud's first point."""
        self._compute_packed()
        return self._cloud_to_packed_first_idx

    def num_points_per_cloud(self) -> torch.Tensor:
        """(N,) int64: P_n."""
        return self._num_points_per_cloud

    # ------------------------------------------------------------------ padded form
    def _compute_padded(self, refresh: bool = False) -> None:
        if refresh or self._points_padded is None:
            if self._N == 0:
                self._points_padded = torch.zeros(
                    (0, 0, 3), dtype=torch.get_default_dtype(), device=self.device
                )
            else:
                self._points_padded = list_to_padded(
                    self.points_list(), (self._P, 3), 0.0, self.equisized
                )
        for name, c in (("normals", 3), ("features", self._C)):
            if refresh or getattr(self, f"_{name}_padded") is None:
                lst = self._aux_list(name)
                padded = None
                if lst is not None:
                    padded = list_to_padded(lst, (self._P, c), 0.0, self.equisized)
                setattr(self, f"_{name}_padded", padded)

    def points_padded(self) -> torch.Tensor:
        """points: (N, max P_n, 3), zero-padded."""
        self._compute_padded()
        return self._points_padded

    def normals_padded(self) -> torch.Tensor | None:
        """normals: (N, max P_n, 3), zero-padded, or None."""
        self._compute_padded()
        return self._normals_padded

    def features_padded(self) -> torch.Tensor | None:
        """features: (N, max P_n, C), zero-padded, or None."""
        self._compute_padded()
        return self._features_padded

    def padded_to_packed_idx(self) -> torch.Tensor:
        """(sum P_n,) int64 x with points_packed() == points_padded().reshape(-1, 3)[x]."""
        if self._padded_to_packed_idx is None:
            cloud = self.packed_to_cloud_idx()
            first = self.cloud_to_packed_first_idx()
            pos = torch.arange(cloud.shape[0], dtype=torch.int64, device=self.device)
            self._padded_to_packed_idx = pos - first[cloud] + cloud * self._P
        return self._padded_to_packed_idx

    # ------------------------------------------------------------------ copies
    def _apply(self, fn) -> Pointclouds:
        other = object.__new__(self.__class__)
        other.__dict__.update(self.__dict__)
        for k in self._INTERNAL_TENSORS:
            v = getattr(self, k)
            if torch.is_tensor(v):
                setattr(other, k, fn(v))
        for k in self._INTERNAL_LISTS:
            v = getattr(self, k)
            if v is not None:
                setattr(other, k, [fn(t) for t in v])
        return other

    def clone(self) -> Pointclouds:
        """Copy with every internal tensor cloned (gradients flow back to self)."""
        return self._apply(torch.clone)

    def detach(self) -> Pointclouds:
        """Copy with every internal tensor detached."""
        return self._apply(torch.Tensor.detach)

    def _copy_to(self, device: torch.device) -> Pointclouds:
        other = self._apply(lambda t: t.to(device, copy=True))
        other.device = device
        return other

    def get_cloud(
        self, index: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(points (P, 3), normals (P, 3) or None, features (P, C) or None) of cloud `index`."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise _ArgTypeError(f"index must be an int; got {type(index).__name__}")
        if not 0 <= index < self._N:
            raise ValueError(
                "Cloud index must be in the range [0, N) where N is the number of clouds in "
                f"the batch (N={self._N}); got {index}"
            )
        normals, features = self.normals_list(), self.features_list()
        return (
            self.points_list()[index],
            None if normals is None else normals[index],
            None if features is None else features[index],
        )

    def split(self, split_sizes: list[int]) -> list[Pointclouds]:
        """Split into len(split_sizes) Pointclouds of split_sizes[i] clouds each."""
        if not isinstance(split_sizes, (list, tuple)) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in split_sizes
        ):
            raise ValueError(f"split_sizes must be a list of ints; got {split_sizes!r}")
        out, start = [], 0
        for s in split_sizes:
            out.append(self[start : start + s])
            start += s
        return out

    # ------------------------------------------------------------------ geometry edits
    def _set_points_packed(self, points_packed: torch.Tensor) -> None:
        """Replace the points by new packed ones; other forms are re-derived lazily."""
        self._points_packed = points_packed
        self._points_list = list(points_packed.split(self._num_points_per_cloud.tolist(), 0))
        self._points_padded = None

    def offset_(self, offsets_packed: torch.Tensor) -> Pointclouds:
        """Translate in place. offsets_packed: (3,) or (sum P_n, 3) float. Returns self."""
        points_packed = self.points_packed()
        if not torch.is_tensor(offsets_packed):
            raise _ArgTypeError(
                f"offsets_packed must be a torch.Tensor; got {type(offsets_packed).__name__}"
            )
        if offsets_packed.shape == (3,):
            offsets_packed = offsets_packed.expand_as(points_packed)
        if offsets_packed.shape != points_packed.shape:
            raise ValueError(
                f"offsets_packed must have shape (3,) or {tuple(points_packed.shape)}; "
                f"got {tuple(offsets_packed.shape)}"
            )
        self._set_points_packed(points_packed + offsets_packed.to(points_packed.device))
        return self

    def offset(self, offsets_packed: torch.Tensor) -> Pointclouds:
        """Out-of-place `offset_`."""
        return self.clone().offset_(offsets_packed)

    def scale_(self, scale: float | torch.Tensor) -> Pointclouds:
        """Scale the points of each cloud in place. scale: a number or (N,) float. Returns self."""
        points_packed = self.points_packed()
        if torch.is_tensor(scale):
            scale = scale.to(points_packed.device)
            if scale.dim() == 0 or scale.shape == (1,):
                scale = scale.reshape(1).expand(self._N)
            if scale.shape != (self._N,):
                raise ValueError(
                    f"scale must be a number or have shape ({self._N},); got {tuple(scale.shape)}"
                )
        elif isinstance(scale, (int, float)) and not isinstance(scale, bool):
            scale = torch.full(
                (self._N,), float(scale), dtype=points_packed.dtype, device=points_packed.device
            )
        else:
            raise _ArgTypeError(f"scale must be a number or a tensor; got {type(scale).__name__}")
        per_point = scale[self.packed_to_cloud_idx()]  # (sum P_n,)
        self._set_points_packed(points_packed * per_point[:, None])
        return self

    def scale(self, scale: float | torch.Tensor) -> Pointclouds:
        """Out-of-place `scale_`."""
        return self.clone().scale_(scale)

    def get_bounding_boxes(self) -> torch.Tensor:
        """bboxes: (N, 3, 2) float, [n, j] = (min, max) of cloud n along axis j.
        Empty clouds get an all-zero box."""
        padded = self.points_padded()
        mask = (
            torch.arange(self._P, device=self.device)[None]
            < self._num_points_per_cloud.to(self.device)[:, None]
        )[..., None]  # (N, P, 1)
        inf = torch.tensor(float("inf"), dtype=padded.dtype, device=padded.device)
        mins = torch.where(mask, padded, inf).amin(1) if self._P else padded.new_zeros(self._N, 3)
        maxs = torch.where(mask, padded, -inf).amax(1) if self._P else padded.new_zeros(self._N, 3)
        box = torch.stack([mins, maxs], dim=2)  # (N, 3, 2)
        return torch.where(self.valid.to(self.device)[:, None, None], box, torch.zeros_like(box))

    def subsample(self, max_points: int | Sequence[int]) -> Pointclouds:
        """Keep at most max_points (an int, or one per cloud) points of each cloud, drawn at
        random without replacement (torch's RNG). Returns self if no cloud is too large."""
        if isinstance(max_points, bool):
            raise _ArgTypeError("max_points must be an int or a sequence of ints; got bool")
        if isinstance(max_points, int):
            limits = [max_points] * self._N
        elif isinstance(max_points, (list, tuple)) or torch.is_tensor(max_points):
            limits = [
                int(m) for m in (max_points.tolist() if torch.is_tensor(max_points) else max_points)
            ]
            if len(limits) != self._N:
                raise ValueError(
                    f"max_points must give one limit per cloud ({self._N}); got {len(limits)}"
                )
        else:
            raise _ArgTypeError(
                f"max_points must be an int or a sequence of ints; got {type(max_points).__name__}"
            )
        if any(m < 0 for m in limits):
            raise ValueError(f"max_points must be >= 0; got {limits}")
        counts = self._num_points_per_cloud.to(self.device)
        limit = torch.tensor(limits, dtype=torch.int64, device=self.device)
        if self._N == 0 or bool((counts <= limit).all()):
            return self
        n, p = self._N, self._P
        slot = torch.arange(p, device=self.device)[None].expand(n, p)  # (N, P)
        # sort keys: random for clouds to thin, the identity order for the others; padding last
        keys = torch.where(
            (counts > limit)[:, None],
            torch.rand((n, p), device=self.device),
            slot.to(torch.float32) / max(p, 1),
        )
        keys = torch.where(slot < counts[:, None], keys, torch.full_like(keys, 2.0))
        order = keys.argsort(dim=1)  # (N, P)
        keep = torch.minimum(counts, limit)
        chosen = slot < keep[:, None]  # (N, P)
        flat = (order + torch.arange(n, device=self.device)[:, None] * p)[chosen]  # (sum keep,)
        sizes = keep.tolist()

        def take(padded: torch.Tensor | None) -> list[torch.Tensor] | None:
            if padded is None:
                return None
            return list(padded.reshape(n * p, -1)[flat].split(sizes, 0))

        return self.__class__(
            points=take(self.points_padded()),
            normals=take(self.normals_padded()),
            features=take(self.features_padded()),
        )

    def estimate_normals(
        self,
        neighborhood_size: int = 50,
        disambiguate_directions: bool = True,
        assign_to_self: bool = False,
    ) -> torch.Tensor:
        """Per-point normals by PCA of the `neighborhood_size` nearest neighbours (the point
        itself included): the eigenvector of the smallest eigenvalue of the neighbourhood
        covariance. With `disambiguate_directions`, each normal is flipped so that at least half
        of the vectors from the point to its neighbours have a positive projection on it
        (Tombari et al., ECCV 2010), which orients normals consistently (towards the concave
        side) on smooth surfaces.

        Returns:
            normals: (N, max P_n, 3) float, unit length, zero at padding.
        """
        if isinstance(neighborhood_size, bool) or not isinstance(neighborhood_size, int):
            raise _ArgTypeError(
                f"neighborhood_size must be an int; got {type(neighborhood_size).__name__}"
            )
        if neighborhood_size < 1:
            raise ValueError(f"neighborhood_size must be >= 1; got {neighborhood_size}")
        normals = _estimate_normals_padded(
            self.points_padded(),
            self._num_points_per_cloud.to(self.device),
            neighborhood_size,
            disambiguate_directions,
        )
        if assign_to_self:
            self._normals_padded = normals
            self._normals_list = None
            self._normals_packed = None
        return normals

    def extend(self, N: int) -> Pointclouds:
        """New Pointclouds with each cloud repeated N times (cloned), cloud by cloud."""
        if isinstance(N, bool) or not isinstance(N, int):
            raise _ArgTypeError(f"N must be an int; got {type(N).__name__}")
        if N <= 0:
            raise ValueError(f"N must be > 0; got {N}")

        def rep(lst: list[torch.Tensor] | None) -> list[torch.Tensor] | None:
            return None if lst is None else [t.clone() for t in lst for _ in range(N)]

        return self.__class__(
            points=rep(self.points_list()),
            normals=rep(self.normals_list()),
            features=rep(self.features_list()),
        )

    def update_padded(
        self,
        new_points_padded: torch.Tensor,
        new_normals_padded: torch.Tensor | None = None,
        new_features_padded: torch.Tensor | None = None,
    ) -> Pointclouds:
        """New Pointclouds with the same cloud sizes and new padded values.

        Args:
            new_points_padded: (N, P, 3) float.
            new_normals_padded: optional (N, P, 3) float; None keeps the current normals.
            new_features_padded: optional (N, P, C) float; None keeps the current features.
        """

        def check(x: Any, name: str, c: int | None) -> None:
            if not torch.is_tensor(x):
                raise _ArgTypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
            want = (self._N, self._P, c)
            if (
                x.dim() != 3
                or x.shape[0] != self._N
                or x.shape[1] != self._P
                or (c is not None and x.shape[2] != c)
            ):
                spec = ", ".join("C" if w is None else str(w) for w in want)
                raise ValueError(f"{name} must have shape ({spec}); got {_shape(x)}")

        check(new_points_padded, "new_points_padded", 3)
        if new_normals_padded is not None:
            check(new_normals_padded, "new_normals_padded", 3)
        if new_features_padded is not None:
            check(new_features_padded, "new_features_padded", self._C)

        new = self.__class__(
            points=new_points_padded, normals=new_normals_padded, features=new_features_padded
        )
        new.equisized = self.equisized
        if new_features_padded is None:
            new._C = self._C
        if new_normals_padded is None:
            new._normals_list = self._normals_list
            new._normals_padded = self._normals_padded
            new._normals_packed = self._normals_packed
        if new_features_padded is None:
            new._features_list = self._features_list
            new._features_padded = self._features_padded
            new._features_packed = self._features_packed
        for k in (
            "_packed_to_cloud_idx",
            "_cloud_to_packed_first_idx",
            "_num_points_per_cloud",
            "_padded_to_packed_idx",
            "valid",
        ):
            setattr(new, k, getattr(self, k))
        return new

    def inside_box(self, box: torch.Tensor) -> torch.Tensor:
        """Which packed points lie inside an axis-aligned box (boundary included).

        Args:
            box: (2, 3) or (N, 2, 3) float; box[..., 0, :] the min corner, box[..., 1, :] the max.

        Returns:
            inside: (sum P_n,) bool.
        """
        if not torch.is_tensor(box):
            raise _ArgTypeError(f"box must be a torch.Tensor; got {type(box).__name__}")
        if box.dim() == 2:
            box = box[None]
        if box.dim() != 3 or box.shape[1:] != (2, 3) or box.shape[0] not in (1, self._N):
            raise ValueError(f"box must have shape (2, 3) or ({self._N}, 2, 3); got {_shape(box)}")
        if bool((box[:, 0] > box[:, 1]).any()):
            raise ValueError("box is invalid: a min corner value is larger than the max value")
        points = self.points_packed()
        box = box.to(points.device)
        if box.shape[0] != 1:
            box = box[self.packed_to_cloud_idx()]  # (sum P_n, 2, 3)
        return ((points >= box[:, 0]) & (points <= box[:, 1])).all(dim=-1)


def _estimate_normals_padded(
    points: torch.Tensor, num_points: torch.Tensor, k: int, disambiguate: bool
) -> torch.Tensor:
    """PCA normals of padded clouds. points: (N, P, 3) float; num_points: (N,) int64.

    Brute-force k nearest neighbours, in blocks of query points to bound memory.
    Returns (N, P, 3) normals, zero at padding.
    """
    n, p, _ = points.shape
    nonempty = num_points > 0
    if bool((num_points[nonempty] <= k).any()):
        raise ValueError(
            f"neighborhood_size must be smaller than the number of points of every non-empty "
            f"cloud; got neighborhood_size={k} and cloud sizes {num_points.tolist()}"
        )
    if p == 0:
        return points.new_zeros((n, 0, 3))
    mask = torch.arange(p, device=points.device)[None] < num_points[:, None]  # (N, P)
    mask3 = mask[..., None]
    # centre each cloud for numerical stability
    mean = (points * mask3).sum(1) / num_points.clamp(min=1)[:, None].to(points.dtype)
    pts = torch.where(mask3, points - mean[:, None], torch.zeros_like(points))  # (N, P, 3)

    with torch.no_grad():
        ref = pts.detach()
        sq = (ref * ref).sum(-1)  # (N, P)
        far = torch.where(mask, torch.zeros_like(sq), torch.full_like(sq, float("inf")))
        block = max(1, _KNN_BLOCK // max(1, n * p))
        idx_blocks = []
        for s in range(0, p, block):  # blocks of query points
            q = ref[:, s : s + block]  # (N, B, 3)
            d2 = sq[:, s : s + block, None] - 2.0 * q @ ref.transpose(1, 2) + sq[:, None, :]
            d2 = d2 + far[:, None, :]  # (N, B, P)
            idx_blocks.append(d2.topk(k, dim=2, largest=False).indices)
        idx = torch.cat(idx_blocks, dim=1)  # (N, P, K)
    batch = torch.arange(n, device=points.device)[:, None, None]
    nbrs = pts[batch, idx]  # (N, P, K, 3)
    centred = nbrs - nbrs.mean(2, keepdim=True)
    cov = centred.transpose(2, 3) @ centred / k  # (N, P, 3, 3)
    cov = torch.where(mask[..., None, None], cov, torch.eye(3, dtype=cov.dtype, device=cov.device))
    _, vecs = torch.linalg.eigh(cov)
    normals = vecs[..., 0]  # (N, P, 3), eigenvector of the smallest eigenvalue
    if disambiguate:
        proj = ((nbrs - pts[:, :, None]) * normals[:, :, None]).sum(-1)  # (N, P, K)
        flip = (proj > 0).sum(-1, keepdim=True) < 0.5 * k
        normals = torch.where(flip, -normals, normals)
    return torch.where(mask3, normals, torch.zeros_like(normals))


def join_pointclouds_as_batch(pointclouds: Sequence[Pointclouds]) -> Pointclouds:
    """One Pointclouds holding all clouds of a sequence of Pointclouds, in order.

    Normals (and features) must be present in all inputs or in none; all on one device.
    """
    if isinstance(pointclouds, Pointclouds) or not isinstance(pointclouds, Sequence):
        raise _ArgTypeError(
            "Wrong first argument to join_points_as_batch: pointclouds must be a list of "
            f"Pointclouds; got {type(pointclouds).__name__}"
        )
    if len(pointclouds) == 0:
        raise ValueError("pointclouds must hold at least one Pointclouds; got an empty list")
    for i, pc in enumerate(pointclouds):
        if not isinstance(pc, Pointclouds):
            raise _ArgTypeError(f"pointclouds[{i}] must be a Pointclouds; got {type(pc).__name__}")
    device = pointclouds[0].device
    if not all(pc.device == device for pc in pointclouds):
        raise ValueError("Pointclouds must all be on the same device")
    kwargs = {}
    for field in ("points", "normals", "features"):
        lists = [getattr(pc, field + "_list")() for pc in pointclouds]
        if any(lst is None for lst in lists):
            if not all(lst is None for lst in lists):
                raise ValueError(
                    f"Pointclouds in the batch have some fields '{field}' defined and some set "
                    f"to None: pointclouds must all have {field} or all have none"
                )
            kwargs[field] = None
            continue
        flat = [t for lst in lists for t in lst]
        if field == "features" and len({int(t.shape[1]) for t in flat}) > 1:
            raise ValueError("Pointclouds must have the same number of features (feature channels)")
        kwargs[field] = flat
    return Pointclouds(**kwargs)


def join_pointclouds_as_scene(pointclouds: Pointclouds | list[Pointclouds]) -> Pointclouds:
    """One Pointclouds with a single cloud holding every point of the input batch (or list)."""
    if isinstance(pointclouds, (list, tuple)):
        pointclouds = join_pointclouds_as_batch(pointclouds)
    if not isinstance(pointclouds, Pointclouds):
        raise _ArgTypeError(
            f"pointclouds must be a Pointclouds or a list of them; got {type(pointclouds).__name__}"
        )
    if len(pointclouds) == 1:
        return pointclouds
    points = pointclouds.points_packed()
    normals = pointclouds.normals_packed()
    features = pointclouds.features_packed()
    return Pointclouds(
        points=points[None],
        normals=None if normals is None else normals[None],
        features=None if features is None else features[None],
    )
