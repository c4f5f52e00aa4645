"""Conversions between the list, padded and packed forms of a heterogeneous batch.

A batch of N items with M_i rows each (verts, faces, points, ...) is held as
- list:   N tensors of shape (M_i, ...);
- padded: one tensor (N, max M_i, ...) whose rows past M_i hold a pad value;
- packed: one tensor (sum M_i, ...), the items concatenated along the first dimension.

Every function here is differentiable with respect to the tensor data it moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "list_to_packed",
    "list_to_padded",
    "packed_to_list",
    "padded_to_list",
    "padded_to_packed",
]


def empty_to_rows(t, width: int = 3):
    """An empty 1-D tensor (``torch.tensor([])``, PyTorch3D's empty mesh) as a (0, width) one."""
    if torch.is_tensor(t) and t.dim() == 1 and t.numel() == 0:
        return t.reshape(0, width)
    return t


def faces_to_int(faces):
    """Faces as Meshes takes them: float cast to int64 (PyTorch3D), empty 1-D as (0, 3)."""
    faces = empty_to_rows(faces)
    if torch.is_tensor(faces) and faces.is_floating_point():
        return faces.to(torch.int64)
    return faces


def _check_tensor_list(x, name: str) -> list[torch.Tensor]:
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of tensors; got {type(x).__name__}")
    for i, y in enumerate(x):
        if not torch.is_tensor(y):
            raise ValueError(
                f"All items have to be instances of a torch.Tensor: {name}[{i}] is not; "
                f"got {type(y).__name__}"
            )
    return list(x)


def _sizes_as_list(split_size, name: str) -> list:
    if torch.is_tensor(split_size):
        return split_size.tolist()
    if isinstance(split_size, int):
        return [split_size]
    if not isinstance(split_size, (list, tuple)):
        raise TypeError(
            f"{name} must be a list, tuple or tensor of sizes; got {type(split_size).__name__}"
        )
    return [s.tolist() if torch.is_tensor(s) else s for s in split_size]


def list_to_padded(
    x: list[torch.Tensor] | tuple[torch.Tensor, ...],
    pad_size: Sequence[int] | None = None,
    pad_value: float = 0.0,
    equisized: bool = False,
) -> torch.Tensor:
    """Stack N tensors of shape (S_i0, ..., S_iD) into one padded tensor.

    Args:
        x: list of N tensors with the same number of dimensions D+1. An empty 1-D tensor
            (shape (0,)) stands for an empty item of any dimensionality.
        pad_size: target size of each of the D+1 dimensions; by default the largest size of
            each dimension over the non-empty items.
        pad_value: value written where no item data lies.
        equisized: the caller knows all items have the same shape: they are just stacked.

    Returns:
        x_padded: (N, P_0, ..., P_D) tensor, a new tensor (does not share memory with x).
    """
    x = _check_tensor_list(x, "x")
    if equisized:
        return torch.stack(x, 0)
    if len(x) == 0:
        raise ValueError("x must hold at least one tensor; got an empty list")

    ndim = max(y.ndim for y in x)
    # an empty 1-D tensor is taken as an empty item with the common number of dims
    x = [y.new_zeros([0] * ndim) if (y.ndim == 1 and y.numel() == 0) else y for y in x]
    if any(y.ndim != ndim for y in x):
        shapes = [tuple(y.shape) for y in x]
        raise ValueError(f"All items have to have the same number of dimensions; got {shapes}")

    if pad_size is None:
        nonempty = [y for y in x if y.shape[0] > 0] or x
        pad_dims = [max(int(y.shape[d]) for y in nonempty) for d in range(ndim)]
    else:
        pad_dims = [int(s) for s in pad_size]
        if len(pad_dims) != ndim:
            raise ValueError(
                f"pad_size must give a target size for all {ndim} dimensions; got {pad_dims}"
            )

    x_padded = x[0].new_full((len(x), *pad_dims), pad_value)
    trailing = tuple(pad_dims[1:])
    if all(
        tuple(y.shape[1:]) == trailing and y.dtype == x[0].dtype and y.device == x[0].device
        for y in x
    ):
        # common case (rows of equal shape): one scatter instead of one copy per item
        sizes = [int(y.shape[0]) for y in x]
        if max(sizes) > pad_dims[0]:
            i = max(range(len(x)), key=lambda k: sizes[k])
            raise ValueError(
                f"x[{i}] has shape {tuple(x[i].shape)}, larger than pad_size {tuple(pad_dims)}"
            )
        counts = torch.tensor(sizes, dtype=torch.int64, device=x_padded.device)
        item = torch.repeat_interleave(torch.arange(len(x), device=x_padded.device), counts)
        row = (
            torch.arange(item.shape[0], device=item.device)
            - (torch.cumsum(counts, 0) - counts)[item]
        )
        x_padded[item, row] = torch.cat(x, 0)
        return x_padded
    for i, y in enumerate(x):  # loop over batch items, not over rows
        if y.shape[0] == 0:
            continue
        if any(y.shape[d] > pad_dims[d] for d in range(ndim)):
            raise ValueError(
                f"x[{i}] has shape {tuple(y.shape)}, larger than pad_size {tuple(pad_dims)}"
            )
        x_padded[(i, *(slice(0, s) for s in y.shape))] = y
    return x_padded


def padded_to_list(
    x: torch.Tensor,
    split_size: Sequence[int] | Sequence[Sequence[int]] | torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Split a padded tensor (N, S_1, ..., S_D) into a list of N tensors.

    Args:
        x: (N, S_1, ..., S_D) tensor.
        split_size: None (each item keeps its full padded shape), N ints (item i keeps its
            first split_size[i] rows) or N sequences (item i is cut to shape split_size[i]).

    Returns:
        x_list: N views into x (they share memory with x).
    """
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    x_list = list(x.unbind(0))
    if split_size is None:
        return x_list
    sizes = _sizes_as_list(split_size, "split_size")
    if len(sizes) != x.shape[0]:
        raise ValueError(
            "Split size must be of same length as inputs first dimension: split_size must "
            f"have one entry per item of x (x.shape[0]={x.shape[0]}); "
            f"got {len(sizes)} entries"
        )
    for i, s in enumerate(sizes):
        if isinstance(s, int):
            x_list[i] = x_list[i][:s]
        else:
            x_list[i] = x_list[i][tuple(slice(0, int(k)) for k in s)]
    return x_list


def list_to_packed(
    x: list[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate N tensors of shape (M_i, ...) along their first dimension.

    Args:
        x: list of N tensors (M_i, K, ...) with equal trailing dims.

    Returns:
        x_packed: (sum M_i, K, ...) the concatenated tensor.
        num_items: (N,) int64, M_i.
        item_packed_first_idx: (N,) int64, index in x_packed of the first row of item i.
        item_packed_to_list_idx: (sum M_i,) int64, the item each packed row belongs to.
    """
    x = _check_tensor_list(x, "x")
    if len(x) == 0:
        raise ValueError("x must hold at least one tensor; got an empty list")
    device = x[0].device
    num_items = torch.tensor([int(y.shape[0]) for y in x], dtype=torch.int64, device=device)
    first_idx = torch.cumsum(num_items, 0) - num_items
    x_packed = torch.cat(x, dim=0)
    to_list_idx = torch.repeat_interleave(
        torch.arange(len(x), dtype=torch.int64, device=device), num_items
    )
    return x_packed, num_items, first_idx, to_list_idx


def packed_to_list(x: torch.Tensor, split_size: list | int | torch.Tensor) -> list[torch.Tensor]:
    """Split a packed tensor (sum M_i, ...) into N tensors (M_i, ...).

    Args:
        x: (sum M_i, ...) tensor.
        split_size: N sizes M_i, or one int: the size of every chunk (as torch.split).

    Returns:
        x_list: list of views into x.
    """
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if torch.is_tensor(split_size):
        split_size = split_size.tolist()
    if not isinstance(split_size, int):
        split_size = [int(s) for s in split_size]
        if sum(split_size) != x.shape[0]:
            raise ValueError(
                f"split_size must sum to x.shape[0]={x.shape[0]}; got sum {sum(split_size)}"
            )
    return list(x.split(split_size, dim=0))


def padded_to_packed(
    x: torch.Tensor,
    split_size: list | tuple | torch.Tensor | None = None,
    pad_value: float | int | None = None,
) -> torch.Tensor:
    """Pack a padded tensor (N, M, K) into (sum M_i, K).

    Args:
        x: (N, M, K) tensor.
        split_size: N ints M_i: item i keeps its first M_i rows.
        pad_value: drop every row all of whose K entries equal pad_value.
            At most one of split_size and pad_value may be given; with neither, all N*M rows
            are kept.

    Returns:
        x_packed: (sum M_i, K) tensor, or (N*M, K).
    """
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, M, K); got {tuple(x.shape)}")
    if split_size is not None and pad_value is not None:
        raise ValueError("only one of split_size or pad_value may be given; got both")
    N, M, K = x.shape
    x_packed = x.reshape(N * M, K)
    if pad_value is not None:
        keep = x_packed.ne(pad_value).any(-1)  # (N*M,)
        return x_packed[keep]
    if split_size is None:
        return x_packed
    sizes = _sizes_as_list(split_size, "split_size")
    if len(sizes) != N:
        raise ValueError(
            "Split size must be of same length as inputs first dimension: split_size must "
            f"have one entry per item of x (x.shape[0]={N}); "
            f"got {len(sizes)} entries"
        )
    if not all(isinstance(s, int) for s in sizes):
        raise ValueError(f"split_size must be a flat sequence of ints; got {sizes}")
    if any(s < 0 or s > M for s in sizes):
        raise ValueError(f"split_size entries must lie in [0, {M}]; got {sizes}")
    counts = torch.tensor(sizes, dtype=torch.int64, device=x.device)
    item = torch.repeat_interleave(torch.arange(N, device=x.device), counts)  # (sum M_i,)
    first = torch.cumsum(counts, 0) - counts
    row = torch.arange(item.shape[0], device=x.device) - first[item]
    return x_packed[item * M + row]
