"""Compositing of per-pixel point lists into images (PyTorch3D 0.7.9 layouts).

All three functions take:
    pointsidx: (N, K, H, W) int64 packed point indices per pixel, front to back; entries < 0
        are empty and skipped (they do not absorb anything).
    alphas: (N, K, H, W) float weight / opacity of each entry.
    pt_clds: (C, P) float features of the packed points (channels first).
and return (N, C, H, W) float images. They are differentiable with respect to alphas and
pt_clds, in plain PyTorch (gather + cumulative product), so autograd handles the gradients.
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


def _gather_features(
    pointsidx: torch.Tensor, pt_clds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, C, K, H, W) of the entries (zeros where empty) and the (N, K, H, W) mask."""
    valid = pointsidx >= 0
    if pt_clds.shape[1] == 0:
        N, K, H, W = pointsidx.shape
        return pt_clds.new_zeros(N, pt_clds.shape[0], K, H, W), valid
    feats = pt_clds[:, pointsidx.clamp(min=0)]  # (C, N, K, H, W)
    feats = feats.permute(1, 0, 2, 3, 4)
    return feats * valid[:, None].to(feats.dtype), valid


def alpha_composite(
    pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor
) -> torch.Tensor:
    """Front-to-back "over" compositing.

    ``image = sum_k alpha_k * prod_{j < k, idx_j >= 0} (1 - alpha_j) * feature[idx_k]`` over the
    non-empty entries k. Shapes: see the module docstring; returns (N, C, H, W).
    """
    _check_inputs(pointsidx, alphas, pt_clds)
    feats, valid = _gather_features(pointsidx, pt_clds)
    a = alphas.to(feats.dtype) * valid.to(feats.dtype)  # empty entries: alpha 0
    trans = torch.cumprod(1.0 - a, dim=1)
    trans = torch.cat((torch.ones_like(trans[:, :1]), trans[:, :-1]), dim=1)  # exclusive
    w = a * trans  # (N, K, H, W)
    return (w[:, None] * feats).sum(dim=2)


def norm_weighted_sum(
    pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor
) -> torch.Tensor:
    """Weighted average: ``sum_k alpha_k f_k / max(sum_k alpha_k, 1e-4)`` over non-empty k."""
    _check_inputs(pointsidx, alphas, pt_clds)
    feats, valid = _gather_features(pointsidx, pt_clds)
    a = alphas.to(feats.dtype) * valid.to(feats.dtype)
    total = a.sum(dim=1, keepdim=True).clamp(min=_NORM_EPS)  # (N, 1, H, W)
    return (a[:, None] * feats).sum(dim=2) / total


def weighted_sum(
    pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor
) -> torch.Tensor:
    """Weighted sum: ``sum_k alpha_k f_k`` over the non-empty entries k."""
    _check_inputs(pointsidx, alphas, pt_clds)
    feats, valid = _gather_features(pointsidx, pt_clds)
    a = alphas.to(feats.dtype) * valid.to(feats.dtype)
    return (a[:, None] * feats).sum(dim=2)
