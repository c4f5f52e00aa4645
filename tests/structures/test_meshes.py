"""Tests for inverse3d.structures.meshes: views, indexing, edges, normals, updates, joins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inverse3d.structures.meshes import Meshes, join_meshes_as_batch, join_meshes_as_scene

# (V_n, F_n) of a heterogeneous batch with empty items anywhere
SIZES = [(6, 8), (0, 0), (5, 0), (7, 4), (3, 1), (0, 0)]


def _random_lists(sizes=SIZES, dtype=torch.float32, device="cpu"):
    verts, faces = [], []
    for V, F in sizes:
        verts.append(torch.randn(V, 3, dtype=dtype, device=device))
        faces.append(
            torch.stack([torch.randperm(V)[:3] for _ in range(F)]).to(device)
            if F
            else torch.zeros(0, 3, dtype=torch.int64, device=device)
        )
    return verts, faces


class TexStub:
    """Tiny textures object with the PyTorch3D textures API (one feature per vertex)."""

    def __init__(self, feats: list[torch.Tensor]):
        self.feats = feats
        self._N = len(feats)
        self.valid = None

    def sample_textures(self, fragments, faces_packed=None):
        return ("sampled", fragments, faces_packed)

    def check_shapes(self, N, V, F):
        return N == self._N

    def isempty(self):
        return self._N == 0

    def __getitem__(self, index):
        if isinstance(index, int):
            return TexStub([self.feats[index]])
        if isinstance(index, slice):
            return TexStub(self.feats[index])
        if torch.is_tensor(index):
            index = index.tolist()
        return TexStub([self.feats[i] for i in index])

    def extend(self, N):
        return TexStub([f for f in self.feats for _ in range(N)])

    def clone(self):
        return TexStub([f.clone() for f in self.feats])

    def detach(self):
        return TexStub([f.detach() for f in self.feats])

    def to(self, device):
        return TexStub([f.to(device) for f in self.feats])

    def join_batch(self, others):
        return TexStub(self.feats + [f for o in others for f in o.feats])

    def join_scene(self):
        return TexStub([torch.cat(self.feats)])

    def submeshes(self, verts_ids, faces_ids):
        out = []
        for feats, ids in zip(self.feats, verts_ids):
            out += [feats[i] for i in ids]
        return TexStub(out)


def _check_views(m: Meshes, verts, faces):
    """All forms of `m` agree with the lists (verts, faces) (faces local to each mesh)."""
    N = len(verts)
    assert len(m) == N
    nv = [v.shape[0] for v in verts]
    nf = [f.shape[0] for f in faces]
    assert m.num_verts_per_mesh().tolist() == nv
    assert m.num_faces_per_mesh().tolist() == nf
    for a, b in zip(m.verts_list(), verts):
        assert torch.equal(a, b)
    for a, b in zip(m.faces_list(), faces):
        assert torch.equal(a, b)
    vp, fp = m.verts_packed(), m.faces_packed()
    vpad, fpad = m.verts_padded(), m.faces_padded()
    assert vpad.shape == (N, max(nv + [0]), 3) and fpad.shape == (N, max(nf + [0]), 3)
    v_to_mesh, f_to_mesh = m.verts_packed_to_mesh_idx(), m.faces_packed_to_mesh_idx()
    v_first, f_first = m.mesh_to_verts_packed_first_idx(), m.mesh_to_faces_packed_first_idx()
    cur_v = cur_f = 0
    for i in range(N):
        assert int(v_first[i]) == cur_v and int(f_first[i]) == cur_f
        assert torch.equal(vp[cur_v : cur_v + nv[i]], verts[i])
        assert torch.equal(fp[cur_f : cur_f + nf[i]], faces[i] + cur_v)
        assert bool((v_to_mesh[cur_v : cur_v + nv[i]] == i).all())
        assert bool((f_to_mesh[cur_f : cur_f + nf[i]] == i).all())
        assert torch.equal(vpad[i, : nv[i]], verts[i])
        assert float(vpad[i, nv[i] :].detach().abs().sum()) == 0.0
        assert torch.equal(fpad[i, : nf[i]], faces[i])
        assert bool((fpad[i, nf[i] :] == -1).all())
        cur_v += nv[i]
        cur_f += nf[i]
    assert vp.shape == (cur_v, 3) and fp.shape == (cur_f, 3)
    assert fp.dtype == fpad.dtype == torch.int64
    idx = m.verts_padded_to_packed_idx()
    assert torch.equal(vpad.reshape(-1, 3)[idx], vp)


class TestViews:
    def test_smoke(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces)
        assert not m.isempty()
        assert m.valid.tolist() == [True, False, False, True, True, False]
        assert not m.equisized

    def test_list_padded_packed_agree(self):
        verts, faces = _random_lists()
        _check_views(Meshes(verts, faces), verts, faces)
        # fresh object, padded first then packed (other order of lazy computation)
        m = Meshes(verts, faces)
        m.verts_padded()
        _check_views(m, verts, faces)

    def test_from_padded(self):
        verts, faces = _random_lists([(4, 3), (5, 1), (2, 0)])
        vpad = torch.zeros(3, 5, 3)
        fpad = torch.full((3, 3, 3), -1)
        for i, (v, f) in enumerate(zip(verts, faces)):
            vpad[i, : v.shape[0]] = v
            fpad[i, : f.shape[0]] = f
        m = Meshes(vpad, fpad)
        # every mesh of a padded input holds all V padded verts
        _check_views(m, [vpad[i] for i in range(3)], faces)
        assert m.valid.tolist() == [True, True, False]
        assert m.verts_padded() is vpad

    def test_empty(self):
        m = Meshes([], [])
        assert len(m) == 0 and m.isempty()
        assert m.verts_packed().shape == (0, 3) and m.faces_packed().shape == (0, 3)
        assert m.verts_padded().shape == (0, 0, 3) and m.faces_padded().shape == (0, 0, 3)
        assert m.edges_packed().shape == (0, 2)
        assert m.verts_normals_packed().shape == (0, 3)
        assert m.faces_normals_padded().shape == (0, 0, 3)
        assert m.verts_normals_list() == [] and m.faces_normals_list() == []
        assert m.faces_areas_packed().shape == (0,)
        assert m.get_bounding_boxes().shape == (0, 3, 2)
        assert m.laplacian_packed().shape == (0, 0)
        all_empty = Meshes([torch.zeros(0, 3)] * 2, [torch.zeros(0, 3, dtype=torch.long)] * 2)
        assert all_empty.isempty() and all_empty.verts_padded().shape == (2, 0, 3)
        assert all_empty.num_verts_per_mesh().tolist() == [0, 0]
        verts_only = Meshes([torch.rand(3, 3)], [torch.zeros(0, 3, dtype=torch.long)])
        assert verts_only.isempty() and verts_only.verts_packed().shape == (3, 3)
        assert float(verts_only.verts_normals_packed().abs().sum()) == 0.0

    def test_negative_face_rows_dropped(self):
        v = torch.rand(4, 3)
        m = Meshes([v], [torch.tensor([[0, 1, 2], [-1, -1, -1], [1, 2, 3]])])
        assert m.faces_list()[0].tolist() == [[0, 1, 2], [1, 2, 3]]

    def test_gradients_flow(self):
        verts, faces = _random_lists([(4, 2), (0, 0), (3, 1)])
        leaves = [v.clone().requires_grad_(True) for v in verts]
        m = Meshes(leaves, faces)
        (m.verts_padded() * 2).sum().backward()
        assert torch.equal(leaves[0].grad, torch.full((4, 3), 2.0))
        m = Meshes(leaves, faces)
        w = torch.randn(7, 3)
        for v in leaves:
            v.grad = None
        (m.verts_packed() * w).sum().backward()
        assert torch.equal(leaves[2].grad, w[4:])
        vpad = torch.randn(2, 4, 3, requires_grad=True)
        mp = Meshes(vpad, torch.tensor([[[0, 1, 2]], [[1, 2, 3]]]))
        (mp.verts_list()[1].sum() + mp.verts_packed().sum()).backward()
        assert torch.equal(vpad.grad, torch.tensor([1.0, 2.0])[:, None, None].expand(2, 4, 3))


class TestIndexing:
    @pytest.mark.parametrize(
        "index",
        [
            2,
            -1,
            slice(1, 5, 2),
            [0, 3, 3, 1],
            torch.tensor([4, 0, 1]),
            torch.tensor([True, False, True, True, False, True]),
        ],
    )
    def test_matches_reference(self, index):
        verts, faces = _random_lists()
        m = Meshes(verts, faces, textures=TexStub([torch.rand(v.shape[0], 1) for v in verts]))
        sub = m[index]
        if isinstance(index, int):
            sel = [index % len(verts)]
        elif isinstance(index, slice):
            sel = list(range(len(verts)))[index]
        elif torch.is_tensor(index) and index.dtype == torch.bool:
            sel = index.nonzero().flatten().tolist()
        else:
            sel = list(index) if isinstance(index, list) else index.tolist()
        _check_views(sub, [verts[i] for i in sel], [faces[i] for i in sel])
        assert sub.textures._N == len(sel)

    def test_exceptions(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces)
        with pytest.raises(IndexError):
            m[len(verts)]
        with pytest.raises(IndexError):
            m[torch.tensor([0.5])]
        with pytest.raises(IndexError):
            m["a"]
        with pytest.raises(IndexError):
            m[torch.tensor([True, False])]

    def test_iterate(self):
        verts, faces = _random_lists()
        got = [mesh.num_verts_per_mesh().tolist() for mesh in Meshes(verts, faces)]
        assert got == [[v.shape[0]] for v in verts]


class TestEdges:
    def test_matches_reference(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces)
        edges = m.edges_packed()
        want, want_mesh, offset = [], [], 0
        for i, f in enumerate(faces):
            s = set()
            for face in (f + offset).tolist():
                for k in range(3):
                    a, b = face[k], face[(k + 1) % 3]
                    s.add((min(a, b), max(a, b)))
            want += sorted(s)
            want_mesh += [i] * len(s)
            offset += verts[i].shape[0]
        assert edges.tolist() == [list(e) for e in want]
        assert m.edges_packed_to_mesh_idx().tolist() == want_mesh
        counts = [want_mesh.count(i) for i in range(len(verts))]
        assert m.num_edges_per_mesh().tolist() == counts
        assert m.mesh_to_edges_packed_first_idx().tolist() == list(np.cumsum([0] + counts[:-1]))
        # face -> edge map: edge k of a face is the one opposite its vertex k
        f2e = m.faces_packed_to_edges_packed()
        for face, fe in zip(m.faces_packed().tolist(), f2e.tolist()):
            for k in range(3):
                others = sorted(face[j] for j in range(3) if j != k)
                assert edges[fe[k]].tolist() == others


def _np_face_geometry(verts: np.ndarray, faces: np.ndarray):
    areas, normals = [], []
    vn = np.zeros_like(verts)
    for f in faces:
        n = np.cross(verts[f[1]] - verts[f[0]], verts[f[2]] - verts[f[0]])
        areas.append(0.5 * np.linalg.norm(n))
        normals.append(n / np.linalg.norm(n))
        for k in range(3):
            vn[f[k]] += n
    lens = np.linalg.norm(vn, axis=1, keepdims=True)
    vn = vn / np.maximum(lens, 1e-6)
    return np.array(areas), np.array(normals).reshape(-1, 3), vn


class TestNormalsAreas:
    def test_matches_reference(self):
        verts, faces = _random_lists(dtype=torch.float64)
        m = Meshes(verts, faces)
        areas, fn, vn = _np_face_geometry(m.verts_packed().numpy(), m.faces_packed().numpy())
        np.testing.assert_allclose(m.faces_areas_packed().numpy(), areas, rtol=1e-10)
        np.testing.assert_allclose(m.faces_normals_packed().numpy(), fn, atol=1e-10)
        np.testing.assert_allclose(m.verts_normals_packed().numpy(), vn, atol=1e-10)
        for i, (a, b) in enumerate(zip(m.verts_normals_list(), m.verts_list())):
            assert a.shape == b.shape
            assert torch.equal(m.verts_normals_padded()[i, : a.shape[0]], a)
        for i, a in enumerate(m.faces_normals_list()):
            assert a.shape == (faces[i].shape[0], 3)
            assert torch.equal(m.faces_normals_padded()[i, : a.shape[0]], a)

    def test_known_triangle(self):
        v = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0]])
        m = Meshes([v], [torch.tensor([[0, 1, 2]])])
        assert torch.allclose(m.faces_areas_packed(), torch.tensor([2.0]))
        assert torch.allclose(m.faces_normals_packed(), torch.tensor([[0.0, 0, 1]]))
        assert torch.allclose(m.verts_normals_packed(), torch.tensor([[0.0, 0, 1]] * 3))

    def test_given_normals(self):
        verts, faces = _random_lists([(4, 2), (3, 1)])
        normals = [torch.rand(4, 3), torch.rand(3, 3)]
        m = Meshes(verts, faces, verts_normals=normals)
        assert m.has_verts_normals()
        assert torch.equal(m.verts_normals_packed(), torch.cat(normals))
        padded = torch.rand(2, 4, 3)
        m2 = Meshes(verts, faces, verts_normals=padded)
        assert torch.equal(m2.verts_normals_list()[1], padded[1, :3])
        assert not Meshes(verts, faces).has_verts_normals()
        # a translation keeps given normals, a per-vertex offset recomputes them from geometry
        moved = m.offset_verts(torch.tensor([1.0, 2.0, 3.0]))
        assert torch.equal(moved.verts_normals_packed(), torch.cat(normals))
        bent = m.offset_verts(torch.randn(7, 3))
        want = Meshes(bent.verts_list(), faces).verts_normals_packed()
        torch.testing.assert_close(bent.verts_normals_packed(), want)

    def test_gradcheck(self):
        verts = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
        faces = torch.tensor([[0, 1, 2], [1, 3, 2], [2, 3, 4]])

        def vn(v):
            return Meshes([v], [faces]).verts_normals_packed()

        def fa(v):
            return Meshes([v], [faces]).faces_areas_packed()

        assert torch.autograd.gradcheck(vn, (verts,))
        assert torch.autograd.gradcheck(fa, (verts,))
        vpad = verts.detach()[None].clone().requires_grad_(True)
        padded = Meshes(vpad, faces[None])
        assert torch.autograd.gradcheck(
            lambda v: padded.update_padded(v).faces_areas_packed(), (vpad,)
        )


class TestLaplacianPacked:
    def test_matches_reference(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces)
        V = m.verts_packed().shape[0]
        nbrs = [set() for _ in range(V)]
        for f in m.faces_packed().tolist():
            for k in range(3):
                a, b = f[k], f[(k + 1) % 3]
                nbrs[a].add(b)
                nbrs[b].add(a)
        want = -np.eye(V)
        for i in range(V):
            for j in nbrs[i]:
                want[i, j] = 1.0 / len(nbrs[i])
        np.testing.assert_allclose(m.laplacian_packed().to_dense().numpy(), want, atol=1e-6)


class TestUpdates:
    def test_offset(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces)
        m.verts_padded()
        m.faces_areas_packed()
        offs = torch.randn(m.verts_packed().shape[0], 3)
        out = m.offset_verts(offs)
        _check_views(out, [v + o for v, o in zip(verts, offs.split([s for s, _ in SIZES]))], faces)
        _check_views(m, verts, faces)  # unchanged
        assert m.offset_verts_(offs) is m
        torch.testing.assert_close(m.verts_padded(), out.verts_padded())
        torch.testing.assert_close(m.faces_areas_packed(), out.faces_areas_packed())
        shift = torch.tensor([1.0, -2.0, 3.0])
        moved = out.offset_verts(shift)
        torch.testing.assert_close(moved.verts_packed(), out.verts_packed() + shift)

    def test_scale(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces)
        areas = m.faces_areas_packed().clone()
        s = m.scale_verts(2.0)
        torch.testing.assert_close(s.verts_packed(), 2 * m.verts_packed())
        torch.testing.assert_close(s.faces_areas_packed(), 4 * areas)
        per = torch.arange(1.0, 7.0)
        s2 = m.scale_verts(per)
        for i, v in enumerate(s2.verts_list()):
            torch.testing.assert_close(v, verts[i] * per[i])
        assert m.scale_verts_(3.0) is m
        torch.testing.assert_close(m.verts_padded()[0, :6], 3 * verts[0])
        with pytest.raises(ValueError, match="scale"):
            m.scale_verts(torch.ones(2))

    def test_update_padded(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces)
        m.verts_packed()
        m.edges_packed()
        nv = [v.shape[0] for v in verts]
        new = torch.randn_like(m.verts_padded())
        for i, n in enumerate(nv):
            new[i, n:] = 0.0
        u = m.update_padded(new)
        _check_views(u, [new[i, : nv[i]] for i in range(len(nv))], faces)
        assert u.edges_packed() is m.edges_packed()
        assert u.verts_padded() is new
        with pytest.raises(ValueError, match="new_verts_padded"):
            m.update_padded(torch.randn(2, 3, 3))


class TestCopies:
    def test_extend(self):
        verts, faces = _random_lists([(4, 2), (0, 0), (3, 1)])
        m = Meshes(
            verts, faces, textures=TexStub([torch.rand(4, 1), torch.rand(0, 1), torch.rand(3, 1)])
        )
        e = m.extend(2)
        _check_views(e, [v for v in verts for _ in range(2)], [f for f in faces for _ in range(2)])
        assert e.textures._N == 6
        with pytest.raises(ValueError, match="N"):
            m.extend(0)

    def test_split(self):
        verts, faces = _random_lists()
        parts = Meshes(verts, faces).split([2, 3, 1])
        assert [len(p) for p in parts] == [2, 3, 1]
        _check_views(parts[1], verts[2:5], faces[2:5])
        with pytest.raises(ValueError, match="split_sizes"):
            Meshes(verts, faces).split([1.5])

    def test_clone_detach(self):
        verts, faces = _random_lists()
        leaves = [v.requires_grad_(True) for v in verts]
        m = Meshes(leaves, faces)
        m.verts_padded()
        m.edges_packed()
        c = m.clone()
        _check_views(c, verts, faces)
        assert c.verts_packed().data_ptr() != m.verts_packed().data_ptr()
        d = m.detach()
        assert not d.verts_packed().requires_grad and not d.verts_list()[0].requires_grad
        assert torch.equal(d.edges_packed(), m.edges_packed())

    def test_to(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces)
        assert m.to("cpu") is m and m.cpu() is m
        assert m.to("cpu", copy=True) is not m
        m64 = m.to(torch.float64)
        assert m64.verts_packed().dtype == torch.float64
        assert m64.verts_list()[0].dtype == torch.float64
        assert m64.faces_packed().dtype == torch.int64
        torch.testing.assert_close(m64.verts_padded().float(), m.verts_padded())

    @pytest.mark.cuda
    def test_to_cuda(self):
        verts, faces = _random_lists()
        m = Meshes(verts, faces).cuda()
        assert m.device.type == "cuda" and m.verts_packed().is_cuda
        _check_views(m.cpu(), verts, faces)

    def test_get_mesh_verts_faces(self):
        verts, faces = _random_lists()
        v, f = Meshes(verts, faces).get_mesh_verts_faces(3)
        assert torch.equal(v, verts[3]) and torch.equal(f, faces[3])
        with pytest.raises(ValueError, match="index"):
            Meshes(verts, faces).get_mesh_verts_faces(6)

    def test_bounding_boxes(self):
        verts, faces = _random_lists()
        bb = Meshes(verts, faces).get_bounding_boxes()
        assert bb.shape == (6, 3, 2)
        for i, v in enumerate(verts):
            if v.shape[0]:
                assert torch.equal(bb[i, :, 0], v.min(0).values)
                assert torch.equal(bb[i, :, 1], v.max(0).values)
            else:
                assert float(bb[i].abs().sum()) == 0.0


class TestSubmeshes:
    def test_matches_reference(self):
        v = torch.randn(6, 3)
        f = torch.tensor([[0, 1, 2], [2, 3, 4], [4, 5, 0], [1, 3, 5]])
        m = Meshes([v, v[:3]], [f, f[:1]])
        sub = m.submeshes([[torch.tensor([1, 2]), torch.tensor([3])], [torch.tensor([0])]])
        assert len(sub) == 3
        # submesh 0 keeps faces 1, 2 -> verts {0, 2, 3, 4, 5}
        assert torch.equal(sub.verts_list()[0], v[[0, 2, 3, 4, 5]])
        kept = sub.verts_list()[0][sub.faces_list()[0]]
        assert torch.equal(kept, v[f[[1, 2]]])
        assert torch.equal(sub.verts_list()[1][sub.faces_list()[1]], v[f[[3]]])
        assert torch.equal(sub.verts_list()[2], v[:3])
        t = m.submeshes(torch.tensor([[[0, 1]], [[0, 0]]]))
        assert len(t) == 2 and t.num_faces_per_mesh().tolist() == [2, 2]

    def test_textures(self):
        v = torch.randn(4, 3)
        m = Meshes(
            [v], [torch.tensor([[0, 1, 2], [1, 2, 3]])], textures=TexStub([torch.arange(4.0)])
        )
        sub = m.submeshes([[torch.tensor([1])]])
        assert torch.equal(sub.textures.feats[0], torch.tensor([1.0, 2.0, 3.0]))

    def test_exceptions(self):
        m = Meshes([torch.rand(3, 3)], [torch.tensor([[0, 1, 2]])])
        with pytest.raises(ValueError, match="face_indices"):
            m.submeshes([[torch.tensor([0])], []])


class TestTextures:
    def test_sample_textures(self):
        verts, faces = _random_lists([(4, 2), (3, 1)])
        m = Meshes(verts, faces, textures=TexStub([torch.rand(4, 1), torch.rand(3, 1)]))
        out = m.sample_textures("frags")
        assert out[1] == "frags" and torch.equal(out[2], m.faces_packed())
        assert m.textures._num_verts_per_mesh == [4, 3]
        with pytest.raises(ValueError, match="(?i)textures"):
            Meshes(verts, faces).sample_textures("frags")
        with pytest.raises(ValueError, match="(?i)textures"):
            Meshes(verts, faces, textures=TexStub([torch.rand(4, 1)]))
        with pytest.raises(ValueError, match="(?i)textures"):
            Meshes(verts, faces, textures="red")


class TestJoin:
    def test_join_batch(self):
        v1, f1 = _random_lists([(4, 2), (0, 0)])
        v2, f2 = _random_lists([(3, 1)])
        t1, t2 = TexStub([torch.rand(4, 1), torch.rand(0, 1)]), TexStub([torch.rand(3, 1)])
        j = join_meshes_as_batch([Meshes(v1, f1, textures=t1), Meshes(v2, f2, textures=t2)])
        _check_views(j, v1 + v2, f1 + f2)
        assert j.textures._N == 3
        j2 = join_meshes_as_batch([Meshes(v1, f1, textures=t1), Meshes(v2, f2)], False)
        assert j2.textures is None
        with pytest.raises(ValueError, match="(?i)textures"):
            join_meshes_as_batch([Meshes(v1, f1, textures=t1), Meshes(v2, f2)])
        with pytest.raises(ValueError, match="list"):
            join_meshes_as_batch(Meshes(v1, f1))

    def test_join_scene(self):
        verts, faces = _random_lists([(4, 2), (0, 0), (3, 1)])
        m = Meshes(verts, faces, textures=TexStub([torch.rand(v.shape[0], 1) for v in verts]))
        s = join_meshes_as_scene(m)
        assert len(s) == 1
        assert torch.equal(s.verts_packed(), torch.cat(verts))
        assert torch.equal(s.faces_packed(), m.faces_packed())
        assert s.textures._N == 1
        s2 = join_meshes_as_scene([m[0], m[2]], include_textures=False)
        assert torch.equal(s2.faces_list()[0], torch.cat([faces[0], faces[2] + 4]))
        assert s2.textures is None
        assert join_meshes_as_scene(m[0]).verts_packed().shape == (4, 3)
        with pytest.raises(ValueError, match="include_textures"):
            join_meshes_as_scene(m, m)


class TestExceptions:
    def test_exceptions(self):
        v, f = torch.rand(4, 3), torch.tensor([[0, 1, 2]])
        with pytest.raises(TypeError, match=r"verts\[0\] must have dtype"):
            Meshes([v.long()], [f])
        with pytest.raises(ValueError, match=r"verts\[0\] must have shape"):
            Meshes([torch.rand(4, 2)], [f])
        # PyTorch3D casts float faces to int64 (torch.Tensor([[0, 1, 2]]) is common user code)
        assert Meshes([v], [f.float()]).faces_packed().dtype == torch.int64
        with pytest.raises(ValueError, match=r"faces\[1\] indexes vertex 4"):
            Meshes([v, v], [f, torch.tensor([[0, 1, 4]])])
        with pytest.raises(ValueError, match="one tensor per mesh"):
            Meshes([v, v], [f])
        with pytest.raises(ValueError, match="faces must have shape"):
            Meshes(torch.rand(2, 4, 3), torch.zeros(3, 1, 3, dtype=torch.long))
        with pytest.raises(ValueError, match="verts must have shape"):
            Meshes(torch.rand(2, 4, 4), torch.zeros(2, 1, 3, dtype=torch.long))
        with pytest.raises(ValueError, match="faces indexes vertex"):
            Meshes(torch.rand(1, 4, 3), torch.tensor([[[0, 1, 5]]]))
        with pytest.raises(ValueError, match="(?i)padding"):
            Meshes(torch.rand(1, 4, 3), torch.tensor([[[-1, -1, -1], [0, 1, 2]]]))
        with pytest.raises(TypeError, match="verts and faces"):
            Meshes([v], f)
        with pytest.raises(ValueError, match="verts_normals"):
            Meshes([v], [f], verts_normals=[torch.rand(3, 3)])
        with pytest.raises(ValueError, match="vert_offsets_packed"):
            Meshes([v], [f]).offset_verts(torch.rand(3, 3))


class TestTexturesVertex:
    """The same flows with the real TexturesVertex (skipped while textures.py is absent)."""

    def test_matches_reference(self):
        textures = pytest.importorskip("inverse3d.renderer.mesh.textures")
        verts, faces = _random_lists([(4, 2), (0, 0), (3, 1)])
        feats = [torch.rand(v.shape[0], 2) for v in verts]
        m = Meshes(verts, faces, textures=textures.TexturesVertex(feats))
        sub = m[[2, 0]]
        assert torch.equal(sub.textures.verts_features_list()[0], feats[2])
        ext = m.extend(2)
        assert torch.equal(ext.textures.verts_features_list()[5], feats[2])
        j = join_meshes_as_batch([m, m[0]])
        assert len(j.textures.verts_features_list()) == 4
        s = join_meshes_as_scene(m)
        assert torch.equal(s.textures.verts_features_packed(), torch.cat(feats))
        c = m.clone()
        assert torch.equal(c.textures.verts_features_packed(), torch.cat(feats))
        sm = m.submeshes([[torch.tensor([1])], [], [torch.tensor([0])]])
        kept = torch.unique(faces[0][1])
        assert torch.equal(sm.textures.verts_features_list()[0], feats[0][kept])
        assert torch.equal(sm.verts_list()[0], verts[0][kept])
        assert len(sm) == 2


@pytest.mark.cuda
class TestCuda:
    def test_matches_cpu(self):
        verts, faces = _random_lists()
        cpu = Meshes(verts, faces)
        gpu = Meshes([v.cuda() for v in verts], [f.cuda() for f in faces])
        _check_views(gpu.cpu(), verts, faces)
        for name in (
            "verts_packed",
            "verts_padded",
            "faces_padded",
            "edges_packed",
            "edges_packed_to_mesh_idx",
            "faces_packed_to_edges_packed",
            "num_edges_per_mesh",
            "verts_normals_padded",
            "faces_areas_packed",
            "get_bounding_boxes",
            "verts_padded_to_packed_idx",
        ):
            want, got = getattr(cpu, name)(), getattr(gpu, name)()
            assert got.is_cuda, name
            torch.testing.assert_close(got.cpu(), want, msg=name)
        torch.testing.assert_close(
            gpu.laplacian_packed().to_dense().cpu(), cpu.laplacian_packed().to_dense()
        )
        sub = gpu.submeshes([[torch.tensor([0, 1], device="cuda")], [], [], [], [], []])
        assert sub.verts_packed().is_cuda
        assert join_meshes_as_scene(gpu).verts_packed().is_cuda
        assert gpu[torch.tensor([True] * 6, device="cuda")].device.type == "cuda"
