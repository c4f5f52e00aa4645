"""Private helpers of renderer/mesh/textures.py: input checks, batch indexing, map packing."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from inverse3d._validation import check_tensor

__all__: list[str] = []


def list_or_padded(
    value: Any, name: str, item_shape: tuple, dtype: str
) -> tuple[list[torch.Tensor] | None, torch.Tensor | None]:
    """Check a batch given as N tensors of `item_shape` or one padded tensor (N, *item_shape).

    Names in `item_shape` ("C", "R") must agree across the list items; None is free.
    Returns (list, None) or (None, padded).
    """
    if isinstance(value, (list, tuple)):
        items = list(value)
        dims: dict[str, int] = {}
        for i, v in enumerate(items):
            check_tensor(v, f"{name}[{i}]", item_shape, dtype=dtype, dims=dims)
        devices = {v.device for v in items}
        if len(devices) > 1:
            raise ValueError(
                f"{name} items must all be on one device; got {sorted(map(str, devices))}"
            )
        return items, None
    if torch.is_tensor(value):
        check_tensor(value, name, ("N",) + tuple(item_shape), dtype=dtype)
        return None, value
    raise TypeError(
        f"{name} must be a list of tensors or a padded tensor; got {type(value).__name__}"
    )


def batch_indices(index: Any, n: int) -> tuple[list[int], bool]:
    """Turn an int, slice, list, LongTensor or BoolTensor batch index into a list of ints.

    Returns (indices, single) where `single` says that `index` was one int.
    """
    if isinstance(index, bool):
        raise TypeError(f"index must be an int, slice, list or tensor; got {type(index).__name__}")
    if isinstance(index, int):
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a batch of {n}")
        return [index % n], True
    if isinstance(index, slice):
        return list(range(n))[index], False
    if isinstance(index, (list, tuple)):
        if any(isinstance(i, bool) for i in index) and len(index) == n:
            return [i for i, keep in enumerate(index) if keep], False
        index = torch.as_tensor(list(index), dtype=torch.int64)
    if torch.is_tensor(index):
        if index.dtype == torch.bool:
            if index.shape != (n,):
                raise IndexError(
                    f"a boolean index must have shape ({n},); got {tuple(index.shape)}"
                )
            return index.nonzero().reshape(-1).tolist(), False
        if index.is_floating_point() or index.ndim > 1:
            raise TypeError(f"index must be a 1-D integer or boolean tensor; got {index.dtype}")
        out = index.reshape(-1).tolist()
        for i in out:
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of range for a batch of {n}")
        return [i % n for i in out], False
    raise TypeError(f"index must be an int, slice, list or tensor; got {type(index).__name__}")


def fragment_tensors(fragments: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """pix_to_face (N, H, W, K) and bary_coords (N, H, W, K, 3) of a Fragments-like object."""
    if not (hasattr(fragments, "pix_to_face") and hasattr(fragments, "bary_coords")):
        raise TypeError(
            "fragments must have pix_to_face and bary_coords attributes (a Fragments); "
            f"got {type(fragments).__name__}"
        )
    p2f = check_tensor(fragments.pix_to_face, "fragments.pix_to_face", ("N", "H", "W", "K"), "int")
    bary = check_tensor(fragments.bary_coords, "fragments.bary_coords", (None,) * 4 + (3,), "float")
    if tuple(bary.shape[:-1]) != tuple(p2f.shape):
        raise ValueError(
            "fragments.bary_coords must have shape (N, H, W, K, 3) matching pix_to_face "
            f"{tuple(p2f.shape)}; got {tuple(bary.shape)}"
        )
    return p2f, bary


def check_index_range(
    idx_list: list[torch.Tensor], limits: list[int], name: str, ref: str, low: int = 0
) -> None:
    """Raise ValueError unless low <= idx_list[i] < limits[i] for every item i (one sync)."""
    if not idx_list:
        return
    sizes = [t.shape[0] for t in idx_list]
    if sum(sizes) == 0:
        return
    device = idx_list[0].device
    flat = torch.cat([t.reshape(t.shape[0], -1) for t in idx_list], 0)  # (sum F_i, k)
    item = torch.repeat_interleave(
        torch.arange(len(sizes), device=device), torch.tensor(sizes, device=device)
    )
    lim = torch.tensor(limits, device=device, dtype=flat.dtype)[item]  # (sum F_i,)
    bad = ((flat < low) | (flat >= lim[:, None])).any(-1)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        i = int(item[row])
        vals = flat[row].tolist()
        raise ValueError(
            f"{name} must index {ref} (values in [{low}, {limits[i]}) for batch item {i}); "
            f"got {vals} in item {i}"
        )


def resize_maps(maps: list[torch.Tensor], align_corners: bool) -> torch.Tensor:
    """Stack maps (..., H_i, W_i, C) into (N, ..., max H, max W, C), resizing bilinearly.

    Several maps per item ((M_i, H_i, W_i, C)) are padded with zero maps to max M_i.
    """
    max_h = max(int(m.shape[-3]) for m in maps)
    max_w = max(int(m.shape[-2]) for m in maps)
    out = []
    for m in maps:  # loop over batch items
        if (m.shape[-3], m.shape[-2]) != (max_h, max_w) and m.numel() > 0:
            lead = m.shape[:-3]
            x = m.reshape(-1, *m.shape[-3:]).permute(0, 3, 1, 2)  # (B, C, H, W)
            x = F.interpolate(x, size=(max_h, max_w), mode="bilinear", align_corners=align_corners)
            m = x.permute(0, 2, 3, 1).reshape(*lead, max_h, max_w, m.shape[-1])
        elif m.numel() == 0:
            m = m.new_zeros((*m.shape[:-3], max_h, max_w, m.shape[-1]))
        out.append(m)
    if out[0].ndim == 4:  # several maps per item: pad M
        max_m = max(int(m.shape[0]) for m in out)
        out = [
            torch.cat([m, m.new_zeros((max_m - m.shape[0], *m.shape[1:]))])
            if m.shape[0] < max_m
            else m
            for m in out
        ]
    return torch.stack(out, 0)


class Placement(NamedTuple):
    """Top-left corner (row y, column x) of a map inside the packed image."""

    y: int
    x: int


def pack_maps(sizes: list[tuple[int, int]]) -> tuple[tuple[int, int], list[Placement]]:
    """Shelf-pack rectangles (h, w) into one image; returns ((H, W), placements).

    Tallest first, left to right on shelves whose width is bounded by the widest rectangle or
    the side of the square of the total area, whichever is larger. No rotation.
    """
    area = sum(h * w for h, w in sizes)
    width_cap = max(max(w for _, w in sizes), int(area**0.5 + 0.999999))
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i][0], -sizes[i][1]))
    places: list[Placement | None] = [None] * len(sizes)
    shelf_y, shelf_h, cursor_x, total_w = 0, 0, 0, 0
    for i in order:
        h, w = sizes[i]
        if cursor_x + w > width_cap and cursor_x > 0:
            shelf_y += shelf_h
            shelf_h, cursor_x = 0, 0
        places[i] = Placement(shelf_y, cursor_x)
        cursor_x += w
        shelf_h = max(shelf_h, h)
        total_w = max(total_w, cursor_x)
    return (shelf_y + shelf_h, total_w), places  # type: ignore[return-value]


def tensor_key(t: torch.Tensor) -> tuple:
    """Identity of a tensor's data (same storage, offset, shape and strides)."""
    return (t.device, t.data_ptr(), tuple(t.shape), t.stride())
