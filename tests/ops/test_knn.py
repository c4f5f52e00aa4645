"""knn_points / knn_gather against brute force loops, scipy cKDTree and gradcheck."""

from __future__ import annotations

import pytest
import torch

import inverse3d.ops.knn as knn_mod
from inverse3d.ops.knn import knn_gather, knn_points


def _brute(p1, p2, l1, l2, K, norm):
    """Loop reference: per query sorted distances (ties by index)."""
    N, P1, _ = p1.shape
    d_out = torch.zeros(N, P1, K, dtype=p1.dtype)
    i_out = torch.zeros(N, P1, K, dtype=torch.int64)
    for n in range(N):
        for i in range(int(l1[n])):
            diff = p1[n, i][None] - p2[n, : int(l2[n])]
            d = (diff**2).sum(-1) if norm == 2 else diff.abs().sum(-1)
            order = sorted(range(len(d)), key=lambda j: (float(d[j]), j))[:K]
            for k, j in enumerate(order):
                d_out[n, i, k] = d[j]
                i_out[n, i, k] = j
    return d_out, i_out


class TestKnnPoints:
    def test_smoke(self):
        out = knn_points(torch.rand(2, 10, 3), torch.rand(2, 7, 3), K=3, return_nn=True)
        assert out.dists.shape == (2, 10, 3) and out.idx.shape == (2, 10, 3)
        assert out.knn.shape == (2, 10, 3, 3)
        assert out._fields == ("dists", "idx", "knn")

    @pytest.mark.parametrize("norm", [1, 2])
    def test_matches_reference_ragged(self, norm):
        p1 = torch.rand(3, 20, 3, dtype=torch.float64)
        p2 = torch.rand(3, 15, 3, dtype=torch.float64)
        l1 = torch.tensor([20, 5, 0])
        l2 = torch.tensor([15, 3, 9])
        out = knn_points(p1, p2, l1, l2, norm=norm, K=4, return_nn=True)
        d, i = _brute(p1, p2, l1, l2, 4, norm)
        torch.testing.assert_close(out.dists, d)
        assert torch.equal(out.idx, i)
        # nn are the indexed points, zero where padded
        exp_nn = knn_gather(p2, i, l2)
        exp_nn[torch.arange(20)[None, :] >= l1[:, None]] = 0
        torch.testing.assert_close(out.knn, exp_nn)

    def test_ties_and_duplicates(self):
        # integer grid: many exactly equal distances; duplicates in p2
        p2 = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [-1, 0, 0]]])
        p1 = torch.tensor([[[0.0, 0, 0], [0.5, 0.5, 0]]])
        out = knn_points(p1, p2, K=5)
        d, i = _brute(p1, p2, torch.tensor([2]), torch.tensor([5]), 5, 2)
        torch.testing.assert_close(out.dists, d)
        assert torch.equal(out.idx, i)  # ties broken by the smaller index

    def test_matches_scipy(self):
        spatial = pytest.importorskip("scipy.spatial")
        p1 = torch.rand(2, 500, 3)
        p2 = torch.rand(2, 400, 3)
        for norm, pnorm in ((2, 2), (1, 1)):
            out = knn_points(p1, p2, norm=norm, K=6)
            for n in range(2):
                dd, ii = spatial.cKDTree(p2[n].numpy()).query(p1[n].numpy(), k=6, p=pnorm)
                exp = torch.from_numpy(dd).float()
                exp = exp**2 if norm == 2 else exp
                torch.testing.assert_close(out.dists[n], exp, rtol=1e-4, atol=1e-5)
                same = out.idx[n] == torch.from_numpy(ii)
                assert same.float().mean() > 0.999

    def test_chunking_matches_unchunked(self, monkeypatch):
        p1 = torch.rand(2, 300, 3) * 100 + 1000  # far from the origin: cancellation test
        p2 = torch.rand(2, 250, 3) * 100 + 1000
        full = knn_points(p1, p2, K=5)
        monkeypatch.setattr(knn_mod, "KNN_CHUNK_ELEMENTS", 700)  # tiny blocks in both axes
        chunked = knn_points(p1, p2, K=5)
        assert torch.equal(full.idx, chunked.idx)
        p1d, p2d = p1.double(), p2.double()
        d, i = _brute(p1d[:1, :40], p2d[:1], torch.tensor([40]), torch.tensor([250]), 5, 2)
        torch.testing.assert_close(chunked.dists[:1, :40].double(), d, rtol=1e-5, atol=1e-3)

    def test_k_larger_than_cloud(self):
        p1 = torch.rand(2, 4, 3)
        p2 = torch.rand(2, 3, 3)
        out = knn_points(p1, p2, lengths2=torch.tensor([3, 1]), K=5, return_nn=True)
        assert (out.dists[0, :, 3:] == 0).all() and (out.idx[0, :, 3:] == 0).all()
        assert (out.dists[1, :, 1:] == 0).all() and (out.knn[1, :, 1:] == 0).all()
        assert (out.idx[1, :, 0] == 0).all()

    def test_empty_clouds(self):
        out = knn_points(torch.rand(2, 5, 3), torch.rand(2, 0, 3), K=2)
        assert out.dists.shape == (2, 5, 2) and (out.dists == 0).all()
        out = knn_points(torch.rand(0, 5, 3), torch.rand(0, 4, 3), K=2)
        assert out.dists.shape == (0, 5, 2)
        out = knn_points(torch.rand(1, 0, 3), torch.rand(1, 4, 3), K=2)
        assert out.idx.shape == (1, 0, 2)

    def test_exceptions(self):
        a = torch.rand(2, 5, 3)
        with pytest.raises(ValueError, match="batch size"):
            knn_points(a, torch.rand(3, 5, 3))
        with pytest.raises(ValueError, match="point dimension"):
            knn_points(a, torch.rand(2, 5, 2))
        with pytest.raises(ValueError, match="K must be >= 1"):
            knn_points(a, a, K=0)
        with pytest.raises(ValueError, match="lengths2"):
            knn_points(a, a, lengths2=torch.tensor([6, 2]))
        with pytest.raises(ValueError, match="lengths1"):
            knn_points(a, a, lengths1=torch.tensor([1]))
        with pytest.raises(ValueError, match="norm"):
            knn_points(a, a, norm=3)
        with pytest.raises(ValueError, match="p1 must have shape"):
            knn_points(torch.rand(5, 3), a)
        with pytest.raises(TypeError):
            knn_points(a, a, K=1.5)

    @pytest.mark.parametrize("norm", [1, 2])
    def test_gradcheck(self, norm):
        p1 = torch.rand(2, 6, 3, dtype=torch.float64, requires_grad=True)
        p2 = torch.rand(2, 5, 3, dtype=torch.float64, requires_grad=True)
        l2 = torch.tensor([5, 3])

        def f(a, b):
            return knn_points(a, b, lengths2=l2, norm=norm, K=2, return_nn=True)[0]

        assert torch.autograd.gradcheck(f, (p1, p2))

    def test_grad_matches_dense(self):
        p1 = torch.rand(1, 30, 3, requires_grad=True)
        p2 = torch.rand(1, 20, 3, requires_grad=True)
        knn_points(p1, p2, K=3).dists.sum().backward()
        g1, g2 = p1.grad.clone(), p2.grad.clone()
        p1.grad = p2.grad = None
        d = ((p1[:, :, None] - p2[:, None]) ** 2).sum(-1)
        d.topk(3, dim=-1, largest=False).values.sum().backward()
        torch.testing.assert_close(g1, p1.grad)
        torch.testing.assert_close(g2, p2.grad)


