"""Occupancy grid: cell classification, update rules, empty-space skipping in NeRF."""

from __future__ import annotations

import itertools

import pytest
import torch

from inverse3d.models.nerf import NeRF
from inverse3d.models.occupancy_grid import OccupancyGrid


def sphere_density(radius: float = 0.5, value: float = 10.0):
    def fn(points):
        return (points.norm(dim=-1) < radius).float() * value

    return fn


class SphereField(torch.nn.Module):
    """Hard sphere of density 8 and radius 0.45 with a position-dependent colour."""

    def forward(self, points, directions=None):
        inside = (points.norm(dim=-1, keepdim=True) < 0.45).to(points.dtype)
        return 8.0 * inside, torch.sigmoid(4.0 * points)


class TestOccupancyGrid:
    def test_smoke(self):
        grid = OccupancyGrid(resolution=8)
        assert grid.mask.shape == (8, 8, 8) and bool(grid.mask.all())  # nothing skipped yet
        grid.update(sphere_density())
        assert 0.0 < grid.occupancy_fraction() < 1.0

    def test_shapes(self):
        grid = OccupancyGrid(resolution=4, bounds=[[0, 0, 0], [2, 4, 8]])
        assert grid.cell_centers().shape == (4, 4, 4, 3)
        torch.testing.assert_close(grid.cell_centers()[0, 0, 0], torch.tensor([0.25, 0.5, 1.0]))
        assert grid.is_occupied(torch.rand(2, 5, 3)).shape == (2, 5)
        kept, mask = grid.filter(torch.rand(7, 3))
        assert kept.shape == (int(mask.sum()), 3)
        t, m = grid.sample_along_rays(torch.zeros(3, 3), torch.ones(3, 3), 0.1, 2.0, 11)
        assert t.shape == (3, 11) and m.shape == (3, 11)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="resolution"):
            OccupancyGrid(resolution=0)
        with pytest.raises(ValueError, match="ema_decay"):
            OccupancyGrid(ema_decay=2.0)
        with pytest.raises(ValueError, match="update_mode"):
            OccupancyGrid(update_mode="mean")
        with pytest.raises(ValueError, match="density_fn must return"):
            OccupancyGrid(resolution=4).update(lambda p: p)
        with pytest.raises(ValueError, match="points must have shape"):
            OccupancyGrid(resolution=4).is_occupied(torch.rand(3, 2))

    def test_matches_reference_sphere_cells(self):
        """Brute force over cells: occupied iff the centre is inside the sphere (no jitter)."""
        G, radius = 12, 0.55
        grid = OccupancyGrid(resolution=G, bounds=1.0, threshold=1.0)
        grid.update(sphere_density(radius), jitter=False)
        for i, j, k in itertools.product(range(G), repeat=3):
            centre = torch.tensor([i, j, k], dtype=torch.float32) * (2.0 / G) - 1.0 + 1.0 / G
            assert bool(grid.mask[i, j, k]) == bool(centre.norm() < radius), (i, j, k)

    def test_jittered_updates_classify_whole_cells(self):
        """With jitter, cells fully inside are always occupied and cells fully outside empty."""
        G, radius = 16, 0.5
        grid = OccupancyGrid(resolution=G, threshold=1.0)
        for _ in range(3):
            grid.update(sphere_density(radius), jitter=True)
        dist = grid.cell_centers().norm(dim=-1)
        half_diag = (3**0.5) / G
        assert bool(grid.mask[dist + half_diag < radius].all())
        assert not bool(grid.mask[dist - half_diag > radius].any())
        # points: inside the sphere -> occupied, far outside or outside the box -> not
        pts = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.9, 0.9], [3.0, 0.0, 0.0]])
        assert grid.is_occupied(pts).tolist() == [True, False, False]

    def test_update_rules(self):
        grid = OccupancyGrid(resolution=2, threshold=0.5, ema_decay=0.5, update_mode="ema")
        grid.update(lambda p: torch.ones(p.shape[0]), jitter=False)
        torch.testing.assert_close(grid.density, torch.ones(2, 2, 2))  # first update: copy
        grid.update(lambda p: torch.zeros(p.shape[0]), jitter=False)
        torch.testing.assert_close(grid.density, torch.full((2, 2, 2), 0.5))
        assert not bool(grid.mask.any())  # 0.5 is not above the threshold
        mx = OccupancyGrid(resolution=2, threshold=0.5, ema_decay=0.9, update_mode="max")
        mx.update(lambda p: torch.ones(p.shape[0]), jitter=False)
        mx.update(lambda p: torch.zeros(p.shape[0]), jitter=False)
        torch.testing.assert_close(mx.density, torch.full((2, 2, 2), 0.9))
        assert bool(mx.mask.all())

    def test_dilation(self):
        grid = OccupancyGrid(resolution=9, threshold=0.5, dilation=1)
        grid.update(lambda p: (p.abs().max(-1).values < 0.1).float(), jitter=False)
        assert int(grid.mask.sum()) == 27  # the centre cell and its 26 neighbours

    def test_skipping_leaves_image_unchanged(self):
        """NeRF with the grid: same image (within 1e-3), far fewer field evaluations."""
        field = SphereField()
        grid = OccupancyGrid(resolution=32, bounds=1.0, threshold=0.01, dilation=1)
        grid.update(lambda p: field(p)[0], jitter=True)
        n = 24
        ys, xs = torch.meshgrid(
            torch.linspace(-0.6, 0.6, n), torch.linspace(-0.6, 0.6, n), indexing="ij"
        )
        # a pinhole at z = -3 looking at the plane z = 0 through a 24 x 24 grid of points
        targets = torch.stack((xs, ys, torch.zeros_like(xs)), -1).reshape(-1, 3)
        origins = torch.tensor([0.05, -0.02, -3.0]).expand(n * n, 3)
        directions = torch.nn.functional.normalize(targets - origins, dim=-1)
        plain = NeRF(field, n_coarse=192).eval()
        skip = NeRF(field, n_coarse=192, occupancy_grid=grid).eval()
        a = plain.render_rays(origins, directions, 1.5, 4.5)
        b = skip.render_rays(origins, directions, 1.5, 4.5)
        assert float(a["opacity"].max()) > 0.99 and float(a["opacity"].min()) < 1e-6
        assert float((a["rgb"] - b["rgb"]).abs().max()) < 1e-3
        assert b["n_evaluated"] < 0.2 * a["n_evaluated"], (b["n_evaluated"], a["n_evaluated"])
        # the standalone sampler agrees on which samples to evaluate
        t, mask = grid.sample_along_rays(origins, directions, 1.5, 4.5, 192)
        torch.testing.assert_close(t, a["t"])
        assert int(mask.sum()) == b["n_evaluated"]
