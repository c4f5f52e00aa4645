"""The texture map of a TexturesUV with the positions of its UV coordinates marked
(PyTorch3D's `vis.texture_vis`), to check that a map and its UVs line up."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["texturesuv_image_PIL", "texturesuv_image_matplotlib"]


def _centers_and_map(texture: Any, texture_index: int) -> tuple[np.ndarray, torch.Tensor]:
    """(V, 2) pixel positions (x right, y down) of the UVs and the (H, W, C) map."""
    if not hasattr(texture, "centers_for_image") or not hasattr(texture, "maps_padded"):
        raise TypeError(f"texture must be a TexturesUV; got {type(texture).__name__}")
    maps = texture.maps_padded()
    if not -maps.shape[0] <= texture_index < maps.shape[0]:
        raise IndexError(f"texture_index {texture_index} out of range for {maps.shape[0]} maps")
    centers = texture.centers_for_image(index=texture_index).detach().cpu().numpy()
    return centers, maps[texture_index].detach().cpu()


def _chosen(n_points: int, subsample: int | None) -> np.ndarray:
    """Indices of the points to draw: all, or `subsample` of them drawn without replacement."""
    if subsample is None or n_points <= subsample:
        return np.arange(n_points)
    return np.random.choice(n_points, subsample, replace=False)


def texturesuv_image_matplotlib(
    texture: Any,
    *,
    texture_index: int = 0,
    radius: float = 1,
    color: Any = (1.0, 0.0, 0.0),
    subsample: int | None = 10000,
    origin: str = "upper",
) -> None:
    """Draw one texture map on the current matplotlib axes with a circle at every UV position.

    Args:
        texture: TexturesUV of one mesh (with one map).
        texture_index: which map of the batch.
        radius: circle radius in pixels.
        color: any matplotlib colour.
        subsample: at most this many circles (a random subset), None for all.
        origin: "upper" (as texturesuv_image_PIL) or "lower", as in matplotlib's imshow.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    if origin not in ("upper", "lower"):
        raise ValueError(f'origin must be "upper" or "lower"; got {origin!r}')
    centers, image = _centers_and_map(texture, texture_index)
    ax = plt.gca()
    ax.imshow(image.numpy(), origin=origin)
    for i in _chosen(centers.shape[0], subsample):
        # clip_on=False shows UVs outside [0, 1] too
        ax.add_patch(Circle(tuple(centers[i]), radius, color=color, clip_on=False))


def texturesuv_image_PIL(
    texture: Any,
    *,
    texture_index: int = 0,
    radius: float = 1,
    color: Any = "red",
    subsample: int | None = 10000,
):
    """A PIL image of one texture map with a filled disk at every UV position.

    Args:
        texture: TexturesUV of one mesh (with one map).
        texture_index: which map of the batch.
        radius: disk radius in pixels.
        color: any PIL colour.
        subsample: at most this many disks (a random subset), None for all.

    Returns:
        PIL.Image.Image (RGB, the map scaled by 255 and truncated to uint8).
    """
    from PIL import Image, ImageDraw

    centers, image = _centers_and_map(texture, texture_index)
    pixels = (image * 255).numpy().astype(np.uint8)
    out = Image.fromarray(pixels)
    draw = ImageDraw.Draw(out)
    for i in _chosen(centers.shape[0], subsample):
        x, y = float(centers[i][0]), float(centers[i][1])
        draw.ellipse([(x - radius, y - radius), (x + radius, y + radius)], fill=color)
    return out
