"""Losses on rendered rays that the volumetric methods share: depth supervision and free space.

With depth maps in the data (RGB-D, or the built-in scene), a ray through a pixel of known
view-space depth ``z`` should end at the ray length ``t* = z / d_z`` (``d_z``: the view-space z
of the unit direction). Two terms use this:

* ``depth``: L1 between the ray's expected termination ``sum_k w_k t_k / sum_k w_k`` and ``t*``;
* ``free``: the rendering weight that lies in front of the surface, ``sum_{t_k < t* - margin} w_k``
  (floaters in front of the surface cannot hide in an expected value that happens to be right).

Rays without a depth (background pixels) are left to the mask loss.

Without depths, two regularisers help the geometry: mip-NeRF 360's distortion loss (the weights
of a ray gathered into one short interval: a surface, not a fog) and total variation of a grid.
"""

from __future__ import annotations

import torch

__all__ = [
    "DepthSupervision",
    "view_depth_factor",
    "depth_losses",
    "distortion_loss",
    "grid_tv_loss",
]


def view_depth_factor(cameras, origins: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """View-space z per unit of ray length, for rays starting at the camera centres.

    origins, directions: (B, R, 3) float (origins are the B cameras' centres).
    Returns: (B, R) float.
    """
    w2v = cameras.get_world_to_view_transform()
    return (
        w2v.transform_points(origins + directions)[..., 2] - w2v.transform_points(origins)[..., 2]
    )


def depth_losses(
    weights: torch.Tensor,
    lengths: torch.Tensor,
    target_z: torch.Tensor,
    dz: torch.Tensor,
    margin: float,
) -> dict[str, torch.Tensor]:
    """Depth and free-space losses of rays with a known view-space depth.

    Args:
        weights: (R, S) float rendering weights of the samples.
        lengths: (R, S) float ray lengths of the samples (unit directions).
        target_z: (R,) float view-space depth of each ray's pixel; <= 0 means unknown.
        dz: (R,) float view-space z of each unit direction.
        margin: ray length in front of the surface that still counts as the surface.

    Returns: {"depth": (), "free": ()} float (zeros when no ray has a depth).
    """
    valid = target_z > 0
    if not bool(valid.any()):
        zero = weights.sum() * 0.0
        return {"depth": zero, "free": zero}
    w, t = weights[valid], lengths[valid]
    t_star = target_z[valid] / dz[valid].clamp(min=1e-6)
    acc = w.sum(-1)
    t_exp = (w * t).sum(-1) / acc.clamp(min=1e-4)
    front = t < (t_star[:, None] - margin)
    return {
        "depth": (t_exp - t_star).abs().mean(),
        "free": (w * front).sum(-1).mean(),
    }


class DepthSupervision:
    """The depth and free-space terms of a method's training step, weighted.

    depths: (N, 1, H, W) float view-space depth maps of the training views (0: unknown).
    """

    def __init__(self, depths: torch.Tensor, margin: float, w_depth: float, w_free: float):
        self.depths, self.margin, self.w_depth, self.w_free = depths, margin, w_depth, w_free

    @classmethod
    def for_rays(
        cls,
        depths: torch.Tensor | None,
        near: float,
        far: float,
        n_pts: int,
        w_depth: float,
        w_free: float,
    ) -> DepthSupervision | None:
        """The terms for rays sampled with `n_pts` points in [near, far]; None when there are no
        depths or both weights are 0. depths: (N, H, W) float. The margin is two sample spacings."""
        if depths is None or (w_depth <= 0 and w_free <= 0):
            return None
        margin = 2.0 * (far - near) / n_pts
        return cls(depths[:, None], margin, w_depth, w_free)

    def __call__(self, cameras, idx, xys, origins, directions, weights, lengths):
        """Loss and its terms for rays through NDC points xys (B, R, 2) of the training views
        `idx` seen by `cameras` (B); origins/directions (B, R, 3); weights/lengths (B * R, S).

        Returns: (loss () float, {"depth": (), "free": ()}).
        """
        from inverse3d.renderer.utils import ndc_grid_sample

        tz = ndc_grid_sample(self.depths[idx], xys, align_corners=False, mode="nearest")[:, 0]
        dz = view_depth_factor(cameras, origins, directions)
        terms = depth_losses(weights, lengths, tz.reshape(-1), dz.reshape(-1), self.margin)
        return self.w_depth * terms["depth"] + self.w_free * terms["free"], terms


def distortion_loss(weights: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """mip-NeRF 360's distortion loss, mean over rays, in O(S) per ray.

    With interval midpoints m_k and widths d_k (the last width repeats the previous one):
    ``sum_{i,j} w_i w_j |m_i - m_j| + 1/3 sum_i w_i^2 d_i``.

    weights: (R, S) float; lengths: (R, S) float sorted sample lengths. Returns () float.
    """
    if lengths.shape[-1] > 1:
        d = lengths[..., 1:] - lengths[..., :-1]
        d = torch.cat([d, d[..., -1:]], dim=-1)
    else:
        d = torch.zeros_like(lengths)
    m = lengths + 0.5 * d
    # sum_{i,j} w_i w_j |m_i - m_j| = 2 sum_i w_i (m_i W_{<i} - (wm)_{<i}) for sorted m.
    w_before = torch.cumsum(weights, -1) - weights
    wm_before = torch.cumsum(weights * m, -1) - weights * m
    inter = 2.0 * (weights * (m * w_before - wm_before)).sum(-1)
    intra = (weights**2 * d).sum(-1) / 3.0
    return (inter + intra).mean()


def grid_tv_loss(grid: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring cells of a (..., D, H, W) grid along each axis."""
    return sum(torch.diff(grid, dim=k).pow(2).mean() for k in (-1, -2, -3))
