"""Tests for inverse3d.structures.pointclouds against brute-force loops and analytic truth."""

from __future__ import annotations

import pytest
import torch

from inverse3d.structures.pointclouds import (
    Pointclouds,
    join_pointclouds_as_batch,
    join_pointclouds_as_scene,
)

SIZES = [4, 0, 7, 1, 0, 3]


def make_lists(sizes=SIZES, c=2, dtype=torch.float32, requires_grad=False):
    pts = [torch.randn(n, 3, dtype=dtype, requires_grad=requires_grad) for n in sizes]
    nrm = [torch.nn.functional.normalize(torch.randn(n, 3, dtype=dtype), dim=1) for n in sizes]
    feat = [torch.rand(n, c, dtype=dtype) for n in sizes]
    return pts, nrm, feat


def make_clouds(sizes=SIZES, c=2):
    pts, nrm, feat = make_lists(sizes, c)
    return Pointclouds(pts, normals=nrm, features=feat), (pts, nrm, feat)


def check_views(pc: Pointclouds, pts, nrm=None, feat=None, zero_padding=True):
    """Compare every view of `pc` with the list data by explicit loops."""
    n_clouds = len(pts)
    sizes = [p.shape[0] for p in pts]
    pmax = max(sizes, default=0)
    assert len(pc) == n_clouds
    assert pc.num_points_per_cloud().tolist() == sizes
    assert pc.valid.tolist() == [s > 0 for s in sizes]
    for name, data in (("points", pts), ("normals", nrm), ("features", feat)):
        if data is None:
            assert getattr(pc, name + "_list")() is None
            assert getattr(pc, name + "_packed")() is None
            assert getattr(pc, name + "_padded")() is None
            continue
        lst = getattr(pc, name + "_list")()
        packed = getattr(pc, name + "_packed")()
        padded = getattr(pc, name + "_padded")()
        c = data[0].shape[1] if data and data[0].dim() == 2 else 3
        assert padded.shape == (n_clouds, pmax, c)
        assert packed.shape == (sum(sizes), c)
        row = 0
        for i, d in enumerate(data):
            assert torch.equal(lst[i], d)
            assert torch.equal(padded[i, : sizes[i]], d)
            assert not zero_padding or bool((padded[i, sizes[i] :] == 0).all())
            assert torch.equal(packed[row : row + sizes[i]], d)
            row += sizes[i]
    cloud_idx = [i for i, s in enumerate(sizes) for _ in range(s)]
    assert pc.packed_to_cloud_idx().tolist() == cloud_idx
    firsts = [sum(sizes[:i]) for i in range(n_clouds)]
    assert pc.cloud_to_packed_first_idx().tolist() == firsts
    expect = [i * pmax + j for i, s in enumerate(sizes) for j in range(s)]
    assert pc.padded_to_packed_idx().tolist() == expect


