"""Evaluation metrics: mesh accuracy / completeness / Chamfer-L1 / normal consistency / F-score
(Occupancy Networks protocol) and image PSNR, SSIM and mask IoU. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from inverse3d._validation import check_positive_float, check_positive_int, check_tensor
from inverse3d.ops.knn import knn_points

__all__ = ["evaluate_meshes", "psnr", "ssim", "mask_iou", "MESH_METRICS"]

MESH_METRICS = (
    "chamfer_l1",
    "accuracy",
    "completeness",
    "normal_consistency",
    "f_score",
    "f_score_tau",
    "precision",
    "recall",
)


def _as_mesh(mesh: Any, name: str):
    from inverse3d.structures.meshes import Meshes

    if isinstance(mesh, (str, os.PathLike)):
        from inverse3d.io.pluggable import IO

        if not os.path.isfile(mesh):
            raise ValueError(f"{name}: {mesh}: no such file")
        mesh = IO().load_mesh(mesh, include_textures=False)
    if not isinstance(mesh, Meshes):
        raise TypeError(f"{name} must be a Meshes or a mesh file path; got {type(mesh).__name__}")
    if len(mesh) != 1:
        raise ValueError(f"{name} must hold one mesh; got a batch of {len(mesh)}")
    return mesh


def _nearest(query: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance (P,) float64 and index (P,) of the nearest ref point of each query.

    The exact search (ops.knn_points, K=1) runs in float32; the distances are then recomputed
    in float64.
    """
    idx = knn_points(query.float()[None], ref.float()[None], K=1).idx[0, :, 0]
    return (query.double() - ref.double()[idx]).norm(dim=-1), idx


def _sample(mesh, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

    pts, nrm = sample_points_from_meshes(mesh, n, return_normals=True)
    return pts[0], nrm[0].double()


def evaluate_meshes(
    pred: Any,
    gt: Any,
    n_samples: int = 100_000,
    tau: float = 0.01,
    seed: int = 0,
) -> dict[str, float]:
    """Compare a predicted mesh with the ground truth (Occupancy Networks protocol).

    Both meshes are scaled by the same factor 1 / (longest side of the GT bounding box);
    `n_samples` points are sampled uniformly on each surface (with their face normals).

    accuracy: mean distance from the pred samples to their nearest GT sample.
    completeness: mean distance from the GT samples to their nearest pred sample.
    chamfer_l1: (accuracy + completeness) / 2.
    normal_consistency: mean |cos| between each sample's normal and its nearest neighbour's in the
        other set, averaged over both directions.
    precision / recall: fraction of pred (GT) samples within tau of the other set;
    f_score: their harmonic mean (0 when both are 0); f_score_tau: tau.

    Args:
        pred, gt: Meshes of one mesh each, or paths of mesh files (.obj, .ply, .off).
        n_samples: points sampled on each surface.
        tau: F-score threshold as a fraction of the GT bounding box's longest side.
        seed: seeds the sampling (the global RNG is left untouched).

    Returns:
        dict with the names of `MESH_METRICS` (floats) plus "n_samples" and "scale" (the factor
        applied). An empty predicted mesh gives inf distances and zero scores.

    Raises:
        ValueError: if gt is empty or degenerate (zero-size bounding box), or the inputs are not
            one mesh each.
    """
    pred = _as_mesh(pred, "pred")
    gt = _as_mesh(gt, "gt")
    n = check_positive_int(n_samples, "n_samples")
    tau = check_positive_float(tau, "tau")
    if gt.isempty() or gt.faces_packed().shape[0] == 0:
        raise ValueError("gt must be a non-empty mesh")
    gv = gt.verts_packed()
    side = float((gv.max(0).values - gv.min(0).values).max())
    if not math.isfinite(side) or side <= 0:
        raise ValueError(f"gt must have a bounding box of positive size; got longest side {side}")
    scale = 1.0 / side
    if pred.isempty() or pred.faces_packed().shape[0] == 0:
        inf = float("inf")
        return {"chamfer_l1": inf, "accuracy": inf, "completeness": inf,
                "normal_consistency": 0.0, "f_score": 0.0, "f_score_tau": tau,
                "precision": 0.0, "recall": 0.0, "n_samples": n, "scale": scale}  # fmt: skip
    pred = pred.to(gv.device)
    devices = [gv.device] if gv.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        gp, gn = _sample(gt, n)
        pp, pn = _sample(pred, n)
        gp, pp = gp.double() * scale, pp.double() * scale
        d_acc, i_acc = _nearest(pp, gp)  # pred -> gt
        d_comp, i_comp = _nearest(gp, pp)  # gt -> pred
        nc_acc = (pn * gn[i_acc]).sum(-1).abs().mean()
        nc_comp = (gn * pn[i_comp]).sum(-1).abs().mean()
    acc, comp = float(d_acc.mean()), float(d_comp.mean())
    precision = float((d_acc < tau).double().mean())
    recall = float((d_comp < tau).double().mean())
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "chamfer_l1": 0.5 * (acc + comp),
        "accuracy": acc,
        "completeness": comp,
        "normal_consistency": float(0.5 * (nc_acc + nc_comp)),
        "f_score": f,
        "f_score_tau": tau,
        "precision": precision,
        "recall": recall,
        "n_samples": n,
        "scale": scale,
    }


