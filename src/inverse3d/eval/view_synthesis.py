"""Held-out metrics of a novel view synthesis model (models.synsin) against two baselines.

For every held-out pair the target view is compared (PSNR in dB, SSIM; eval.metrics) with:

- "synsin": the model's output;
- "input_copy": the source image unchanged (baseline a);
- "warp_predicted_depth": the source RGB splatted into the target view with the model's
  predicted depth and the same point renderer, no refinement; pixels the splats leave
  uncovered keep the source pixel (rgb + (1 - coverage) * source) (baseline b);
- "warp_true_depth": the same with the ground-truth depth (what forward warping can reach).
"""

from __future__ import annotations

from typing import Any

import torch

from inverse3d.eval.metrics import psnr, ssim

__all__ = ["METRIC_DEFINITIONS", "evaluate_view_synthesis", "warp_rgb"]

METRIC_DEFINITIONS = {
    "psnr": "10 log10(1 / MSE) in dB against the target view, mean over held-out pairs",
    "ssim": "SSIM (Gaussian 11-tap window, sigma 1.5) against the target, mean over pairs",
    "synsin": "the model's synthesized target view",
    "input_copy": "the source image unchanged (baseline a)",
    "warp_predicted_depth": "source RGB splatted with the predicted depth, no refinement, "
    "uncovered pixels keep the source pixel (baseline b)",
    "warp_true_depth": "as warp_predicted_depth with the ground-truth depth",
}


def warp_rgb(
    model: Any, source: torch.Tensor, depth: torch.Tensor, R: torch.Tensor, T: torch.Tensor
) -> torch.Tensor:
    """Forward-warp source (N, 3, S, S) with depth (N, 1, S, S) by the relative camera (R, T)
    with `model.warp` (the model's splatting), filling uncovered pixels from the source.

    Returns (N, 3, S, S) in [0, 1].
    """
    w = model.warp(source, depth, R, T)
    return (w[:, :3] + (1.0 - w[:, 3:]) * source).clamp(0.0, 1.0)


@torch.no_grad()
def evaluate_view_synthesis(model: Any, pairs: Any, batch_size: int = 16) -> dict[str, Any]:
    """Metrics of `model` on view `pairs` (module docstring).

    pairs: source, target (N, 3, S, S), depth (N, 1, S, S), R (N, 3, 3), T (N, 3) (as
    `datasets.view_pairs.make_view_pairs`). Returns {name: {"psnr": float, "ssim": float}}.
    """
    if not hasattr(pairs, "source") or not hasattr(pairs, "target"):
        raise TypeError(f"pairs must be view pairs; got {type(pairs).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    dev = next(model.parameters()).device
    preds: dict[str, list[torch.Tensor]] = {k: [] for k in ("synsin", "input_copy")}
    preds.update(warp_predicted_depth=[], warp_true_depth=[])
    targets = []
    was_training = model.training
    model.eval()
    for s in range(0, len(pairs), batch_size):
        sl = slice(s, s + batch_size)
        src, tgt = pairs.source[sl].to(dev), pairs.target[sl].to(dev)
        R, T, d = pairs.R[sl].to(dev), pairs.T[sl].to(dev), pairs.depth[sl].to(dev)
        out = model(src, R, T)
        preds["synsin"].append(out.image)
        preds["input_copy"].append(src)
        preds["warp_predicted_depth"].append(out.warped.clamp(0.0, 1.0))
        preds["warp_true_depth"].append(warp_rgb(model, src, d, R, T))
        targets.append(tgt)
    model.train(was_training)
    target = torch.cat(targets).permute(0, 2, 3, 1).float().cpu()
    result = {}
    for name, lst in preds.items():
        p = torch.cat(lst).permute(0, 2, 3, 1).float().cpu()
        result[name] = {"psnr": float(psnr(p, target)), "ssim": float(ssim(p, target))}
    return result
