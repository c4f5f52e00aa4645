"""inverse3d._C: PyTorch3D's compiled-extension entry points, against our public functions,
brute force and autograd."""

from __future__ import annotations

import pytest
import torch

from inverse3d import _C
from inverse3d.loss import point_mesh_face_distance
from inverse3d.ops import knn_points, packed_to_padded
from inverse3d.ops.mesh_sdf import point_triangle_distance
from inverse3d.renderer.compositing import alpha_composite
from inverse3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from inverse3d.renderer.points.rasterize_points import rasterize_points
from inverse3d.structures import Meshes, Pointclouds
from inverse3d.utils import ico_sphere


def _two_meshes():
    a = ico_sphere(1)
    b = ico_sphere(0)
    return Meshes(
        verts=[a.verts_packed(), b.verts_packed() * 0.5 + 0.2],
        faces=[a.faces_packed(), b.faces_packed()],
    )


class TestPointMeshDistances:
    def test_point_face_matches_brute_force(self):
        torch.manual_seed(0)
        meshes = _two_meshes()
        pcl = Pointclouds([torch.randn(30, 3), torch.randn(20, 3)])
        pts = pcl.points_packed()
        tris = meshes.verts_packed()[meshes.faces_packed()]
        pf = pcl.cloud_to_packed_first_idx()
        tf = meshes.mesh_to_faces_packed_first_idx()
        dists, idx = _C.point_face_dist_forward(pts, pf, tris, tf, 30, 5e-3)
        assert dists.shape == idx.shape == (50,)
        F0 = meshes.num_faces_per_mesh()[0]
        for i in (0, 29, 30, 49):
            lo, hi = (0, F0) if i < 30 else (F0, tris.shape[0])
            t = tris[lo:hi]
            d = point_triangle_distance(pts[i][None], t[:, 0], t[:, 1], t[:, 2], 5e-3)
            assert float(dists[i]) == pytest.approx(float(d.min()), rel=1e-5)
            assert lo <= int(idx[i]) < hi
        # the symmetric pair of terms gives the public loss
        fd, fidx = _C.face_point_dist_forward(pts, pf, tris, tf, 80, 5e-3)
        nf = meshes.num_faces_per_mesh().tolist()
        loss = (dists[:30].mean() + dists[30:].mean() + fd[: nf[0]].mean() + fd[nf[0] :].mean()) / 2
        assert float(loss) == pytest.approx(float(point_mesh_face_distance(meshes, pcl)), rel=1e-5)

    def test_point_face_backward_gradcheck(self):
        torch.manual_seed(1)
        pts = torch.randn(6, 3, dtype=torch.float64)
        tris = torch.randn(4, 3, 3, dtype=torch.float64)
        first = torch.zeros(1, dtype=torch.int64)
        _, idx = _C.point_face_dist_forward(pts, first, tris, first, 6, 1e-8)
        g = torch.rand(6, dtype=torch.float64)
        gp, gt = _C.point_face_dist_backward(pts, tris, idx, g, 1e-8)
        eps = 1e-6
        for k in range(3):
            d = torch.zeros_like(pts)
            d[2, k] = eps
            plus = _C.point_face_dist_forward(pts + d, first, tris, first, 6, 1e-8)[0]
            minus = _C.point_face_dist_forward(pts - d, first, tris, first, 6, 1e-8)[0]
            fd = float(((plus - minus) * g).sum() / (2 * eps))
            assert float(gp[2, k]) == pytest.approx(fd, rel=1e-4, abs=1e-7)
        assert gt.shape == tris.shape

    def test_edge_and_array(self):
        pts = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
        segms = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
        first = torch.zeros(1, dtype=torch.int64)
        d, i = _C.point_edge_dist_forward(pts, first, segms, first, 2)
        assert d.tolist() == pytest.approx([1.0, 1.0]) and i.tolist() == [0, 0]
        d, i = _C.edge_point_dist_forward(pts, first, segms, first, 1)
        assert d.tolist() == pytest.approx([1.0]) and int(i[0]) == 0  # tie: first point
        assert _C.point_edge_array_dist_forward(pts, segms).shape == (2, 1)
        tri = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        arr = _C.point_face_array_dist_forward(torch.tensor([[0.2, 0.2, 3.0]]), tri, 0.0)
        assert float(arr[0, 0]) == pytest.approx(9.0)


