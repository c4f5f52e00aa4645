"""Controllability checks of a GIRAFFE generator (models.giraffe), FID-free and readable.

- translation: over n random scenes, the centroid of object 0's silhouette (its opacity image,
  at the feature resolution, in NDC: +x left, +y up) against the camera projection
  ``focal * (c_x, c_y) / c_z`` of its centre c; Pearson correlation per image axis.
- appearance: the silhouette (opacity > 0.5) with the scenes' appearance codes and with new
  ones; intersection over union (1 by construction: density ignores the appearance code).
"""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_int
from inverse3d.models.giraffe import GiraffeGenerator, SceneCodes

__all__ = ["controllability"]


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


@torch.no_grad()
def controllability(gen: GiraffeGenerator, n: int = 100, seed: int = 0) -> dict[str, float]:
    """{"translation_corr_x", "translation_corr_y", "appearance_iou", "mean_opacity"} of `gen`
    over n random scenes drawn with `seed` (module docstring)."""
    if not isinstance(gen, GiraffeGenerator):
        raise TypeError(f"gen must be a GiraffeGenerator; got {type(gen).__name__}")
    n = check_positive_int(n, "n")
    if n < 3:
        raise ValueError(f"n must be >= 3 for a correlation; got {n}")
    g = torch.Generator().manual_seed(int(seed))
    codes, poses = gen.sample_latents(n, g)
    xy = gen.rays(1)[2]
    op = gen.object_opacity(codes, poses)
    w = op.reshape(n, -1)
    cen = (w @ xy) / w.sum(1, keepdim=True).clamp_min(1e-8)
    centre = poses.translation[:, 0] + poses.translation.new_tensor([0.0, 0.0, gen.depth])
    proj = gen.focal * centre[:, :2] / centre[:, 2:]
    new_app = torch.randn(codes.appearance.shape, generator=g).to(codes.appearance)
    other = SceneCodes(codes.shape, new_app, codes.bg_shape, codes.bg_appearance)
    a, b = op > 0.5, gen.object_opacity(other, poses) > 0.5
    union = (a | b).sum()
    return {
        "translation_corr_x": _corr(cen[:, 0].cpu(), proj[:, 0].cpu()),
        "translation_corr_y": _corr(cen[:, 1].cpu(), proj[:, 1].cpu()),
        "appearance_iou": float((a & b).sum() / union) if union > 0 else float("nan"),
        "mean_opacity": float(op.mean()),
    }
