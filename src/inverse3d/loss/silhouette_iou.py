"""Soft intersection-over-union loss of silhouettes (the loss of SoftRas' mesh fitting)."""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_float, check_tensor

__all__ = ["silhouette_iou_loss"]


def silhouette_iou_loss(
    pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """1 - mean over images of the soft IoU of two silhouettes.

    For each image, I = sum(p t) and U = sum(p + t - p t) over its pixels; the soft IoU is
    I / (U + eps). On binary masks it is the IoU of the two pixel sets (1 when both are empty).

    Args:
        pred: (N, H, W) float in [0, 1], e.g. the alpha of a soft rasterizer; differentiable.
        target: (N, H, W) float in [0, 1], the observed masks.
        eps: > 0, added to U (an image where both masks are empty counts as IoU 1).

    Returns:
        Scalar loss in [0, 1].
    """
    pred = check_tensor(pred, "pred", ("N", "H", "W"), "float")
    target = check_tensor(target, "target", tuple(pred.shape), "float")
    eps = check_positive_float(eps, "eps")
    if pred.shape[0] == 0:
        raise ValueError("pred must hold at least one image; got N = 0")
    t = target.to(pred.dtype)
    inter = (pred * t).flatten(1).sum(1)
    union = (pred + t - pred * t).flatten(1).sum(1)
    iou = torch.where(union > 0, inter / (union + eps), torch.ones_like(union))
    return 1.0 - iou.mean()
