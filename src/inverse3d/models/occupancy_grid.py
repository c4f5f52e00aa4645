"""Occupancy grid for empty-space skipping during ray marching (as in Instant-NGP).

A ``resolution**3`` grid over an axis-aligned box keeps, per cell, a running estimate of the
field's density. ``update(density_fn)`` evaluates the density at the cell centres (jittered
within the cell while training), blends it into the estimate and thresholds it into a binary
mask, optionally dilated by a few cells so that a surface crossing a cell whose centre is empty
is not lost. Ray samples in empty cells are then dropped (`filter`) or never evaluated
(`NeRF(..., occupancy_grid=grid)`), which changes an image only by the density that the
dropped samples held (below the threshold).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from inverse3d._validation import (
    check_choice,
    check_nonneg_int,
    check_positive_int,
    check_tensor,
)
from inverse3d.models._bounds import bounds_tensor

__all__ = ["OccupancyGrid"]


class OccupancyGrid(nn.Module):
    """Binary occupancy of a box, estimated from a density function.

    Args:
        resolution: cells per axis (G).
        bounds: the box: a half-size s ([-s, s]^3) or (2, 3) [min, max].
        threshold: a cell is occupied when its density estimate exceeds this.
        ema_decay: weight of the old estimate in an update.
        update_mode: "max" (Instant-NGP: ``max(decay * old, new)``) or "ema"
            (``decay * old + (1 - decay) * new``). The first update takes the new values.
        dilation: grow the occupied set by this many cells (in the infinity norm).

    Buffers: ``density`` (G, G, G) float, ``mask`` (G, G, G) bool (all True before the first
    update: nothing is skipped until the grid has seen the field). Index order (i, j, k) is
    (x, y, z).
    """

    def __init__(
        self,
        resolution: int = 64,
        bounds: float | Sequence = 1.0,
        threshold: float = 0.01,
        ema_decay: float = 0.95,
        update_mode: str = "max",
        dilation: int = 0,
    ) -> None:
        super().__init__()
        self.resolution = check_positive_int(resolution, "resolution")
        self.threshold = float(threshold)
        if not 0.0 <= float(ema_decay) <= 1.0:
            raise ValueError(f"ema_decay must be in [0, 1]; got {ema_decay}")
        self.ema_decay = float(ema_decay)
        self.update_mode = check_choice(update_mode, "update_mode", ("max", "ema"))
        self.dilation = check_nonneg_int(dilation, "dilation")
        G = self.resolution
        self.register_buffer("bounds", bounds_tensor(bounds, 3))
        self.register_buffer("density", torch.zeros(G, G, G))
        self.register_buffer("mask", torch.ones(G, G, G, dtype=torch.bool))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

    @property
    def cell_size(self) -> torch.Tensor:
        """(3,) float edge lengths of a cell."""
        return (self.bounds[1] - self.bounds[0]) / self.resolution

    def cell_centers(self) -> torch.Tensor:
        """(G, G, G, 3) float world positions of the cell centres."""
        G = self.resolution
        idx = torch.arange(G, device=self.bounds.device, dtype=self.bounds.dtype) + 0.5
        grid = torch.stack(torch.meshgrid(idx, idx, idx, indexing="ij"), dim=-1)
        return self.bounds[0] + grid * self.cell_size

    def cell_index(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., 3) points -> ((..., 3) int64 cell indices clamped to the grid, (...) bool inside)."""
        lo, hi = self.bounds[0].to(points.dtype), self.bounds[1].to(points.dtype)
        u = (points - lo) / (hi - lo)
        inside = ((u >= 0) & (u <= 1)).all(dim=-1)
        ijk = (u * self.resolution).floor().long().clamp(0, self.resolution - 1)
        return ijk, inside

    @torch.no_grad()
    def update(
        self,
        density_fn: Callable[[torch.Tensor], torch.Tensor],
        jitter: bool = True,
        chunk_size: int = 2**18,
    ) -> None:
        """Re-estimate the density at the cell centres and recompute the mask.

        Args:
            density_fn: (P, 3) float points -> (P,) or (P, 1) float densities.
            jitter: evaluate at a uniform random point of each cell instead of its centre.
            chunk_size: points per call of density_fn.
        """
        pts = self.cell_centers().reshape(-1, 3)
        if jitter:
            pts = pts + (torch.rand_like(pts) - 0.5) * self.cell_size
        vals = []
        for chunk in pts.split(check_positive_int(chunk_size, "chunk_size")):
            v = density_fn(chunk)
            if not torch.is_tensor(v) or v.shape not in ((chunk.shape[0],), (chunk.shape[0], 1)):
                got = tuple(v.shape) if torch.is_tensor(v) else type(v).__name__
                raise ValueError(f"density_fn must return (P,) or (P, 1) for P points; got {got}")
            vals.append(v.reshape(-1).to(self.density.dtype))
        new = torch.cat(vals).reshape(self.density.shape)
        if int(self.n_updates) == 0:
            self.density.copy_(new)
        elif self.update_mode == "max":
            self.density.copy_(torch.maximum(self.density * self.ema_decay, new))
        else:
            self.density.mul_(self.ema_decay).add_((1.0 - self.ema_decay) * new)
        self.n_updates += 1
        self._update_mask()

    def _update_mask(self) -> None:
        occ = self.density > self.threshold
        if self.dilation > 0:
            k = 2 * self.dilation + 1
            occ = (
                nn.functional.max_pool3d(
                    occ[None, None].float(), kernel_size=k, stride=1, padding=self.dilation
                )[0, 0]
                > 0
            )
        self.mask.copy_(occ)

    def is_occupied(self, points: torch.Tensor) -> torch.Tensor:
        """(...) bool: whether each point (..., 3) lies in an occupied cell (False outside)."""
        check_tensor(points, "points", shape=("...", 3), dtype="float")
        ijk, inside = self.cell_index(points)
        occ = self.mask[ijk[..., 0], ijk[..., 1], ijk[..., 2]]
        return occ & inside

    def filter(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Drop the points in empty cells.

        Args:
            points: (..., 3) float.

        Returns:
            kept: (M, 3) float, the occupied points in order; mask: (...) bool.
        """
        mask = self.is_occupied(points)
        return points[mask], mask

    def sample_along_rays(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        near: float | torch.Tensor,
        far: float | torch.Tensor,
        n_samples: int,
        stratified: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Evenly spaced (or stratified) samples along rays and which of them to evaluate.

        Args:
            origins, directions: (R, 3) float.
            near, far: floats or (R,) float.
            n_samples: S.
            stratified: one uniform sample per bin instead of the bin centres.

        Returns:
            t: (R, S) float lengths; mask: (R, S) bool, True where the sample is in an
            occupied cell (the samples to evaluate; the others count as empty space).
        """
        dims: dict[str, int] = {}
        check_tensor(origins, "origins", shape=("R", 3), dtype="float", dims=dims)
        check_tensor(directions, "directions", shape=("R", 3), dtype="float", dims=dims)
        S = check_positive_int(n_samples, "n_samples")
        R = origins.shape[0]
        near_t = torch.as_tensor(near, dtype=origins.dtype, device=origins.device).expand(R)
        far_t = torch.as_tensor(far, dtype=origins.dtype, device=origins.device).expand(R)
        u = (torch.arange(S, dtype=origins.dtype, device=origins.device) + 0.5) / S
        if stratified:
            u = u + (torch.rand(R, S, dtype=origins.dtype, device=origins.device) - 0.5) / S
        t = near_t[:, None] + (far_t - near_t)[:, None] * u
        points = origins[:, None, :] + t[..., None] * directions[:, None, :]
        return t.expand(R, S), self.is_occupied(points)

    def occupancy_fraction(self) -> float:
        """Fraction of occupied cells."""
        return float(self.mask.float().mean())

    def extra_repr(self) -> str:
        return (
            f"resolution={self.resolution}, threshold={self.threshold}, "
            f"update_mode={self.update_mode}, dilation={self.dilation}"
        )
