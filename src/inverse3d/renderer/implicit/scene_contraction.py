"""Unbounded scenes: mip-NeRF 360's scene contraction and ray lengths that reach far away.

`contract_points` maps all of space into the ball of radius 2: points inside the unit ball stay
where they are, a point x outside goes to (2 - 1 / |x|) x / |x| (continuous at |x| = 1, and the
far distance is squeezed so that equal steps in disparity 1/t become about equal steps in the
contracted space). A field defined on [-2, 2]^3 then covers the whole scene.

`unbounded_ray_lengths` places samples for such a field: `n_inner` evenly in [near, mid] (the
object region) and `n_outer` evenly in disparity between mid and far, which spreads them about
evenly over the contracted shell.
"""

from __future__ import annotations

import torch

from inverse3d._validation import check_positive_float, check_positive_int

__all__ = ["contract_points", "unbounded_ray_lengths"]


def contract_points(x: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    """mip-NeRF 360's contraction of points, with the inner ball of radius `radius`.

    x: (..., 3) float points. Returns (..., 3) float with norm < 2 radius: x unchanged where
    |x| <= radius, else radius (2 - radius / |x|) x / |x|.
    """
    if not torch.is_tensor(x) or x.shape[-1:] != (3,):
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"x must be a (..., 3) tensor; got {shape}")
    r = check_positive_float(radius, "radius")
    n = x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    outside = n > r
    n_safe = torch.where(outside, n, torch.full_like(n, r))  # keeps the unused branch finite
    squeezed = r * (2.0 - r / n_safe) * x / n_safe
    return torch.where(outside, squeezed, x)


def unbounded_ray_lengths(
    n_rays: int,
    near: float,
    mid: float,
    far: float,
    n_inner: int,
    n_outer: int,
    stratified: bool = True,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sample lengths of rays into an unbounded scene.

    n_inner samples evenly spaced in [near, mid], then n_outer evenly spaced in disparity 1 / t
    in (mid, far]. With `stratified`, each sample is jittered within its bin (a fresh draw per
    ray); otherwise bin midpoints. Returns (n_rays, n_inner + n_outer) float, increasing.
    """
    n_rays = check_positive_int(n_rays, "n_rays")
    n_inner = check_positive_int(n_inner, "n_inner")
    n_outer = check_positive_int(n_outer, "n_outer")
    if not 0.0 <= near < mid < far:
        raise ValueError(
            f"near, mid, far must satisfy 0 <= near < mid < far; got {near}, {mid}, {far}"
        )
    n = n_inner + n_outer
    if stratified:
        u = (torch.arange(n, device=device) + torch.rand(n_rays, n, device=device)) / 1.0
    else:
        u = (torch.arange(n, device=device) + 0.5).expand(n_rays, n)
    ui, uo = u[:, :n_inner] / n_inner, (u[:, n_inner:] - n_inner) / n_outer
    inner = near + (mid - near) * ui
    disparity = 1.0 / mid + (1.0 / far - 1.0 / mid) * uo
    return torch.cat([inner, 1.0 / disparity], -1)
