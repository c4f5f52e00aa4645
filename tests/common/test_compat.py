"""common.compat: meshgrid_ij against explicit "ij" grids, prod against hand products."""

from __future__ import annotations

import pytest
import torch

from inverse3d.common.compat import meshgrid_ij, prod


class TestMeshgridIJ:
    def test_matches_reference(self):
        a, b = torch.arange(3), torch.arange(4) * 10
        ga, gb = meshgrid_ij(a, b)
        assert ga.shape == gb.shape == (3, 4)
        for i in range(3):
            for j in range(4):
                assert int(ga[i, j]) == i and int(gb[i, j]) == 10 * j

    def test_sequence_argument(self):
        a, b, c = torch.arange(2), torch.arange(3), torch.arange(5)
        out = meshgrid_ij([a, b, c])
        assert [tuple(t.shape) for t in out] == [(2, 3, 5)] * 3
        assert torch.equal(out[2][1, 2], torch.arange(5))

    def test_exceptions(self):
        with pytest.raises(TypeError, match="argument 1"):
            meshgrid_ij(torch.arange(2), [0, 1])


class TestProd:
    def test_values(self):
        assert prod([2, 3, 4]) == 24
        assert prod([]) == 1
        assert prod([2, 3], start=5) == 30
        t = prod([torch.tensor(2.0), torch.tensor(1.5)])
        assert float(t) == 3.0
