"""ball_query against a loop reference, scipy cKDTree and gradcheck."""

from __future__ import annotations

import importlib

import pytest
import torch

from inverse3d.ops.ball_query import ball_query

bq = importlib.import_module(
    "inverse3d.ops.ball_query"
)  # the module (the package exports a same-named function)


def _brute(p1, p2, l1, l2, K, r):
    N, P1, _ = p1.shape
    idx = torch.full((N, P1, K), -1, dtype=torch.int64)
    d = torch.zeros(N, P1, K, dtype=p1.dtype)
    for n in range(N):
        for i in range(int(l1[n])):
            k = 0
            for j in range(int(l2[n])):
                dd = float(((p1[n, i] - p2[n, j]) ** 2).sum())
                if dd < r * r and k < K:
                    idx[n, i, k] = j
                    d[n, i, k] = dd
                    k += 1
    return d, idx


class TestBallQuery:
    def test_smoke(self):
        out = ball_query(torch.rand(2, 10, 3), torch.rand(2, 8, 3), K=4)
        assert out.dists.shape == (2, 10, 4) and out.idx.shape == (2, 10, 4)
        assert out.knn.shape == (2, 10, 4, 3)
        assert ball_query(torch.rand(1, 3, 3), torch.rand(1, 3, 3), return_nn=False).knn is None

    @pytest.mark.parametrize("K", [1, 3, 50])
    def test_matches_reference(self, K):
        p1 = torch.rand(3, 25, 3, dtype=torch.float64)
        p2 = torch.rand(3, 30, 3, dtype=torch.float64)
        l1, l2 = torch.tensor([25, 10, 0]), torch.tensor([30, 5, 12])
        out = ball_query(p1, p2, l1, l2, K=K, radius=0.4)
        d, i = _brute(p1, p2, l1, l2, K, 0.4)
        assert torch.equal(out.idx, i)
        torch.testing.assert_close(out.dists, d)
        nn_ok = out.knn[i >= 0]
        torch.testing.assert_close(
            nn_ok, p2[torch.arange(3)[:, None, None].expand_as(i)[i >= 0], i[i >= 0]]
        )
        assert (out.knn[i < 0] == 0).all()

    def test_chunked(self, monkeypatch):
        p1, p2 = torch.rand(2, 60, 3), torch.rand(2, 70, 3)
        full = ball_query(p1, p2, K=7, radius=0.3)
        monkeypatch.setattr(bq, "BALL_QUERY_CHUNK_ELEMENTS", 50)
        assert torch.equal(full.idx, ball_query(p1, p2, K=7, radius=0.3).idx)

    def test_matches_scipy(self):
        spatial = pytest.importorskip("scipy.spatial")
        p1, p2 = torch.rand(1, 200, 3), torch.rand(1, 300, 3)
        out = ball_query(p1, p2, K=300, radius=0.15)
        tree = spatial.cKDTree(p2[0].numpy())
        lists = tree.query_ball_point(p1[0].numpy(), r=0.15)
        for i, js in enumerate(lists):
            got = out.idx[0, i][out.idx[0, i] >= 0].tolist()
            # boundary points (|d| == r up to rounding) are practically absent with random data
            assert got == sorted(js)

    def test_exceptions(self):
        a = torch.rand(2, 5, 3)
        with pytest.raises(ValueError, match="p2 must have shape"):
            ball_query(a, torch.rand(2, 5, 2))
        with pytest.raises(ValueError, match="K must be >= 1"):
            ball_query(a, a, K=0)
        with pytest.raises(ValueError, match="radius"):
            ball_query(a, a, radius=-1.0)
        with pytest.raises(ValueError, match="lengths1"):
            ball_query(a, a, lengths1=torch.tensor([9, 1]))

    def test_empty(self):
        out = ball_query(torch.rand(2, 4, 3), torch.rand(2, 0, 3), K=3)
        assert (out.idx == -1).all() and (out.dists == 0).all()

    def test_gradcheck(self):
        p1 = torch.rand(1, 5, 3, dtype=torch.float64, requires_grad=True)
        p2 = torch.rand(1, 6, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: ball_query(a, b, K=3, radius=0.7)[0], (p1, p2))