class TestPointcloudsViews:
    def test_smoke(self):
        pc, _ = make_clouds()
        assert pc.points_packed().shape == (sum(SIZES), 3)
        assert not pc.isempty()

    def test_shapes(self):
        pc, _ = make_clouds(c=5)
        assert (pc._N, pc._P, pc._C) == (len(SIZES), max(SIZES), 5)
        assert not pc.equisized
        assert Pointclouds(torch.rand(2, 4, 3)).equisized
        assert pc.device == torch.device("cpu")

    def test_matches_reference(self):
        pc, (pts, nrm, feat) = make_clouds()
        check_views(pc, pts, nrm, feat)
        # same checks starting from the packed accessor first (other caching order)
        pc2 = Pointclouds(pts, normals=nrm, features=feat)
        pc2.points_packed()
        check_views(pc2, pts, nrm, feat)
        # without normals and features
        check_views(Pointclouds(pts), pts)

    def test_from_padded(self):
        x = torch.randn(3, 5, 3)
        f = torch.randn(3, 5, 4)
        pc = Pointclouds(x, features=f)
        check_views(pc, list(x.unbind(0)), None, list(f.unbind(0)))
        # a padded batch equals the list batch it came from
        pc_list = Pointclouds(list(x.unbind(0)), features=list(f.unbind(0)))
        assert torch.equal(pc.points_packed(), pc_list.points_packed())
        assert torch.equal(pc.features_padded(), pc_list.features_padded())

    def test_empty(self):
        pc = Pointclouds([])
        assert len(pc) == 0 and pc.isempty()
        assert pc.points_packed().shape == (0, 3)
        assert pc.points_padded().shape == (0, 0, 3)
        assert pc.points_list() == []
        assert pc.padded_to_packed_idx().numel() == 0
        assert pc.get_bounding_boxes().shape == (0, 3, 2)
        all_empty = Pointclouds([torch.zeros(0, 3), torch.tensor([])], features=[None, None])
        assert all_empty.isempty()
        assert all_empty.points_padded().shape == (2, 0, 3)
        assert all_empty.points_packed().shape == (0, 3)
        assert all_empty.features_list() is None
        # an empty cloud given as an empty 1-D tensor keeps the batch dtype
        pc = Pointclouds([torch.zeros(2, 3, dtype=torch.float64), torch.tensor([])])
        assert pc.points_list()[1].shape == (0, 3)
        assert pc.points_packed().dtype == torch.float64

    def test_exceptions(self):
        with pytest.raises(ValueError, match="points"):
            Pointclouds([torch.rand(3, 2)])
        with pytest.raises(ValueError, match="points"):
            Pointclouds(torch.rand(2, 3))
        with pytest.raises(TypeError, match="points"):
            Pointclouds("abc")
        with pytest.raises(TypeError, match="points"):
            Pointclouds([torch.rand(3, 3), [1.0, 2.0, 3.0]])
        pts = [torch.rand(3, 3), torch.rand(2, 3)]
        with pytest.raises(ValueError, match="normals"):
            Pointclouds(pts, normals=[torch.rand(3, 3)])
        with pytest.raises(ValueError, match="normals"):
            Pointclouds(pts, normals=[torch.rand(3, 3), torch.rand(4, 3)])
        with pytest.raises(ValueError, match="normals"):
            Pointclouds(pts, normals=[torch.rand(3, 2), torch.rand(2, 2)])
        with pytest.raises(ValueError, match="features"):
            Pointclouds(pts, features=[torch.rand(3, 2), torch.rand(2, 5)])
        with pytest.raises(ValueError, match="features"):
            Pointclouds(torch.rand(2, 4, 3), features=torch.rand(2, 3, 1))
        with pytest.raises(TypeError, match="features"):
            Pointclouds(pts, features="rgb")

    def test_gradcheck(self):
        sizes = [2, 0, 3]

        def from_list(*ts):
            pc = Pointclouds(list(ts[:3]), features=list(ts[3:]))
            return pc.points_padded(), pc.points_packed(), pc.features_padded()

        pts = [torch.randn(n, 3, dtype=torch.float64, requires_grad=True) for n in sizes]
        feat = [torch.randn(n, 2, dtype=torch.float64, requires_grad=True) for n in sizes]
        assert torch.autograd.gradcheck(from_list, (*pts, *feat))

        def from_padded(x):
            pc = Pointclouds(x)
            pc2 = pc.update_padded(x * 2.0)
            return pc.points_packed(), torch.cat(pc.points_list()), pc2.points_packed()

        x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(from_padded, (x,))

        def normals_views(n):
            pc = Pointclouds(torch.zeros(2, 3, 3, dtype=torch.float64), normals=n)
            pc = pc.update_padded(pc.points_padded())  # shares the normals
            return pc[1].normals_packed(), torch.cat(pc.normals_list()), pc.normals_padded()

        n = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(normals_views, (n,))


