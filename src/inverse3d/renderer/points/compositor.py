"""Point compositors: blend the K points of each pixel into an image (PyTorch3D 0.7.9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from inverse3d.renderer.compositing import alpha_composite, norm_weighted_sum

__all__ = ["AlphaCompositor", "NormWeightedCompositor"]


def _add_background_color_to_images(
    pix_idxs: torch.Tensor, images: torch.Tensor, background_color: Any
) -> torch.Tensor:
    """Set the pixels no point covers (pix_idxs[:, 0] < 0) to ``background_color``.

    pix_idxs: (N, K, H, W) int64; images: (N, C, H, W) float; background_color: C numbers, or
    C - 1 numbers (an alpha of 1 is appended), or one number. Returns (N, C, H, W).
    """
    bg = torch.as_tensor(background_color, dtype=images.dtype, device=images.device)
    C = images.shape[1]
    if bg.dim() == 0:
        bg = bg.expand(C)
    if bg.dim() != 1:
        raise ValueError(f"background_color must be a number or a 1D sequence; got {bg.shape}")
    if bg.shape[0] + 1 == C:
        bg = torch.cat((bg, bg.new_ones(1)))
    if bg.shape[0] != C:
        raise ValueError(
            f"background_color must have {C} (or {C - 1}) values for {C}-channel images; "
            f"got {bg.shape[0]}"
        )
    empty = (pix_idxs[:, 0] < 0)[:, None]  # (N, 1, H, W)
    return torch.where(empty, bg[None, :, None, None], images)


class _PointsCompositor(torch.nn.Module):
    """Shared code of the two compositors: `_composite` then the optional background colour."""

    # Each compositor sets its functional: (fragments, alphas, ptclds) -> images.
    _composite: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

    def __init__(self, background_color: Any = None) -> None:
        super().__init__()
        self.background_color = background_color

    def forward(
        self, fragments: torch.Tensor, alphas: torch.Tensor, ptclds: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        background_color = kwargs.get("background_color", self.background_color)
        images = self._composite(fragments, alphas, ptclds)
        if background_color is not None:
            return _add_background_color_to_images(fragments, images, background_color)
        return images


class AlphaCompositor(_PointsCompositor):
    """Front-to-back alpha compositing of the points of each pixel (see `alpha_composite`).

    forward(fragments: (N, K, H, W) int64, alphas: (N, K, H, W) float, ptclds: (C, P) float,
    background_color=...) -> (N, C, H, W) float.
    """

    _composite = staticmethod(alpha_composite)


class NormWeightedCompositor(_PointsCompositor):
    """Normalised weighted sum of the points of each pixel (see `norm_weighted_sum`).

    Same call as `AlphaCompositor`.
    """

    _composite = staticmethod(norm_weighted_sum)
