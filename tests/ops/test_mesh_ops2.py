"""cubify, SubdivideMeshes, vert_align, GraphConv, taubin_smoothing: hand counts, loops written
here, analytic geometry."""

from __future__ import annotations

import itertools

import pytest
import torch

from inverse3d.ops.cubify import cubify
from inverse3d.ops.graph_conv import GraphConv, gather_scatter
from inverse3d.ops.mesh_filtering import taubin_smoothing
from inverse3d.ops.subdivide_meshes import SubdivideMeshes
from inverse3d.ops.vert_align import vert_align
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere


def _signed_volume(v, f):
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float((a * torch.cross(b, c, dim=1)).sum() / 6)


def _exposed_sides(occ: torch.Tensor) -> int:
    """Loop: sides of occupied voxels whose neighbour is empty or outside."""
    D, H, W = occ.shape
    count = 0
    for z, y, x in itertools.product(range(D), range(H), range(W)):
        if not occ[z, y, x]:
            continue
        for dz, dy, dx in [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]:
            zz, yy, xx = z + dz, y + dy, x + dx
            inside = 0 <= zz < D and 0 <= yy < H and 0 <= xx < W
            if not inside or not occ[zz, yy, xx]:
                count += 1
    return count


class TestCubify:
    def test_smoke(self):
        m = cubify(torch.ones(1, 1, 1, 1), 0.5)
        assert m.verts_list()[0].shape == (8, 3) and m.faces_list()[0].shape == (12, 3)

    def test_shapes(self):
        m = cubify(torch.ones(1, 1, 1, 2), 0.5)  # two voxels side by side
        assert m.verts_list()[0].shape == (12, 3) and m.faces_list()[0].shape == (20, 3)
        m = cubify(torch.ones(1, 2, 2, 2), 0.5)
        assert m.verts_list()[0].shape == (26, 3) and m.faces_list()[0].shape == (48, 3)
        m = cubify(torch.zeros(2, 3, 3, 3), 0.5)
        assert len(m) == 2 and m.verts_list()[0].shape[0] == 0

    def test_matches_reference(self):
        vox = (torch.rand(2, 4, 5, 6) > 0.5).float()
        m = cubify(vox, 0.5)
        for i in range(2):
            v, f = m.verts_list()[i], m.faces_list()[i]
            assert f.shape[0] == 2 * _exposed_sides(vox[i] > 0.5)
            assert torch.unique(v, dim=0).shape[0] == v.shape[0]  # vertices merged
            assert torch.unique(f).numel() == v.shape[0]  # no unused vertex
            # outward orientation: signed volume = occupied count * voxel volume (topleft)
            cell = (2 / 5) * (2 / 4) * (2 / 3)
            assert _signed_volume(v.double(), f) == pytest.approx(
                float(vox[i].sum()) * cell, rel=1e-5
            )

    @pytest.mark.parametrize(
        "align,lo,hi",
        [("topleft", [-1, -1, -1], [0, 1, 1]), ("corner", [-1, -1, -1], [-1 / 3, 0, 0]),
         ("center", [-1.5, -2, -2], [-0.5, 0, 0])],
    )  # fmt: skip
    def test_convention_align(self, align, lo, hi):
        vox = torch.zeros(1, 2, 2, 3)  # D=2, H=2, W=3; one voxel at (z, y, x) = (0, 0, 0)
        vox[0, 0, 0, 0] = 1.0
        v = cubify(vox, 0.5, align=align).verts_list()[0]
        assert torch.allclose(v.min(0).values, torch.tensor(lo, dtype=torch.float32))
        assert torch.allclose(v.max(0).values, torch.tensor(hi, dtype=torch.float32))

    def test_convention_order(self):
        # PyTorch3D's order: vertices sorted by grid (y, x, z), faces by voxel (y, x, z)
        vox = (torch.rand(1, 3, 4, 5) > 0.4).float()
        m = cubify(vox, 0.5, align="corner")
        v = m.verts_list()[0]
        key = (v[:, 1] * 100 + v[:, 0]) * 100 + v[:, 2]
        assert bool((key[1:] > key[:-1]).all())
        # recover each face's voxel: its lowest corner, minus 1 along an outward +axis normal
        f = m.faces_list()[0]
        size = torch.tensor([5.0, 4.0, 3.0])  # W, H, D
        idx = ((v[f] + 1) * size / 2).round()  # (F, 3 corners, xyz) grid indices
        n = torch.cross(idx[:, 1] - idx[:, 0], idx[:, 2] - idx[:, 0], dim=1)
        owner = (idx.min(1).values - (n > 0).float()).long()  # (F, xyz)
        assert bool((vox[0, owner[:, 2], owner[:, 1], owner[:, 0]] > 0.5).all())
        fkey = (owner[:, 1] * 100 + owner[:, 0]) * 100 + owner[:, 2]
        assert bool((fkey[1:] >= fkey[:-1]).all())

    def test_threshold_is_inclusive(self):
        assert cubify(torch.full((1, 1, 1, 1), 0.5), 0.5).faces_list()[0].shape[0] == 12

    def test_feats_center(self):
        pytest.importorskip("inverse3d.renderer.mesh.textures")
        vox = torch.ones(1, 1, 1, 2)
        feats = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 1, 2)
        m = cubify(vox, 0.5, feats=feats, align="center")
        atlas = m.textures.atlas_list()[0]
        assert atlas.shape == (20, 1, 1, 2)
        assert torch.equal(atlas[0, 0, 0], torch.tensor([1.0, 0.0]))
        assert torch.equal(atlas[-1, 0, 0], torch.tensor([0.0, 1.0]))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="voxels"):
            cubify(torch.ones(2, 2, 2), 0.5)
        with pytest.raises(ValueError, match="align"):
            cubify(torch.ones(1, 2, 2, 2), 0.5, align="middle")
        with pytest.raises(ValueError, match="feats"):
            cubify(torch.ones(1, 2, 2, 2), 0.5, feats=torch.ones(1, 3, 2, 2, 1))