class TestPointcloudsGetitem:
    def test_matches_reference(self):
        pc, (pts, nrm, feat) = make_clouds()
        bool_index = torch.zeros(len(SIZES), dtype=torch.bool)
        bool_index[[0, 2, 3]] = True
        cases = [
            (2, [2]),
            (-1, [len(SIZES) - 1]),
            (slice(1, 5, 2), [1, 3]),
            ([0, 2, 2], [0, 2, 2]),
            ([5, 0, 1], [5, 0, 1]),
            (torch.tensor([3, 1]), [3, 1]),
            (bool_index, [0, 2, 3]),
        ]
        for index, ids in cases:
            sub = pc[index]
            assert isinstance(sub, Pointclouds)
            check_views(sub, [pts[i] for i in ids], [nrm[i] for i in ids], [feat[i] for i in ids])

    def test_exceptions(self):
        pc, _ = make_clouds()
        with pytest.raises(IndexError):
            pc[torch.tensor([0.0, 1.0])]
        with pytest.raises(IndexError):
            pc[torch.zeros(2, 2, dtype=torch.int64)]
        with pytest.raises(IndexError):
            pc[len(SIZES)]
        with pytest.raises(IndexError):
            pc["a"]
        with pytest.raises(IndexError):
            pc[torch.ones(2, dtype=torch.bool)]


class TestPointcloudsCopies:
    def test_clone_detach_to(self):
        pts, nrm, feat = make_lists(requires_grad=True)
        pc = Pointclouds(pts, normals=nrm, features=feat)
        pc.points_padded()
        other = pc.clone()
        check_views(other, [p.detach() for p in pts], nrm, feat)
        with torch.no_grad():
            other.points_list()[0].add_(10.0)
        assert not torch.equal(other.points_list()[0], pts[0])
        det = pc.detach()
        assert not det.points_packed().requires_grad
        assert pc.points_packed().requires_grad
        assert pc.to("cpu") is pc and pc.cpu() is pc
        copied = pc.to("cpu", copy=True)
        assert copied is not pc
        assert torch.equal(copied.points_packed(), pc.points_packed())

    def test_get_cloud_and_split(self):
        pc, (pts, nrm, feat) = make_clouds()
        p, n, f = pc.get_cloud(2)
        assert torch.equal(p, pts[2]) and torch.equal(n, nrm[2]) and torch.equal(f, feat[2])
        assert Pointclouds(pts).get_cloud(0)[1] is None
        with pytest.raises(ValueError, match="index"):
            pc.get_cloud(len(SIZES))
        with pytest.raises(TypeError, match="index"):
            pc.get_cloud(1.0)
        parts = pc.split([2, 3, 1])
        assert [len(x) for x in parts] == [2, 3, 1]
        check_views(parts[1], pts[2:5], nrm[2:5], feat[2:5])
        with pytest.raises(ValueError, match="split_sizes"):
            pc.split([1.5, 2])

    def test_extend(self):
        pc, (pts, nrm, feat) = make_clouds()
        ext = pc.extend(2)
        ids = [i for i in range(len(SIZES)) for _ in range(2)]
        check_views(ext, [pts[i] for i in ids], [nrm[i] for i in ids], [feat[i] for i in ids])
        with pytest.raises(ValueError, match="N"):
            pc.extend(0)
        with pytest.raises(TypeError, match="N"):
            pc.extend(2.0)


