"""Background models: what a ray sees once it has left the object's cube (NeRF++'s split).

Object methods (sdf, volume, dvr) model the cube [-bound, bound]^3 only. For captures of a thing
in a place (no masks) the rest of each photo, the room, is rendered by a `BackgroundModel` and
composited behind the object with the ray's remaining transmittance, so the room is not painted
into the cube and the mesh comes from the object region only. Two kinds:

- "environment": a colour per ray direction (`EnvironmentMap`, a latitude-longitude texture).
  Cheap; no parallax, so near walls blur.
- "outer": NeRF++'s outer field on inverted-sphere coordinates. A point x outside the cube is
  written (x / |x|, s) with s = bound / |x| in (0, 1) (s -> 0 at infinity). The field is a grid of
  density and colour logits over (inverse distance s, latitude, longitude), `layers` x `height`
  x `width`, sampled trilinearly (longitude wraps). Each ray is sampled evenly in disparity from
  where it leaves the cube (or, if it misses the cube, its closest approach to the centre) out
  to infinity; the layer s = 0 is an opaque environment at infinity, so every ray's background
  is fully opaque. The opacity of the section between samples k and k+1 is
  1 - exp(-softplus(density) * layers * |s_k - s_k+1|): density per grid layer of inverse
  distance, independent of the number of samples. Walls at different distances move
  differently between views (parallax).

`resolve_background(setting, has_masks)` is the methods' default rule: "auto" gives "data" (the
data's uniform background colour, no model) when the data has masks and "outer" otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inverse3d._validation import check_choice, check_positive_int, check_tensor
from inverse3d.models.environment_map import EnvironmentMap, direction_latlong, wrap_longitude
from inverse3d.renderer.implicit.surface import ray_box_intersection
from inverse3d.renderer.implicit.weights import emission_absorption_weights

__all__ = ["BACKGROUND_CHOICES", "BackgroundModel", "OuterField", "resolve_background"]

BACKGROUND_CHOICES = ("auto", "data", "environment", "outer")


def resolve_background(setting: str, has_masks: bool) -> str:
    """The background kind a method uses: `setting` unless it is "auto", which gives "data" when
    the data has masks (object captures on a known background) and "outer" otherwise."""
    check_choice(setting, "background_model", BACKGROUND_CHOICES)
    if setting != "auto":
        return setting
    return "data" if has_masks else "outer"


class OuterField(torch.nn.Module):
    """Density and colour over inverted-sphere coordinates (direction, s = bound / |x|).

    Args:
        layers: D, grid layers of s from 0 (infinity) to 1 (the sphere of radius bound).
        height: H, texels of latitude from y = +1 to y = -1.
        width: W, texels of longitude around the y axis.
        init_density: initial density logit (softplus gives the density per layer).

    forward(directions: (P, 3) float, s: (P,) float in [0, 1]) -> (density (P,) >= 0,
    rgb (P, 3) in (0, 1)).
    """

    def __init__(
        self, layers: int = 8, height: int = 16, width: int = 32, init_density: float = -4.0
    ) -> None:
        super().__init__()
        self.layers = check_positive_int(layers, "layers")
        self.height = check_positive_int(height, "height")
        self.width = check_positive_int(width, "width")
        grid = torch.zeros(4, self.layers, self.height, self.width)
        grid[0] = float(init_density)
        self.logits = torch.nn.Parameter(grid)

    def forward(self, directions: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, ...]:
        check_tensor(directions, "directions", shape=("P", 3), dtype="float")
        check_tensor(s, "s", shape=(directions.shape[0],), dtype="float")
        lon, lat = direction_latlong(directions)
        tex, gx = wrap_longitude(self.logits, lon)
        d = self.layers
        gz = (2.0 * s.clamp(0.0, 1.0) - 1.0) * (d - 1) / d  # layer centres at s = 0 and 1
        grid = torch.stack([gx, lat, gz], -1).to(tex.dtype)[None, None, None]  # (1,1,1,P,3)
        out = F.grid_sample(
            tex[None], grid, mode="bilinear", padding_mode="border", align_corners=False
        )[0, :, 0, 0].T  # (P, 4)
        return F.softplus(out[:, 0]), torch.sigmoid(out[:, 1:])


class BackgroundModel(torch.nn.Module):
    """The colour a ray sees behind the object's cube [-bound, bound]^3.

    Args:
        kind: "environment" (colour by direction) or "outer" (NeRF++ outer field, parallax).
        bound: half side of the object's cube.
        size: texels from pole to pole (twice as many around).
        layers: outer field: layers of inverse distance.
        samples: outer field: samples per ray (plus the opaque layer at infinity).

    forward(origins: (R, 3) float, directions: (R, 3) float (need not be unit),
    stratified: bool = False) -> rgb (R, 3) float in (0, 1), fully opaque.
    """

    def __init__(
        self,
        kind: str = "outer",
        bound: float = 1.0,
        size: int = 16,
        layers: int = 8,
        samples: int = 16,
    ) -> None:
        super().__init__()
        self.kind = check_choice(kind, "kind", ("environment", "outer"))
        if not float(bound) > 0:
            raise ValueError(f"bound must be > 0; got {bound}")
        self.bound = float(bound)
        size = check_positive_int(size, "size")
        self.samples = check_positive_int(samples, "samples")
        if self.kind == "environment":
            self.field: torch.nn.Module = EnvironmentMap(size, 2 * size)
        else:
            self.field = OuterField(check_positive_int(layers, "layers"), size, 2 * size)

    def forward(
        self, origins: torch.Tensor, directions: torch.Tensor, stratified: bool = False
    ) -> torch.Tensor:
        check_tensor(origins, "origins", shape=("R", 3), dtype="float")
        check_tensor(directions, "directions", shape=(origins.shape[0], 3), dtype="float")
        d = F.normalize(directions, dim=-1)
        if self.kind == "environment":
            return self.field(d)
        r, n = origins.shape[0], self.samples
        _, t_exit, hit = ray_box_intersection(origins, d, self.bound)
        closest = (-(origins * d).sum(-1)).clamp(min=0.0)
        t0 = torch.where(hit, t_exit, closest).clamp(min=1e-6)  # outside the cube from here on
        k = torch.arange(n, device=origins.device, dtype=origins.dtype)
        jitter = torch.rand(r, n, device=origins.device, dtype=origins.dtype) if stratified else 0
        v = 1.0 - (k + jitter) / n  # (R, S) disparity t0 / t in (0, 1], decreasing
        if not stratified:
            v = v.expand(r, n)
        t = t0[:, None] / v.clamp(min=1e-6)
        x = origins[:, None] + t[..., None] * d[:, None]  # (R, S, 3)
        dist = x.norm(dim=-1).clamp(min=self.bound)
        s = self.bound / dist  # (R, S), decreasing along the ray
        dirs = torch.cat([x.reshape(-1, 3), d], 0)  # the samples, then infinity (direction d)
        s_all = torch.cat([s.reshape(-1), s.new_zeros(r)])
        sigma, rgb = self.field(dirs, s_all)
        sigma = sigma[: r * n].reshape(r, n)
        rgb = torch.cat([rgb[: r * n].reshape(r, n, 3), rgb[r * n :, None]], 1)  # (R, S+1, 3)
        ds = (s - torch.cat([s[:, 1:], s.new_zeros(r, 1)], 1)).abs()
        alpha = 1.0 - torch.exp(-sigma * ds * self.field.layers)
        alpha = torch.cat([alpha, alpha.new_ones(r, 1)], 1)  # opaque at infinity
        w = emission_absorption_weights(alpha, eps=1e-7)
        return (w[..., None] * rgb).sum(1)
