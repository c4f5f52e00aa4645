"""Batches of voxel grids (densities and optional features) with their place in the world.

Local coordinates follow `torch.nn.functional.grid_sample`: the last dimension of a coordinate
is (x, y, z) and indexes the grid dimensions (W, H, D) in reverse order; with
``align_corners=True`` the centres of the corner voxels lie at -1 and +1, otherwise the outer
faces of the corner voxels do. World coordinates follow PyTorch3D's ``VolumeLocator``::

    x_world = x_local * (grid_size_xyz - 1) * 0.5 * voxel_size - volume_translation

(the same scale for both values of ``align_corners``, as in PyTorch3D).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from inverse3d.common.datatypes import make_device
from inverse3d.structures._device_moves import DeviceMoves
from inverse3d.structures.utils import list_to_padded, padded_to_list

__all__ = ["VolumeLocator", "Volumes"]

_Index = int | list | tuple | slice | torch.Tensor


def _normalize_index(index: Any, n: int) -> Any:
    """Turn an index of any supported kind into something that indexes dim 0 of a tensor."""
    if isinstance(index, bool):
        raise IndexError(f"index must be an int, slice, list or 1-D tensor; got {index!r}")
    if isinstance(index, int):
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a batch of {n}")
        return [index % n]
    if isinstance(index, slice):
        return index
    if isinstance(index, (list, tuple)):
        return torch.as_tensor(list(index), dtype=torch.int64)
    if torch.is_tensor(index):
        if index.dim() != 1 or index.dtype.is_floating_point:
            raise IndexError(
                f"index tensor must be 1-D of integer or bool dtype; got shape "
                f"{tuple(index.shape)} and dtype {index.dtype}"
            )
        if index.dtype == torch.bool and index.shape[0] != n:
            raise IndexError(f"bool index must have length {n}; got {index.shape[0]}")
        return index
    raise IndexError(f"index must be an int, slice, list or 1-D tensor; got {type(index).__name__}")


def _to_batch_tensor(
    x: Any, name: str, n: int, device: torch.device, dtype: torch.dtype, allow_scalar: bool
) -> torch.Tensor:
    """Convert a voxel_size / volume_translation argument to an (N, 3) tensor."""
    shapes = "(3,), (1, 3) or (N, 3)"
    if allow_scalar:
        shapes = "a number or a tensor of shape (1,), (3,), (1, 3), (N, 1) or (N, 3)"
    if isinstance(x, bool):
        raise TypeError(f"{name} must be {shapes}; got bool")
    if isinstance(x, (int, float)):
        if not allow_scalar:
            raise TypeError(
                f"{name} must be a 3-sequence or a tensor of shape {shapes}; got a number"
            )
        return torch.full((n, 3), float(x), device=device, dtype=dtype)
    if isinstance(x, (list, tuple)):
        if len(x) != 3 or not all(
            isinstance(v, (int, float)) or (torch.is_tensor(v) and v.numel() == 1) for v in x
        ):
            raise ValueError(f"{name} must be a sequence of 3 numbers; got {x!r}")
        return torch.tensor([float(v) for v in x], device=device, dtype=dtype)[None].expand(n, 3)
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be {shapes}; got {type(x).__name__}")
    x = x.to(device)
    if not x.is_floating_point():
        x = x.to(dtype)
    shape = tuple(x.shape)
    if allow_scalar and x.numel() == 1 and x.dim() <= 2:
        return x.reshape(1, 1).expand(n, 3)
    if shape == (3,):
        return x[None].expand(n, 3)
    if x.dim() == 2 and x.shape[0] in (1, n) and x.shape[1] == 3:
        return x.expand(n, 3)
    if allow_scalar and x.dim() == 2 and x.shape[0] == n and x.shape[1] == 1:
        return x.expand(n, 3)
    raise ValueError(f"{name} must have shape {shapes} with N={n}; got {shape}")


class VolumeLocator(DeviceMoves):
    """Where the voxels of a batch of grids lie, in local ([-1, 1]) and world coordinates.

    Args:
        batch_size: number of grids N.
        grid_sizes: (N, 3) int64 tensor of (D, H, W) per grid, N sequences of 3 ints, or one
            sequence (D, H, W) shared by all grids.
        device: device of the coordinate tensors.
        voxel_size: a number, a sequence of 3 numbers, or a tensor of shape (1,), (3,),
            (1, 3), (N, 1) or (N, 3): the size of a voxel along (x, y, z) in world units (> 0).
        volume_translation: a sequence of 3 numbers or a tensor of shape (3,), (1, 3) or (N, 3);
            minus the world position of the volume's centre (PyTorch3D's convention).
        align_corners: as in `torch.nn.functional.grid_sample`.
    """

    def __init__(
        self,
        batch_size: int,
        grid_sizes: torch.Tensor | Sequence,
        device: str | torch.device,
        voxel_size: float | Sequence[float] | torch.Tensor = 1.0,
        volume_translation: Sequence[float] | torch.Tensor = (0.0, 0.0, 0.0),
        align_corners: bool = True,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
            raise ValueError(f"batch_size must be an int >= 0; got {batch_size!r}")
        if not isinstance(align_corners, bool):
            raise TypeError(f"align_corners must be a bool; got {type(align_corners).__name__}")
        self.device = make_device(device)
        self._batch_size = batch_size
        self._align_corners = align_corners
        self._grid_sizes = self._convert_grid_sizes(grid_sizes)
        # (D, H, W) of the coordinate grid: the largest grid (Volumes: its padded size)
        self._resolution = (
            tuple(int(s) for s in self._grid_sizes.max(0).values) if batch_size else (1, 1, 1)
        )
        dtype = torch.float32
        for v in (voxel_size, volume_translation):
            if torch.is_tensor(v) and v.is_floating_point():
                dtype = v.dtype
                break
        self._voxel_size = _to_batch_tensor(
            voxel_size, "voxel_size", batch_size, self.device, dtype, allow_scalar=True
        )
        if self._voxel_size.numel() and bool((self._voxel_size <= 0).any()):
            raise ValueError(f"voxel_size must be > 0; got {voxel_size!r}")
        self._volume_translation = _to_batch_tensor(
            volume_translation, "volume_translation", batch_size, self.device, dtype, False
        )

    def _convert_grid_sizes(self, x: Any) -> torch.Tensor:
        n = self._batch_size
        if torch.is_tensor(x):
            if x.dim() != 2 or x.shape[1] != 3 or x.shape[0] != n:
                raise ValueError(f"grid_sizes must have shape ({n}, 3); got {tuple(x.shape)}")
            sizes = x.to(device=self.device, dtype=torch.int64)
        elif isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], int):
            if len(x) != 3:
                raise ValueError(f"grid_sizes must be 3 ints (D, H, W); got {x!r}")
            sizes = torch.tensor([list(x)] * n, dtype=torch.int64, device=self.device)
            sizes = sizes.reshape(n, 3)
        elif isinstance(x, (list, tuple)):
            if len(x) != n or any(len(s) != 3 for s in x):
                raise ValueError(f"grid_sizes must hold {n} triples (D, H, W); got {x!r}")
            sizes = torch.tensor(
                [[int(v) for v in s] for s in x], dtype=torch.int64, device=self.device
            ).reshape(n, 3)
        else:
            raise TypeError(f"grid_sizes must be a tensor or a sequence; got {type(x).__name__}")
        if sizes.numel() and bool((sizes < 1).any()):
            raise ValueError(f"grid_sizes must be >= 1; got {sizes.tolist()}")
        return sizes

    def __len__(self) -> int:
        return self._batch_size

    def get_grid_sizes(self) -> torch.Tensor:
        """grid_sizes: (N, 3) int64, the (D, H, W) of each grid."""
        return self._grid_sizes

    def _scale_xyz(self) -> torch.Tensor:
        """(N, 3) factor from local to world units, (x, y, z) order."""
        size_xyz = self._grid_sizes.flip(-1).to(self._voxel_size.dtype)
        return (size_xyz - 1.0) * self._voxel_size * 0.5

    def _batched(self, points: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Reshape (B, ..., 3) points to (B, M, 3) and return the matching (B|1, 1, 3) scale."""
        if not torch.is_tensor(points):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(points).__name__}")
        if points.dim() < 2 or points.shape[-1] != 3:
            raise ValueError(f"{name} must have shape (N, ..., 3); got {tuple(points.shape)}")
        n = self._batch_size
        if points.shape[0] != n and n != 1:
            raise ValueError(
                f"{name} must have shape (N, ..., 3) with N={n}; got {tuple(points.shape)}"
            )
        return points.reshape(points.shape[0], -1, 3), self._scale_xyz()[:, None]

    def local_to_world_coords(self, points_3d_local: torch.Tensor) -> torch.Tensor:
        """points_3d_local: (N, ..., 3) float -> (N, ..., 3) world coordinates."""
        pts, scale = self._batched(points_3d_local, "points_3d_local")
        out = pts * scale.to(pts.dtype) - self._volume_translation[:, None].to(pts.dtype)
        return out.reshape(points_3d_local.shape)

    def world_to_local_coords(self, points_3d_world: torch.Tensor) -> torch.Tensor:
        """points_3d_world: (N, ..., 3) float -> (N, ..., 3) local coordinates."""
        pts, scale = self._batched(points_3d_world, "points_3d_world")
        out = (pts + self._volume_translation[:, None].to(pts.dtype)) / scale.to(pts.dtype)
        return out.reshape(points_3d_world.shape)

    def get_local_to_world_coords_transform(self):
        """A `Transform3d` of batch N mapping local to world coordinates (row vectors)."""
        from inverse3d.transforms.transform3d import Scale

        return Scale(self._scale_xyz(), device=self.device).translate(-self._volume_translation)

    def get_world_to_local_coords_transform(self):
        """The inverse of `get_local_to_world_coords_transform`."""
        return self.get_local_to_world_coords_transform().inverse()

    def get_coord_grid(self, world_coordinates: bool = True) -> torch.Tensor:
        """Coordinates of every voxel centre.

        Returns:
            coords: (N, D, H, W, 3) float with D, H, W the largest grid sizes of the batch;
            last dim (x, y, z). Voxels past a smaller grid's end get coordinates beyond +1.
        """
        n = self._batch_size
        dtype = self._voxel_size.dtype
        size_max = list(self._resolution)
        sizes = self._grid_sizes.to(dtype)  # (N, 3) in (D, H, W)
        axes = []
        for d in range(3):
            idx = torch.arange(size_max[d], device=self.device, dtype=dtype)[None]  # (1, G)
            g = sizes[:, d : d + 1]  # (N, 1)
            if self._align_corners:
                axes.append(-1.0 + 2.0 * idx / (g - 1.0).clamp(min=1.0))
            else:
                axes.append(-1.0 + (2.0 * idx + 1.0) / g)
        z, y, x = axes  # (N, D), (N, H), (N, W)
        dd, hh, ww = size_max
        coords = torch.stack(
            (
                x[:, None, None, :].expand(n, dd, hh, ww),
                y[:, None, :, None].expand(n, dd, hh, ww),
                z[:, :, None, None].expand(n, dd, hh, ww),
            ),
            dim=-1,
        )  # (N, D, H, W, 3)
        if world_coordinates:
            coords = self.local_to_world_coords(coords)
        return coords

    def _apply(self, fn) -> VolumeLocator:
        other = object.__new__(VolumeLocator)
        other.__dict__.update(self.__dict__)
        for key in ("_grid_sizes", "_voxel_size", "_volume_translation"):
            setattr(other, key, fn(getattr(self, key)))
        return other

    def _select(self, index: Any) -> VolumeLocator:
        other = self._apply(lambda t: t[index])
        other._batch_size = int(other._grid_sizes.shape[0])
        return other

    def clone(self) -> VolumeLocator:
        return self._apply(torch.clone)

    def _copy_to(self, device: torch.device) -> VolumeLocator:
        other = self._apply(lambda t: t.to(device, copy=True))
        other.device = device
        return other


