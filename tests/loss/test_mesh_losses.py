"""mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency vs naive loops."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.loss.mesh_edge_loss import mesh_edge_loss
from inverse3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
from inverse3d.loss.mesh_normal_consistency import mesh_normal_consistency

Meshes = pytest.importorskip("inverse3d.structures.meshes").Meshes


def _edges(faces):
    es = set()
    for f in faces.tolist():
        for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0])):
            es.add((min(a, b), max(a, b)))
    return sorted(es)


def _random_meshes(dtype=torch.float64):
    # a bumpy octahedron-like closed mesh and an open grid patch
    v1 = torch.tensor(
        [[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=dtype
    )
    f1 = torch.tensor(
        [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]
    )
    v1 = v1 + 0.1 * torch.randn_like(v1)
    g = torch.stack(torch.meshgrid(torch.arange(3.0), torch.arange(3.0), indexing="ij"), -1)
    v2 = torch.cat([g.reshape(-1, 2), 0.2 * torch.randn(9, 1)], 1).to(dtype)
    f2 = []
    for i in range(2):
        for j in range(2):
            a, b, c, d = 3 * i + j, 3 * i + j + 1, 3 * (i + 1) + j, 3 * (i + 1) + j + 1
            f2 += [[a, b, d], [a, d, c]]
    return [v1, v2], [f1, torch.tensor(f2)]


def _non_manifold(dtype=torch.float64):
    # edge (0, 1) shared by three faces
    v = torch.tensor(
        [[0.0, 0, 0], [1, 0, 0], [0.5, 1, 0.1], [0.5, -1, 0.2], [0.4, 0.2, 1]], dtype=dtype
    )
    f = torch.tensor([[0, 1, 2], [1, 0, 3], [0, 1, 4], [1, 2, 4]])
    return v, f


def _edge_loss_ref(vs, fs, target):
    total = 0.0
    for v, f in zip(vs, fs):
        es = _edges(f)
        total += sum((float((v[a] - v[b]).norm()) - target) ** 2 for a, b in es) / len(es)
    return total / len(vs)


def _cot(p, q, r):
    """cot of the angle at p in triangle p q r."""
    u, w = q - p, r - p
    return float((u @ w) / torch.linalg.cross(u, w).norm())


def _lap_ref(vs, fs, method, per_vertex=None):
    total = 0.0
    for v, f in zip(vs, fs):
        V = len(v)
        W = [dict() for _ in range(V)]
        if method == "uniform":
            for a, b in _edges(f):
                W[a][b] = 1.0
                W[b][a] = 1.0
        else:
            for tri in f.tolist():
                for k in range(3):
                    i, j, o = tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]
                    c = _cot(v[o], v[i], v[j])
                    W[i][j] = W[i].get(j, 0.0) + c
                    W[j][i] = W[j].get(i, 0.0) + c
        area = [0.0] * V
        for tri in f.tolist():
            a = 0.5 * float(torch.linalg.cross(v[tri[1]] - v[tri[0]], v[tri[2]] - v[tri[0]]).norm())
            for i in tri:
                area[i] += a
        s = 0.0
        for i in range(V):
            wsum = sum(W[i].values())
            acc = sum((w * v[j] for j, w in W[i].items()), torch.zeros(3, dtype=v.dtype))
            if method == "uniform":
                lap = acc / wsum - v[i]
            elif method == "cot":
                lap = acc / wsum - v[i]
            else:
                lap = (acc - wsum * v[i]) / (4 * area[i])
            s += float(lap.norm())
            if per_vertex is not None:
                per_vertex.append(float(lap.norm()))
        total += s / V
    return total / len(vs)


def _normal_ref(vs, fs):
    total = 0.0
    for v, f in zip(vs, fs):
        terms = []
        for a, b in _edges(f):
            opp = [t for t in f.tolist() if a in t and b in t]
            ns = []
            for t in opp:
                w = [x for x in t if x not in (a, b)][0]
                ns.append(torch.linalg.cross(v[b] - v[a], v[w] - v[a]))
            for i in range(len(ns)):
                for j in range(i + 1, len(ns)):
                    cos = float(ns[i] @ (-ns[j]) / (ns[i].norm() * ns[j].norm()))
                    terms.append(1 - cos)
        total += sum(terms) / len(terms)
    return total / len(vs)


class TestMeshEdgeLoss:
    def test_matches_reference(self):
        vs, fs = _random_meshes()
        m = Meshes(verts=vs, faces=fs)
        for target in (0.0, 0.7):
            assert float(mesh_edge_loss(m, target)) == pytest.approx(_edge_loss_ref(vs, fs, target))

    def test_empty(self):
        out = mesh_edge_loss(Meshes(verts=[], faces=[]))
        assert out.shape == (1,) and out.requires_grad and float(out.detach()) == 0

    def test_gradcheck(self):
        vs, fs = _random_meshes()
        x = vs[1].clone().requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda a: mesh_edge_loss(Meshes(verts=[vs[0], a], faces=fs), 0.5), (x,)
        )


class TestMeshLaplacianSmoothing:
    @pytest.mark.parametrize("method", ["uniform", "cot", "cotcurv"])
    def test_matches_reference(self, method):
        vs, fs = _random_meshes()
        m = Meshes(verts=vs, faces=fs)
        got = float(mesh_laplacian_smoothing(m, method))
        assert got == pytest.approx(_lap_ref(vs, fs, method), rel=1e-6)

    def test_flat_grid_interior_zero(self):
        g = torch.stack(torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij"), -1)
        v = torch.cat([g.reshape(-1, 2), torch.zeros(16, 1)], 1).double()
        f = []
        for i in range(3):
            for j in range(3):
                a, b, c, d = 4 * i + j, 4 * i + j + 1, 4 * (i + 1) + j, 4 * (i + 1) + j + 1
                f += [[a, b, d], [a, d, c]]
        m = Meshes(verts=[v], faces=[torch.tensor(f)])
        L = m.laplacian_packed().to_dense()
        lap = (L @ v).norm(dim=1).reshape(4, 4)
        assert float(lap[1:3, 1:3].abs().max()) < 1e-12 and float(lap.max()) > 0.1
        for method in ("uniform", "cot", "cotcurv"):
            per_vertex = []
            ref = _lap_ref([v], [torch.tensor(f)], method, per_vertex)
            interior = [per_vertex[4 * i + j] for i in (1, 2) for j in (1, 2)]
            assert max(interior) < 1e-12  # flat grid: zero Laplacian inside
            assert float(mesh_laplacian_smoothing(m, method)) == pytest.approx(ref)
            assert ref == pytest.approx(sum(per_vertex) / 16)

    def test_exceptions(self):
        vs, fs = _random_meshes()
        with pytest.raises(ValueError, match="method"):
            mesh_laplacian_smoothing(Meshes(verts=vs, faces=fs), "foo")

    def test_empty(self):
        out = mesh_laplacian_smoothing(Meshes(verts=[], faces=[]))
        assert out.shape == (1,) and float(out.detach()) == 0

    @pytest.mark.parametrize("method", ["uniform", "cot", "cotcurv"])
    def test_gradient_flows(self, method):
        vs, fs = _random_meshes()
        x = vs[0].clone().requires_grad_(True)
        mesh_laplacian_smoothing(Meshes(verts=[x], faces=fs[:1]), method).backward()
        assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


class TestMeshNormalConsistency:
    def test_matches_reference(self):
        vs, fs = _random_meshes()
        m = Meshes(verts=vs, faces=fs)
        assert float(mesh_normal_consistency(m)) == pytest.approx(_normal_ref(vs, fs))

    def test_non_manifold(self):
        v, f = _non_manifold()
        vs, fs = _random_meshes()
        m = Meshes(verts=[v, vs[0]], faces=[f, fs[0]])
        assert float(mesh_normal_consistency(m)) == pytest.approx(
            _normal_ref([v, vs[0]], [f, fs[0]])
        )

    def test_flat_is_zero(self):
        v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
        m = Meshes(verts=[v], faces=[torch.tensor([[0, 1, 2], [0, 2, 3]])])
        assert float(mesh_normal_consistency(m)) == pytest.approx(0.0, abs=1e-7)
        # folded by 90 degrees: 1 - cos(90) = 1
        v2 = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1]])
        m2 = Meshes(verts=[v2], faces=[torch.tensor([[0, 1, 2], [0, 3, 1]])])
        assert float(mesh_normal_consistency(m2)) == pytest.approx(1.0, abs=1e-6)
        assert not math.isnan(float(mesh_normal_consistency(m2)))

    def test_empty(self):
        out = mesh_normal_consistency(Meshes(verts=[], faces=[]))
        assert out.shape == (1,) and float(out.detach()) == 0

    def test_gradcheck(self):
        v, f = _non_manifold()
        x = v.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda a: mesh_normal_consistency(Meshes(verts=[a], faces=[f])), (x,)
        )