def _check_images(pred, target) -> None:
    check_tensor(pred, "pred", dtype="float")
    check_tensor(target, "target", dtype="float")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape; got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    if pred.dim() not in (3, 4):
        raise ValueError(f"pred must have shape (H, W, C) or (N, H, W, C); got {tuple(pred.shape)}")


def psnr(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    max_val: float = 1.0,
) -> torch.Tensor:
    """Peak signal-to-noise ratio 10 log10(max_val^2 / MSE) in dB.

    Args:
        pred, target: (H, W, C) or (N, H, W, C) float images.
        mask: optional (H, W) or (N, H, W) float/bool weights: the MSE is taken over the masked
            pixels only (weighted mean over pixels and channels).
        max_val: the data range.

    Returns:
        0-dim float tensor: for a batch, the mean of the per-image PSNRs (inf for a perfect match).
    """
    _check_images(pred, target)
    max_val = check_positive_float(max_val, "max_val")
    batched = pred.dim() == 4
    p = pred if batched else pred[None]
    t = target if batched else target[None]
    err = (p - t).square().mean(-1)  # (N, H, W)
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        check_tensor(mask, "mask", tuple(pred.shape[:-1]), ("float", "bool"))
        w = (mask if batched else mask[None]).to(err.dtype)
        denom = w.flatten(1).sum(1)
        if bool((denom <= 0).any()):
            raise ValueError("mask must select at least one pixel of every image")
        mse = (err * w).flatten(1).sum(1) / denom
    return (10.0 * torch.log10(max_val**2 / mse)).mean()


def _gauss_kernel(size: int, sigma: float, dtype, device) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    K1: float = 0.01,
    K2: float = 0.03,
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window.

    Same numbers as ``skimage.metrics.structural_similarity(pred, target, data_range=1,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1)``: local
    statistics under an 11-tap Gaussian (sigma 1.5), the SSIM map averaged over the pixels at
    least win_size // 2 from the border and over the channels. Differentiable.

    Args:
        pred, target: (H, W, C) or (N, H, W, C) float images, H and W >= win_size.

    Returns:
        0-dim float tensor: for a batch, the mean of the per-image SSIMs.
    """
    _check_images(pred, target)
    win = check_positive_int(win_size, "win_size")
    if win % 2 == 0:
        raise ValueError(f"win_size must be odd; got {win}")
    H, W = pred.shape[-3], pred.shape[-2]
    if H < win or W < win:
        raise ValueError(f"pred must be at least {win}x{win} pixels; got {H}x{W}")
    data_range = check_positive_float(data_range, "data_range")
    x = (pred if pred.dim() == 4 else pred[None]).permute(0, 3, 1, 2)  # (N, C, H, W)
    y = (target if target.dim() == 4 else target[None]).permute(0, 3, 1, 2)
    N, C = x.shape[:2]
    g = _gauss_kernel(win, sigma, x.dtype, x.device)
    kx = g.view(1, 1, 1, win).expand(5 * C, 1, 1, win)
    ky = g.view(1, 1, win, 1).expand(5 * C, 1, win, 1)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (N, 5C, H, W)
    # 'valid' filtering = skimage's filtering followed by its crop of win // 2 pixels.
    f = torch.nn.functional.conv2d(stack, kx, groups=5 * C)
    f = torch.nn.functional.conv2d(f, ky, groups=5 * C)
    ux, uy, uxx, uyy, uxy = f.split(C, dim=1)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).mean()


def mask_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of binarised masks (value > threshold), pooled over all pixels.

    Args:
        pred, target: float or bool masks of the same shape, e.g. (N, H, W).
        threshold: binarisation threshold for float masks.

    Returns:
        0-dim float tensor |A and B| / |A or B| (1.0 when both masks are empty).
    """
    check_tensor(pred, "pred", dtype=("float", "bool"))
    check_tensor(target, "target", dtype=("float", "bool"))
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape; got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    a = pred if pred.dtype == torch.bool else pred > threshold
    b = target if target.dtype == torch.bool else target > threshold
    inter = (a & b).sum()
    union = (a | b).sum()
    if int(union) == 0:
        return torch.tensor(1.0)
    return inter.double().div(union.double()).float()