class TestKnnGather:
    def test_shapes(self):
        x = torch.rand(2, 6, 4)
        idx = torch.randint(0, 6, (2, 3, 2))
        out = knn_gather(x, idx)
        assert out.shape == (2, 3, 2, 4)
        assert torch.equal(out[1, 2, 1], x[1, idx[1, 2, 1]])

    def test_lengths_mask(self):
        x = torch.rand(2, 6, 4)
        idx = torch.zeros(2, 3, 4, dtype=torch.long)
        out = knn_gather(x, idx, torch.tensor([6, 2]))
        assert (out[1, :, 2:] == 0).all() and (out[1, :, :2] != 0).all()

    def test_exceptions(self):
        with pytest.raises(ValueError):
            knn_gather(torch.rand(2, 6, 4), torch.full((2, 3, 1), 6))
        with pytest.raises(ValueError):
            knn_gather(torch.rand(2, 6, 4), torch.zeros(3, 3, 1, dtype=torch.long))


def _dense_knn(p1, p2, l1, l2, K, norm):
    """Dense reference (one distance matrix per cloud), sorted by distance then index."""
    N, P1, _ = p1.shape
    d_out = torch.zeros(N, P1, K, dtype=p1.dtype)
    for n in range(N):
        a, b = p1[n, : int(l1[n])].double(), p2[n, : int(l2[n])].double()
        if len(a) == 0 or len(b) == 0:
            continue
        d = torch.cdist(a, b, p=norm)
        d = d**2 if norm == 2 else d
        k = min(K, len(b))
        d_out[n, : len(a), :k] = d.topk(k, dim=1, largest=False).values.to(p1.dtype)
    return d_out


