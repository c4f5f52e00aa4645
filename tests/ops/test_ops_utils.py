"""ops.utils: wmean, eyes, is_pointclouds, convert_pointclouds_to_tensor, get_point_covariances."""

from __future__ import annotations

import pytest
import torch

from inverse3d.ops.utils import (
    convert_pointclouds_to_tensor,
    eyes,
    get_point_covariances,
    is_pointclouds,
    wmean,
)


class TestWmean:
    def test_matches_reference(self):
        x = torch.rand(2, 5, 3, dtype=torch.float64)
        w = torch.rand(2, 5, dtype=torch.float64)
        exp = torch.stack([(x[n] * w[n, :, None]).sum(0) / w[n].sum() for n in range(2)])
        torch.testing.assert_close(wmean(x, w), exp[:, None])
        torch.testing.assert_close(wmean(x, w, keepdim=False), exp)
        torch.testing.assert_close(wmean(x), x.mean(-2, keepdim=True))
        assert torch.isfinite(wmean(x, torch.zeros(2, 5, dtype=torch.float64))).all()

    def test_exceptions(self):
        with pytest.raises(ValueError, match="not compatible"):
            wmean(torch.rand(2, 5, 3), torch.rand(2, 4))


class TestEyes:
    def test_shapes(self):
        e = eyes(3, 4, dtype=torch.float64)
        assert e.shape == (4, 3, 3) and e.dtype == torch.float64
        assert torch.equal(e[2], torch.eye(3, dtype=torch.float64))
        with pytest.raises(ValueError):
            eyes(0, 2)


class TestConvertPointclouds:
    def test_tensor_and_pointclouds(self):
        x = torch.rand(2, 6, 3)
        pts, n = convert_pointclouds_to_tensor(x)
        assert pts is x and n.tolist() == [6, 6] and not is_pointclouds(x)
        pc = pytest.importorskip("inverse3d.structures.pointclouds")
        clouds = pc.Pointclouds(points=[torch.rand(4, 3), torch.rand(2, 3)])
        assert is_pointclouds(clouds)
        pts, n = convert_pointclouds_to_tensor(clouds)
        assert pts.shape == (2, 4, 3) and n.tolist() == [4, 2]
        with pytest.raises(ValueError):
            convert_pointclouds_to_tensor([1, 2])


class TestGetPointCovariances:
    def test_matches_reference(self):
        x = torch.rand(1, 30, 3, dtype=torch.float64)
        cov, nn = get_point_covariances(x, torch.tensor([30]), 6)
        assert cov.shape == (1, 30, 3, 3) and nn.shape == (1, 30, 6, 3)
        for i in (0, 7, 29):
            d = ((x[0] - x[0, i]) ** 2).sum(-1)
            nb = x[0, d.argsort()[:6]]
            c = nb - nb.mean(0)
            torch.testing.assert_close(cov[0, i], c.T @ c / 6)