class TestPointcloudsOffsetScale:
    def test_matches_reference(self):
        pc, (pts, nrm, feat) = make_clouds()
        pc.points_padded()  # make sure a cached padded view gets refreshed
        total = sum(SIZES)
        off = torch.randn(total, 3)
        moved = pc.offset(off)
        chunks = off.split(SIZES)
        check_views(moved, [p + o for p, o in zip(pts, chunks)], nrm, feat)
        check_views(pc, pts, nrm, feat)  # out of place left pc alone
        v = torch.tensor([1.0, -2.0, 0.5])
        pc.offset_(v)
        check_views(pc, [p + v for p in pts], nrm, feat)
        scales = torch.rand(len(SIZES)) + 0.5
        scaled = Pointclouds(pts).scale(scales)
        check_views(scaled, [p * s for p, s in zip(pts, scales)])
        check_views(Pointclouds(pts).scale(3.0), [p * 3.0 for p in pts])

    def test_exceptions(self):
        pc, _ = make_clouds()
        with pytest.raises(ValueError, match="offsets_packed"):
            pc.offset(torch.zeros(2, 3))
        with pytest.raises(ValueError, match="scale"):
            pc.scale(torch.ones(2))
        with pytest.raises(TypeError, match="scale"):
            pc.scale("x")

    def test_gradcheck(self):
        def fn(x, off, s):
            pc = Pointclouds(x).update_padded(x)  # padded input
            return pc.offset(off).scale(s).points_padded()

        x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
        off = torch.randn(3, dtype=torch.float64, requires_grad=True)
        s = torch.rand(2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(fn, (x, off, s))


class TestPointcloudsSubsample:
    def test_matches_reference(self):
        sizes = [10, 0, 3, 25]
        pc, (pts, nrm, feat) = make_clouds(sizes)
        sub = pc.subsample(5)
        assert sub.num_points_per_cloud().tolist() == [5, 0, 3, 5]
        for i in range(len(sizes)):
            p, n, f = sub.get_cloud(i)
            # every kept point is an original point, no point twice, attributes follow it
            for row in range(p.shape[0]):
                hits = (pts[i] == p[row]).all(1).nonzero().reshape(-1)
                assert hits.numel() == 1
                j = int(hits[0])
                assert torch.equal(nrm[i][j], n[row]) and torch.equal(feat[i][j], f[row])
            assert torch.unique(p, dim=0).shape[0] == p.shape[0]
        assert torch.equal(sub.points_list()[2], pts[2])  # small cloud kept as is
        per_cloud = pc.subsample([2, 0, 1, 30])
        assert per_cloud.num_points_per_cloud().tolist() == [2, 0, 1, 25]
        assert torch.equal(per_cloud.points_list()[3], pts[3])
        assert pc.subsample(100) is pc
        # the draw is random: two draws of a large cloud differ
        big = Pointclouds([torch.randn(200, 3)])
        a, b = big.subsample(50).points_packed(), big.subsample(50).points_packed()
        assert not torch.equal(a, b)

    def test_exceptions(self):
        pc, _ = make_clouds()
        with pytest.raises(ValueError, match="max_points"):
            pc.subsample([1, 2])
        with pytest.raises(ValueError, match="max_points"):
            pc.subsample(-1)
        with pytest.raises(TypeError, match="max_points"):
            pc.subsample(2.5)


class TestPointcloudsBoundingBoxes:
    def test_matches_reference(self):
        pc, (pts, _, _) = make_clouds()
        boxes = pc.get_bounding_boxes()
        assert boxes.shape == (len(SIZES), 3, 2)
        for i, p in enumerate(pts):
            if p.shape[0] == 0:
                assert bool((boxes[i] == 0).all())
                continue
            for j in range(3):
                assert boxes[i, j, 0] == min(float(v) for v in p[:, j])
                assert boxes[i, j, 1] == max(float(v) for v in p[:, j])

    def test_gradcheck(self):
        x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: Pointclouds(t).get_bounding_boxes(), (x,))


class TestPointcloudsInsideBox:
    def test_matches_reference(self):
        pc, (pts, _, _) = make_clouds()
        box = torch.tensor([[-0.5, -1.0, -0.3], [1.0, 0.7, 2.0]])
        boxes = torch.stack([-torch.rand(len(SIZES), 3) - 0.3, torch.rand(len(SIZES), 3) + 0.3], 1)
        for b, per_cloud in ((box, False), (box[None], False), (boxes, True)):
            got = pc.inside_box(b)
            expect = []
            for i, p in enumerate(pts):
                lo, hi = (boxes[i, 0], boxes[i, 1]) if per_cloud else (box[0], box[1])
                for q in p:
                    expect.append(all(lo[k] <= q[k] <= hi[k] for k in range(3)))
            assert got.dtype == torch.bool
            assert got.tolist() == expect
        assert any(pc.inside_box(boxes).tolist())
        assert not all(pc.inside_box(boxes).tolist())

    def test_exceptions(self):
        pc, _ = make_clouds()
        with pytest.raises(ValueError, match="box"):
            pc.inside_box(torch.zeros(2, 2, 3))
        with pytest.raises(ValueError, match="box"):
            pc.inside_box(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))
        with pytest.raises(TypeError, match="box"):
            pc.inside_box([[0, 0, 0], [1, 1, 1]])