class TestSubdivideMeshes:
    def test_smoke(self):
        tri = Meshes(
            [torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])], [torch.tensor([[0, 1, 2]])]
        )
        out = SubdivideMeshes()(tri)
        v, f = out.verts_list()[0], out.faces_list()[0]
        assert v.shape == (6, 3) and f.shape == (4, 3)
        # the new vertices are the edge midpoints, the middle face joins them
        mids = {tuple(x) for x in v[3:].tolist()}
        assert mids == {(0.5, 0.0, 0.0), (0.5, 0.5, 0.0), (0.0, 0.5, 0.0)}
        assert set(f[3].tolist()) == {3, 4, 5}
        n = torch.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]], dim=1)
        assert bool((n[:, 2] > 0).all())  # orientation kept
        assert float(n.norm(dim=1).sum()) / 2 == pytest.approx(0.5)

    def test_shapes(self):
        meshes = Meshes(
            [ico_sphere(0).verts_list()[0], ico_sphere(1).verts_list()[0]],
            [ico_sphere(0).faces_list()[0], ico_sphere(1).faces_list()[0]],
        )
        feats = torch.randn(12 + 42, 5)
        out, new_feats = SubdivideMeshes()(meshes, feats)
        assert out.num_verts_per_mesh().tolist() == [12 + 30, 42 + 120]
        assert out.num_faces_per_mesh().tolist() == [80, 320]
        assert new_feats.shape == (42 + 162, 5)
        assert torch.equal(new_feats[:12], feats[:12])
        assert torch.equal(new_feats[42 : 42 + 42], feats[12:])

    def test_matches_reference(self):
        mesh = ico_sphere(1)
        feats = torch.randn(42, 2)
        out, new_feats = SubdivideMeshes()(mesh, feats)
        v, f = mesh.verts_list()[0], mesh.faces_list()[0]
        nv, nf = out.verts_list()[0], out.faces_list()[0]
        edges = mesh.edges_packed()
        # loop: each new vertex is its edge's midpoint, features too
        for e in range(len(edges)):
            a, b = edges[e].tolist()
            assert torch.allclose(nv[42 + e], (v[a] + v[b]) / 2)
            assert torch.allclose(new_feats[42 + e], (feats[a] + feats[b]) / 2)
        # loop: face k becomes (a, m_ab, m_ca), (b, m_bc, m_ab), (c, m_ca, m_bc), (m_bc, m_ca, m_ab)
        key = {tuple(sorted(edges[e].tolist())): 42 + e for e in range(len(edges))}
        F = len(f)
        for k in range(F):
            a, b, c = f[k].tolist()
            ab, bc, ca = (
                key[tuple(sorted((a, b)))],
                key[tuple(sorted((b, c)))],
                key[tuple(sorted((c, a)))],
            )
            assert nf[k].tolist() == [a, ab, ca]
            assert nf[F + k].tolist() == [b, bc, ab]
            assert nf[2 * F + k].tolist() == [c, ca, bc]
            assert nf[3 * F + k].tolist() == [bc, ca, ab]

    def test_precomputed_topology(self):
        src = ico_sphere(1)
        meshes = Meshes([src.verts_list()[0], 2 * src.verts_list()[0]], [src.faces_list()[0]] * 2)
        a = SubdivideMeshes(src)(meshes)
        b = SubdivideMeshes()(meshes)
        for x, y in zip(a.verts_list(), b.verts_list()):
            assert torch.equal(x, y)
        with pytest.raises(ValueError, match="topology"):
            SubdivideMeshes(src)(ico_sphere(0))

    def test_gradcheck(self):
        mesh = ico_sphere(0)
        v = mesh.verts_list()[0].double().requires_grad_(True)
        f = mesh.faces_list()[0]
        torch.autograd.gradcheck(lambda x: SubdivideMeshes()(Meshes([x], [f])).verts_packed(), (v,))

    def test_exceptions(self):
        with pytest.raises(TypeError, match="meshes"):
            SubdivideMeshes()(torch.zeros(3, 3))
        with pytest.raises(ValueError, match="feats"):
            SubdivideMeshes()(ico_sphere(0), torch.zeros(5, 2))


