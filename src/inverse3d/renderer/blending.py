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

__all__ = [
    "BlendParams",
    "SoftmaxWeights",
    "carrying_slots",
    "gather_slots",
    "hard_rgb_blend",
    "sigmoid_alpha_blend",
    "softmax_blend_weights",
    "softmax_rgb_blend",
    "softmax_rgb_blend_slots",
]


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


class SoftmaxWeights(NamedTuple):
    """The blending weights of `softmax_rgb_blend` (unnormalised).

    weights: (N, H, W, K) float, w_k = p_k exp((z_k - z_max) / gamma), 0 for empty slots.
    background: (N, H, W, 1) float, w_bg = max(exp((eps - z_max) / gamma), eps).
    alpha: (N, H, W) float, 1 - prod_k (1 - p_k).
    """

    weights: torch.Tensor
    background: torch.Tensor
    alpha: torch.Tensor


def softmax_blend_weights(
    fragments: Any,
    blend_params: BlendParams,
    znear: float | torch.Tensor = 1.0,
    zfar: float | torch.Tensor = 100,
    dtype: torch.dtype | None = None,
) -> SoftmaxWeights:
    """The weights of SoftRas blending, computed from the fragments alone (no colours).

    With p_k = sigmoid(-dist_k / sigma) (0 for empty slots), z_k = (zfar - zbuf_k) / (zfar - znear)
    (0 for empty slots), z_max = max(max_k z_k, eps) and eps = 1e-10:
    w_k = p_k exp((z_k - z_max) / gamma), w_bg = max(exp((eps - z_max) / gamma), eps) and
    alpha = 1 - prod_k (1 - p_k); the image is (sum_k w_k c_k + w_bg background) / (sum_k w_k +
    w_bg) with alpha last. Differentiable w.r.t. zbuf and dists.

    Args:
        fragments: with pix_to_face (N, H, W, K) int64, zbuf and dists (N, H, W, K) float.
        blend_params: sigma and gamma are used.
        znear, zfar: float or (N,) float depth range used to normalise zbuf.
        dtype: dtype of the probabilities p_k (default: that of dists).

    Returns:
        SoftmaxWeights(weights (N, H, W, K), background (N, H, W, 1), alpha (N, H, W)).
    """
    pix_to_face = getattr(fragments, "pix_to_face", None)
    if not torch.is_tensor(pix_to_face) or pix_to_face.dim() != 4:
        raise ValueError(
            "softmax_blend_weights: fragments.pix_to_face must be a (N, H, W, K) tensor; got "
            f"{tuple(pix_to_face.shape) if torch.is_tensor(pix_to_face) else pix_to_face!r}"
        )
    for name in ("zbuf", "dists"):
        t = getattr(fragments, name, None)
        if not torch.is_tensor(t) or tuple(t.shape) != tuple(pix_to_face.shape):
            got = tuple(t.shape) if torch.is_tensor(t) else t
            raise ValueError(
                f"softmax_blend_weights: fragments.{name} must be a tensor of shape "
                f"{tuple(pix_to_face.shape)} (that of pix_to_face); got {got}"
            )
    dtype = fragments.dists.dtype if dtype is None else dtype
    # 1 - prod_k (1 - p_k) by the silhouette's fused function (no (N, H, W, K) autograd
    # temporaries; 1 - p_k evaluated as sigmoid(dist_k / sigma), without the cancellation)
    alpha = _SigmoidAlpha.apply(fragments.dists.to(dtype), pix_to_face, float(blend_params.sigma))
    grad_range = any(torch.is_tensor(z) and z.requires_grad for z in (znear, zfar))
    if grad_range:  # autograd through the plain formula also reaches znear / zfar
        weights, background = _softmax_weights_plain(fragments, blend_params, znear, zfar, dtype)
        return SoftmaxWeights(weights, background, alpha)
    N = pix_to_face.shape[0]
    work = torch.promote_types(dtype, fragments.zbuf.dtype)
    ranges = []
    for z in (znear, zfar):
        if torch.is_tensor(z):
            work = torch.promote_types(work, z.dtype)
            z = z.reshape(-1, 1, 1, 1).expand(N, *pix_to_face.shape[1:3], 1)
        ranges.append(z)
    znear, zfar = (z.to(work).reshape(-1, 1) if torch.is_tensor(z) else z for z in ranges)
    weights, background = _SoftmaxWeights.apply(
        fragments.dists.to(dtype),
        fragments.zbuf,
        pix_to_face,
        znear,
        zfar,
        float(blend_params.sigma),
        float(blend_params.gamma),
        work,
    )
    return SoftmaxWeights(weights, background, alpha)