def _sphere(n):
    return torch.nn.functional.normalize(torch.randn(n, 3, dtype=torch.float64), dim=1)


class TestPointcloudsEstimateNormals:
    def test_smoke(self):
        pc, _ = make_clouds([20, 0, 15])
        normals = pc.estimate_normals(neighborhood_size=5)
        assert normals.shape == (3, 20, 3)
        assert bool((normals[1] == 0).all()) and bool((normals[2, 15:] == 0).all())

    def test_matches_reference_plane(self):
        # points on the plane n . x = 0.3 for a tilted unit normal n
        n = torch.nn.functional.normalize(
            torch.tensor([0.3, -0.4, 0.8], dtype=torch.float64), dim=0
        )
        u = torch.nn.functional.normalize(
            torch.linalg.cross(n, torch.tensor([1.0, 0, 0]).double()), dim=0
        )
        v = torch.linalg.cross(n, u)
        ab = torch.rand(300, 2, dtype=torch.float64) * 4 - 2
        plane = ab[:, :1] * u + ab[:, 1:] * v + 0.3 * n
        est = Pointclouds([plane]).estimate_normals(neighborhood_size=12)[0]
        cos = (est @ n).abs()
        assert float(cos.min()) > 1 - 1e-8
        assert torch.allclose(est.norm(dim=1), torch.ones(300, dtype=torch.float64))

    def test_matches_reference_sphere(self):
        pts = [_sphere(1500), torch.zeros(0, 3, dtype=torch.float64), 2.0 * _sphere(900)]
        pc = Pointclouds(pts)
        est = pc.estimate_normals(neighborhood_size=16, assign_to_self=True)
        for i in (0, 2):
            normals, p = est[i, : pts[i].shape[0]], pts[i]
            radial = torch.nn.functional.normalize(p, dim=1)
            dots = (normals * radial).sum(1)
            assert float(dots.abs().min()) > 0.97
            # disambiguated: every normal points to the same side (inwards: the concave side)
            assert bool((dots < 0).all())
        assert torch.equal(pc.normals_padded(), est)
        assert torch.equal(pc.normals_list()[2], est[2, :900])
        # without disambiguation both orientations appear
        raw = Pointclouds(pts[:1]).estimate_normals(16, disambiguate_directions=False)[0]
        signs = (raw * pts[0]).sum(1) > 0
        assert bool(signs.any()) and bool((~signs).any())

    def test_exceptions(self):
        pc = Pointclouds([torch.rand(5, 3), torch.rand(30, 3)])
        with pytest.raises(ValueError, match="neighborhood_size"):
            pc.estimate_normals(neighborhood_size=5)
        with pytest.raises(ValueError, match="neighborhood_size"):
            pc.estimate_normals(neighborhood_size=0)
        with pytest.raises(TypeError, match="neighborhood_size"):
            pc.estimate_normals(neighborhood_size=2.0)

    def test_gradcheck(self):
        torch.manual_seed(3)
        x = torch.randn(1, 8, 3, dtype=torch.float64)
        x[..., 2] *= 0.1  # a flattened blob: well-separated eigenvalues
        x.requires_grad_(True)

        def fn(t):
            n = Pointclouds(t).estimate_normals(neighborhood_size=5)
            return n * n[..., 2:3].sign()  # remove the sign ambiguity

        assert torch.autograd.gradcheck(fn, (x,), atol=1e-6)