class TestVertAlign:
    def test_smoke(self):
        feats = torch.arange(12.0).reshape(1, 1, 3, 4)
        verts = torch.tensor([[[-1.0, -1.0, 0.0], [1.0, 1.0, 5.0]]])
        out = vert_align(feats, verts)
        assert out.shape == (1, 2, 1)
        assert out[0, :, 0].tolist() == [0.0, 11.0]  # top-left and bottom-right pixels

    def test_matches_reference(self):
        feats = torch.randn(2, 3, 5, 7)
        verts = torch.rand(2, 6, 3) * 2 - 1
        out = vert_align(feats, verts)
        for n, v, c in itertools.product(range(2), range(6), range(3)):
            x = (verts[n, v, 0] + 1) / 2 * 6  # align_corners=True pixel coordinates
            y = (verts[n, v, 1] + 1) / 2 * 4
            x0, y0 = int(x.floor().clamp(max=5)), int(y.floor().clamp(max=3))
            fx, fy = x - x0, y - y0
            img = feats[n, c]
            want = (
                img[y0, x0] * (1 - fx) * (1 - fy)
                + img[y0, x0 + 1] * fx * (1 - fy)
                + img[y0 + 1, x0] * (1 - fx) * fy
                + img[y0 + 1, x0 + 1] * fx * fy
            )
            assert float(out[n, v, c]) == pytest.approx(float(want), abs=1e-5)

    def test_shapes(self):
        mesh = Meshes(
            [torch.rand(4, 3) * 2 - 1, torch.rand(6, 3) * 2 - 1],
            [torch.tensor([[0, 1, 2]]), torch.tensor([[0, 1, 2]])],
        )
        feats = [torch.randn(2, 3, 8, 8), torch.randn(2, 2, 4, 4)]
        out = vert_align(feats, mesh)
        assert out.shape == (2, 6, 5)
        packed = vert_align(feats, mesh, return_packed=True)
        assert packed.shape == (10, 5)
        assert torch.equal(packed[4:], out[1])

    def test_gradcheck(self):
        feats = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
        verts = (torch.rand(1, 3, 2, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
        torch.autograd.gradcheck(vert_align, (feats, verts))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="verts"):
            vert_align(torch.zeros(1, 1, 2, 2), torch.zeros(3, 3))
        with pytest.raises(ValueError, match="batch"):
            vert_align(torch.zeros(2, 1, 2, 2), torch.zeros(1, 3, 3))
        with pytest.raises(ValueError, match="feats"):
            vert_align(torch.zeros(1, 2, 2), torch.zeros(1, 3, 3))
        with pytest.raises(ValueError, match="padding_mode"):
            vert_align(torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 3), padding_mode="wrap")


