"""The exact nearest-neighbour search used by evaluate_meshes, against scipy's cKDTree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inverse3d.eval._nearest import nearest_neighbors

spatial = pytest.importorskip("scipy.spatial")


def _surface(n, radius=1.0, gen=None):
    p = torch.randn(n, 3, generator=gen)
    return p / p.norm(dim=1, keepdim=True) * radius


class TestNearestNeighbors:
    @pytest.mark.parametrize("radius", [1.0, 1.01, 1.3, 3.0])
    def test_matches_reference(self, radius):
        ref = _surface(3000)
        query = _surface(2000, radius)  # near, a little off, far, very far
        d, i = nearest_neighbors(query, ref)
        dd, ii = spatial.cKDTree(ref.double().numpy()).query(query.double().numpy())
        np.testing.assert_allclose(d.numpy(), dd, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose((query - ref[i]).norm(dim=1).numpy(), dd, rtol=1e-5, atol=1e-6)

    def test_mixed_and_degenerate(self):
        ref = torch.cat([_surface(500), torch.rand(300, 3) * 0.01 + 5.0])  # two far clumps
        query = torch.cat([torch.rand(400, 3) * 8 - 2, ref[:10]])
        d, i = nearest_neighbors(query, ref)
        dd, _ = spatial.cKDTree(ref.numpy()).query(query.numpy())
        np.testing.assert_allclose(d.numpy(), dd, rtol=1e-5, atol=1e-6)
        assert torch.all(d[-10:] == 0)
        d, i = nearest_neighbors(torch.rand(5, 3), torch.zeros(1, 3))  # one reference point
        assert torch.all(i == 0)
