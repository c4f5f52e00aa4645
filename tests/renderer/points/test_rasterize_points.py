"""rasterize_points against a per-pixel brute-force loop, disk areas and gradients."""

from __future__ import annotations

import importlib
import math

import pytest
import torch

from inverse3d.renderer.points.rasterize_points import rasterize_points
from inverse3d.structures.pointclouds import Pointclouds

rp = importlib.import_module(
    "inverse3d.renderer.points.rasterize_points"
)  # the module (the package exports a same-named function)


def _brute(points_list, H, W, radius, K):
    """Loop over clouds, pixels and points (written from PyTorch3D's definition): pixel (y, x)
    has NDC centre ((W-1-2x)/s, (H-1-2y)/s), s = min(H, W); a point covers it when its z >= 0
    and its squared xy distance is < r^2; the K smallest z are kept, ties by point index."""
    s = min(H, W)
    N = len(points_list)
    idx = torch.full((N, H, W, K), -1, dtype=torch.int64)
    zb = torch.full((N, H, W, K), -1.0, dtype=torch.float64)
    dd = torch.full((N, H, W, K), -1.0, dtype=torch.float64)
    offset = 0
    for n, pts in enumerate(points_list):
        for y in range(H):
            yc = (H - 1 - 2 * y) / s
            for x in range(W):
                xc = (W - 1 - 2 * x) / s
                hits = []
                for p in range(pts.shape[0]):
                    px, py, pz = (float(v) for v in pts[p])
                    r = radius if not torch.is_tensor(radius) else float(radius[offset + p])
                    d2 = (px - xc) ** 2 + (py - yc) ** 2
                    if pz >= 0 and d2 < r * r:
                        hits.append((pz, offset + p, d2))
                hits.sort()
                for k, (z, p, d2) in enumerate(hits[:K]):
                    idx[n, y, x, k], zb[n, y, x, k], dd[n, y, x, k] = p, z, d2
        offset += pts.shape[0]
    return idx, zb, dd