class TestGraphConv:
    def test_smoke(self):
        conv = GraphConv(3, 4)
        assert conv(torch.randn(5, 3), torch.tensor([[0, 1], [1, 2]])).shape == (5, 4)
        assert repr(conv) == "GraphConv(3 -> 4, directed=False)"

    def test_matches_reference(self):
        for directed in (False, True):
            conv = GraphConv(3, 2, init="default", directed=directed)
            x = torch.randn(6, 3)
            edges = torch.tensor([[0, 1], [1, 2], [2, 0], [3, 4], [0, 5]])
            out = conv(x, edges)
            for i in range(6):
                want = conv.w0(x[i])
                for a, b in edges.tolist():
                    if a == i:
                        want = want + conv.w1(x[b])
                    if b == i and not directed:
                        want = want + conv.w1(x[a])
                assert torch.allclose(out[i], want, atol=1e-6)

    def test_init(self):
        conv = GraphConv(3, 2, init="zero")
        assert float(conv(torch.randn(4, 3), torch.tensor([[0, 1]])).detach().abs().max()) == 0.0
        conv = GraphConv(30, 40)
        assert float(conv.w0.weight.detach().std()) == pytest.approx(0.01, rel=0.1)
        assert float(conv.w0.bias.detach().abs().max()) == 0.0
        assert GraphConv(3, 2)(torch.zeros(0, 3), torch.zeros(0, 2, dtype=torch.int64)).shape == (
            0,
            2,
        )

    def test_gradcheck(self):
        x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
        edges = torch.tensor([[0, 1], [1, 3], [2, 1]])
        torch.autograd.gradcheck(lambda t: gather_scatter(t, edges), (x,))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="init"):
            GraphConv(2, 2, init="xavier")
        with pytest.raises(ValueError, match="input_dim"):
            GraphConv(0, 2)
        with pytest.raises(ValueError, match="verts"):
            GraphConv(2, 2)(torch.zeros(3, 4), torch.zeros(1, 2, dtype=torch.int64))
        with pytest.raises(ValueError, match="edges"):
            GraphConv(2, 2)(torch.zeros(3, 2), torch.tensor([[0, 5]]))


class TestTaubinSmoothing:
    def test_smoke(self):
        out = taubin_smoothing(ico_sphere(1), num_iter=2)
        assert out.verts_packed().shape == (42, 3)
        assert torch.equal(out.faces_packed(), ico_sphere(1).faces_packed())

    def test_matches_reference(self):
        sphere = ico_sphere(3)
        v = sphere.verts_packed()
        noisy = v + 0.03 * torch.randn_like(v)
        out = taubin_smoothing(Meshes([noisy], sphere.faces_list()), num_iter=10)
        err_before = float((noisy.norm(dim=1) - 1).abs().mean())
        r = out.verts_packed().norm(dim=1)
        assert float((r - 1).abs().mean()) < 0.5 * err_before  # noise removed
        assert abs(float(r.mean()) - 1) < 0.02  # without shrinking the sphere
        # plain Laplacian smoothing (mu = 0) shrinks it much more
        shrunk = taubin_smoothing(Meshes([noisy], sphere.faces_list()), mu=0.0, num_iter=10)
        assert float(shrunk.verts_packed().norm(dim=1).mean()) < float(r.mean()) - 0.02

    def test_one_step_by_hand(self):
        verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 2, 0]])
        mesh = Meshes([verts], [torch.tensor([[0, 1, 2]])])
        out = taubin_smoothing(mesh, lambd=0.5, mu=0.0, num_iter=1).verts_packed()
        w1, w2 = 1.0, 0.5  # inverse lengths of edges 0-1 and 0-2
        mean0 = (w1 * verts[1] + w2 * verts[2]) / (w1 + w2)
        assert torch.allclose(out[0], 0.5 * verts[0] + 0.5 * mean0, atol=1e-6)

    def test_exceptions(self):
        with pytest.raises(TypeError, match="meshes"):
            taubin_smoothing(torch.zeros(3, 3))
        with pytest.raises(ValueError, match="num_iter"):
            taubin_smoothing(ico_sphere(0), num_iter=-1)