_EPS = 1e-10  # PyTorch3D's eps of softmax_rgb_blend


def _softmax_weights_plain(fragments, blend_params, znear, zfar, dtype):
    """weights (N, H, W, K) and background weight (N, H, W, 1) by autograd through the formula."""
    mask = fragments.pix_to_face >= 0
    prob = _coverage(fragments, blend_params.sigma, dtype)  # (N, H, W, K)
    if torch.is_tensor(zfar):
        zfar = zfar.reshape(-1, 1, 1, 1)
    if torch.is_tensor(znear):
        znear = znear.reshape(-1, 1, 1, 1)
    z_inv = (zfar - fragments.zbuf) / (zfar - znear) * mask  # (N, H, W, K)
    z_inv_max = z_inv.max(dim=-1, keepdim=True).values.clamp(min=_EPS)
    weights = prob * torch.exp((z_inv - z_inv_max) / blend_params.gamma)
    background = torch.exp((_EPS - z_inv_max) / blend_params.gamma).clamp(min=_EPS)
    return weights, background


def _rows(t, sl):
    """Rows `sl` of a (P, 1) per-pixel tensor, or the float itself."""
    return t[sl] if torch.is_tensor(t) else t


class _SoftmaxWeights(torch.autograd.Function):
    """weights w_k = p_k exp((z_k - z_max) / gamma) and background weight of softmax_rgb_blend,
    in pixel chunks, without the (N, H, W, K) autograd temporaries of the plain formula.

    Backward (g_w, g_bg the incoming gradients; empty slots get none):
        d/d dist_k = -g_w,k w_k sigmoid(dist_k / sigma) / sigma      (dp/dd = -p (1 - p) / sigma)
        d/d z_k = g_w,k w_k / gamma, plus at the argmax slot (as torch.max's backward), when
        max_k z_k >= eps (the clamp passes it):
            -sum_j g_w,j w_j / gamma - g_bg w_bg / gamma [when exp((eps - z_max) / gamma) >= eps]
        d/d zbuf_k = -d/d z_k / (zfar - znear)
    """

    @staticmethod
    def forward(ctx, dists, zbuf, pix_to_face, znear, zfar, sigma, gamma, work):
        shape = dists.shape
        K = shape[-1]
        d2, z2, p2 = dists.reshape(-1, K), zbuf.reshape(-1, K), pix_to_face.reshape(-1, K)
        P = d2.shape[0]
        dev = dists.device
        weights = torch.empty((P, K), dtype=work, device=dev)
        background = torch.empty((P, 1), dtype=work, device=dev)
        argmax = torch.empty((P, 1), dtype=torch.int64, device=dev)
        for s in range(0, P, _ALPHA_CHUNK):
            sl = slice(s, s + _ALPHA_CHUNK)
            empty = p2[sl] < 0
            prob = torch.sigmoid(d2[sl] * (-1.0 / sigma)).to(work).masked_fill_(empty, 0.0)
            zf, zn = _rows(zfar, sl), _rows(znear, sl)
            z = ((zf - z2[sl].to(work)) / (zf - zn)).masked_fill_(empty, 0.0)
            z_max, idx = z.max(dim=1, keepdim=True)
            argmax[sl] = idx
            z_max.clamp_(min=_EPS)
            w = z.sub_(z_max).div_(gamma).exp_().mul_(prob)
            weights[sl] = w
            background[sl] = torch.exp((_EPS - z_max) / gamma).clamp_(min=_EPS)
        ctx.save_for_backward(dists, zbuf, pix_to_face, weights, background, argmax)
        ctx.ranges = (znear, zfar)
        ctx.consts = (sigma, gamma)
        ctx.mark_non_differentiable(pix_to_face)
        return weights.reshape(shape), background.reshape(*shape[:-1], 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_w, g_bg):
        dists, zbuf, pix_to_face, weights, background, argmax = ctx.saved_tensors
        znear, zfar = ctx.ranges
        sigma, gamma = ctx.consts
        shape = dists.shape
        K = shape[-1]
        d2, p2 = dists.reshape(-1, K), pix_to_face.reshape(-1, K)
        z2 = zbuf.reshape(-1, K)
        P = d2.shape[0]
        g_w = g_w.reshape(P, K) if g_w is not None else torch.zeros_like(weights)
        g_bg = g_bg.reshape(P, 1) if g_bg is not None else torch.zeros_like(background)
        g_d = torch.empty((P, K), dtype=weights.dtype, device=dists.device)
        g_z = torch.empty((P, K), dtype=weights.dtype, device=dists.device)
        for s in range(0, P, _ALPHA_CHUNK):
            sl = slice(s, s + _ALPHA_CHUNK)
            empty = p2[sl] < 0
            gw = (g_w[sl] * weights[sl]).masked_fill_(empty, 0.0)  # g_w,k w_k
            comp = torch.sigmoid(d2[sl] * (1.0 / sigma)).to(gw.dtype)  # 1 - p_k
            torch.mul(gw, comp, out=g_d[sl]).mul_(-1.0 / sigma)
            gz = gw.div_(gamma)  # d/d z_k, direct part
            # z_max: the clamp passes where max_k z_k >= eps; the background's clamp where
            # exp((eps - z_max) / gamma) >= eps (then it is the exp itself)
            zf, zn = _rows(zfar, sl), _rows(znear, sl)
            z = ((zf - z2[sl].to(gz.dtype)) / (zf - zn)).masked_fill_(empty, 0.0)
            idx = argmax[sl]
            z_max = z.gather(1, idx)
            bg = background[sl]
            raw_bg = torch.exp((_EPS - z_max.clamp(min=_EPS)) / gamma)
            g_max = -gz.sum(dim=1, keepdim=True) - torch.where(
                raw_bg >= _EPS, g_bg[sl] * bg / gamma, 0.0
            )
            g_max = torch.where(z_max >= _EPS, g_max, 0.0)
            gz.scatter_add_(1, idx, g_max)
            g_z[sl] = gz.div_(-(zf - zn)).masked_fill_(empty, 0.0)
        return g_d.reshape(shape), g_z.reshape(shape), None, None, None, None, None, None


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
    (the weights are `softmax_blend_weights`; `softmax_rgb_blend_slots` blends colours computed
    only for the slots that carry weight).

    Args:
        colors: (N, H, W, K, C) float.
        fragments: with pix_to_face (N, H, W, K) int64, zbuf and dists (N, H, W, K) float.
        blend_params: sigma, gamma and background_color.
        znear, zfar: float or (N,) float depth range used to normalise zbuf.

    Returns:
        (N, H, W, C + 1) float RGBA image.
    """
    _check_inputs(colors, fragments, "softmax_rgb_blend")
    background = _background(blend_params, colors)
    w = softmax_blend_weights(fragments, blend_params, znear, zfar, dtype=colors.dtype)
    denom = w.weights.sum(dim=-1, keepdim=True) + w.background
    rgb = ((w.weights[..., None] * colors).sum(dim=-2) + w.background * background) / denom
    return torch.cat([rgb, w.alpha[..., None]], dim=-1)


def carrying_slots(weights: torch.Tensor) -> torch.Tensor:
    """The slots whose blending weight is non-zero, per image, as flat indices.

    Args:
        weights: (N, H, W, K) float, e.g. `softmax_blend_weights(...).weights`.

    Returns:
        slots: (N, M) int64, for each image the indices (h W + w) K + k of its slots with
        weights > 0 in increasing order, padded with -1; M = the largest count over the images,
        at least 1.
    """
    if not torch.is_tensor(weights) or weights.dim() != 4:
        got = tuple(weights.shape) if torch.is_tensor(weights) else type(weights).__name__
        raise ValueError(f"carrying_slots: weights must have shape (N, H, W, K); got {got}")
    N = weights.shape[0]
    keep = (weights.detach() > 0).reshape(N, -1)
    counts = keep.sum(dim=1)
    M = max(int(counts.max()) if N else 0, 1)
    image, flat = keep.nonzero(as_tuple=True)  # sorted by image, then slot
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(image.shape[0], device=weights.device) - starts[image]
    slots = torch.full((N, M), -1, dtype=torch.int64, device=weights.device)
    slots[image, position] = flat
    return slots


def gather_slots(values: torch.Tensor, slots: torch.Tensor, fill: float = 0) -> torch.Tensor:
    """Per-slot values (N, H, W, K, *D) -> (N, M, *D) at `slots` (N, M), `fill` where slots < 0.

    Differentiable w.r.t. values (the padding gets no gradient).
    """
    if not torch.is_tensor(values) or values.dim() < 4:
        got = tuple(values.shape) if torch.is_tensor(values) else type(values).__name__
        raise ValueError(f"gather_slots: values must have shape (N, H, W, K, *D); got {got}")
    if not torch.is_tensor(slots) or slots.dim() != 2 or slots.shape[0] != values.shape[0]:
        got = tuple(slots.shape) if torch.is_tensor(slots) else type(slots).__name__
        raise ValueError(f"gather_slots: slots must have shape (N={values.shape[0]}, M); got {got}")
    N, M = slots.shape
    tail = values.shape[4:]
    flat = values.reshape(N, -1, *tail)
    index = slots.clamp(min=0).reshape(N, M, *([1] * len(tail))).expand(N, M, *tail)
    picked = torch.gather(flat, 1, index)
    pad = (slots < 0).reshape(N, M, *([1] * len(tail)))
    return picked.masked_fill(pad, fill)


def softmax_rgb_blend_slots(
    colors: torch.Tensor,
    slots: torch.Tensor,
    weights: SoftmaxWeights,
    blend_params: BlendParams,
) -> torch.Tensor:
    """`softmax_rgb_blend` from colours given only at chosen slots (the others weigh nothing).

    Equal to softmax_rgb_blend(full_colors, ...) whenever every slot with a non-zero weight is
    in `slots` (as `carrying_slots` returns them), without an (N, H, W, K, C) tensor.

    Args:
        colors: (N, M, C) float, the colour of each slot in `slots`.
        slots: (N, M) int64 flat slot indices (h W + w) K + k, -1 = padding (ignored).
        weights: `softmax_blend_weights(fragments, ...)` of the same fragments.
        blend_params: background_color is used.

    Returns:
        (N, H, W, C + 1) float RGBA image.
    """
    w = weights.weights
    if not torch.is_tensor(w) or w.dim() != 4:
        raise ValueError("softmax_rgb_blend_slots: weights.weights must have shape (N, H, W, K)")
    N, H, W, K = w.shape
    if not torch.is_tensor(slots) or slots.dim() != 2 or slots.shape[0] != N:
        got = tuple(slots.shape) if torch.is_tensor(slots) else type(slots).__name__
        raise ValueError(f"softmax_rgb_blend_slots: slots must have shape (N={N}, M); got {got}")
    if not torch.is_tensor(colors) or colors.dim() != 3 or colors.shape[:2] != slots.shape:
        got = tuple(colors.shape) if torch.is_tensor(colors) else type(colors).__name__
        raise ValueError(
            f"softmax_rgb_blend_slots: colors must have shape (N, M, C) with (N, M)="
            f"{tuple(slots.shape)}; got {got}"
        )
    C = colors.shape[-1]
    dtype = torch.promote_types(colors.dtype, w.dtype)
    background = _background(blend_params, colors.to(dtype))
    valid = slots >= 0
    w_sel = gather_slots(w[..., None], slots)[..., 0].to(dtype)  # (N, M), 0 at padding
    contrib = torch.where(valid[..., None], w_sel[..., None] * colors, 0.0)  # (N, M, C)
    pixel = (slots.clamp(min=0) // K)[..., None].expand(N, -1, C)
    num = torch.zeros(N, H * W, C, dtype=dtype, device=colors.device)
    num = num.scatter_add(1, pixel, contrib).reshape(N, H, W, C)
    denom = w.sum(dim=-1, keepdim=True).to(dtype) + weights.background.to(dtype)
    rgb = (num + weights.background.to(dtype) * background) / denom
    return torch.cat([rgb, weights.alpha.to(dtype)[..., None]], dim=-1)
