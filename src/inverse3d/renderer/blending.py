"""Blend the K per-pixel face colours of a rasterization into an RGBA image (SoftRas semantics).

All blend functions take `colors: (N, H, W, K, C) float` (the shaded colour of each of the K faces
found at each pixel) and `fragments`, any object with attributes `pix_to_face: (N, H, W, K) int64`
(-1 = empty), `zbuf: (N, H, W, K) float` (view-space depth) and `dists: (N, H, W, K) float` (signed
squared NDC distance to the face edge, negative inside), and return `(N, H, W, C + 1)` images with
alpha last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

__all__ = ["BlendParams", "hard_rgb_blend", "sigmoid_alpha_blend", "softmax_rgb_blend"]


class BlendParams(NamedTuple):
    """Parameters of the soft blend functions.

    sigma: width of the sigmoid turning signed distances into coverage probabilities.
    gamma: temperature of the depth softmax (small = the nearest face wins).
    background_color: colour (C,) of pixels with no face.
    """

    sigma: float = 1e-4
    gamma: float = 1e-4
    background_color: torch.Tensor | Sequence[float] = (1.0, 1.0, 1.0)


def _check_inputs(colors: torch.Tensor, fragments: Any, name: str) -> tuple[int, int, int, int]:
    if not torch.is_tensor(colors) or colors.dim() != 5:
        shape = tuple(colors.shape) if torch.is_tensor(colors) else type(colors).__name__
        raise ValueError(f"{name}: colors must have shape (N, H, W, K, C); got {shape}")
    pix_to_face = getattr(fragments, "pix_to_face", None)
    if not torch.is_tensor(pix_to_face) or pix_to_face.dim() != 4:
        raise ValueError(f"{name}: fragments.pix_to_face must be a (N, H, W, K) tensor")
    if tuple(colors.shape[:4]) != tuple(pix_to_face.shape):
        raise ValueError(
            f"{name}: colors must have shape (N, H, W, K, C) with (N, H, W, K)="
            f"{tuple(pix_to_face.shape)}; got {tuple(colors.shape)}"
        )
    return tuple(pix_to_face.shape)  # type: ignore[return-value]


def _background(blend_params: BlendParams, colors: torch.Tensor) -> torch.Tensor:
    bg = blend_params.background_color
    bg = torch.as_tensor(bg, dtype=colors.dtype, device=colors.device)
    if bg.dim() != 1 or bg.shape[0] != colors.shape[-1]:
        raise ValueError(
            f"blend_params.background_color must have shape (C,) with C={colors.shape[-1]} "
            f"(the colour channels); got {tuple(bg.shape)}"
        )
    return bg


def _coverage(fragments: Any, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    """(N, H, W, K) probability sigmoid(-dist / sigma) that each face covers the pixel (0 if empty)."""
    mask = fragments.pix_to_face >= 0
    prob = torch.sigmoid(-fragments.dists / sigma)
    return torch.where(mask, prob, torch.zeros((), dtype=prob.dtype, device=prob.device)).to(dtype)


def hard_rgb_blend(colors: torch.Tensor, fragments: Any, blend_params: BlendParams) -> torch.Tensor:
    """Colour of the nearest face (k = 0), background where there is none; alpha is 0/1.

    Args:
        colors: (N, H, W, K, C) float.
        fragments: with pix_to_face (N, H, W, K) int64.
        blend_params: only background_color is used.

    Returns:
        (N, H, W, C + 1) float RGBA image.
    """
    _check_inputs(colors, fragments, "hard_rgb_blend")
    background = _background(blend_params, colors)
    is_background = fragments.pix_to_face[..., 0] < 0  # (N, H, W)
    rgb = torch.where(is_background[..., None], background, colors[..., 0, :])
    alpha = (~is_background).to(colors.dtype)[..., None]
    return torch.cat([rgb, alpha], dim=-1)


def sigmoid_alpha_blend(
    colors: torch.Tensor, fragments: Any, blend_params: BlendParams
) -> torch.Tensor:
    """Silhouette blending: alpha = 1 - prod_k (1 - sigmoid(-dist_k / sigma)).

    Args:
        colors: (N, H, W, K, C) float.
        fragments: with pix_to_face (N, H, W, K) int64 and dists (N, H, W, K) float.
        blend_params: sigma is used.

    Returns:
        (N, H, W, C + 1) float: colour of the nearest face (k = 0) and the soft alpha.
    """
    _check_inputs(colors, fragments, "sigmoid_alpha_blend")
    dists = fragments.dists.to(colors.dtype)
    alpha = _SigmoidAlpha.apply(dists, fragments.pix_to_face, float(blend_params.sigma))
    return torch.cat([colors[..., 0, :], alpha[..., None]], dim=-1)


# Pixels (N*H*W rows of K) handled at once by `_SigmoidAlpha`: keeps temporaries cache-sized.
_ALPHA_CHUNK = 1 << 14


class _SigmoidAlpha(torch.autograd.Function):
    """alpha = 1 - prod_k (1 - sigmoid(-dist_k / sigma)) over the filled slots, without the
    (N, H, W, K) autograd temporaries of the plain formula.

    1 - sigmoid(-d / sigma) is evaluated as sigmoid(d / sigma) (the same number, without the
    cancellation). Backward: with c = prod_k (1 - p_k), d alpha / d dist_k = -c p_k / sigma
    (0 for empty slots); when a factor 1 - p_k is 0, c is 0 and so is every derivative, as
    for the product's own derivative.
    """

    @staticmethod
    def forward(ctx, dists, pix_to_face, sigma):
        K = dists.shape[-1]
        d2 = dists.reshape(-1, K)
        p2 = pix_to_face.reshape(-1, K)
        inv = 1.0 / sigma
        comp = torch.empty(d2.shape[0], dtype=dists.dtype, device=dists.device)
        empty = torch.empty(d2.shape, dtype=torch.bool, device=dists.device)  # 1 byte a slot
        for s in range(0, d2.shape[0], _ALPHA_CHUNK):
            sl = slice(s, s + _ALPHA_CHUNK)
            torch.lt(p2[sl], 0, out=empty[sl])
            q = torch.sigmoid(d2[sl] * inv).masked_fill_(empty[sl], 1.0)
            torch.prod(q, dim=1, out=comp[sl])
        ctx.save_for_backward(dists, empty, comp)
        ctx.sigma = sigma
        ctx.mark_non_differentiable(pix_to_face)
        return (1.0 - comp).reshape(dists.shape[:-1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_alpha):
        dists, empty, comp = ctx.saved_tensors
        K = dists.shape[-1]
        d2 = dists.reshape(-1, K)
        inv = 1.0 / ctx.sigma
        scale = g_alpha.reshape(-1) * comp * -inv  # (N*H*W,)
        grad = torch.empty_like(d2)
        for s in range(0, d2.shape[0], _ALPHA_CHUNK):
            sl = slice(s, s + _ALPHA_CHUNK)
            p = torch.sigmoid(d2[sl] * -inv).masked_fill_(empty[sl], 0.0)
            torch.mul(p, scale[sl, None], out=grad[sl])
        return grad.reshape(dists.shape), None, None


def softmax_rgb_blend(
    colors: torch.Tensor,
    fragments: Any,
    blend_params: BlendParams,
    znear: float | torch.Tensor = 1.0,
    zfar: float | torch.Tensor = 100,
) -> torch.Tensor:
    """SoftRas blending (Liu et al. 2019): depth-softmax of the K face colours and the background.

    With p_k = sigmoid(-dist_k / sigma) (0 for empty slots), z_k = (zfar - zbuf_k) / (zfar - znear)
    (0 for empty slots), z_max = max(max_k z_k, eps) and eps = 1e-10:
        w_k = p_k exp((z_k - z_max) / gamma),  w_bg = max(exp((eps - z_max) / gamma), eps)
        rgb = (sum_k w_k c_k + w_bg background) / (sum_k w_k + w_bg)
        alpha = 1 - prod_k (1 - p_k)

    Args:
        colors: (N, H, W, K, C) float.
        fragments: with pix_to_face (N, H, W, K) int64, zbuf and dists (N, H, W, K) float.
        blend_params: sigma, gamma and background_color.
        znear, zfar: float or (N,) float depth range used to normalise zbuf.

    Returns:
        (N, H, W, C + 1) float RGBA image.
    """
    _check_inputs(colors, fragments, "softmax_rgb_blend")
    eps = 1e-10
    background = _background(blend_params, colors)
    mask = fragments.pix_to_face >= 0
    prob = _coverage(fragments, blend_params.sigma, colors.dtype)  # (N, H, W, K)
    alpha = torch.prod(1.0 - prob, dim=-1)  # (N, H, W)
    if torch.is_tensor(zfar):
        zfar = zfar.reshape(-1, 1, 1, 1)
    if torch.is_tensor(znear):
        znear = znear.reshape(-1, 1, 1, 1)
    z_inv = (zfar - fragments.zbuf) / (zfar - znear) * mask  # (N, H, W, K)
    z_inv_max = z_inv.max(dim=-1, keepdim=True).values.clamp(min=eps)
    weights = prob * torch.exp((z_inv - z_inv_max) / blend_params.gamma)
    delta = torch.exp((eps - z_inv_max) / blend_params.gamma).clamp(min=eps)  # (N, H, W, 1)
    denom = weights.sum(dim=-1, keepdim=True) + delta
    rgb = ((weights[..., None] * colors).sum(dim=-2) + delta * background) / denom
    return torch.cat([rgb, (1.0 - alpha)[..., None]], dim=-1)