class TestKnn:
    def test_idx_and_backward(self):
        torch.manual_seed(2)
        p1 = torch.randn(2, 7, 3, dtype=torch.float64)
        p2 = torch.randn(2, 9, 3, dtype=torch.float64)
        l1 = torch.tensor([7, 5])
        l2 = torch.tensor([9, 6])
        idx, dists = _C.knn_points_idx(p1, p2, l1, l2, 2, 3, -1)
        ref = knn_points(p1, p2, l1, l2, K=3)
        assert torch.equal(idx, ref.idx) and torch.allclose(dists, ref.dists)
        g = torch.rand_like(dists)
        for norm in (1, 2):
            q1, q2 = p1.clone().requires_grad_(), p2.clone().requires_grad_()
            r = knn_points(q1, q2, l1, l2, norm=norm, K=3)
            want = torch.autograd.grad((r.dists * g).sum(), (q1, q2))
            got = _C.knn_points_backward(p1, p2, l1, l2, r.idx, norm, g)
            assert torch.allclose(got[0], want[0]) and torch.allclose(got[1], want[1])

    def test_ball_query_and_fps(self):
        p = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0], [1.0, 0, 0], [3.0, 0, 0]]])
        ln = torch.tensor([4])
        idx, d = _C.ball_query(p, p, ln, ln, 2, 0.5, False)
        assert idx[0, 0].tolist() == [0, 1] and idx[0, 3].tolist() == [3, -1]
        fps = _C.sample_farthest_points(p, ln, torch.tensor([3]), torch.tensor([1]))
        assert fps.tolist() == [[1, 3, 2]]  # from 1: farthest is 3, then 2 (0.9 away vs 0.1)


class TestRasterAndBlend:
    def test_rasterize_points_matches_public(self):
        torch.manual_seed(3)
        clouds = [torch.rand(15, 3) * 2 - 1 + torch.tensor([0, 0, 2.0]), torch.rand(10, 3)]
        pcl = Pointclouds(clouds)
        want = rasterize_points(pcl, image_size=(12, 10), radius=0.2, points_per_pixel=3)
        got = _C.rasterize_points(
            pcl.points_packed(), pcl.cloud_to_packed_first_idx(), pcl.num_points_per_cloud(),
            (12, 10), torch.full((25,), 0.2), 3, 0, 0,
        )  # fmt: skip
        for a, b in zip(got, want):
            assert torch.equal(a, b)

    def test_rasterize_points_backward(self):
        torch.manual_seed(4)
        pts = (torch.rand(12, 3, dtype=torch.float64) * 2 - 1).requires_grad_()
        pcl = Pointclouds([pts])
        idx, zbuf, dists = rasterize_points(pcl, image_size=8, radius=0.3, points_per_pixel=2)
        gz, gd = torch.rand_like(zbuf), torch.rand_like(dists)
        want = torch.autograd.grad((zbuf * gz).sum() + (dists * gd).sum(), pts)[0]
        got = _C.rasterize_points_backward(pts.detach(), idx, gz, gd)
        assert torch.allclose(got, want)

    def test_rasterize_meshes_matches_public(self):
        mesh = ico_sphere(1)
        verts = mesh.verts_packed() * 0.8 + torch.tensor([0.0, 0.0, 2.0])
        meshes = Meshes([verts], [mesh.faces_packed()])
        want = rasterize_meshes(meshes, image_size=(10, 12), faces_per_pixel=2)
        fv = verts[mesh.faces_packed()]
        first = torch.zeros(1, dtype=torch.int64)
        num = torch.tensor([fv.shape[0]])
        new = _C.rasterize_meshes(fv, first, num, torch.full((fv.shape[0],), -1),
                                  (10, 12), 0.0, 2, 0, 0, False, False, False)  # fmt: skip
        old = _C.rasterize_meshes(fv, first, num, (10, 12), 0.0, 2, 0, 0, False, False)
        for a, b, c in zip(new, old, want):
            assert torch.equal(a, c) and torch.equal(b, c)

    def test_compositing_and_sigmoid(self):
        torch.manual_seed(5)
        feats = torch.rand(3, 6)
        alphas = torch.rand(1, 2, 4, 4)
        idx = torch.randint(-1, 6, (1, 2, 4, 4))
        assert torch.equal(_C.accum_alphacomposite(feats, alphas, idx),
                           alpha_composite(idx, alphas, feats))  # fmt: skip
        g = torch.rand(1, 3, 4, 4)
        gf, ga = _C.accum_weightedsum_backward(g, feats, alphas, idx)
        # weighted sum is linear in the features: d/dfeatures[c, p] = sum alphas where idx == p
        want = torch.zeros(3, 6)
        for k in range(2):
            for y in range(4):
                for x in range(4):
                    p = int(idx[0, k, y, x])
                    if p >= 0:
                        want[:, p] += alphas[0, k, y, x] * g[0, :, y, x]
        assert torch.allclose(gf, want, atol=1e-6)
        d = torch.tensor([[[[-0.1, 0.2]]]])
        f = torch.tensor([[[[0, -1]]]])
        a = _C.sigmoid_alpha_blend(d, f, 0.1)
        assert float(a[0, 0, 0]) == pytest.approx(float(torch.sigmoid(torch.tensor(1.0))))


