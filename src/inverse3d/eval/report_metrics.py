"""The metrics of a reconstruction run: geometry against the ground-truth mesh and image metrics
of the held-out views (definitions in docs/metrics.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from inverse3d.eval.metrics import evaluate_meshes, mask_iou, psnr, ssim

__all__ = ["GEOMETRY_KEYS", "METRIC_KEYS", "image_metrics", "run_metrics"]

METRIC_KEYS = (
    "chamfer_l1",
    "accuracy",
    "completeness",
    "normal_consistency",
    "f_score",
    "f_score_tau",
    "mask_iou",
    "psnr",
    "ssim",
)
GEOMETRY_KEYS = METRIC_KEYS[:6]


def image_metrics(
    pred_rgb: torch.Tensor,
    target_rgb: torch.Tensor,
    pred_alpha: torch.Tensor | None,
    target_mask: torch.Tensor | None,
) -> dict[str, float | None]:
    """Mean PSNR, SSIM (full images) and mask IoU (threshold 0.5) over held-out views.

    pred_rgb, target_rgb: (N, H, W, 3) float; pred_alpha, target_mask: (N, H, W) float or None.
    """
    if pred_rgb.shape[0] == 0:
        return {"psnr": None, "ssim": None, "mask_iou": None}
    p = pred_rgb.detach().float().cpu().clamp(0, 1)
    t = target_rgb.detach().float().cpu()
    ps = [float(psnr(p[i], t[i])) for i in range(p.shape[0])]
    ss = [float(ssim(p[i], t[i])) for i in range(p.shape[0])]
    out: dict[str, float | None] = {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss))}
    if pred_alpha is not None and target_mask is not None:
        a, m = pred_alpha.detach().float().cpu(), target_mask.detach().float().cpu()
        out["mask_iou"] = float(np.mean([float(mask_iou(a[i], m[i])) for i in range(a.shape[0])]))
    else:
        out["mask_iou"] = None
    return out


def run_metrics(
    scene: Any,
    mesh: Any,
    pred_rgba: torch.Tensor | None,
    n_samples: int = 100_000,
    tau: float = 0.01,
) -> dict[str, float | None]:
    """Every report metric (null when it cannot be computed).

    Geometry of `mesh` against `scene.gt_mesh` (both in the same frame; null without a ground
    truth or with an empty mesh) and image metrics of `pred_rgba` (N_test, H, W, 4) against the
    scene's held-out views.
    """
    metrics: dict[str, float | None] = dict.fromkeys(METRIC_KEYS)
    metrics["f_score_tau"] = tau
    if scene.gt_mesh is not None and mesh is not None and mesh.verts_packed().shape[0] > 0:
        geo = evaluate_meshes(mesh.cpu(), scene.gt_mesh.cpu(), n_samples=n_samples, tau=tau)
        for k in GEOMETRY_KEYS:
            if geo.get(k) is not None:
                metrics[k] = float(geo[k])
    if pred_rgba is not None and scene.test_idx:
        idx = torch.as_tensor(scene.test_idx)
        masks = None if scene.masks is None else scene.masks[idx]
        metrics.update(
            image_metrics(pred_rgba[..., :3], scene.images[idx], pred_rgba[..., 3], masks)
        )
    return metrics
