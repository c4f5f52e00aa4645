"""Batched tensor properties and NDC sampling helpers shared by cameras, lights and materials.

`TensorProperties` stores keyword arguments as attributes, turning numbers, lists, tuples, numpy
arrays and tensors into tensors whose first dimension is the batch size N (size-1 inputs are
broadcast to N). Strings, booleans and None are stored as given.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inverse3d.common.datatypes import Device, make_device

__all__ = [
    "TensorAccessor",
    "TensorProperties",
    "convert_to_tensors_and_broadcast",
    "format_tensor",
    "make_device",
    "ndc_grid_sample",
    "ndc_to_grid_sample_coords",
    "parse_image_size",
]

_BROADCAST_TYPES = (float, int, list, tuple, torch.Tensor, np.ndarray)
_MODULE_KEYS = frozenset(nn.Module().__dict__)


def format_tensor(
    value: Any, dtype: torch.dtype = torch.float32, device: Device = "cpu"
) -> torch.Tensor:
    """`value` as a tensor on `device` with at least one dimension.

    Non-tensors are converted with `dtype`; tensors keep their own dtype.
    """
    device = make_device(device)
    if not torch.is_tensor(value):
        value = torch.tensor(np.asarray(value) if isinstance(value, np.ndarray) else value)
        value = value.to(dtype=dtype)
    if value.dim() == 0:
        value = value.view(1)
    if value.device != device:
        value = value.to(device=device)
    return value


def _broadcast_named(
    values: Sequence[Any], names: Sequence[str], dtype: torch.dtype, device: Device
) -> list[torch.Tensor]:
    tensors = [format_tensor(v, dtype=dtype, device=device) for v in values]
    sizes = [t.shape[0] for t in tensors]
    n = max(sizes)
    out = []
    for name, t in zip(names, tensors):
        if t.shape[0] == n:
            out.append(t)
        elif t.shape[0] == 1:
            out.append(t.expand(n, *t.shape[1:]))
        else:
            others = ", ".join(f"{nm}: {s}" for nm, s in zip(names, sizes))
            raise ValueError(
                f"{name} has batch size {t.shape[0]}, which does not broadcast to N={n} "
                f"(batch sizes must be 1 or N; got {others})"
            )
    return out


def convert_to_tensors_and_broadcast(
    *args: Any, dtype: torch.dtype = torch.float32, device: Device = "cpu"
) -> list[torch.Tensor]:
    """Convert each argument to a tensor and broadcast them to one batch size N.

    Args:
        *args: numbers, lists, tuples, arrays or tensors; the first dimension is the batch.
        dtype: dtype of the converted non-tensor inputs (tensors keep theirs).
        device: device of the outputs.

    Returns:
        list of tensors whose first dimension is N = the largest input batch size; inputs of
        batch size 1 are expanded (a view) to N.

    Raises:
        ValueError: if a batch size is neither 1 nor N.
    """
    names = [f"argument {i}" for i in range(len(args))]
    return _broadcast_named(args, names, dtype, device)


class TensorAccessor:
    """One batch index (or slice) of a TensorProperties object, as PyTorch3D's class of that name.

    ``props[i].name`` is ``props.name[i]`` and ``props[i].name = value`` writes into
    ``props.name[i]`` (in place; the shape must match).
    """

    def __init__(self, class_object: TensorProperties, index: int | slice | list | torch.Tensor):
        self.__dict__["class_object"] = class_object
        self.__dict__["index"] = index

    def __getattr__(self, name: str) -> Any:
        obj = self.__dict__["class_object"]
        if not hasattr(obj, name):
            raise AttributeError(f"Attribute {name} not found on {type(obj).__name__}")
        return getattr(obj, name)[self.__dict__["index"]]

    def __setattr__(self, name: str, value: Any) -> None:
        obj, index = self.__dict__["class_object"], self.__dict__["index"]
        v = getattr(obj, name)
        if not torch.is_tensor(v):
            raise AttributeError(
                f"Can only set values on attributes which are tensors; got {type(v)!r}"
            )
        if not torch.is_tensor(value):
            value = torch.tensor(
                value, device=v.device, dtype=v.dtype, requires_grad=v.requires_grad
            )
        if v.dim() > 1 and value.dim() > 1 and value.shape[1:] != v.shape[1:]:
            raise ValueError(
                f"Expected value to have shape {tuple(v.shape)}; got {tuple(value.shape)}"
            )
        v[index] = value


class TensorProperties(nn.Module):
    """A batch of named tensor properties with a common batch size N.

    Keyword arguments that are numbers, lists, tuples, numpy arrays or tensors become tensors
    broadcast to a common first dimension N; strings, bools and None are stored unchanged.
    """

    def __init__(self, dtype: torch.dtype = torch.float32, device: Device = "cpu", **kwargs: Any):
        super().__init__()
        self.device = make_device(device)
        self._N = 0
        to_broadcast: dict[str, Any] = {}
        for k, v in kwargs.items():
            if v is None or isinstance(v, (str, bool)):
                setattr(self, k, v)
            elif isinstance(v, _BROADCAST_TYPES):
                to_broadcast[k] = v
            else:
                warnings.warn(f"Arg {k} with type {type(v)!r} is not broadcastable", stacklevel=2)
        if to_broadcast:
            names = list(to_broadcast)
            values = _broadcast_named(list(to_broadcast.values()), names, dtype, self.device)
            for name, value in zip(names, values):
                setattr(self, name, value)
            self._N = values[0].shape[0]

    def __len__(self) -> int:
        return self._N

    def isempty(self) -> bool:
        return self._N == 0

    def _tensor_items(self) -> list[tuple[str, torch.Tensor]]:
        out = []
        for k in list(vars(self)) + list(self._parameters) + list(self._buffers):
            if k.startswith("__"):
                continue
            v = getattr(self, k, None)
            if torch.is_tensor(v):
                out.append((k, v))
        return out

    def _set_tensor(self, name: str, value: torch.Tensor) -> None:
        """Set a tensor property; a Parameter replaced by a derived tensor becomes plain."""
        if name in self._parameters and not isinstance(value, nn.Parameter):
            del self._parameters[name]
        setattr(self, name, value)

    def __getitem__(self, index: int | slice | list | torch.Tensor) -> TensorAccessor:
        """A TensorAccessor reading and writing the properties at `index` of the batch (an int,
        a slice, as PyTorch3D; also a list of ints or an int64 / bool tensor)."""
        ok = isinstance(index, (int, slice, list)) and not isinstance(index, bool)
        ok = ok or (torch.is_tensor(index) and index.dtype in (torch.int64, torch.bool))
        if not ok:
            raise ValueError(f"Expected index of type int or slice; got {type(index)!r}")
        return TensorAccessor(class_object=self, index=index)

    def to(self, device: Device = "cpu") -> TensorProperties:  # type: ignore[override]
        """Move every tensor property to `device` (in place); return self."""
        device = make_device(device)
        for k, v in self._tensor_items():
            if v.device != device:
                self._set_tensor(k, v.to(device))
        self.device = device
        return self

    def cpu(self) -> TensorProperties:  # type: ignore[override]
        return self.to("cpu")

    def cuda(self, device: int | None = None) -> TensorProperties:  # type: ignore[override]
        return self.to(f"cuda:{device}" if device is not None else "cuda")

    def clone(self, other: TensorProperties) -> TensorProperties:
        """Copy every property of self into `other` (tensors cloned) and return `other`."""
        for k, v in vars(self).items():
            if k in _MODULE_KEYS:
                continue
            setattr(other, k, v.clone() if torch.is_tensor(v) else v)
        for k, v in self._parameters.items():
            if v is not None:
                setattr(other, k, v.clone())
        return other

    def gather_props(self, batch_idx: torch.Tensor) -> TensorProperties:
        """Expand every property of batch size N > 1 so that its batch dimension follows `batch_idx`.

        Args:
            batch_idx: (M,) int64 or any shape whose first dimension is indexed: for each item,
                the batch element whose property it takes (e.g. mesh index of each packed face).

        Returns:
            self, with tensors of batch size N replaced by tensors of shape (M, ...) (in place).
            Properties of batch size 1 are left unchanged.
        """
        if self._N <= 1:
            return self
        for k, v in self._tensor_items():
            if v.shape[0] > 1:
                self._set_tensor(k, v[batch_idx])
        return self


def ndc_to_grid_sample_coords(
    xy_ndc: torch.Tensor, image_size_hw: tuple[int, int] | Sequence[int]
) -> torch.Tensor:
    """Convert NDC xy coordinates (+X left, +Y up, [-1, 1] on the shorter side) to
    `torch.nn.functional.grid_sample` coordinates (+x right, +y down, [-1, 1] on each side).

    Args:
        xy_ndc: (..., 2) float NDC points.
        image_size_hw: (H, W) of the image that will be sampled.

    Returns:
        (..., 2) float grid_sample coordinates.
    """
    if len(image_size_hw) != 2 or any(int(s) <= 0 for s in image_size_hw):
        raise ValueError(f"image_size_hw must be two positive ints (H, W); got {image_size_hw}")
    h, w = (int(s) for s in image_size_hw)
    s = min(h, w)
    factor = torch.tensor([-s / w, -s / h], dtype=xy_ndc.dtype, device=xy_ndc.device)
    return xy_ndc * factor


def ndc_grid_sample(
    input: torch.Tensor,
    grid_ndc: torch.Tensor,
    *,
    align_corners: bool = False,
    **grid_sample_kwargs: Any,
) -> torch.Tensor:
    """`grid_sample` with sampling locations given in NDC.

    Args:
        input: (B, C, H, W) float images.
        grid_ndc: (B, ..., 2) float NDC sampling locations.
        align_corners, grid_sample_kwargs: passed to `torch.nn.functional.grid_sample`.

    Returns:
        (B, C, ...) float samples.
    """
    if not torch.is_tensor(input) or input.dim() != 4:
        shape = tuple(input.shape) if torch.is_tensor(input) else type(input).__name__
        raise ValueError(f"input must have shape (B, C, H, W); got {shape}")
    if grid_ndc.dim() < 2 or grid_ndc.shape[-1] != 2 or grid_ndc.shape[0] != input.shape[0]:
        raise ValueError(
            f"grid_ndc must have shape (B, ..., 2) with B={input.shape[0]}; "
            f"got {tuple(grid_ndc.shape)}"
        )
    batch, *spatial, _ = grid_ndc.shape
    grid = ndc_to_grid_sample_coords(grid_ndc, input.shape[2:])
    grid = grid.reshape(batch, -1, 1, 2)  # (B, P, 1, 2)
    sampled = F.grid_sample(input, grid, align_corners=align_corners, **grid_sample_kwargs)
    return sampled.reshape(batch, input.shape[1], *spatial)


def parse_image_size(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """(H, W) from an int (square image) or a pair of positive ints (PyTorch3D's helper).

    Raises:
        ValueError: for a sequence that is not two positive ints.
    """
    if not isinstance(image_size, (tuple, list)):
        return (image_size, image_size)
    if len(image_size) != 2:
        raise ValueError(f"image_size must be an int or a pair (H, W); got {image_size!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in image_size):
        raise ValueError(f"image_size must hold ints; got {image_size!r}")
    if not all(v > 0 for v in image_size):
        raise ValueError(f"image_size must hold sizes > 0; got {image_size!r}")
    return (image_size[0], image_size[1])