class TestMisc:
    def test_packed_padded(self):
        x = torch.arange(5.0)
        first = torch.tensor([0, 3])
        assert torch.equal(_C.packed_to_padded(x, first, 3), packed_to_padded(x, first, 3))
        assert torch.equal(_C.padded_to_packed(_C.packed_to_padded(x, first, 3), first, 5), x)

    def test_gather_scatter_backward_is_transpose(self):
        x = torch.rand(4, 2)
        e = torch.tensor([[0, 1], [2, 3], [1, 3]])
        fwd = _C.gather_scatter(x, e, True, False)
        bwd = _C.gather_scatter(x, e, True, True)
        A = torch.zeros(4, 4)
        A[e[:, 0], e[:, 1]] = 1.0
        assert torch.allclose(fwd, A @ x) and torch.allclose(bwd, A.t() @ x)

    def test_sample_pdf_in_place(self):
        bins = torch.tensor([[0.0, 1.0, 3.0]])
        weights = torch.tensor([[1.0, 3.0]])
        out = torch.tensor([[0.0, 0.125, 0.25, 0.625, 1.0]])
        _C.sample_pdf(bins, weights, out, 0.0)
        # CDF: mass 1 on [0, 1], mass 3 on [1, 3]
        assert out.tolist()[0] == pytest.approx([0.0, 0.5, 1.0, 2.0, 3.0])

    def test_points_to_volumes_in_place(self):
        pts = torch.zeros(1, 1, 3)
        feats = torch.ones(1, 1, 2)
        dens, vf = torch.zeros(1, 1, 3, 3, 3), torch.zeros(1, 2, 3, 3, 3)
        grid = torch.tensor([[3, 3, 3]])
        _C.points_to_volumes_forward(pts, feats, dens, vf, grid, torch.ones(1, 1), 2.0, True, True)
        assert float(dens[0, 0, 1, 1, 1]) == 2.0 and float(vf[0, :, 1, 1, 1].sum()) == 4.0

    def test_face_areas_and_interp(self):
        v = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0]])
        f = torch.tensor([[0, 1, 2]])
        areas, normals = _C.face_areas_normals_forward(v, f)
        assert float(areas[0]) == 2.0 and normals[0].tolist() == [0.0, 0.0, 1.0]
        gv = _C.face_areas_normals_backward(torch.ones(1), torch.zeros(1, 3), v, f)
        assert gv[1].tolist() == pytest.approx([1.0, 0.0, 0.0])  # d area / d v1.x = 2 / 2
