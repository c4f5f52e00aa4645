"""sample_farthest_points against a loop reference."""

from __future__ import annotations

import pytest
import torch

from inverse3d.ops.sample_farthest_points import sample_farthest_points


def _brute(pts, length, K, start=0):
    sel = [start]
    dmin = [float("inf")] * length
    for _ in range(min(K, length) - 1):
        last = pts[sel[-1]]
        best, bi = -1.0, -1
        for j in range(length):
            dmin[j] = min(dmin[j], float(((pts[j] - last) ** 2).sum()))
            if dmin[j] > best:
                best, bi = dmin[j], j
        sel.append(bi)
    return sel


class TestSampleFarthestPoints:
    def test_smoke(self):
        pts, idx = sample_farthest_points(torch.rand(2, 30, 3), K=5)
        assert pts.shape == (2, 5, 3) and idx.shape == (2, 5)

    def test_matches_reference(self):
        x = torch.rand(3, 40, 3, dtype=torch.float64)
        lengths = torch.tensor([40, 10, 3])
        K = torch.tensor([8, 5, 6])
        pts, idx = sample_farthest_points(x, lengths, K)
        assert idx.shape == (3, 8)
        for n in range(3):
            exp = _brute(x[n], int(lengths[n]), int(K[n]))
            got = idx[n][idx[n] >= 0].tolist()
            assert got == exp
            assert (idx[n, len(exp) :] == -1).all()
            torch.testing.assert_close(pts[n, : len(exp)], x[n, exp])
            assert (pts[n, len(exp) :] == 0).all()

    def test_random_start(self):
        x = torch.rand(4, 20, 3)
        lengths = torch.tensor([20, 1, 5, 7])
        _, idx = sample_farthest_points(x, lengths, K=[4, 4, 4, 4], random_start_point=True)
        for n in range(4):
            got = idx[n][idx[n] >= 0]
            assert len(set(got.tolist())) == len(got) == min(4, int(lengths[n]))
            assert int(got.max()) < int(lengths[n])
            assert got.tolist() == _brute(x[n], int(lengths[n]), 4, int(got[0]))

    def test_exceptions(self):
        x = torch.rand(2, 10, 3)
        with pytest.raises(ValueError, match="K must be >= 1"):
            sample_farthest_points(x, K=0)
        with pytest.raises(ValueError, match="K must have shape"):
            sample_farthest_points(x, K=[1, 2, 3])
        with pytest.raises(ValueError, match="lengths"):
            sample_farthest_points(x, lengths=torch.tensor([11, 2]))
        with pytest.raises(ValueError, match="points must have shape"):
            sample_farthest_points(torch.rand(10, 3))
        with pytest.raises(TypeError):
            sample_farthest_points(x, K=2.5)

    def test_empty(self):
        pts, idx = sample_farthest_points(torch.rand(2, 0, 3), K=3)
        assert (idx == -1).all() and pts.shape == (2, 3, 3)

    def test_gradient_flows(self):
        x = torch.rand(1, 10, 3, requires_grad=True)
        pts, idx = sample_farthest_points(x, K=3)
        pts.sum().backward()
        assert float(x.grad.sum()) == pytest.approx(9.0)
