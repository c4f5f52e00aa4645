"""Tests for inverse3d.structures.volumes: hand-computed coordinates, grid_sample convention,
round trips and list/padded consistency."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inverse3d.structures.volumes import VolumeLocator, Volumes

SHAPES = [(2, 3, 4), (3, 2, 5), (2, 4, 2)]  # (D, H, W)


def make_list(channels=2, dtype=torch.float32):
    return [torch.rand(channels, *s, dtype=dtype) for s in SHAPES]


def local_axis(i, g, align_corners):
    """Hand formula for the local coordinate of voxel i on an axis of g voxels."""
    if align_corners:
        return -1.0 + 2.0 * i / max(g - 1, 1)
    return -1.0 + (2.0 * i + 1.0) / g


class TestVolumesConstruction:
    def test_smoke(self):
        v = Volumes(torch.rand(2, 1, 3, 4, 5))
        assert len(v) == 2 and v.features() is None and v.features_list() is None
        assert v.get_align_corners() is True
        assert isinstance(v.locator, VolumeLocator)

    def test_shapes(self):
        dens = make_list(2)
        feats = make_list(4)
        v = Volumes(dens, features=feats)
        assert v.densities().shape == (3, 2, 3, 4, 5)
        assert v.features().shape == (3, 4, 3, 4, 5)
        assert v.get_grid_sizes().tolist() == [list(s) for s in SHAPES]
        assert v.get_grid_sizes().dtype == torch.int64

    def test_matches_reference(self):
        # list -> padded -> list is the identity; the padding is zero
        dens, feats = make_list(2), make_list(3)
        v = Volumes(dens, features=feats)
        for i, (d, f) in enumerate(zip(dens, feats)):
            assert torch.equal(v.densities_list()[i], d)
            assert torch.equal(v.features_list()[i], f)
            D, H, W = SHAPES[i]
            padded = v.densities()[i].clone()
            padded[:, :D, :H, :W] = 0
            assert bool((padded == 0).all())
        # a padded batch and the list of its items agree
        x = torch.rand(2, 1, 3, 4, 5)
        a, b = Volumes(x), Volumes(list(x.unbind(0)))
        assert torch.equal(a.densities(), b.densities())
        assert torch.equal(a.get_grid_sizes(), b.get_grid_sizes())
        assert torch.equal(a.get_coord_grid(), b.get_coord_grid())

    def test_exceptions(self):
        with pytest.raises(ValueError, match="densities"):
            Volumes(torch.rand(1, 3, 4, 5))
        with pytest.raises(ValueError, match="densities"):
            Volumes([torch.rand(1, 3, 4, 5), torch.rand(2, 3, 4, 5)])
        with pytest.raises(ValueError, match="densities"):
            Volumes([torch.rand(3, 4, 5)])
        with pytest.raises(ValueError, match="densities"):
            Volumes([])
        with pytest.raises(TypeError, match="densities"):
            Volumes("grid")
        with pytest.raises(ValueError, match="features"):
            Volumes(torch.rand(2, 1, 3, 4, 5), features=torch.rand(2, 3, 3, 4, 4))
        with pytest.raises(ValueError, match="features"):
            Volumes(torch.rand(2, 1, 3, 4, 5), features=torch.rand(3, 3, 3, 4, 5))
        with pytest.raises(ValueError, match="features"):
            Volumes(make_list(), features=[torch.rand(2, *s) for s in SHAPES[::-1]])
        with pytest.raises(ValueError, match="voxel_size"):
            Volumes(torch.rand(2, 1, 3, 4, 5), voxel_size=-0.5)
        with pytest.raises(ValueError, match="voxel_size"):
            Volumes(torch.rand(2, 1, 3, 4, 5), voxel_size=torch.tensor([1.0, 0.0, 1.0]))
        with pytest.raises(ValueError, match="voxel_size"):
            Volumes(torch.rand(2, 1, 3, 4, 5), voxel_size=torch.ones(3, 3))
        with pytest.raises(ValueError, match="volume_translation"):
            Volumes(torch.rand(2, 1, 3, 4, 5), volume_translation=(1.0, 2.0))
        with pytest.raises(ValueError, match="volume_translation"):
            Volumes(torch.rand(2, 1, 3, 4, 5), volume_translation=torch.zeros(5, 3))
        with pytest.raises(TypeError, match="align_corners"):
            Volumes(torch.rand(2, 1, 3, 4, 5), align_corners=1)


class TestVolumesCoordGrid:
    @pytest.mark.parametrize("align_corners", [True, False])
    def test_matches_reference(self, align_corners):
        vs = torch.tensor([[0.5, 1.0, 2.0], [1.5, 0.25, 1.0], [1.0, 1.0, 1.0]])
        tr = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [3.0, 1.0, -1.0]])
        v = Volumes(make_list(1), voxel_size=vs, volume_translation=tr, align_corners=align_corners)
        local = v.get_coord_grid(world_coordinates=False)
        world = v.get_coord_grid(world_coordinates=True)
        assert local.shape == world.shape == (3, 3, 4, 5, 3)
        for b, (D, H, W) in enumerate(SHAPES):
            for z, y, x in [(0, 0, 0), (D - 1, H - 1, W - 1), (D - 1, 0, W // 2), (0, H - 1, 1)]:
                want_local = [
                    local_axis(x, W, align_corners),
                    local_axis(y, H, align_corners),
                    local_axis(z, D, align_corners),
                ]
                assert torch.allclose(local[b, z, y, x], torch.tensor(want_local))
                # PyTorch3D's VolumeLocator: world = local * (size_xyz - 1) / 2 * vs - t
                size_xyz = [W, H, D]
                want_world = [
                    want_local[k] * (size_xyz[k] - 1) * 0.5 * float(vs[b, k]) - float(tr[b, k])
                    for k in range(3)
                ]
                assert torch.allclose(world[b, z, y, x], torch.tensor(want_world), atol=1e-6)
        if align_corners:  # the corner voxels sit at +-1
            assert torch.allclose(local[0, 0, 0, 0], -torch.ones(3))
            assert torch.allclose(local[0, 1, 2, 3], torch.ones(3))

    def test_single_voxel_axis(self):
        # an axis of one voxel: every coordinate along it maps to the volume centre -t
        v = Volumes(torch.rand(1, 1, 1, 3, 3), volume_translation=(0.5, 1.0, 2.0))
        assert torch.allclose(v.get_coord_grid()[..., 2], torch.tensor(-2.0))
        d = torch.rand(1, 1, 1, 3, 3)
        grid = v.get_coord_grid(world_coordinates=False)
        assert torch.allclose(F.grid_sample(d, grid, align_corners=True), d)

    def test_pytorch3d_doc_example(self):
        # 5x5x5 volume, voxel_size 1: x_world (-2, 0, 2) <-> x_local (-1, 0, 1)
        v = Volumes(torch.rand(1, 1, 5, 5, 5))
        local = v.world_to_local_coords(torch.tensor([[[-2.0, 0.0, 2.0]]]))
        assert torch.allclose(local, torch.tensor([[[-1.0, 0.0, 1.0]]]))

    @pytest.mark.parametrize("align_corners", [True, False])
    def test_convention_grid_sample(self, align_corners):
        dens = torch.rand(2, 3, 4, 5, 6, dtype=torch.float64)
        v = Volumes(dens, voxel_size=0.3, volume_translation=(0.2, -1.0, 0.4),
                    align_corners=align_corners)  # fmt: skip
        grid = v.get_coord_grid(world_coordinates=False)
        sampled = F.grid_sample(dens, grid, align_corners=align_corners, mode="bilinear")
        assert torch.allclose(sampled, dens)
        # world coordinates mapped back to local sample the same voxels
        back = v.world_to_local_coords(v.get_coord_grid(world_coordinates=True))
        sampled = F.grid_sample(dens, back, align_corners=align_corners, mode="nearest")
        assert torch.equal(sampled, dens)
        # one voxel picked by its world position
        pos = v.get_coord_grid()[1, 2, 3, 4]
        loc = v.world_to_local_coords(pos.expand(2, 1, 1, 1, 3).contiguous())
        val = F.grid_sample(dens, loc, align_corners=align_corners)
        assert torch.allclose(val[1, :, 0, 0, 0], dens[1, :, 2, 3, 4])

    @pytest.mark.parametrize("align_corners", [True, False])
    def test_heterogeneous_grid_matches_single(self, align_corners):
        dens = make_list(1)
        v = Volumes(dens, voxel_size=0.7, align_corners=align_corners)
        grid = v.get_coord_grid()
        for i, (D, H, W) in enumerate(SHAPES):
            alone = Volumes(dens[i][None], voxel_size=0.7, align_corners=align_corners)
            assert torch.allclose(grid[i, :D, :H, :W], alone.get_coord_grid()[0])

    def test_round_trip(self):
        v = Volumes(
            make_list(1),
            voxel_size=torch.rand(3, 3) + 0.1,
            volume_translation=torch.randn(3, 3),
        )
        pts = torch.randn(3, 7, 2, 3)
        assert torch.allclose(v.local_to_world_coords(v.world_to_local_coords(pts)), pts, atol=1e-5)
        assert torch.allclose(v.world_to_local_coords(v.local_to_world_coords(pts)), pts, atol=1e-5)
        # one volume broadcasts over a batch of points
        one = v[0]
        assert one.world_to_local_coords(pts).shape == pts.shape

    def test_transform3d(self):
        pytest.importorskip("inverse3d.transforms.transform3d")
        v = Volumes(make_list(1), voxel_size=torch.rand(3, 3) + 0.1,
                    volume_translation=torch.randn(3, 3))  # fmt: skip
        pts = torch.randn(3, 10, 3)
        l2w = v.get_local_to_world_coords_transform().transform_points(pts)
        assert torch.allclose(l2w, v.local_to_world_coords(pts), atol=1e-5)
        w2l = v.get_world_to_local_coords_transform().transform_points(pts)
        assert torch.allclose(w2l, v.world_to_local_coords(pts), atol=1e-4)

    def test_exceptions(self):
        v = Volumes(make_list(1))
        with pytest.raises(ValueError, match="points_3d_world"):
            v.world_to_local_coords(torch.rand(3, 5, 2))
        with pytest.raises(ValueError, match="points_3d_local"):
            v.local_to_world_coords(torch.rand(2, 5, 3))
        with pytest.raises(TypeError, match="points_3d_local"):
            v.local_to_world_coords([0.0, 0.0, 0.0])

    def test_gradcheck(self):
        vs = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
        tr = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
        pts = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)

        def fn(vs, tr, pts):
            v = Volumes(torch.rand(2, 1, 2, 3, 4, dtype=torch.float64), voxel_size=vs,
                        volume_translation=tr)  # fmt: skip
            return v.world_to_local_coords(pts), v.get_coord_grid()

        assert torch.autograd.gradcheck(fn, (vs, tr, pts))


class TestVolumesIndexingAndCopies:
    def test_getitem(self):
        dens, feats = make_list(1), make_list(2)
        vs = torch.rand(3, 3) + 0.5
        v = Volumes(dens, features=feats, voxel_size=vs, align_corners=False)
        mask = torch.tensor([True, False, True])
        for index, ids in [
            (1, [1]),
            (-1, [2]),
            (slice(0, 2), [0, 1]),
            ([2, 0], [2, 0]),
            (torch.tensor([0, 2]), [0, 2]),
            (mask, [0, 2]),
        ]:
            sub = v[index]
            assert len(sub) == len(ids)
            assert sub.get_align_corners() is False
            assert sub.get_grid_sizes().tolist() == [list(SHAPES[i]) for i in ids]
            for j, i in enumerate(ids):
                assert torch.equal(sub.densities_list()[j], dens[i])
                assert torch.equal(sub.features_list()[j], feats[i])
            grid = v.get_coord_grid()[ids]
            assert torch.allclose(sub.get_coord_grid(), grid)
        with pytest.raises(IndexError):
            v[3]
        with pytest.raises(IndexError):
            v[torch.tensor([0.5])]
        with pytest.raises(IndexError):
            v["a"]

    def test_update_padded(self):
        v = Volumes(make_list(1), features=make_list(2), voxel_size=0.5)
        new = torch.rand(3, 4, 3, 4, 5)
        u = v.update_padded(new)
        assert u.densities() is new and u.features() is None
        assert torch.equal(u.get_grid_sizes(), v.get_grid_sizes())
        assert torch.equal(u.get_coord_grid(), v.get_coord_grid())
        assert torch.equal(u.densities_list()[1], new[1, :, :3, :2, :5])
        u2 = v.update_padded(new, new_features=torch.rand(3, 1, 3, 4, 5))
        assert u2.features().shape == (3, 1, 3, 4, 5)
        assert v.densities().shape[1] == 1  # the original is untouched
        # a list is padded to the padded size of the batch, also after selecting a subset
        sub = v[[0, 2]]
        u3 = sub.update_padded([torch.ones(1, *SHAPES[i]) for i in (0, 2)])
        assert u3.densities().shape == (2, 1, 3, 4, 5)
        assert torch.equal(u3.densities_list()[1], torch.ones(1, *SHAPES[2]))
        with pytest.raises(ValueError, match="densities"):
            v.update_padded(torch.rand(3, 1, 3, 4, 4))
        with pytest.raises(ValueError, match="features"):
            v.update_padded(new, new_features=torch.rand(2, 1, 3, 4, 5))

    def test_clone_to(self):
        v = Volumes(make_list(1), features=make_list(2), voxel_size=0.5)
        c = v.clone()
        assert torch.equal(c.densities(), v.densities())
        assert c.densities().data_ptr() != v.densities().data_ptr()
        assert torch.equal(c.get_coord_grid(), v.get_coord_grid())
        assert v.to("cpu") is v and v.cpu() is v
        c2 = v.to("cpu", copy=True)
        assert c2 is not v and torch.equal(c2.features(), v.features())

    @pytest.mark.cuda
    def test_cuda(self):
        v = Volumes(make_list(1), voxel_size=0.5).cuda()
        assert v.densities().is_cuda and v.get_coord_grid().is_cuda
        assert v.get_grid_sizes().is_cuda
