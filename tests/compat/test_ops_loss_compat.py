"""PyTorch3D-compatibility checks for ops (nearest neighbours, sampling, packing, interpolation)
and the losses, with values re-derived by hand."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from inverse3d.loss import (
    chamfer_distance,
    mesh_edge_loss,
    mesh_laplacian_smoothing,
    mesh_normal_consistency,
    point_mesh_edge_distance,
    point_mesh_face_distance,
)
from inverse3d.ops.ball_query import ball_query
from inverse3d.ops.interp_face_attrs import interpolate_face_attributes
from inverse3d.ops.knn import knn_gather, knn_points
from inverse3d.ops.laplacian_matrices import cot_laplacian, laplacian
from inverse3d.ops.mesh_face_areas_normals import mesh_face_areas_normals
from inverse3d.ops.packed_to_padded import packed_to_padded, padded_to_packed
from inverse3d.ops.sample_farthest_points import sample_farthest_points
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes
from inverse3d.structures import Meshes, Pointclouds
from inverse3d.utils import ico_sphere


def _tri():
    return Meshes(
        verts=[torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])], faces=[torch.tensor([[0, 1, 2]])]
    )


class TestKnnBallQuery:
    def test_knn(self):
        p1 = torch.tensor([[[0.0, 0, 0], [3, 0, 0]]])
        p2 = torch.tensor([[[1.0, 0, 0], [0, 2, 0], [5, 0, 0]]])
        out = knn_points(p1, p2, K=2)
        assert out._fields == ("dists", "idx", "knn")
        assert out.knn is None
        assert out.idx.tolist() == [[[0, 1], [0, 2]]]
        # squared distances
        assert out.dists.tolist() == [[[1.0, 4.0], [4.0, 4.0]]]
        out = knn_points(p1, p2, K=1, return_nn=True)
        assert out.knn.shape == (1, 2, 1, 3)
        assert torch.equal(knn_gather(p2, out.idx), out.knn)
        sig = inspect.signature(knn_points)
        assert list(sig.parameters)[:4] == ["p1", "p2", "lengths1", "lengths2"]
        assert sig.parameters["K"].default == 1 and sig.parameters["norm"].default == 2

    def test_knn_lengths_padding(self):
        p1 = torch.rand(2, 4, 3)
        p2 = torch.rand(2, 5, 3)
        out = knn_points(p1, p2, lengths1=torch.tensor([4, 2]), lengths2=torch.tensor([5, 1]), K=2)
        # a second neighbour does not exist for cloud 1 (one point): idx 0 and dist 0 there
        assert out.idx[1, :2, 1].tolist() == [0, 0]
        assert out.dists[1, :2, 1].tolist() == [0.0, 0.0]

    def test_ball_query(self):
        p1 = torch.tensor([[[0.0, 0, 0]]])
        p2 = torch.tensor([[[0.1, 0, 0], [1.0, 0, 0], [0, 0.15, 0]]])
        dists, idx, nn = ball_query(p1, p2, K=3, radius=0.2)
        assert idx.tolist() == [[[0, 2, -1]]]
        assert torch.allclose(dists[0, 0, :2], torch.tensor([0.01, 0.0225]))
        assert dists[0, 0, 2] == 0.0 and nn.shape == (1, 1, 3, 3)
        assert torch.equal(nn[0, 0, 2], torch.zeros(3))


class TestSampling:
    def test_sample_points_from_meshes(self):
        m = ico_sphere(2)
        pts = sample_points_from_meshes(m, 300)
        assert torch.is_tensor(pts) and pts.shape == (1, 300, 3)
        assert torch.allclose(pts.norm(dim=-1), torch.ones(1, 300), atol=0.05)
        pts, normals = sample_points_from_meshes(m, num_samples=50, return_normals=True)
        assert normals.shape == (1, 50, 3)
        assert (torch.nn.functional.cosine_similarity(pts, normals, dim=-1) > 0.9).all()
        sig = inspect.signature(sample_points_from_meshes)
        assert sig.parameters["num_samples"].default == 10000

    def test_sample_textures(self):
        from inverse3d.renderer.mesh.textures import TexturesVertex

        m = _tri()
        m.textures = TexturesVertex(verts_features=torch.tensor([[[1.0, 0, 0]] * 3]))
        pts, tex = sample_points_from_meshes(m, 20, return_textures=True)
        assert tex.shape == (1, 20, 3) and torch.allclose(
            tex, torch.tensor([1.0, 0, 0]).expand(1, 20, 3)
        )
        pts, nrm, tex = sample_points_from_meshes(m, 5, return_normals=True, return_textures=True)
        assert pts.shape == nrm.shape == tex.shape == (1, 5, 3)

    def test_farthest_points(self):
        pts = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0], [5, 0, 0], [2, 0, 0]]])
        sel, idx = sample_farthest_points(pts, K=3)
        assert idx.tolist() == [[0, 2, 3]]
        assert torch.equal(sel[0], pts[0, [0, 2, 3]])
        sel, idx = sample_farthest_points(pts, lengths=torch.tensor([2]), K=3)
        assert idx.tolist() == [[0, 1, -1]]
        assert torch.equal(sel[0, 2], torch.zeros(3))


class TestPackingInterp:
    def test_packed_padded(self):
        x = torch.arange(10.0).view(5, 2)
        first = torch.tensor([0, 3])
        pad = packed_to_padded(x, first, 3)
        assert pad.shape == (2, 3, 2) and pad[1, 2].tolist() == [0.0, 0.0]
        back = padded_to_packed(pad, first, 5)
        assert torch.equal(back, x)
        pad1 = packed_to_padded(torch.arange(5.0), first, 3)
        assert pad1.shape == (2, 3)

    def test_interpolate_face_attributes(self):
        p2f = torch.tensor([0, -1]).view(1, 1, 2, 1)
        bary = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]).view(1, 1, 2, 1, 3)
        attrs = torch.tensor([[[1.0], [2.0], [3.0]]])  # (F, 3, D)
        out = interpolate_face_attributes(p2f, bary, attrs)
        assert out.shape == (1, 1, 2, 1, 1)
        assert torch.allclose(out.flatten(), torch.tensor([0.2 + 0.6 + 1.5, 0.0]))

    def test_face_areas_normals_laplacians(self):
        m = _tri()
        areas, normals = mesh_face_areas_normals(m.verts_packed(), m.faces_packed())
        assert torch.allclose(areas, torch.tensor([0.5]))
        assert torch.allclose(normals, torch.tensor([[0.0, 0, 1]]))
        L = laplacian(m.verts_packed(), m.edges_packed())
        assert torch.allclose(L.to_dense().sum(1), torch.zeros(3), atol=1e-6)
        Lc, inv_areas = cot_laplacian(m.verts_packed(), m.faces_packed())
        assert Lc.shape == (3, 3) and inv_areas.shape == (3, 1)


class TestLosses:
    def test_chamfer_values(self):
        x = torch.tensor([[[0.0, 0, 0]]])
        y = torch.tensor([[[1.0, 0, 0], [2, 0, 0]]])
        loss, ln = chamfer_distance(x, y)
        assert ln is None
        assert torch.allclose(loss, torch.tensor(1.0 + 2.5))
        loss, _ = chamfer_distance(x, y, point_reduction="sum")
        assert torch.allclose(loss, torch.tensor(6.0))
        loss, _ = chamfer_distance(x, y, norm=1)
        assert torch.allclose(loss, torch.tensor(1.0 + 1.5))
        loss, _ = chamfer_distance(x, y, single_directional=True)
        assert torch.allclose(loss, torch.tensor(1.0))
        sig = inspect.signature(chamfer_distance)
        d = {k: v.default for k, v in sig.parameters.items()}
        assert d["batch_reduction"] == "mean" and d["point_reduction"] == "mean"
        assert d["norm"] == 2 and d["single_directional"] is False and d["abs_cosine"] is True

    def test_chamfer_batch_pointclouds_normals(self):
        x = Pointclouds(points=[torch.rand(5, 3), torch.rand(3, 3)])
        y = Pointclouds(points=[torch.rand(4, 3), torch.rand(6, 3)])
        loss, _ = chamfer_distance(x, y, batch_reduction=None)
        assert loss.shape == (2,)
        xn = torch.nn.functional.normalize(torch.rand(1, 4, 3), dim=-1)
        xp = torch.rand(1, 4, 3)
        loss, ln = chamfer_distance(xp, xp, x_normals=xn, y_normals=xn)
        assert torch.allclose(loss, torch.tensor(0.0)) and torch.allclose(
            ln, torch.tensor(0.0), atol=1e-6
        )
        loss, _ = chamfer_distance(x, y, weights=torch.tensor([1.0, 0.0]), batch_reduction="sum")
        l0, _ = chamfer_distance(x[0], y[0], batch_reduction="sum")
        assert torch.allclose(loss, l0)

    def test_chamfer_point_reduction_none(self):
        x = torch.tensor([[[0.0, 0, 0]]])
        y = torch.tensor([[[1.0, 0, 0], [2, 0, 0]]])
        (cx, cy), _ = chamfer_distance(x, y, point_reduction=None, batch_reduction=None)
        assert cx.tolist() == [[1.0]] and cy.tolist() == [[1.0, 4.0]]

    def test_mesh_losses(self):
        m = _tri()
        assert torch.allclose(mesh_edge_loss(m), torch.tensor(4.0 / 3.0))
        assert torch.allclose(
            mesh_edge_loss(m, target_length=1.0), torch.tensor((math.sqrt(2) - 1) ** 2 / 3)
        )
        lap = mesh_laplacian_smoothing(m, method="uniform")
        want = (math.sqrt(0.5) + 2 * math.sqrt(1.25)) / 3
        assert torch.allclose(lap, torch.tensor(want), atol=1e-6)
        sq = Meshes(
            verts=[torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])],
            faces=[torch.tensor([[0, 1, 2], [0, 2, 3]])],
        )
        assert torch.allclose(mesh_normal_consistency(sq), torch.tensor(0.0), atol=1e-6)
        for method in ("cot", "cotcurv"):
            assert torch.isfinite(mesh_laplacian_smoothing(ico_sphere(1), method=method))
        with pytest.raises(ValueError):
            mesh_laplacian_smoothing(m, method="bogus")

    def test_point_mesh(self):
        m = _tri()
        pcl = Pointclouds(points=[torch.tensor([[0.25, 0.25, 1.0]])])
        assert torch.allclose(point_mesh_face_distance(m, pcl), torch.tensor(2.0))
        # edges: point-to-nearest-edge 1.0625 + mean over 3 edges of their distance to the point
        d = point_mesh_edge_distance(m, pcl)
        assert d.dim() == 0 and d > 0
        sig = inspect.signature(point_mesh_face_distance)
        assert sig.parameters["min_triangle_area"].default == 5e-3
