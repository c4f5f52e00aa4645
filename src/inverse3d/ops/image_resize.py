"""Resizing of image batches (the methods fit at their own resolution): area averaging, or
bilinear interpolation for enlarging coverage masks (smooth edges instead of blocks)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["resize_images"]


def resize_images(images: torch.Tensor, size: tuple[int, int], mode: str = "area") -> torch.Tensor:
    """Resize a batch of images or masks by area averaging (box filter when shrinking).

    Args:
        images: (N, H, W, C) or (N, H, W) float.
        size: (H', W') positive ints.
        mode: "area" (box filter; pixel replication when enlarging by an integer factor) or
            "bilinear" (pixel centres interpolated, align_corners=False; values stay within the
            input's range).

    Returns:
        (N, H', W', C) or (N, H', W') float; `images` itself when it already has that size.
    """
    if not torch.is_tensor(images) or images.dim() not in (3, 4):
        got = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"images must be an (N, H, W) or (N, H, W, C) tensor; got {got}")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point; got {images.dtype}")
    size = tuple(size)
    if len(size) != 2 or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in size):
        raise ValueError(f"size must be two positive ints (H, W); got {size!r}")
    if mode not in ("area", "bilinear"):
        raise ValueError(f'mode must be "area" or "bilinear"; got {mode!r}')
    if tuple(images.shape[1:3]) == size:
        return images
    squeeze = images.dim() == 3
    x = images[..., None] if squeeze else images
    kw = {"align_corners": False} if mode == "bilinear" else {}
    y = F.interpolate(x.permute(0, 3, 1, 2), size=size, mode=mode, **kw).permute(0, 2, 3, 1)
    return y[..., 0] if squeeze else y
