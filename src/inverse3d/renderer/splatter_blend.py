"""Splatting blend (PyTorch3D's `renderer.splatter_blend`): Cole et al., "Differentiable Surface
Rendering via Non-Differentiable Sampling" (ICCV 2021).

Every rasterized fragment (pixel p, layer k) is re-projected to the screen from its
barycentric-interpolated world position and splats its colour onto the 3x3 pixels around it
with an isotropic Gaussian of standard deviation sigma pixels, centred on that projected
position. On the forward pass the projection falls exactly on p's centre, so the image only
depends on the rasterizer's choice of faces; on the backward pass moving a vertex moves the
splats, which gives gradients w.r.t. the vertices even through a non-differentiable rasterizer.

For each receiving pixel q and each of its 9 neighbours p, the layers of p are sorted into
three occlusion buffers relative to q's front surface: the layer of p closest in depth to q's
front layer is "surface", the layers in front of it "front", the ones behind "back" (if p's
front layer is closer to one of q's deeper layers, all of p counts as "back"). Each buffer is
normalised by max(total weight, 1) and the three are composited back to front over the
background (alpha 0). Gaussian weights are scaled by (1 + 0.05) / (sum of the 9 kernel values
at the pixel offsets), so that a pixel inside a surface is slightly over-covered and gradients
reach its normalisation.
"""

from __future__ import annotations

from typing import Any

import torch

from inverse3d.renderer.utils import Device

__all__ = ["SplatterBlender"]

# Extra kernel mass of an interior pixel (Cole et al., Sec. 3.3.1).
_KERNEL_EPS = 0.05
# (row, column) offsets of the 9 neighbours.
_OFFSETS = [(dr, dc) for dc in (-1, 0, 1) for dr in (-1, 0, 1)]


def _shift(t: torch.Tensor, dr: int, dc: int) -> torch.Tensor:
    """out[:, i, j] = t[:, i + dr, j + dc] (zero outside the image); t: (N, H, W, ...)."""
    H, W = t.shape[1], t.shape[2]
    pad = [0, 0] * (t.dim() - 3) + [1, 1, 1, 1]
    padded = torch.nn.functional.pad(t, pad)  # (N, H + 2, W + 2, ...)
    return padded[:, 1 + dr : 1 + dr + H, 1 + dc : 1 + dc + W]


def _occlusion(q_depth: torch.Tensor, p_depth: torch.Tensor) -> torch.Tensor:
    """(N, H, W) int64: index of p's layer at q's front surface, or minus the index of q's
    layer that p's front layer belongs to (then all of p is behind). Inputs (N, H, W, K)."""
    a, a_id = (p_depth - q_depth[..., :1]).abs().min(dim=-1)  # p layer nearest q's front
    b, b_id = (p_depth[..., :1] - q_depth).abs().min(dim=-1)  # q layer nearest p's front
    return torch.where(b < a, -b_id, a_id)