class TestKnnPointsGrid:
    """The uniform-grid search used for D <= 3 and large inputs, forced on small inputs."""

    @pytest.fixture(autouse=True)
    def _force_grid(self, monkeypatch):
        monkeypatch.setattr(knn_mod, "GRID_MIN_PAIRS", 0)

    def _check(self, p1, p2, l1=None, l2=None, K=4, norm=2):
        N, P1, _ = p1.shape
        l1 = torch.full((N,), P1) if l1 is None else l1
        l2 = torch.full((N,), p2.shape[1]) if l2 is None else l2
        out = knn_points(p1, p2, l1, l2, norm=norm, K=K)
        exp = _dense_knn(p1, p2, l1, l2, K, norm)
        torch.testing.assert_close(out.dists, exp, rtol=1e-5, atol=1e-6)
        # the indices point at points with exactly those distances
        nn = knn_gather(p2, out.idx)
        diff = p1[:, :, None] - nn
        d = (diff**2).sum(-1) if norm == 2 else diff.abs().sum(-1)
        mask = out.dists > 0
        torch.testing.assert_close(d[mask], out.dists[mask])

    @pytest.mark.parametrize("norm", [1, 2])
    @pytest.mark.parametrize("K", [1, 5, 20])
    def test_uniform_ragged(self, norm, K):
        p1, p2 = torch.rand(3, 400, 3), torch.rand(3, 300, 3)
        self._check(p1, p2, torch.tensor([400, 17, 0]), torch.tensor([300, 3, 250]), K, norm)

    def test_surface_and_clusters(self):
        s = torch.nn.functional.normalize(torch.randn(2, 500, 3), dim=-1)
        self._check(s, torch.nn.functional.normalize(torch.randn(2, 600, 3), dim=-1), K=8)
        c = torch.cat([torch.rand(1, 300, 3) * 0.01, torch.rand(1, 300, 3) * 0.01 + 100], 1)
        self._check(c, c.flip(1) + 0.001, K=6)

    def test_batch_of_different_scales(self):
        # clouds of very different size and density share one pooled grid pass
        scale = torch.tensor([0.01, 1.0, 100.0, 3.0])[:, None, None]
        p1 = torch.rand(4, 300, 3) * scale
        p2 = torch.rand(4, 500, 3) * scale
        p2[3, :, 2] = 0.0  # flat cloud
        self._check(p1, p2, torch.tensor([300, 120, 7, 300]), torch.tensor([500, 40, 500, 9]), 8)

    def test_far_queries_and_degenerate(self):
        p2 = torch.rand(1, 300, 3)
        self._check(torch.rand(1, 50, 3) * 40 - 20, p2, K=3)  # mostly far outside the grid
        same = torch.ones(1, 200, 3)
        self._check(torch.rand(1, 30, 3), same, K=5)  # all reference points identical
        line = torch.zeros(1, 300, 3)
        line[0, :, 0] = torch.rand(300)
        self._check(torch.rand(1, 40, 3), line, K=4)  # collinear

    @pytest.mark.parametrize("D", [1, 2])
    def test_low_dimension(self, D):
        self._check(torch.rand(2, 200, D), torch.rand(2, 150, D), K=5)

    def test_ties_on_integer_grid(self):
        g = torch.stack(torch.meshgrid(*[torch.arange(6.0)] * 3, indexing="ij"), -1)
        p = g.reshape(1, -1, 3)
        self._check(p, p, K=7)  # 6 neighbours at distance 1 tie for places 2..7

    def test_small_chunks(self, monkeypatch):
        monkeypatch.setattr(knn_mod, "GRID_CHUNK_PAIRS", 50)
        monkeypatch.setattr(knn_mod, "GRID_QUERY_BLOCK", 64)
        self._check(torch.rand(2, 300, 3), torch.rand(2, 200, 3), K=6)

    def test_gradcheck(self):
        p1 = torch.rand(1, 12, 3, dtype=torch.float64, requires_grad=True)
        p2 = torch.rand(1, 10, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: knn_points(a, b, K=3).dists, (p1, p2))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    p1, p2 = torch.rand(2, 3000, 3), torch.rand(2, 2000, 3)
    l2 = torch.tensor([2000, 1500])
    cpu = knn_points(p1, p2, lengths2=l2, K=5)
    gpu = knn_points(p1.cuda(), p2.cuda(), lengths2=l2.cuda(), K=5)
    torch.testing.assert_close(gpu.dists.cpu(), cpu.dists, rtol=1e-5, atol=1e-6)
    assert (gpu.idx.cpu() == cpu.idx).float().mean() > 0.999