class Volumes(DeviceMoves):
    """A batch of N voxel grids of possibly different sizes (PyTorch3D's ``Volumes``).

    Args:
        densities: (N, D_dens, D, H, W) float tensor, or a list of N tensors
            (D_dens, D_i, H_i, W_i) (zero-padded to the largest size internally).
        features: optional, like densities with its own channel count D_feat and the same grid
            sizes.
        voxel_size: a number, 3 numbers, or a tensor (1,), (3,), (1, 3), (N, 1) or (N, 3) (> 0).
        volume_translation: 3 numbers or a tensor (3,), (1, 3) or (N, 3).
        align_corners: local-coordinate convention, as in `torch.nn.functional.grid_sample`.

    Immutable: `update_padded` returns a new object.
    """

    def __init__(
        self,
        densities: torch.Tensor | Sequence[torch.Tensor],
        features: torch.Tensor | Sequence[torch.Tensor] | None = None,
        voxel_size: float | Sequence[float] | torch.Tensor = 1.0,
        volume_translation: Sequence[float] | torch.Tensor = (0.0, 0.0, 0.0),
        align_corners: bool = True,
    ) -> None:
        densities_, grid_sizes = self._convert_to_tensor(densities, "densities")
        self.device = densities_.device
        self._densities = densities_
        self.locator = VolumeLocator(
            batch_size=densities_.shape[0],
            grid_sizes=grid_sizes,
            device=self.device,
            voxel_size=voxel_size,
            volume_translation=volume_translation,
            align_corners=align_corners,
        )
        self.locator._resolution = tuple(int(s) for s in densities_.shape[2:])
        if densities_.is_floating_point() and not (
            torch.is_tensor(voxel_size) or torch.is_tensor(volume_translation)
        ):
            # numbers given: use the precision of the densities (float32 by default)
            loc = self.locator
            loc._voxel_size = loc._voxel_size.to(densities_.dtype)
            loc._volume_translation = loc._volume_translation.to(densities_.dtype)
        self._features = None
        if features is not None:
            self._set("features", features)

    @staticmethod
    def _convert_to_tensor(x: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (N, C, D, H, W) padded tensor and (N, 3) int64 grid sizes."""
        if isinstance(x, (list, tuple)):
            if len(x) == 0:
                raise ValueError(f"{name} must hold at least one volume; got an empty list")
            for i, v in enumerate(x):
                if not torch.is_tensor(v):
                    raise TypeError(f"{name}[{i}] must be a torch.Tensor; got {type(v).__name__}")
                if v.dim() != 4:
                    raise ValueError(
                        f"{name}[{i}] must have shape ({name}_dim, D, H, W); got {tuple(v.shape)}"
                    )
                if v.shape[0] != x[0].shape[0]:
                    raise ValueError(
                        f"{name} must all have the same number of channels (first dim); "
                        f"got {[int(t.shape[0]) for t in x]}"
                    )
                if v.device != x[0].device:
                    raise ValueError(f"{name} must all be on the same device")
            padded = list_to_padded(list(x))
            sizes = torch.tensor(
                [list(v.shape[1:]) for v in x], dtype=torch.int64, device=padded.device
            )
            return padded, sizes
        if torch.is_tensor(x):
            if x.dim() != 5:
                raise ValueError(
                    f"{name} must have shape (N, {name}_dim, D, H, W); got {tuple(x.shape)}"
                )
            sizes = torch.tensor(list(x.shape[2:]), dtype=torch.int64, device=x.device)
            return x, sizes[None].expand(x.shape[0], 3).clone()
        raise TypeError(
            f"{name} must be a tensor (N, {name}_dim, D, H, W) or a list of "
            f"({name}_dim, D, H, W) tensors; got {type(x).__name__}"
        )

    def _set(self, name: str, x: Any) -> None:
        """Set densities or features after checking they fit the current grid sizes."""
        x_tensor, sizes = self._convert_to_tensor(x, name)
        if not torch.is_tensor(x) and x_tensor.shape[2:] != self._densities.shape[2:]:
            # pad a list to the padded size of the current densities (grid sizes checked below)
            spatial = tuple(self._densities.shape[2:])
            if all(a <= b for a, b in zip(x_tensor.shape[2:], spatial)):
                x_tensor = list_to_padded(list(x), (int(x_tensor.shape[1]), *spatial))
        if x_tensor.device != self.device:
            raise ValueError(
                f"{name} must be on the device of the densities ({self.device}); "
                f"got {x_tensor.device}"
            )
        n = len(self)
        if x_tensor.shape[0] != n:
            raise ValueError(f"{name} must hold {n} volumes; got {x_tensor.shape[0]}")
        own = self.get_grid_sizes()
        if torch.is_tensor(x):
            # a padded tensor must have the padded spatial size of the densities
            ok = tuple(x_tensor.shape[2:]) == tuple(self._densities.shape[2:])
        else:
            ok = bool(torch.equal(sizes.to(own.device), own))
        if not ok:
            raise ValueError(
                f"{name} must have the grid sizes of the densities {own.tolist()}; "
                f"got {sizes.tolist()}"
            )
        setattr(self, "_" + name, x_tensor)

    def __len__(self) -> int:
        return self._densities.shape[0]

    def __getitem__(self, index: _Index) -> Volumes:
        """Volumes with the selected grids (int, slice, list, LongTensor or BoolTensor).
        The tensors are not copied."""
        idx = _normalize_index(index, len(self))
        if torch.is_tensor(idx):
            idx = idx.to(self.device)
        new = object.__new__(Volumes)
        new.device = self.device
        new._densities = self._densities[idx]
        new._features = None if self._features is None else self._features[idx]
        new.locator = self.locator._select(idx)
        return new

    def densities(self) -> torch.Tensor:
        """densities: (N, D_dens, D, H, W), zero-padded."""
        return self._densities

    def features(self) -> torch.Tensor | None:
        """features: (N, D_feat, D, H, W), zero-padded, or None."""
        return self._features

    def _as_list(self, x: torch.Tensor) -> list[torch.Tensor]:
        sizes = [[int(x.shape[1]), *s] for s in self.get_grid_sizes().tolist()]
        return padded_to_list(x, sizes)

    def densities_list(self) -> list[torch.Tensor]:
        """N tensors (D_dens, D_i, H_i, W_i) (views into `densities()`)."""
        return self._as_list(self._densities)

    def features_list(self) -> list[torch.Tensor] | None:
        """N tensors (D_feat, D_i, H_i, W_i), or None without features."""
        return None if self._features is None else self._as_list(self._features)

    def get_align_corners(self) -> bool:
        return self.locator._align_corners

    def get_grid_sizes(self) -> torch.Tensor:
        """grid_sizes: (N, 3) int64, the (D, H, W) of each grid."""
        return self.locator.get_grid_sizes()

    def update_padded(
        self, new_densities: torch.Tensor, new_features: torch.Tensor | None = None
    ) -> Volumes:
        """A new Volumes with the same grid sizes and placement and new voxel values.

        Args:
            new_densities: (N, D_dens', D, H, W) float, or a list like the constructor's.
            new_features: optional (N, D_feat', D, H, W) float; None drops the features.
        """
        new = object.__new__(Volumes)
        new.__dict__.update(self.__dict__)
        new._set("densities", new_densities)
        new._features = None
        if new_features is not None:
            new._set("features", new_features)
        return new

    def _apply(self, fn, locator: VolumeLocator) -> Volumes:
        new = object.__new__(Volumes)
        new.__dict__.update(self.__dict__)
        new._densities = fn(self._densities)
        new._features = None if self._features is None else fn(self._features)
        new.locator = locator
        new.device = locator.device
        return new

    def clone(self) -> Volumes:
        """Copy with every tensor cloned."""
        return self._apply(torch.clone, self.locator.clone())

    def _copy_to(self, device: torch.device) -> Volumes:
        return self._apply(lambda t: t.to(device, copy=True), self.locator.to(device, copy=True))

    def get_local_to_world_coords_transform(self):
        """`Transform3d` (batch N) from local to world coordinates."""
        return self.locator.get_local_to_world_coords_transform()

    def get_world_to_local_coords_transform(self):
        """`Transform3d` (batch N) from world to local coordinates."""
        return self.locator.get_world_to_local_coords_transform()

    def world_to_local_coords(self, points_3d_world: torch.Tensor) -> torch.Tensor:
        """points_3d_world: (N, ..., 3) float -> (N, ..., 3) local coordinates."""
        return self.locator.world_to_local_coords(points_3d_world)

    def local_to_world_coords(self, points_3d_local: torch.Tensor) -> torch.Tensor:
        """points_3d_local: (N, ..., 3) float -> (N, ..., 3) world coordinates."""
        return self.locator.local_to_world_coords(points_3d_local)

    def get_coord_grid(self, world_coordinates: bool = True) -> torch.Tensor:
        """coords: (N, D, H, W, 3) float, the voxel centres (x, y, z) in world or local units."""
        return self.locator.get_coord_grid(world_coordinates)
