"""A learned environment map: the colour seen along a direction, for what lies outside the object.

`EnvironmentMap` stores an equirectangular (latitude-longitude) texture of colour logits,
(3, H, W), and returns ``sigmoid(bilinear sample)`` at the longitude / latitude of each unit
direction: longitude atan2(x, z) across the width (wrapping around at +-pi), latitude
asin(y) down the height. Object methods composite it behind the object (NeRF++'s idea of a
separate model for the background, reduced to directions only: it has no parallax, so near
walls come out blurred, but it no longer paints the room into the object's box).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from inverse3d._validation import check_positive_int, check_tensor

__all__ = ["EnvironmentMap", "direction_latlong", "wrap_longitude"]


def direction_latlong(directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Longitude and latitude of directions, both scaled to [-1, 1] (grid_sample coordinates).

    directions: (P, 3) float, need not be unit. Returns lon (P,) = atan2(x, z) / pi (+-1 is the
    seam behind -z) and lat (P,) = -asin(y) / (pi / 2) (-1 at the pole y = +1, the top row).
    """
    check_tensor(directions, "directions", shape=("P", 3), dtype="float")
    d = F.normalize(directions, dim=-1)
    lon = torch.atan2(d[:, 0], d[:, 2]) / math.pi
    lat = -torch.asin(d[:, 1].clamp(-1.0, 1.0)) / (math.pi / 2)
    return lon, lat


def wrap_longitude(tex: torch.Tensor, lon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A texture (..., W) widened by one column on each side (its last column before the first,
    its first after the last) and the longitude lon (P,) in [-1, 1] rescaled to it, so that
    bilinear `grid_sample` with align_corners=False wraps around the seam."""
    w = tex.shape[-1]
    return torch.cat([tex[..., -1:], tex, tex[..., :1]], -1), lon * w / (w + 2)


class EnvironmentMap(torch.nn.Module):
    """Colour along directions from a learned (3, height, width) latitude-longitude texture.

    Args:
        height: texels from the pole y = +1 to y = -1 (latitude).
        width: texels around the y axis (longitude).
        init: initial colour in (0, 1) of every texel.

    forward(directions: (..., 3) float, need not be unit) -> rgb (..., 3) float in (0, 1).
    """

    def __init__(self, height: int = 16, width: int = 32, init: float = 0.5) -> None:
        super().__init__()
        self.height = check_positive_int(height, "height")
        self.width = check_positive_int(width, "width")
        if not 0.0 < float(init) < 1.0:
            raise ValueError(f"init must be in (0, 1); got {init}")
        logit = math.log(init / (1.0 - init))
        self.logits = torch.nn.Parameter(torch.full((3, self.height, self.width), logit))

    def forward(self, directions: torch.Tensor) -> torch.Tensor:
        check_tensor(directions, "directions", shape=("...", 3), dtype="float")
        lead = directions.shape[:-1]
        lon, lat = direction_latlong(directions.reshape(-1, 3))
        tex, gx = wrap_longitude(self.logits, lon)
        grid = torch.stack([gx, lat], -1).to(tex.dtype)[None, None]  # (1, 1, P, 2)
        out = F.grid_sample(
            tex[None], grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        return torch.sigmoid(out[0, :, 0].T).reshape(*lead, 3)