def _clouds(seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(12, 3, generator=g, dtype=torch.float64) * 2.4 - 1.2
    b = torch.rand(7, 3, generator=g, dtype=torch.float64) * 2.4 - 1.2
    a[:, 2] = a[:, 2] + 0.5  # a few negative z remain: they are culled
    return [a, b]


class TestRasterizePoints:
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    @pytest.mark.parametrize("H,W", [(9, 9), (7, 11), (12, 6)])
    def test_matches_reference_loop(self, H, W, dtype):
        pts = [p.to(dtype) for p in _clouds()]
        idx, zb, dd = rasterize_points(
            Pointclouds(points=pts), (H, W), radius=0.35, points_per_pixel=3
        )
        ridx, rzb, rdd = _brute(pts, H, W, 0.35, 3)
        assert idx.dtype == torch.int64 and idx.shape == (2, H, W, 3)
        torch.testing.assert_close(idx, ridx)
        torch.testing.assert_close(zb, rzb.to(dtype))
        torch.testing.assert_close(dd, rdd.to(dtype))
        assert int((idx >= 0).sum()) > 20

    def test_matches_reference_per_point_radius_and_chunks(self, monkeypatch):
        pts = _clouds(1)
        clouds = Pointclouds(points=pts)
        r = torch.rand(19, dtype=torch.float64) * 0.4 + 0.05
        ref = _brute(pts, 8, 10, r, 4)
        monkeypatch.setattr(rp, "_PAIR_BUDGET", 7)  # many chunks and reductions
        scalar = rasterize_points(clouds, (8, 10), radius=torch.tensor(0.2), points_per_pixel=4)
        for got, want in zip(scalar, rasterize_points(clouds, (8, 10), 0.2, 4)):
            torch.testing.assert_close(got, want)
        for radius in (r, [r[:12], r[12:]], clouds.points_padded().new_zeros(2, 12)):
            if torch.is_tensor(radius) and radius.dim() == 2:
                radius[0] = r[:12]
                radius[1, :7] = r[12:]
                radius[1, 7:] = 1.0  # padding: ignored
            out = rasterize_points(clouds, (8, 10), radius=radius, points_per_pixel=4)
            for got, want in zip(out, ref):
                torch.testing.assert_close(got, want)

    def test_disk_area(self):
        # a single point renders a disk of radius r: pixel count ~ pi (r S / 2)^2
        S, r = 256, 0.3
        pts = torch.tensor([[[0.013, -0.021, 1.0]]])
        idx, _, dists = rasterize_points(Pointclouds(points=pts), S, radius=r, points_per_pixel=1)
        area = int((idx >= 0).sum())
        expected = math.pi * (r * S / 2) ** 2
        assert abs(area - expected) / expected < 0.02
        assert float(dists[idx >= 0].max()) < r * r

    def test_convention_pixel_centres(self):
        # a tiny disk at the NDC centre of pixel (row 2, column 5) of a 6x10 image covers only it
        H, W = 6, 10
        x = (W - 1 - 2 * 5) / H
        y = (H - 1 - 2 * 2) / H
        idx, _, _ = rasterize_points(
            Pointclouds(points=[torch.tensor([[x, y, 1.0]])]),
            (H, W),
            radius=0.05,
            points_per_pixel=1,
        )
        assert (idx[0, :, :, 0] >= 0).nonzero().tolist() == [[2, 5]]
        rm = pytest.importorskip("inverse3d.renderer.mesh.rasterize_meshes")
        if hasattr(rm, "pixel_centers_ndc"):
            ys, xs = rm.pixel_centers_ndc(H, W)
            assert abs(float(xs[5]) - x) < 1e-6 and abs(float(ys[2]) - y) < 1e-6

    def test_k_ordering_by_depth(self):
        z = torch.tensor([3.0, 1.0, 2.0, 0.5, 4.0])
        pts = torch.stack((torch.zeros(5), torch.zeros(5), z), -1)
        idx, zb, _ = rasterize_points(Pointclouds(points=[pts]), 4, radius=0.9, points_per_pixel=3)
        assert idx[0, 1, 1].tolist() == [3, 1, 2]
        torch.testing.assert_close(zb[0, 1, 1], torch.tensor([0.5, 1.0, 2.0]))
        # equal depths: the lower point index first (as PyTorch3D's CPU reference)
        pts = torch.tensor([[0.1, 0.0, 2.0], [0.0, 0.1, 1.0], [0.0, 0.0, 1.0]])
        idx, _, _ = rasterize_points(Pointclouds(points=[pts]), 4, radius=0.9, points_per_pixel=3)
        assert idx[0, 1, 1].tolist() == [1, 2, 0]

    def test_shapes_empty(self):
        clouds = Pointclouds(points=[torch.rand(3, 3), torch.zeros(0, 3)])
        idx, zb, dd = rasterize_points(clouds, (5, 4), radius=0.5, points_per_pixel=2)
        assert idx.shape == zb.shape == dd.shape == (2, 5, 4, 2)
        assert bool((idx[1] == -1).all() & (zb[1] == -1).all() & (dd[1] == -1).all())

    def test_exceptions(self):
        c = Pointclouds(points=[torch.rand(3, 3)])
        with pytest.raises(ValueError, match="radius"):
            rasterize_points(c, 8, radius=0.0)
        with pytest.raises(ValueError, match="radius"):
            rasterize_points(c, 8, radius=-0.1)
        with pytest.raises(ValueError, match="radius"):
            rasterize_points(c, 8, radius=torch.tensor([0.1, 0.0, 0.1]))
        with pytest.raises(ValueError, match="radius"):
            rasterize_points(c, 8, radius=torch.rand(4))
        with pytest.raises(ValueError, match="points_per_pixel"):
            rasterize_points(c, 8, points_per_pixel=0)
        with pytest.raises(ValueError, match="image_size"):
            rasterize_points(c, (8, 0))
        with pytest.raises(TypeError, match="Pointclouds"):
            rasterize_points(torch.rand(3, 3), 8)

    def test_gradcheck(self):
        base = torch.tensor(
            [[0.1, 0.05, 1.0], [-0.2, 0.3, 2.0], [0.25, -0.1, 1.5]], dtype=torch.float64
        )

        def f(p):
            _, zb, dd = rasterize_points(Pointclouds(points=[p]), 6, radius=0.6, points_per_pixel=2)
            return zb, dd

        p = base.clone().requires_grad_()
        assert torch.autograd.gradcheck(f, (p,), eps=1e-6, atol=1e-6)
        # dists gradient is 2 (p_xy - centre_xy): check one entry by hand
        idx, _, dd = rasterize_points(Pointclouds(points=[p]), 6, radius=0.6, points_per_pixel=2)
        (g,) = torch.autograd.grad(dd[0, 2, 3, 0], p)
        k = int(idx[0, 2, 3, 0])
        want = torch.zeros_like(base)
        want[k, 0] = 2 * (base[k, 0] - (6 - 1 - 2 * 3) / 6)
        want[k, 1] = 2 * (base[k, 1] - (6 - 1 - 2 * 2) / 6)
        torch.testing.assert_close(g, want)


def test_device_matches_cpu(device):
    pts = [p.float() for p in _clouds(3)]
    ref = rasterize_points(Pointclouds(points=pts), (9, 13), radius=0.3, points_per_pixel=3)
    out = rasterize_points(
        Pointclouds(points=[p.to(device) for p in pts]), (9, 13), radius=0.3, points_per_pixel=3
    )
    assert out[0].device.type == device.type
    for got, want in zip(out, ref):
        torch.testing.assert_close(got.cpu(), want)
