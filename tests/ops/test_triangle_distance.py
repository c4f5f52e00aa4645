"""ops.triangle_distance: the block search against dense evaluation of the pairwise functions."""

from __future__ import annotations

import pytest
import torch

from inverse3d.ops import triangle_distance as td


def _tris(T: int) -> torch.Tensor:
    tris = torch.rand(T, 3, 3, dtype=torch.float64) * 2 - 1
    tris[0, 2] = tris[0, 0] + 0.5 * (tris[0, 1] - tris[0, 0])  # degenerate: collinear corners
    tris[1, 1] = tris[1, 0]  # degenerate: two equal corners
    return tris


class TestTriangleDistance:
    def test_smoke(self):
        p = torch.tensor([[0.25, 0.25, 2.0], [2.0, 0.0, 0.0]], dtype=torch.float64)
        a = torch.tensor([[0.0, 0, 0]], dtype=torch.float64)
        b = torch.tensor([[1.0, 0, 0]], dtype=torch.float64)
        c = torch.tensor([[0.0, 1, 0]], dtype=torch.float64)
        d = td.point_triangle_distance(p, a, b, c)
        torch.testing.assert_close(d, torch.tensor([4.0, 1.0], dtype=torch.float64))
        s = td.point_segment_distance(p, a, b)
        torch.testing.assert_close(s, torch.tensor([4.0625, 1.0], dtype=torch.float64))

    @pytest.mark.parametrize("chunk_pairs", [None, 7, 64])
    @pytest.mark.parametrize("area", [0.0, 0.05])
    def test_matches_reference(self, chunk_pairs, area):
        p = torch.rand(37, 3, dtype=torch.float64) * 3 - 1.5
        tris = _tris(23)
        fn = td.point_triangle_block_fn(p, tris, area)
        a, b, c = tris.unbind(1)
        dense = td.point_triangle_distance(p[:, None], a[None], b[None], c[None], area)  # (Q, T)
        torch.testing.assert_close(fn(slice(0, 37), slice(0, 23)), dense, atol=1e-12, rtol=0)
        rmin, rarg, cmin, carg = td.blockwise_min(fn, 37, 23, p, chunk_pairs, cols=True)
        torch.testing.assert_close(rmin, dense.min(1).values, atol=1e-12, rtol=0)
        torch.testing.assert_close(cmin, dense.min(0).values, atol=1e-12, rtol=0)
        torch.testing.assert_close(dense[torch.arange(37), rarg], dense.min(1).values)
        torch.testing.assert_close(dense[carg, torch.arange(23)], dense.min(0).values)
        sfn = td.point_segment_block_fn(p, a, b)
        sdense = td.point_segment_distance(p[:, None], a[None], b[None])
        srmin, _, _, _ = td.blockwise_min(sfn, 37, 23, p, chunk_pairs)
        torch.testing.assert_close(srmin, sdense.min(1).values, atol=1e-12, rtol=0)

    def test_empty_sides(self):
        p = torch.rand(4, 3, dtype=torch.float64)
        fn = td.point_triangle_block_fn(p, torch.zeros(0, 3, 3, dtype=torch.float64))
        rmin, rarg, cmin, _ = td.blockwise_min(fn, 4, 0, p, cols=True)
        assert bool(torch.isinf(rmin).all()) and bool((rarg == 0).all()) and cmin.shape == (0,)

    def test_gradcheck(self):
        p = torch.rand(5, 3, dtype=torch.float64, requires_grad=True)
        tri = (torch.rand(3, 3, dtype=torch.float64) * 2 - 1).requires_grad_()
        assert torch.autograd.gradcheck(
            lambda q, t: td.point_triangle_distance(q, t[None, 0], t[None, 1], t[None, 2]), (p, tri)
        )
        assert torch.autograd.gradcheck(
            lambda q, t: td.point_segment_distance(q, t[None, 0], t[None, 1]), (p, tri)
        )