def _exact_knn(p1, p2, K, norm):
    """Chunked float64 brute force for one cloud: (P1, K) distances and indices, ascending
    distance; for K = 1 ties go to the smallest index (argmin returns the first minimum)."""
    a, b = p1.double(), p2.double()
    ds, ids = [], []
    for s in range(0, a.shape[0], 1024):
        d = torch.cdist(a[s : s + 1024], b, p=norm)
        d = d**2 if norm == 2 else d
        if K == 1:
            i = d.argmin(1, keepdim=True)
            ds.append(d.gather(1, i))
            ids.append(i)
        else:
            v, i = d.topk(K, dim=1, largest=False, sorted=True)
            ds.append(v)
            ids.append(i)
    return torch.cat(ds), torch.cat(ids)


def _sphere(n, radius=1.0, dtype=torch.float64):
    p = torch.randn(n, 3, dtype=dtype)
    return p / p.norm(dim=1, keepdim=True) * radius


class TestKnnPointsOffSurface:
    """Queries away from the references: the grid levels leave them to the cluster search;
    results must equal brute force and the cost must stay bounded."""

    @pytest.fixture(autouse=True)
    def _force_grid(self, monkeypatch):
        monkeypatch.setattr(knn_mod, "GRID_MIN_PAIRS", 0)

    def _check(self, q, r, K, norm=2):
        out = knn_points(q[None], r[None], K=K, norm=norm)
        d, i = _exact_knn(q, r, K, norm)
        torch.testing.assert_close(out.dists[0].double(), d, rtol=1e-9, atol=1e-12)
        assert torch.equal(out.idx[0], i)

    @pytest.mark.parametrize("radius", [1.01, 1.1, 2.0, 30.0])
    @pytest.mark.parametrize("K", [1, 6])
    def test_scaled_spheres(self, radius, K):
        self._check(_sphere(2500, radius), _sphere(3000), K)

    @pytest.mark.parametrize("norm", [1, 2])
    def test_far_clusters(self, norm):
        r = torch.cat([torch.rand(800, 3) * 0.05, torch.rand(700, 3) * 0.05 + 10]).double()
        q = torch.cat([torch.rand(300, 3) * 14 - 2, torch.randn(200, 3) + 5]).double()
        self._check(q, r, 1, norm)
        self._check(q, r, 7, norm)

    def test_one_query_far_from_everything(self):
        r = _sphere(4000)
        q = torch.cat([_sphere(500, 1.001), torch.tensor([[1e4, -3e3, 7e3]]).double()])
        self._check(q, r, 1)
        self._check(q, r, 4)

    def test_ties_go_to_smaller_index(self):
        r = _sphere(1500)
        r = torch.cat([r, r])  # every point twice
        q = _sphere(400, 1.5)
        out = knn_points(q[None], r[None], K=1)
        assert (out.idx < 1500).all()
        self._check(q, r, 1)

    def test_small_cluster_budgets(self, monkeypatch):
        monkeypatch.setattr(knn_mod, "CLUSTER_DIST_BUDGET", 5000)
        monkeypatch.setattr(knn_mod, "CLUSTER_PAIR_BUDGET", 300)
        r, q = _sphere(2000), _sphere(600, 1.3)
        self._check(q, r, 1)
        self._check(q, r, 5)

    def test_batch_mixed(self):
        # a batch where one cloud is near, one far, one ragged: pooled grid + per-cloud clusters
        p1 = torch.stack([_sphere(900, 1.0), _sphere(900, 3.0), _sphere(900, 1.2)])
        p2 = torch.stack([_sphere(1000), _sphere(1000), _sphere(1000)])
        l1, l2 = torch.tensor([900, 900, 300]), torch.tensor([1000, 400, 1000])
        out = knn_points(p1, p2, l1, l2, K=3)
        for n in range(3):
            d, i = _exact_knn(p1[n, : l1[n]], p2[n, : l2[n]], 3, 2)
            torch.testing.assert_close(out.dists[n, : l1[n]].double(), d)
            assert torch.equal(out.idx[n, : l1[n]], i)


