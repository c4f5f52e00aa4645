"""Compositing of per-pixel point lists into images (PyTorch3D 0.7.9 layouts).

All three functions take:
    pointsidx: (N, K, H, W) int64 packed point indices per pixel, front to back; entries < 0
        are empty and skipped (they do not absorb anything).
    alphas: (N, K, H, W) float weight / opacity of each entry.
    pt_clds: (C, P) float features of the packed points (channels first).
and return (N, C, H, W) float images. They are differentiable with respect to alphas and
pt_clds, in plain PyTorch (cumulative product, gather and index_add of the filled entries only),
so autograd handles the gradients.
"""

from __future__ import annotations

import torch

__all__ = ["alpha_composite", "norm_weighted_sum", "weighted_sum"]

# Smallest total weight norm_weighted_sum divides by (PyTorch3D's kEpsilon).
_NORM_EPS = 1e-4


def _check_inputs(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> None:
    for name, t in (("pointsidx", pointsidx), ("alphas", alphas), ("pt_clds", pt_clds)):
        if not torch.is_tensor(t):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    if pointsidx.dim() != 4:
        raise ValueError(f"pointsidx must have shape (N, K, H, W); got {tuple(pointsidx.shape)}")
    if pointsidx.is_floating_point() or pointsidx.dtype == torch.bool:
        raise TypeError(f"pointsidx must be an integer tensor; got {pointsidx.dtype}")
    if alphas.shape != pointsidx.shape:
        raise ValueError(
            f"alphas must have the shape of pointsidx {tuple(pointsidx.shape)}; "
            f"got {tuple(alphas.shape)}"
        )
    if pt_clds.dim() != 2:
        raise ValueError(f"pt_clds must have shape (C, P); got {tuple(pt_clds.shape)}")
    for name, t in (("alphas", alphas), ("pt_clds", pt_clds)):
        if t.device != pointsidx.device:
            raise ValueError(
                f"{name} must be on the device of pointsidx ({pointsidx.device}); got {t.device}"
            )
    if pointsidx.numel():
        hi = int(pointsidx.max())
        if hi >= pt_clds.shape[1]:
            raise ValueError(
                f"pointsidx holds index {hi} but pt_clds has only {pt_clds.shape[1]} points"
            )


def _accumulate(pointsidx: torch.Tensor, w: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """``sum_k w[n, k, y, x] * pt_clds[:, pointsidx[n, k, y, x]]`` over the non-empty entries.

    Only the filled entries are gathered (memory follows coverage); returns (N, C, H, W).
    """
    N, K, H, W = pointsidx.shape
    C = pt_clds.shape[0]
    flat_idx = pointsidx.reshape(-1)
    filled = torch.nonzero(flat_idx >= 0)[:, 0]  # (M,) entries in (N, K, H, W) order
    pixel = (filled // (K * H * W)) * (H * W) + filled % (H * W)  # (M,) in (N, H, W)
    vals = w.reshape(-1)[filled, None] * pt_clds.t()[flat_idx[filled]]  # (M, C)
    out = vals.new_zeros(N * H * W, C).index_add(0, pixel, vals)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2)


def _masked_alphas(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor):
    """alphas in the features' dtype, 0 at the empty entries (they absorb nothing)."""
    a = alphas.to(pt_clds.dtype)
    return torch.where(pointsidx >= 0, a, torch.zeros_like(a))  # also hides NaN there


def alpha_composite(
    pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor
) -> torch.Tensor:
    """Front-to-back "over" compositing.

    ``image = sum_k alpha_k * prod_{j < k, idx_j >= 0} (1 - alpha_j) * feature[idx_k]`` over the
    non-empty entries k. Shapes: see the module docstring; returns (N, C, H, W).
    """
    _check_inputs(pointsidx, alphas, pt_clds)
    a = _masked_alphas(pointsidx, alphas, pt_clds)
    trans = torch.cumprod(1.0 - a, dim=1)
    trans = torch.cat((torch.ones_like(trans[:, :1]), trans[:, :-1]), dim=1)  # exclusive
    return _accumulate(pointsidx, a * trans, pt_clds)


def norm_weighted_sum(
    pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor
) -> torch.Tensor:
    """Weighted average: ``sum_k alpha_k f_k / max(sum_k alpha_k, 1e-4)`` over non-empty k."""
    _check_inputs(pointsidx, alphas, pt_clds)
    a = _masked_alphas(pointsidx, alphas, pt_clds)
    total = a.sum(dim=1, keepdim=True).clamp(min=_NORM_EPS)  # (N, 1, H, W)
    return _accumulate(pointsidx, a, pt_clds) / total


def weighted_sum(
    pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor
) -> torch.Tensor:
    """Weighted sum: ``sum_k alpha_k f_k`` over the non-empty entries k."""
    _check_inputs(pointsidx, alphas, pt_clds)
    return _accumulate(pointsidx, _masked_alphas(pointsidx, alphas, pt_clds), pt_clds)
