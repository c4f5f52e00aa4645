"""Triton closest-triangle search against exhaustive point-triangle distances and against the
reference `mesh_sdf` (values and gradients), on CUDA (marked cuda) and on CPU under Triton's
interpreter (tiny cases); skipped without triton."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

from inverse3d.ops.triangle_distance import point_triangle_distance
from inverse3d.structures import Meshes, Pointclouds
from inverse3d.utils import ico_sphere

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kernel_backends import BACKENDS, backend_device, both, grads  # noqa: E402

SDF = importlib.import_module("inverse3d.ops.mesh_sdf")
PMD = importlib.import_module("inverse3d.loss.point_mesh_distance")
TD = importlib.import_module("inverse3d.ops.triangle_distance")  # where the loss dispatches


def _kernel(monkeypatch, backend, bq=8, bt=8):
    """The kernel module; small blocks under the interpreter (several tiles, pruning)."""
    mod = importlib.import_module("inverse3d.ops._triton.closest_triangle")
    if backend == "interp":
        monkeypatch.setattr(mod, "BLOCK_Q", bq)
        monkeypatch.setattr(mod, "BLOCK_T", bt)
    return mod


def _all_pairs(p, tris, area=0.0):
    """(Q, T) float64 exact squared distances of every pair (the truth)."""
    t = tris.double()
    return torch.cat(
        [
            point_triangle_distance(q[:, None], t[None, :, 0], t[None, :, 1], t[None, :, 2], area)
            for q in p.double().split(256)
        ]
    )


def _soup(n, gen, dtype):
    """Random triangles with degenerate ones: a repeated corner, collinear corners, a point."""
    c = torch.randn(n, 1, 3, generator=gen, dtype=dtype)
    tris = c + 0.3 * torch.randn(n, 3, 3, generator=gen, dtype=dtype)
    tris[1, 2] = tris[1, 0]  # two equal corners
    tris[2, 2] = 0.5 * (tris[2, 0] + tris[2, 1])  # collinear
    tris[3, :] = tris[3, 0]  # a point
    tris[4, 1] = tris[4, 0] + 1e-7 * (tris[4, 1] - tris[4, 0])  # a sliver
    return tris


@pytest.mark.parametrize("backend", BACKENDS)
class TestClosestTriangleKernel:
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    @pytest.mark.parametrize("area", [0.0, 0.02])
    def test_soup_matches_exhaustive(self, monkeypatch, backend, dtype, area):
        dev = backend_device(backend)
        mod = _kernel(monkeypatch, backend)
        g = torch.Generator().manual_seed(7)
        Q, T = (3000, 2000) if backend == "cuda" else (24, 20)
        tris = _soup(T, g, dtype)
        p = torch.randn(Q, 3, generator=g, dtype=dtype) * 1.2
        p[:5] = tris[:5, 0] + 0.01  # next to the degenerate triangles
        idx = mod.closest_triangle_search(p.to(dev), tris.to(dev), area).cpu()
        d = _all_pairs(p, tris, area)
        best = d.min(1).values
        got = d.gather(1, idx[:, None])[:, 0]
        if dtype == torch.float64:
            assert torch.equal(idx, d.argmin(1))  # random data: no ties
        else:
            torch.testing.assert_close(got, best, rtol=1e-5, atol=1e-6)
        # the transposed search: every triangle's nearest point
        idx = mod.closest_point_search(p.to(dev), tris.to(dev), area).cpu()
        if dtype == torch.float64:
            assert torch.equal(idx, d.argmin(0))
        else:
            got = d.gather(0, idx[None])[0]
            torch.testing.assert_close(got, d.min(0).values, rtol=1e-5, atol=1e-6)

    def test_pruning_is_exact(self, monkeypatch, backend):
        """Queries near the centre of a sphere are about equally far from every tile: a bound
        that skipped a tile it must visit would return a wrong triangle."""
        dev = backend_device(backend)
        mod = _kernel(monkeypatch, backend)
        m = ico_sphere(4 if backend == "cuda" else 1)
        tris = m.verts_packed().double()[m.faces_packed()]
        g = torch.Generator().manual_seed(11)
        Q = 2000 if backend == "cuda" else 8
        p = torch.randn(Q, 3, generator=g, dtype=torch.float64)
        p = torch.cat([p * 0.05, p / p.norm(dim=1, keepdim=True) * 1.01])
        idx = mod.closest_triangle_search(p.to(dev), tris.to(dev)).cpu()
        assert torch.equal(idx, _all_pairs(p, tris).argmin(1))

    def test_pruning_bound_is_tight(self, monkeypatch, backend):
        """One query block, two tiles: the first visited (along the Morton curve) is the far
        cluster; the near one's box bound is just under the first tile's best distance, so a
        bound that pruned more than it may would skip the right answer."""
        dev = backend_device(backend)
        mod = _kernel(monkeypatch, backend)
        bt, bq = mod.BLOCK_T, mod.BLOCK_Q
        g = torch.Generator().manual_seed(12)

        def cluster(centre):
            c = torch.tensor(centre, dtype=torch.float64)
            return c + 0.005 * torch.randn(bt, 3, 3, generator=g, dtype=torch.float64)

        # z is the top bit of the Morton code: the far cluster (low z) comes first
        tris = torch.cat([cluster([0.0, 0.0, -1.02]), cluster([0.0, 0.0, 1.0])])  # far, near
        p = 1e-3 * torch.randn(bq, 3, generator=g, dtype=torch.float64)
        idx = mod.closest_triangle_search(p.to(dev), tris.to(dev)).cpu()
        truth = _all_pairs(p, tris).argmin(1)
        assert (truth >= bt).all()  # the near cluster holds every answer
        assert torch.equal(idx, truth)

    def test_exact_ties_take_smallest_id(self, monkeypatch, backend):
        """Integer grid of unit right triangles: queries on vertices and edges (distance 0 to
        several triangles) and above vertices (the same plane distance to every adjacent
        triangle) get the smallest id among the tied ones."""
        dev = backend_device(backend)
        mod = _kernel(monkeypatch, backend)
        n = 5
        ij = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"), -1)
        verts = torch.cat([ij.reshape(-1, 2).double(), torch.zeros(n * n, 1).double()], 1)
        faces = []
        for i in range(n - 1):
            for j in range(n - 1):
                a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
                faces += [[a, b, d], [a, d, c]]
        perm = torch.randperm(len(faces), generator=torch.Generator().manual_seed(0))
        tris = verts[torch.tensor(faces)[perm]]
        q = verts[[6, 7, 8, 12, 16, 18]].clone()  # interior vertices
        q = torch.cat([q, q + torch.tensor([0.0, 0.0, 1.0]), q + torch.tensor([0.5, 0.0, 0.0])])
        idx = mod.closest_triangle_search(q.to(dev), tris.to(dev)).cpu()
        d = _all_pairs(q, tris)
        best = d.min(1, keepdim=True).values
        smallest = torch.where(d == best, torch.arange(tris.shape[0]), tris.shape[0]).min(1)
        assert ((d == best).sum(1) > 1).all()  # every query is a tie
        assert torch.equal(idx, smallest.values)
        # transposed: the grid vertices in random order; each triangle has 3 at distance 0
        pv = verts[torch.randperm(n * n, generator=torch.Generator().manual_seed(1))]
        idx = mod.closest_point_search(pv.to(dev), tris.to(dev)).cpu()
        d = _all_pairs(pv, tris)
        assert ((d == 0).sum(0) == 3).all()
        smallest = torch.where(d == 0, torch.arange(n * n)[:, None], n * n).min(0).values
        assert torch.equal(idx, smallest)

    def test_empty_and_errors(self, monkeypatch, backend):
        dev = backend_device(backend)
        mod = _kernel(monkeypatch, backend)
        tris = torch.rand(3, 3, 3, device=dev)
        assert mod.closest_triangle_search(torch.zeros(0, 3, device=dev), tris).shape == (0,)
        assert mod.closest_point_search(torch.zeros(0, 3, device=dev), tris).tolist() == [0] * 3
        with pytest.raises(ValueError, match="points"):
            mod.closest_point_search(torch.zeros(2, 2, device=dev), tris)
        with pytest.raises(ValueError, match="tris"):
            mod.closest_triangle_search(torch.zeros(2, 3, device=dev), tris[:0])

    def test_mesh_sdf_values_and_gradients(self, monkeypatch, backend):
        """mesh_sdf through the kernel: same signed distances and gradients (points and
        vertices, random cotangent) as the reference, on a heterogeneous batch."""
        dev = backend_device(backend)
        _kernel(monkeypatch, backend)
        big = backend == "cuda"
        m1 = ico_sphere(3 if big else 1)
        g = torch.Generator().manual_seed(3)
        v2 = torch.randn(7, 3, generator=g, dtype=torch.float64)
        f2 = torch.tensor([[0, 1, 2], [0, 2, 3], [3, 4, 5], [4, 5, 6], [1, 1, 6]])
        verts = [m1.verts_packed().double().to(dev), v2.to(dev)]
        faces = [m1.faces_packed().to(dev), f2.to(dev)]
        Q = 3000 if big else 24
        pts = [
            (torch.randn(Q, 3, generator=g, dtype=torch.float64) * 0.7).to(dev),
            (torch.randn(Q // 2, 3, generator=g, dtype=torch.float64)).to(dev),
        ]

        def run():
            v = [x.clone().requires_grad_(True) for x in verts]
            p = [x.clone().requires_grad_(True) for x in pts]
            out = SDF.mesh_sdf(Meshes(verts=v, faces=faces), p, sign_method="winding")
            return out, grads(torch.cat(out), v + p, seed=5)

        (o0, g0), (o1, g1) = both(monkeypatch, SDF, run)
        for a, b in zip(o1, o0):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        for a, b in zip(g1, g0):
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)

    def test_point_mesh_face_distance(self, monkeypatch, backend):
        """The loss through both kernels: same value and gradients as the reference, with
        degenerate (below min_triangle_area) faces and a heterogeneous batch."""
        dev = backend_device(backend)
        _kernel(monkeypatch, backend)
        big = backend == "cuda"
        m1 = ico_sphere(3 if big else 0)
        g = torch.Generator().manual_seed(9)
        v2 = torch.randn(9, 3, generator=g, dtype=torch.float64)
        v2[8] = v2[7] + 1e-3  # a tiny face, below the default min_triangle_area
        f2 = torch.tensor([[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8], [1, 3, 5]])
        verts = [m1.verts_packed().double().to(dev), v2.to(dev)]
        faces = [m1.faces_packed().to(dev), f2.to(dev)]
        Q = 3000 if big else 16
        pts = [
            (torch.randn(Q, 3, generator=g, dtype=torch.float64) * 0.8).to(dev),
            torch.randn(Q // 3, 3, generator=g, dtype=torch.float64).to(dev),
        ]

        def run():
            v = [x.clone().requires_grad_(True) for x in verts]
            p = [x.clone().requires_grad_(True) for x in pts]
            loss = PMD.point_mesh_face_distance(Meshes(verts=v, faces=faces), Pointclouds(p))
            return loss, torch.autograd.grad(loss, v + p)

        (l0, g0), (l1, g1) = both(monkeypatch, TD, run)
        torch.testing.assert_close(l1, l0, rtol=1e-12, atol=0)
        for a, b in zip(g1, g0):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.cuda
def test_mesh_sdf_float32_large_and_dispatch(monkeypatch):
    """100k-query-sized problems take the kernel by default on CUDA (auto) and agree with the
    reference's pruned search."""
    backend_device("cuda")
    dev = torch.device("cuda")
    mesh = ico_sphere(4, dev)
    p = torch.rand(1, 20_000, 3, device=dev) * 2.4 - 1.2
    monkeypatch.setenv("INVERSE3D_KERNELS", "reference")
    ref = SDF.mesh_sdf(mesh, p)
    monkeypatch.setenv("INVERSE3D_KERNELS", "auto")
    assert SDF.use_triton(p)
    fast = SDF.mesh_sdf(mesh, p)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-6)