def test_off_surface_large_avoids_brute_force(monkeypatch):
    """20k queries on a sphere of radius 1.1 against 20k on the unit sphere, default thresholds,
    float32. The old grid search sent every query to the brute force here (~5-8 s): now the
    brute force must see almost none of the 4e8 pairs (a count, not a timing: timings belong in
    benchmarks/)."""
    pairs = []
    brute = knn_mod._knn_search

    def counting(p1, p2, *args, **kwargs):
        pairs.append(p1.shape[0] * p1.shape[1] * p2.shape[1])
        return brute(p1, p2, *args, **kwargs)

    monkeypatch.setattr(knn_mod, "_knn_search", counting)
    r, q = _sphere(20000, dtype=torch.float32), _sphere(20000, 1.1, dtype=torch.float32)
    out = knn_points(q[None], r[None], K=1)
    assert sum(pairs) < 4e6, f"brute force compared {sum(pairs)} pairs"
    sub = torch.arange(0, 20000, 20)  # brute force on a subset of the queries (cost)
    d, i = _exact_knn(q[sub], r, 1, 2)
    # float32 search: the chosen point is a nearest one up to float32 rounding
    d_sel = (q[sub].double() - r.double()[out.idx[0, sub, 0]]).square().sum(-1)
    torch.testing.assert_close(d_sel, d[:, 0], rtol=1e-5, atol=1e-7)
    assert (out.idx[0, sub] == i).float().mean() > 0.999