class SplatterBlender(torch.nn.Module):
    """Blend shaded fragments by splatting (see the module docstring).

    Args:
        input_shape: (N, H, W, K) of the fragments (kept for PyTorch3D's signature; the
            blender works for any shape).
        device: device of the constants.
    """

    def __init__(self, input_shape: tuple[int, int, int, int], device: Device = "cpu") -> None:
        super().__init__()
        if len(tuple(input_shape)) != 4:
            raise ValueError(f"input_shape must be (N, H, W, K); got {tuple(input_shape)}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.device = torch.device(device)

    def to(self, device: Device) -> SplatterBlender:  # type: ignore[override]
        self.device = torch.device(device)
        return self

    def forward(
        self,
        colors: torch.Tensor,
        pixel_coords_cameras: torch.Tensor,
        cameras: Any,
        background_mask: torch.Tensor,
        blend_params: Any,
    ) -> torch.Tensor:
        """Splat and blend.

        Args:
            colors: (N, H, W, K, 3) float shaded colours of the fragments.
            pixel_coords_cameras: (N, H, W, K, 3) float world positions of the fragments,
                interpolated from the face vertices with the barycentrics (this is what
                carries the gradients to the vertices).
            cameras: the cameras that rasterized them (transform_points_screen is used).
            background_mask: (N, H, W, K) bool, True where the slot has no face.
            blend_params: sigma (kernel standard deviation in pixels, 0.5 in PyTorch3D's use)
                and background_color (3,).

        Returns:
            (N, H, W, 4) float RGBA; alpha is 0 on the background.
        """
        if colors.dim() != 5 or colors.shape[-1] != 3:
            raise ValueError(f"colors must have shape (N, H, W, K, 3); got {tuple(colors.shape)}")
        if tuple(pixel_coords_cameras.shape) != tuple(colors.shape):
            raise ValueError(
                f"pixel_coords_cameras must have shape {tuple(colors.shape)} like colors; got "
                f"{tuple(pixel_coords_cameras.shape)}"
            )
        if tuple(background_mask.shape) != tuple(colors.shape[:4]):
            raise ValueError(
                f"background_mask must have shape {tuple(colors.shape[:4])}; got "
                f"{tuple(background_mask.shape)}"
            )
        sigma = float(blend_params.sigma)
        if not sigma > 0.0:
            raise ValueError(f"blend_params.sigma must be > 0 (pixels); got {sigma}")
        N, H, W, K, _ = colors.shape
        bg_mask = background_mask.bool()

        # 1. screen positions (x right, y down, pixel (i, j) centred at (j + .5, i + .5))
        screen = cameras.transform_points_screen(
            pixel_coords_cameras.reshape(N, -1, 3), image_size=(H, W)
        ).reshape(N, H, W, K, 3)
        screen = torch.where(bg_mask[..., None], torch.ones_like(screen), screen)
        depth = screen[..., 2]  # (N, H, W, K); 1 on the background, as in PyTorch3D
        # offset from the fragment to its pixel centre, (row, column): 0 on the forward pass
        xy = screen[..., :2]
        to_centre = (torch.floor(xy.detach()) + 0.5 - xy).flip(-1)  # (N, H, W, K, 2)

        alpha = (~bg_mask).to(colors.dtype)[..., None]  # (N, H, W, K, 1)
        rgba = torch.cat([colors, torch.ones_like(alpha)], dim=-1) * alpha  # premultiplied
        offs = torch.tensor(_OFFSETS, dtype=colors.dtype, device=colors.device)  # (9, 2)
        norm = (1.0 + _KERNEL_EPS) / torch.exp(-(offs**2).sum(-1) / (2 * sigma**2)).sum()
        layer = torch.arange(K, device=colors.device)

        acc_col = colors.new_zeros((3, N, H, W, 4))  # front, surface, back
        acc_w = colors.new_zeros((3, N, H, W, 1))
        for dr, dc in _OFFSETS:
            # p = q + (dr, dc) splats on q: kernel at q's centre - p's position
            d2 = ((to_centre - to_centre.new_tensor([dr, dc])) ** 2).sum(-1)  # at p
            w = alpha * norm * torch.exp(-d2 / (2 * sigma**2))[..., None]  # (N, H, W, K, 1)
            w_q = _shift(w, dr, dc)  # received at q
            c_q = _shift(rgba * w, dr, dc)  # (N, H, W, K, 4)
            occ = _occlusion(depth, _shift(depth, dr, dc))[..., None]  # (N, H, W, 1)
            groups = (layer < occ, layer == occ, layer > occ)  # each (N, H, W, K)
            for g, mask in enumerate(groups):
                m = mask.to(colors.dtype)[..., None]
                acc_col[g] = acc_col[g] + (c_q * m).sum(3)
                acc_w[g] = acc_w[g] + (w_q * m).sum(3)

        bg = torch.as_tensor(blend_params.background_color, dtype=colors.dtype)
        bg = bg.to(colors.device)
        if bg.shape != (3,):
            raise ValueError(
                f"blend_params.background_color must have shape (3,); got {tuple(bg.shape)}"
            )
        out = torch.cat([bg, bg.new_zeros(1)]).expand(N, H, W, 4)
        for g in (2, 1, 0):  # back, surface, front: "over" compositing
            layer_rgba = acc_col[g] / acc_w[g].clamp(min=1.0)
            out = layer_rgba + (1.0 - layer_rgba[..., 3:4]) * out
        return out
