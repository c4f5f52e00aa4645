"""point_mesh_edge_distance / point_mesh_face_distance vs brute force loops (numpy float64)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from inverse3d.loss.point_mesh_distance import point_mesh_edge_distance, point_mesh_face_distance

ms = importlib.import_module("inverse3d.ops.triangle_distance")  # where the search is chunked

Meshes = pytest.importorskip("inverse3d.structures.meshes").Meshes
Pointclouds = pytest.importorskip("inverse3d.structures.pointclouds").Pointclouds


def _seg(p, a, b):
    e = b - a
    ee = e @ e
    t = 0.0 if ee <= 1e-12 else min(1.0, max(0.0, (p - a) @ e / ee))
    d = p - a - t * e
    return float(d @ d)


def _tri(p, a, b, c, min_area):
    n = np.cross(b - a, c - a)
    area = 0.5 * np.linalg.norm(n)
    if area > min_area:
        # barycentric of the projection (independent of the library's edge-plane test)
        q = p - (p - a) @ n / (n @ n) * n
        m = np.stack([b - a, c - a], 1)
        uv = np.linalg.lstsq(m, q - a, rcond=None)[0]
        if uv.min() >= 0 and uv.sum() <= 1:
            return float(((p - q) ** 2).sum())
    return min(_seg(p, a, b), _seg(p, b, c), _seg(p, c, a))


def _data():
    v1 = torch.rand(8, 3, dtype=torch.float64)
    f1 = torch.randint(0, 8, (10, 3))
    f1 = f1[(f1[:, 0] != f1[:, 1]) & (f1[:, 1] != f1[:, 2]) & (f1[:, 0] != f1[:, 2])]
    v2 = torch.rand(5, 3, dtype=torch.float64)
    f2 = torch.tensor([[0, 1, 2], [1, 3, 2], [2, 3, 4]])
    pts = [torch.rand(30, 3, dtype=torch.float64), torch.rand(11, 3, dtype=torch.float64)]
    return Meshes(verts=[v1, v2], faces=[f1, f2]), Pointclouds(points=pts)


def _face_ref(meshes, pcls, min_area):
    total = 0.0
    for v, f, p in zip(meshes.verts_list(), meshes.faces_list(), pcls.points_list()):
        v, f, p = v.numpy(), f.numpy(), p.numpy()
        tris = [v[t] for t in f]
        total += np.mean([min(_tri(q, *t, min_area) for t in tris) for q in p])
        total += np.mean([min(_tri(q, *t, min_area) for q in p) for t in tris])
    return total / len(meshes)


def _edge_ref(meshes, pcls):
    total = 0.0
    for v, f, p in zip(meshes.verts_list(), meshes.faces_list(), pcls.points_list()):
        v, p = v.numpy(), p.numpy()
        es = {tuple(sorted((t[i], t[(i + 1) % 3]))) for t in f.tolist() for i in range(3)}
        segs = [(v[a], v[b]) for a, b in es]
        total += np.mean([min(_seg(q, *s) for s in segs) for q in p])
        total += np.mean([min(_seg(q, *s) for q in p) for s in segs])
    return total / len(meshes)


class TestPointMeshFaceDistance:
    @pytest.mark.parametrize("min_area", [5e-3, 0.0, 0.05])
    def test_matches_reference(self, min_area):
        m, p = _data()
        got = float(point_mesh_face_distance(m, p, min_area))
        assert got == pytest.approx(_face_ref(m, p, min_area), rel=1e-9)

    def test_chunked(self, monkeypatch):
        m, p = _data()
        full = point_mesh_face_distance(m, p)
        monkeypatch.setattr(ms, "CHUNK_PAIRS", 7)
        torch.testing.assert_close(point_mesh_face_distance(m, p), full)

    def test_gradcheck(self):
        m, p = _data()
        v = [x.clone().requires_grad_(True) for x in m.verts_list()]
        q = [x.clone().requires_grad_(True) for x in p.points_list()]
        fs = m.faces_list()

        def fn(v0, v1, q0, q1):
            return point_mesh_face_distance(
                Meshes(verts=[v0, v1], faces=fs), Pointclouds(points=[q0, q1]), 0.0
            )

        assert torch.autograd.gradcheck(fn, (*v, *q))

    def test_exceptions(self):
        m, p = _data()
        with pytest.raises(ValueError, match="equal sized batches"):
            point_mesh_face_distance(m, Pointclouds(points=[torch.rand(3, 3)]))


class TestPointMeshEdgeDistance:
    def test_matches_reference(self):
        m, p = _data()
        assert float(point_mesh_edge_distance(m, p)) == pytest.approx(_edge_ref(m, p), rel=1e-9)

    def test_gradcheck(self):
        m, p = _data()
        v = [x.clone().requires_grad_(True) for x in m.verts_list()]
        fs = m.faces_list()

        def fn(v0, v1):
            return point_mesh_edge_distance(Meshes(verts=[v0, v1], faces=fs), p)

        assert torch.autograd.gradcheck(fn, tuple(v))

    def test_exceptions(self):
        m, p = _data()
        with pytest.raises(ValueError, match="equal sized batches"):
            point_mesh_edge_distance(m[:1], p)
