"""Tests for inverse3d.ops.laplacian_matrices against naive dense loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverse3d.ops.laplacian_matrices import cot_laplacian, laplacian, norm_laplacian


def _grid(n: int = 5, dtype=torch.float64):
    """Flat n x n grid in the z=0 plane, two triangles per cell."""
    ii, jj = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    verts = torch.stack([ii.flatten(), jj.flatten(), torch.zeros(n * n)], 1).to(dtype)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            faces += [[a, b, d], [a, d, c]]
    return verts, torch.tensor(faces)


def _unique_edges(faces: torch.Tensor) -> torch.Tensor:
    e = set()
    for f in faces.tolist():
        for k in range(3):
            a, b = f[k], f[(k + 1) % 3]
            e.add((min(a, b), max(a, b)))
    return torch.tensor(sorted(e))


def _random_mesh(V=7, F=9, dtype=torch.float64):
    verts = torch.randn(V, 3, dtype=dtype)
    faces = torch.stack([torch.randperm(V)[:3] for _ in range(F)])
    return verts, faces


class TestLaplacian:
    def test_smoke(self):
        verts, faces = _grid(3)
        L = laplacian(verts, _unique_edges(faces))
        assert L.is_sparse and L.shape == (9, 9)

    def test_matches_reference(self):
        verts, faces = _random_mesh()
        edges = _unique_edges(faces)
        V = verts.shape[0]
        deg = [0] * V
        for a, b in edges.tolist():
            deg[a] += 1
            deg[b] += 1
        want = np.zeros((V, V))
        for i in range(V):
            want[i, i] = -1.0
        for a, b in edges.tolist():
            want[a, b] += 1.0 / deg[a]
            want[b, a] += 1.0 / deg[b]
        got = laplacian(verts, edges).to_dense().numpy()
        np.testing.assert_allclose(got, want, atol=1e-12)

    def test_flat_grid_interior_is_zero(self):
        n = 6
        verts, faces = _grid(n)
        L = laplacian(verts, _unique_edges(faces))
        lv = torch.sparse.mm(L, verts)  # (V, 3)
        interior = [i * n + j for i in range(1, n - 1) for j in range(1, n - 1)]
        assert float(lv[interior].abs().max()) < 1e-12
        boundary = [k for k in range(n * n) if k not in interior]
        assert float(lv[boundary].abs().max()) > 0.1

    def test_shapes(self):
        verts = torch.rand(4, 3)
        L = laplacian(verts, torch.zeros(0, 2, dtype=torch.long))
        assert torch.equal(L.to_dense(), -torch.eye(4))  # isolated verts keep the -1 diagonal
        assert L.dtype == torch.float32

    def test_exceptions(self):
        verts = torch.rand(4, 3)
        with pytest.raises(ValueError, match="edges"):
            laplacian(verts, torch.tensor([[0, 4]]))
        with pytest.raises(ValueError, match="edges must have shape"):
            laplacian(verts, torch.tensor([[0, 1, 2]]))
        with pytest.raises(TypeError, match="edges"):
            laplacian(verts, torch.tensor([[0.0, 1.0]]))
        with pytest.raises(TypeError, match="verts"):
            laplacian(torch.zeros(4, 3, dtype=torch.long), torch.tensor([[0, 1]]))


def _naive_cot(verts: torch.Tensor, faces: torch.Tensor):
    V = verts.shape[0]
    L = np.zeros((V, V))
    area_sum = np.zeros(V)
    x = verts.numpy()
    for f in faces.tolist():
        for k in range(3):
            p, a, b = x[f[k]], x[f[(k + 1) % 3]], x[f[(k + 2) % 3]]
            u, w = a - p, b - p
            cot = np.dot(u, w) / np.linalg.norm(np.cross(u, w))
            L[f[(k + 1) % 3], f[(k + 2) % 3]] += cot
            L[f[(k + 2) % 3], f[(k + 1) % 3]] += cot
        area = 0.5 * np.linalg.norm(np.cross(x[f[1]] - x[f[0]], x[f[2]] - x[f[0]]))
        for k in range(3):
            area_sum[f[k]] += area
    inv = np.where(area_sum > 0, 1.0 / np.where(area_sum > 0, area_sum, 1.0), 0.0)
    return L, inv


class TestCotLaplacian:
    def test_smoke(self):
        verts, faces = _grid(3)
        L, inv_areas = cot_laplacian(verts, faces)
        assert L.is_sparse and L.shape == (9, 9) and inv_areas.shape == (9, 1)

    def test_matches_reference(self):
        verts, faces = _random_mesh(V=8, F=10)
        verts = torch.cat([verts, torch.zeros(1, 3, dtype=verts.dtype)])  # unused vertex
        L, inv_areas = cot_laplacian(verts, faces)
        want_L, want_inv = _naive_cot(verts, faces)
        np.testing.assert_allclose(L.to_dense().numpy(), want_L, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(inv_areas[:, 0].numpy(), want_inv, rtol=1e-9)
        assert float(inv_areas[-1]) == 0.0

    def test_equilateral(self):
        verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0.5, math.sqrt(3) / 2, 0]])
        L, inv_areas = cot_laplacian(verts, torch.tensor([[0, 1, 2]]))
        cot60 = 1 / math.sqrt(3)
        want = torch.full((3, 3), cot60) - torch.diag(torch.full((3,), cot60))
        torch.testing.assert_close(L.to_dense(), want)
        torch.testing.assert_close(inv_areas[:, 0], torch.full((3,), 4 / math.sqrt(3)))

    def test_gradcheck(self):
        verts, faces = _random_mesh(V=5, F=4)
        verts.requires_grad_(True)

        def fn(v):
            L, inv = cot_laplacian(v, faces)
            return L.to_dense(), inv

        assert torch.autograd.gradcheck(fn, (verts,))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="faces"):
            cot_laplacian(torch.rand(3, 3), torch.tensor([[0, 1, 3]]))
        with pytest.raises(ValueError, match="faces must have shape"):
            cot_laplacian(torch.rand(3, 3), torch.tensor([[0, 1]]))


class TestNormLaplacian:
    def test_matches_reference(self):
        verts, faces = _random_mesh()
        edges = _unique_edges(faces)
        V = verts.shape[0]
        want = np.zeros((V, V))
        x = verts.numpy()
        for a, b in edges.tolist():
            w = 1.0 / (np.linalg.norm(x[a] - x[b]) + 1e-12)
            want[a, b] += w
            want[b, a] += w
        got = norm_laplacian(verts, edges).to_dense().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10)

    def test_gradcheck(self):
        verts, faces = _random_mesh(V=5, F=3)
        edges = _unique_edges(faces)
        verts.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda v: norm_laplacian(v, edges).to_dense(), (verts,))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="edges"):
            norm_laplacian(torch.rand(3, 3), torch.tensor([[-1, 1]]))