class TestPointcloudsUpdatePadded:
    def test_matches_reference(self):
        pc, (pts, nrm, feat) = make_clouds()
        new_pts = torch.randn(len(SIZES), max(SIZES), 3)
        new = pc.update_padded(new_pts)
        check_views(new, [new_pts[i, :n] for i, n in enumerate(SIZES)], nrm, feat, False)
        assert new.points_padded() is new_pts
        new_feat = torch.randn(len(SIZES), max(SIZES), 2)
        new2 = pc.update_padded(new_pts, new_features_padded=new_feat)
        check_views(
            new2,
            [new_pts[i, :n] for i, n in enumerate(SIZES)],
            nrm,
            [new_feat[i, :n] for i, n in enumerate(SIZES)],
            zero_padding=False,
        )

    def test_adds_features(self):
        pc = Pointclouds([torch.rand(3, 3), torch.rand(1, 3)])
        feat = torch.rand(2, 3, 4)
        new = pc.update_padded(pc.points_padded(), new_features_padded=feat)
        assert new._C == 4
        assert torch.equal(new.features_packed(), torch.cat([feat[0], feat[1, :1]]))

    def test_exceptions(self):
        pc, _ = make_clouds()
        with pytest.raises(ValueError, match="new_points_padded"):
            pc.update_padded(torch.zeros(2, max(SIZES), 3))
        with pytest.raises(ValueError, match="new_features_padded"):
            pc.update_padded(pc.points_padded(), new_features_padded=torch.zeros(6, 7, 5))


class TestJoinPointclouds:
    def test_matches_reference(self):
        a, (pa, na, fa) = make_clouds([3, 0])
        b, (pb, nb, fb) = make_clouds([2, 5, 1])
        batch = join_pointclouds_as_batch([a, b])
        check_views(batch, pa + pb, na + nb, fa + fb)
        scene = join_pointclouds_as_scene([a, b])
        check_views(scene, [torch.cat(pa + pb)], [torch.cat(na + nb)], [torch.cat(fa + fb)])
        scene2 = join_pointclouds_as_scene(batch)
        assert torch.equal(scene2.points_packed(), scene.points_packed())
        single = Pointclouds([torch.rand(4, 3)])
        assert join_pointclouds_as_scene(single) is single

    def test_exceptions(self):
        a, _ = make_clouds([3, 2])
        no_normals = Pointclouds([torch.rand(3, 3)], features=[torch.rand(3, 2)])
        with pytest.raises(ValueError, match="normals"):
            join_pointclouds_as_batch([a, no_normals])
        c3 = Pointclouds(
            [torch.rand(3, 3)], normals=[torch.rand(3, 3)], features=[torch.rand(3, 3)]
        )
        with pytest.raises(ValueError, match="feature"):
            join_pointclouds_as_batch([a, c3])
        with pytest.raises(TypeError, match="pointclouds"):
            join_pointclouds_as_batch(a)
        with pytest.raises(ValueError, match="pointclouds"):
            join_pointclouds_as_batch([])


@pytest.mark.cuda
class TestPointcloudsCuda:
    def test_smoke(self):
        pc, (pts, nrm, feat) = make_clouds()
        gpu = pc.cuda()
        assert gpu.device.type == "cuda" and gpu.points_padded().is_cuda
        check_views(gpu.cpu(), pts, nrm, feat)
        built = Pointclouds([p.cuda() for p in pts], features=[f.cuda() for f in feat])
        assert built.points_packed().is_cuda and built.padded_to_packed_idx().is_cuda
        assert built.packed_to_cloud_idx().is_cuda and built.get_bounding_boxes().is_cuda
        assert built.subsample(2).points_packed().is_cuda
        box = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], device="cuda")
        inside = built.inside_box(box)
        assert inside.is_cuda
        assert inside.tolist() == Pointclouds(pts).inside_box(box.cpu()).tolist()
        sphere = Pointclouds([_sphere(500).cuda(), torch.zeros(0, 3, dtype=torch.float64).cuda()])
        normals = sphere.estimate_normals(neighborhood_size=10)
        assert normals.is_cuda
        ref = Pointclouds([p.cpu() for p in sphere.points_list()]).estimate_normals(10)
        assert torch.allclose(normals.cpu(), ref, atol=1e-6)
        joined = join_pointclouds_as_scene([built, built])
        assert joined.points_packed().is_cuda
