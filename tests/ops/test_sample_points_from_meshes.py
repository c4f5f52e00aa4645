"""sample_points_from_meshes: on the surface, uniform by area, face normals, gradients."""

from __future__ import annotations

import pytest
import torch

from inverse3d.ops.mesh_face_areas_normals import mesh_face_areas_normals
from inverse3d.ops.mesh_sdf import _tri_sq_dists
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

meshes_mod = pytest.importorskip("inverse3d.structures.meshes")
Meshes = meshes_mod.Meshes


def _tetra(dtype=torch.float64):
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=dtype)
    f = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return v, f


def _separated_triangles(dtype=torch.float64):
    """Four disjoint triangles in separate z planes with areas 0.5 * (1, 4, 0.25, 9)."""
    verts, faces = [], []
    for k, s in enumerate([1.0, 2.0, 0.5, 3.0]):
        base = torch.tensor([[0.0, 0, 0], [s, 0, 0], [0, s, 0]], dtype=dtype)
        base[:, 2] = 10.0 * k
        verts.append(base)
        faces.append(torch.tensor([[0, 1, 2]]) + 3 * k)
    return torch.cat(verts), torch.cat(faces)


class TestMeshFaceAreasNormals:
    def test_matches_reference(self):
        v, f = _tetra()
        areas, normals = mesh_face_areas_normals(v, f)
        torch.testing.assert_close(areas[:3], torch.full((3,), 0.5, dtype=torch.float64))
        assert float(areas[3]) == pytest.approx(3**0.5 / 2)
        torch.testing.assert_close(normals[0], torch.tensor([0, 0, -1.0], dtype=torch.float64))
        torch.testing.assert_close(normals[3], torch.full((3,), 3**-0.5, dtype=torch.float64))

    def test_gradcheck(self):
        v, f = _tetra()
        v = (v + 0.1 * torch.rand_like(v)).requires_grad_(True)
        assert torch.autograd.gradcheck(lambda x: mesh_face_areas_normals(x, f), (v,))

    def test_exceptions(self):
        v, f = _tetra()
        with pytest.raises(ValueError, match="faces must index"):
            mesh_face_areas_normals(v, f + 4)
        with pytest.raises(ValueError, match="verts must have shape"):
            mesh_face_areas_normals(v[:, :2], f)


class TestSamplePointsFromMeshes:
    def test_smoke(self):
        v, f = _tetra()
        m = Meshes(verts=[v, v * 2], faces=[f, f])
        pts, nrm = sample_points_from_meshes(m, 100, return_normals=True)
        assert pts.shape == (2, 100, 3) and nrm.shape == (2, 100, 3)
        assert torch.is_tensor(sample_points_from_meshes(m, 5))

    def test_on_surface_and_normals(self):
        v, f = _tetra()
        v = v + 0.05 * torch.randn_like(v)
        m = Meshes(verts=[v], faces=[f])
        pts, nrm = sample_points_from_meshes(m, 2000, return_normals=True)
        d2, idx = _tri_sq_dists(pts[0], v[f])
        assert float(d2.max()) < 1e-20
        _, fn = mesh_face_areas_normals(v, f)
        torch.testing.assert_close(nrm[0], fn[idx])

    def test_uniform_by_area(self):
        stats = pytest.importorskip("scipy.stats")
        v, f = _separated_triangles()
        m = Meshes(verts=[v], faces=[f])
        S = 20000
        pts = sample_points_from_meshes(m, S)[0]
        face = (pts[:, 2] / 10.0).round().long()
        counts = torch.bincount(face, minlength=4).double()
        areas = torch.tensor([1.0, 4.0, 0.25, 9.0], dtype=torch.float64)
        expected = (areas / areas.sum() * S).double()
        p = stats.chisquare(counts.numpy(), expected.numpy()).pvalue
        assert p > 1e-3
        # within a face: uniform, so the fraction in the corner sub-triangle of half size is 1/4
        tri1 = pts[face == 1]
        frac = float(((tri1[:, 0] + tri1[:, 1]) < 1.0).double().mean())
        assert abs(frac - 0.25) < 0.03

    def test_gradcheck(self):
        v, f = _tetra()
        v = v.clone().requires_grad_(True)

        def fn(x):
            torch.manual_seed(3)
            return sample_points_from_meshes(Meshes(verts=[x], faces=[f]), 7)

        assert torch.autograd.gradcheck(fn, (v,))

    def test_empty_mesh_in_batch(self):
        v, f = _tetra()
        m = Meshes(verts=[v, v[:0]], faces=[f, f[:0]])
        pts, nrm = sample_points_from_meshes(m, 10, return_normals=True)
        assert (pts[1] == 0).all() and (nrm[1] == 0).all() and (pts[0] != 0).any()

    def test_textures(self):
        tex = pytest.importorskip("inverse3d.renderer.mesh.textures")
        v, f = _tetra(torch.float32)
        m = Meshes(verts=[v], faces=[f], textures=tex.TexturesVertex([v.clone()]))
        pts, nrm, col = sample_points_from_meshes(m, 50, return_normals=True, return_textures=True)
        # vertex colour = position: the interpolated colour equals the sample position
        torch.testing.assert_close(col, pts)

    def test_exceptions(self):
        v, f = _tetra()
        with pytest.raises(ValueError, match="empty"):
            sample_points_from_meshes(Meshes(verts=[v[:0]], faces=[f[:0]]))
        with pytest.raises(ValueError, match="num_samples"):
            sample_points_from_meshes(Meshes(verts=[v], faces=[f]), 0)
        with pytest.raises(ValueError, match="textures"):
            sample_points_from_meshes(Meshes(verts=[v], faces=[f]), 3, return_textures=True)
        bad = v.clone()
        bad[0, 0] = float("nan")
        with pytest.raises(ValueError, match="(?i)nan"):
            sample_points_from_meshes(Meshes(verts=[bad], faces=[f]), 3)
