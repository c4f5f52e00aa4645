"""Triton point rasterizer against the reference `rasterize_points`: idx exactly, zbuf / dists
and their gradients, on CUDA (marked cuda) and on CPU under Triton's interpreter (tiny cases);
skipped without triton."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from inverse3d.structures import Pointclouds  # noqa: E402
from kernel_backends import BACKENDS, backend_device, both, grads  # noqa: E402

RP = importlib.import_module("inverse3d.renderer.points.rasterize_points")


def _small_tiles(monkeypatch, th=8, tw=8, bp=8, budget=50):
    """Small tiles, chunks and pair batches, so that tiny images cross several tiles and
    segments, and the points come in several nearest-first batches."""
    mod = importlib.import_module("inverse3d.renderer.points._triton.rasterize")
    monkeypatch.setattr(mod, "TILE_H", th)
    monkeypatch.setattr(mod, "TILE_W", tw)
    monkeypatch.setattr(mod, "BLOCK_P", bp)
    monkeypatch.setattr(mod, "PAIR_BUDGET", budget)


def _compare(monkeypatch, points_list, image_size, radius, K, seed=0):
    """Run both paths on clouds from points_list; assert equal idx, zbuf, dists and grads."""

    def run():
        pts = [p.clone().requires_grad_(True) for p in points_list]
        rad = [r.clone() for r in radius] if isinstance(radius, list) else radius
        idx, zbuf, dists = RP.rasterize_points(Pointclouds(points=pts), image_size, rad, K)
        g = grads(torch.stack([zbuf, dists]), pts, seed)
        return idx, zbuf, dists, g

    (i0, z0, d0, g0), (i1, z1, d1, g1) = both(monkeypatch, RP, run)
    assert torch.equal(i1, i0)
    assert torch.equal(z1, z0)
    assert torch.equal(d1, d0)
    for a, b in zip(g1, g0):
        if a is None or b is None:
            assert a is None and b is None
        else:
            # CUDA scatter-adds may sum in another order: equal up to rounding
            torch.testing.assert_close(a, b)
    return i1


def _cloud(n, dev, dtype=torch.float32, zlo=0.0, gen=None):
    p = torch.rand(n, 3, generator=gen, dtype=dtype) * 2.4 - 1.2  # some outside the image
    p[:, 2] = p[:, 2] + zlo
    return p.to(dev)


@pytest.mark.parametrize("backend", BACKENDS)
class TestTritonRasterizePoints:
    def test_heterogeneous_batch_non_square(self, monkeypatch, backend):
        dev = backend_device(backend)
        big = backend == "cuda"
        if not big:
            _small_tiles(monkeypatch)
        g = torch.Generator().manual_seed(1)
        n = 3000 if big else 150
        pts = [_cloud(n, dev, gen=g), _cloud(0, dev), _cloud(n // 3, dev, gen=g)]
        size = (97, 130) if big else (13, 21)
        for K, radius in ((1, 0.08), (4, 0.2)):
            idx = _compare(monkeypatch, pts, size, radius, K)
            assert (idx[1] == -1).all()  # the empty cloud
            assert (idx[0] >= 0).any() and (idx[2] >= n).any()  # packed ids of cloud 2
        # wide images too (H < W and H > W have different NDC extents)
        _compare(monkeypatch, pts, size[::-1], 0.15, 3)

    def test_per_point_radius_and_float64(self, monkeypatch, backend):
        dev = backend_device(backend)
        if backend == "interp":
            _small_tiles(monkeypatch, 4, 8, 4)
        g = torch.Generator().manual_seed(2)
        n = 2000 if backend == "cuda" else 60
        pts = [_cloud(n, dev, torch.float64, gen=g), _cloud(n // 2, dev, torch.float64, gen=g)]
        radius = [
            (torch.rand(p.shape[0], generator=g, dtype=torch.float64) * 0.3 + 0.01).to(dev)
            for p in pts
        ]
        _compare(monkeypatch, pts, (11, 16), radius, 5)
        # disks wider than the image: every point on every tile
        _compare(monkeypatch, [p[:20] for p in pts], (11, 16), 1.5, 3)

    def test_ties_duplicates_and_invalid_points(self, monkeypatch, backend):
        dev = backend_device(backend)
        if backend == "interp":
            _small_tiles(monkeypatch)
        g = torch.Generator().manual_seed(3)
        base = _cloud(40, "cpu", gen=g)
        base[:, 2] = (base[:, 2] * 2).round().abs()  # few distinct depths: many z ties
        base[5, 2] = -0.0  # -0.0 ties with 0.0
        base[6, 2] = 0.0
        pts = torch.cat([base, base, base[:10]])  # exact duplicates: order by packed index
        pts[3, 2] = -0.5  # behind the camera: skipped
        pts[7, :2] = float("nan")  # undefined projection behind the camera: skipped
        pts[7, 2] = -1.0
        pts[8, :2] = torch.tensor([5.0, -7.0])  # far outside the image
        idx = _compare(monkeypatch, [pts.to(dev)], (9, 14), 0.3, 6)
        for bad in (3, 7, 8):
            assert not (idx == bad).any()
        assert (idx >= 0).sum(-1).max() == 6  # some pixels overflow K

    def test_dense_tile_drops_nothing(self, monkeypatch, backend):
        """Tens of thousands of points on one tile: the pixels keep exactly the reference's K
        nearest, and a pixel covered only by the farthest point still gets it."""
        dev = backend_device(backend)
        g = torch.Generator().manual_seed(4)
        n = 50_000 if backend == "cuda" else 2500
        S = 16  # one 16 x 16 tile
        p = torch.rand(n, 3, generator=g)
        p[:, :2] = p[:, :2] * 0.8 - 0.9  # a blob away from the (+x, +y) corner
        p[:, 2] = p[:, 2] + 1.0
        # the farthest point, alone on the pixel in the image's top-left corner (+x, +y)
        p[n // 2] = torch.tensor([0.94, 0.94, 5.0])
        idx = _compare(monkeypatch, [p.to(dev)], S, 0.05, 8)
        assert idx[0, 0, 0, 0] == n // 2 and (idx[0, 0, 0, 1:] == -1).all()
        assert (idx[0, 9:14, 9:14] >= 0).all()  # the blob's pixels are full

    def test_bin_arguments_ignored(self, monkeypatch, backend):
        dev = backend_device(backend)
        g = torch.Generator().manual_seed(5)
        pts = [_cloud(100, dev, gen=g)]

        def run():
            return RP.rasterize_points(Pointclouds(points=pts), 12, 0.2, 3, 4, 2)[0]

        ref, fast = both(monkeypatch, RP, run)
        assert torch.equal(fast, ref)


@pytest.mark.cuda
def test_dispatch_on_cuda(monkeypatch):
    backend_device("cuda")
    dev = torch.device("cuda")
    pts = Pointclouds(points=[torch.rand(5000, 3, device=dev) * 2 - 1])
    monkeypatch.setenv("INVERSE3D_KERNELS", "reference")
    ref = RP.rasterize_points(pts, 64, 0.05, 4)
    monkeypatch.setenv("INVERSE3D_KERNELS", "triton")
    assert RP.use_triton(pts.points_packed())
    fast = RP.rasterize_points(pts, 64, 0.05, 4)
    for a, b in zip(fast, ref):
        assert torch.equal(a, b)
