"""Point radii as the rasterizer and the renderer read them."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["format_radius"]


def format_radius(radius: Any, pointclouds: Any, points: torch.Tensor) -> torch.Tensor:
    """(P_packed,) radius from a number, an (N, P_padded) / (P_packed,) tensor or a list."""
    P = points.shape[0]
    N = len(pointclouds)
    if isinstance(radius, bool):
        raise TypeError("radius must be a number, a tensor or a list; got bool")
    if isinstance(radius, (int, float)):
        r = float(radius)
        if not r > 0 or r == float("inf"):
            raise ValueError(f"radius must be a finite number > 0; got {r}")
        return points.new_full((P,), r)
    if isinstance(radius, (list, tuple)):
        if len(radius) and all(torch.is_tensor(x) for x in radius):
            if len(radius) != N:
                raise ValueError(f"radius as a list must hold one tensor per cloud ({N})")
            counts = pointclouds.num_points_per_cloud().tolist()
            for i, (x, c) in enumerate(zip(radius, counts)):
                if x.shape != (c,):
                    raise ValueError(f"radius[{i}] must have shape ({c},); got {tuple(x.shape)}")
            radius = torch.cat([x.reshape(-1) for x in radius]) if N else points.new_zeros(0)
        else:
            radius = torch.tensor(radius, dtype=points.dtype, device=points.device)
    if not torch.is_tensor(radius):
        raise TypeError(f"radius must be a number, a tensor or a list; got {type(radius).__name__}")
    radius = radius.to(device=points.device, dtype=points.dtype)
    if radius.dim() == 0:
        radius = radius.expand(P)
    if radius.dim() == 1 and radius.shape[0] == P:
        packed = radius
    elif radius.dim() == 2 and radius.shape[0] == N:
        P_padded = int(pointclouds.num_points_per_cloud().max()) if N else 0
        if radius.shape[1] != P_padded:
            raise ValueError(
                f"radius must have shape (N, P) = ({N}, {P_padded}) or ({P},); "
                f"got {tuple(radius.shape)}"
            )
        packed = radius.reshape(-1)[pointclouds.padded_to_packed_idx()]
    else:
        raise ValueError(
            f"radius must be a number or have shape (N, P) or ({P},); got {tuple(radius.shape)}"
        )
    if packed.numel() and not bool((packed > 0).all() & torch.isfinite(packed).all()):
        raise ValueError(f"radius must be finite and > 0; got a minimum of {float(packed.min())}")
    return packed
