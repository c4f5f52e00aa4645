"""PyTorch3D-compatibility checks for Meshes, Pointclouds and Volumes.

Each test follows a call pattern of PyTorch3D's tutorials or of its own unit tests and asserts the
result PyTorch3D 0.7.9 documents (values re-derived by hand here).
"""

from __future__ import annotations

import pickle

import pytest
import torch

from inverse3d.structures import (
    Meshes,
    Pointclouds,
    Volumes,
    join_meshes_as_batch,
    join_meshes_as_scene,
    join_pointclouds_as_batch,
    join_pointclouds_as_scene,
    list_to_packed,
    list_to_padded,
    packed_to_list,
    padded_to_list,
)
from inverse3d.structures.meshes import Meshes as DeepMeshes
from inverse3d.structures.meshes import join_meshes_as_batch as deep_join
from inverse3d.structures.pointclouds import Pointclouds as DeepPointclouds
from inverse3d.structures.utils import padded_to_packed


def _tri():
    verts = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    faces = torch.tensor([[0, 1, 2]])
    return verts, faces


def _two_meshes():
    v0, f0 = _tri()
    v1 = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]])
    f1 = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return Meshes(verts=[v0, v1], faces=[f0, f1])


class TestMeshesConstruct:
    def test_deep_paths_are_same_objects(self):
        assert DeepMeshes is Meshes and DeepPointclouds is Pointclouds
        assert deep_join is join_meshes_as_batch

    def test_list_form(self):
        m = _two_meshes()
        assert len(m) == 2
        assert m.num_verts_per_mesh().tolist() == [3, 4]
        assert m.num_faces_per_mesh().tolist() == [1, 2]
        assert m.verts_packed().shape == (7, 3)
        assert m.faces_packed().tolist() == [[0, 1, 2], [3, 4, 5], [3, 5, 6]]
        assert m.verts_padded().shape == (2, 4, 3)
        assert m.faces_padded().shape == (2, 2, 3)
        # PyTorch3D pads faces with -1 and verts with 0
        assert m.faces_padded()[0, 1].tolist() == [-1, -1, -1]
        assert m.verts_padded()[0, 3].tolist() == [0.0, 0.0, 0.0]
        assert m.verts_packed_to_mesh_idx().tolist() == [0, 0, 0, 1, 1, 1, 1]
        assert m.mesh_to_verts_packed_first_idx().tolist() == [0, 3]
        assert m.faces_packed_to_mesh_idx().tolist() == [0, 1, 1]
        assert m.mesh_to_faces_packed_first_idx().tolist() == [0, 1]
        assert m.verts_padded_to_packed_idx().tolist() == [0, 1, 2, 4, 5, 6, 7]
        assert m.faces_packed().dtype == torch.int64
        assert not m.equisized
        assert m.valid.tolist() == [True, True]

    def test_padded_form_int32_faces(self):
        verts = torch.rand(2, 4, 3)
        faces = torch.tensor([[[0, 1, 2], [1, 2, 3]], [[0, 1, 2], [-1, -1, -1]]], dtype=torch.int32)
        m = Meshes(verts=verts, faces=faces)
        assert m.faces_padded().dtype == torch.int64
        assert m.num_faces_per_mesh().tolist() == [2, 1]
        # padded verts: every mesh keeps all V rows
        assert m.num_verts_per_mesh().tolist() == [4, 4]
        assert [f.shape[0] for f in m.faces_list()] == [2, 1]
        assert torch.equal(m.verts_list()[1], verts[1])

    def test_faces_padding_must_be_at_end(self):
        verts = torch.rand(1, 4, 3)
        faces = torch.tensor([[[-1, -1, -1], [0, 1, 2]]])
        with pytest.raises(ValueError):
            Meshes(verts=verts, faces=faces)

    def test_empty(self):
        m = Meshes(verts=[], faces=[])
        assert len(m) == 0
        assert m.isempty()
        assert m.verts_packed().shape[0] == 0

    def test_float_faces_are_cast(self):
        # PyTorch3D's own tests build faces with torch.FloatTensor; it casts them to int64
        v, f = _tri()
        m = Meshes(verts=[v], faces=[f.float()])
        assert m.faces_packed().dtype == torch.int64
        m = Meshes(verts=v[None], faces=f[None].float())
        assert m.faces_padded().dtype == torch.int64

    def test_empty_1d_tensors_in_lists(self):
        # PyTorch3D's test_empty: torch.tensor([]) stands for an empty mesh
        v, f = _tri()
        m = Meshes(verts=[v, torch.tensor([])], faces=[f, torch.tensor([], dtype=torch.int64)])
        assert m.valid.tolist() == [True, False]
        assert m.num_verts_per_mesh().tolist() == [3, 0]
        assert m.verts_padded().shape == (2, 3, 3)
        assert m.faces_padded()[1].tolist() == [[-1, -1, -1]]
        p = Pointclouds(points=[torch.rand(3, 3), torch.tensor([])])
        assert p.num_points_per_cloud().tolist() == [3, 0]

    def test_mesh_without_faces_is_invalid(self):
        m = Meshes(
            verts=[torch.rand(3, 3), torch.rand(3, 3)],
            faces=[torch.tensor([[0, 1, 2]]), torch.zeros(0, 3, dtype=torch.int64)],
        )
        assert m.valid.tolist() == [True, False]

    def test_verts_normals_keyword(self):
        v, f = _tri()
        n = torch.tensor([[0.0, 0, 1]]).expand(3, 3)
        m = Meshes(verts=[v], faces=[f], verts_normals=[n])
        assert m.has_verts_normals()
        assert torch.equal(m.verts_normals_packed(), n)

    def test_torch_tensor_constructor_args_positional(self):
        v, f = _tri()
        m = Meshes([v], [f])
        assert len(m) == 1


class TestMeshesGeometry:
    def test_edges(self):
        v, f = _tri()
        m = Meshes(verts=[v], faces=[f])
        # unique, sorted (v0 < v1) and lexicographic
        assert m.edges_packed().tolist() == [[0, 1], [0, 2], [1, 2]]
        # column k holds the edge opposite vertex k
        assert m.faces_packed_to_edges_packed().tolist() == [[2, 1, 0]]
        assert m.num_edges_per_mesh().tolist() == [3]

    def test_edges_batch(self):
        m = _two_meshes()
        e = m.edges_packed()
        assert e.shape == (3 + 5, 2)
        assert m.edges_packed_to_mesh_idx().tolist() == [0] * 3 + [1] * 5
        assert m.mesh_to_edges_packed_first_idx().tolist() == [0, 3]
        assert m.num_edges_per_mesh().tolist() == [3, 5]
        assert (e[:, 0] < e[:, 1]).all()

    def test_normals_areas(self):
        v, f = _tri()
        m = Meshes(verts=[v], faces=[f])
        assert torch.allclose(m.faces_normals_packed(), torch.tensor([[0.0, 0, 1]]))
        assert torch.allclose(m.verts_normals_packed(), torch.tensor([[0.0, 0, 1]]).expand(3, 3))
        assert torch.allclose(m.faces_areas_packed(), torch.tensor([0.5]))
        assert m.verts_normals_padded().shape == (1, 3, 3)
        assert m.faces_normals_padded().shape == (1, 1, 3)
        assert len(m.verts_normals_list()) == 1 and len(m.faces_normals_list()) == 1

    def test_bounding_boxes(self):
        m = _two_meshes()
        bb = m.get_bounding_boxes()
        assert bb.shape == (2, 3, 2)
        assert bb[1].tolist() == [[0.0, 2.0], [0.0, 2.0], [0.0, 2.0]]

    def test_laplacian_packed(self):
        v, f = _tri()
        L = Meshes(verts=[v], faces=[f]).laplacian_packed()
        assert L.is_sparse
        dense = L.to_dense()
        assert torch.allclose(dense, torch.tensor([[-1, 0.5, 0.5], [0.5, -1, 0.5], [0.5, 0.5, -1]]))


class TestMeshesEdit:
    def test_offset_verts_vector_broadcasts(self):
        # fit_textured_mesh: mesh.offset_verts_(-center) with a (3,) vector
        m = _two_meshes()
        out = m.offset_verts_(-torch.tensor([1.0, 2.0, 3.0]))
        assert out is m
        assert torch.allclose(m.verts_list()[0][0], torch.tensor([-1.0, -2.0, -3.0]))
        assert torch.allclose(m.verts_padded()[1, 1], torch.tensor([1.0, -2.0, -3.0]))

    def test_offset_verts_packed_out_of_place(self):
        m = _two_meshes()
        d = torch.full(m.verts_packed().shape, 0.5, requires_grad=True)
        m2 = m.offset_verts(d)
        assert m2 is not m
        assert torch.allclose(m.verts_packed()[0], torch.zeros(3))
        m2.verts_packed().sum().backward()
        assert torch.equal(d.grad, torch.ones_like(d))

    def test_offset_wrong_shape(self):
        m = _two_meshes()
        with pytest.raises(ValueError):
            m.offset_verts(torch.zeros(3, 3))

    def test_scale_verts(self):
        m = _two_meshes()
        m.scale_verts_(1.0 / 2.0)
        assert torch.allclose(m.verts_list()[1][1], torch.tensor([1.0, 0, 0]))
        m3 = m.scale_verts(torch.tensor([2.0, 4.0]))
        assert torch.allclose(m3.verts_list()[1][1], torch.tensor([4.0, 0, 0]))
        assert torch.allclose(m3.verts_list()[0][1], torch.tensor([1.0, 0, 0]))

    def test_update_padded(self):
        m = _two_meshes()
        new = m.verts_padded() + 1
        m2 = m.update_padded(new)
        assert torch.allclose(m2.verts_list()[0], m.verts_list()[0] + 1)
        assert torch.equal(m2.faces_packed(), m.faces_packed())

    def test_get_mesh_verts_faces(self):
        m = _two_meshes()
        v, f = m.get_mesh_verts_faces(1)
        assert v.shape == (4, 3) and f.shape == (2, 3)
        with pytest.raises(ValueError):
            m.get_mesh_verts_faces(5)

    def test_extend(self):
        m = _two_meshes()
        e = m.extend(3)
        assert len(e) == 6
        # each mesh repeated consecutively
        assert e.num_verts_per_mesh().tolist() == [3, 3, 3, 4, 4, 4]
        with pytest.raises(ValueError):
            m.extend(0)

    def test_getitem_variants(self):
        m = _two_meshes()
        assert isinstance(m[0], Meshes) and len(m[0]) == 1
        assert len(m[0:2]) == 2
        assert m[[1]].num_verts_per_mesh().tolist() == [4]
        assert m[torch.tensor([1, 0])].num_verts_per_mesh().tolist() == [4, 3]
        assert m[torch.tensor([False, True])].num_verts_per_mesh().tolist() == [4]

    def test_clone_detach_to(self):
        m = _two_meshes()
        c = m.clone()
        c.offset_verts_(torch.ones(3))
        assert torch.allclose(m.verts_packed()[0], torch.zeros(3))
        assert m.to("cpu") is m  # PyTorch3D returns self when nothing changes
        assert m.to(torch.device("cpu"), copy=True) is not m
        assert m.cpu().device == torch.device("cpu")
        assert isinstance(m.detach(), Meshes)

    def test_split(self):
        parts = _two_meshes().split([1, 1])
        assert [len(p) for p in parts] == [1, 1]

    def test_join(self):
        m = _two_meshes()
        b = join_meshes_as_batch([m, m[0]])
        assert len(b) == 3
        b2 = join_meshes_as_batch([m, m], include_textures=False)
        assert len(b2) == 4
        s = join_meshes_as_scene(m)
        assert len(s) == 1
        assert s.faces_packed().tolist() == [[0, 1, 2], [3, 4, 5], [3, 5, 6]]
        s2 = join_meshes_as_scene([m[0], m[1]], include_textures=True)
        assert s2.verts_packed().shape == (7, 3)

    def test_submeshes(self):
        v1 = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]])
        f1 = torch.tensor([[0, 1, 2], [0, 2, 3]])
        m = Meshes(verts=[v1], faces=[f1])
        sub = m.submeshes([[torch.tensor([1]), torch.tensor([0, 1])]])
        assert len(sub) == 2
        assert sub.num_faces_per_mesh().tolist() == [1, 2]
        # unused vertices dropped, faces re-indexed
        assert sub.num_verts_per_mesh().tolist() == [3, 4]
        assert sub.verts_list()[0].tolist() == [[0.0, 0, 0], [0, 2, 0], [0, 0, 2]]

    def test_pickle(self):
        m = _two_meshes()
        m2 = pickle.loads(pickle.dumps(m))
        assert torch.equal(m2.verts_packed(), m.verts_packed())


class TestPointclouds:
    def test_list_and_features(self):
        p = Pointclouds(
            points=[torch.rand(5, 3), torch.rand(2, 3)],
            features=[torch.rand(5, 4), torch.rand(2, 4)],
        )
        assert len(p) == 2
        assert p.num_points_per_cloud().tolist() == [5, 2]
        assert p.points_padded().shape == (2, 5, 3)
        assert p.features_padded().shape == (2, 5, 4)
        assert p.features_packed().shape == (7, 4)
        assert p.normals_padded() is None and p.normals_packed() is None
        assert p.normals_list() is None
        assert p.packed_to_cloud_idx().tolist() == [0] * 5 + [1] * 2
        assert p.cloud_to_packed_first_idx().tolist() == [0, 5]
        assert p.padded_to_packed_idx().tolist() == [0, 1, 2, 3, 4, 5, 6]
        assert p.points_padded()[1, 2:].abs().sum() == 0

    def test_padded_input(self):
        pts = torch.rand(3, 6, 3)
        rgb = torch.rand(3, 6, 3)
        p = Pointclouds(points=pts, features=rgb)
        assert p.num_points_per_cloud().tolist() == [6, 6, 6]
        assert torch.equal(p.points_list()[2], pts[2])
        assert p.equisized

    def test_mismatched_features(self):
        with pytest.raises(ValueError):
            Pointclouds(points=[torch.rand(5, 3)], features=[torch.rand(4, 3)])

    def test_bbox_and_inside_box(self):
        pts = torch.tensor([[[0.0, 0, 0], [1, 2, 3], [-1, 0.5, 0]]])
        p = Pointclouds(points=pts)
        bb = p.get_bounding_boxes()
        assert bb.shape == (1, 3, 2)
        assert bb[0].tolist() == [[-1.0, 1.0], [0.0, 2.0], [0.0, 3.0]]
        # inside_box takes (N, 2, 3) boxes of [min, max] rows
        box = torch.tensor([[[-0.5, -0.5, -0.5], [0.5, 0.6, 0.5]]])
        assert p.inside_box(box).tolist() == [True, False, False]
        assert p.inside_box(box[0]).tolist() == [True, False, False]

    def test_transforms(self):
        p = Pointclouds(points=[torch.ones(2, 3), torch.zeros(1, 3)])
        q = p.offset(torch.tensor([1.0, 0, 0]))
        assert q.points_packed()[2].tolist() == [1.0, 0, 0]
        q = p.scale(torch.tensor([2.0, 3.0]))
        assert q.points_list()[0][0].tolist() == [2.0, 2.0, 2.0]
        p.scale_(0.5)
        assert p.points_list()[0][0].tolist() == [0.5, 0.5, 0.5]
        e = p.extend(2)
        assert e.num_points_per_cloud().tolist() == [2, 2, 1, 1]

    def test_subsample(self):
        p = Pointclouds(points=[torch.rand(10, 3), torch.rand(3, 3)])
        s = p.subsample(4)
        assert s.num_points_per_cloud().tolist() == [4, 3]
        s = p.subsample([5, 1])
        assert s.num_points_per_cloud().tolist() == [5, 1]

    def test_get_cloud_split_join(self):
        p = Pointclouds(
            points=[torch.rand(4, 3), torch.rand(3, 3)],
            normals=[torch.rand(4, 3), torch.rand(3, 3)],
        )
        pts, nrm, feat = p.get_cloud(1)
        assert pts.shape == (3, 3) and nrm.shape == (3, 3) and feat is None
        assert [len(x) for x in p.split([1, 1])] == [1, 1]
        b = join_pointclouds_as_batch([p, p])
        assert len(b) == 4
        s = join_pointclouds_as_scene(p)
        assert len(s) == 1 and s.num_points_per_cloud().tolist() == [7]

    def test_estimate_normals_plane(self):
        g = torch.stack(
            torch.meshgrid(torch.linspace(0, 1, 5), torch.linspace(0, 1, 5), indexing="ij"), -1
        ).reshape(-1, 2)
        pts = torch.cat([g, torch.zeros(25, 1)], 1)[None]
        p = Pointclouds(points=pts)
        n = p.estimate_normals(neighborhood_size=8)
        assert n.shape == (1, 25, 3)
        assert torch.allclose(n[..., 2].abs(), torch.ones(1, 25), atol=1e-4)
        assert p.normals_padded() is None
        p.estimate_normals(neighborhood_size=8, assign_to_self=True)
        assert p.normals_padded().shape == (1, 25, 3)

    def test_update_padded(self):
        p = Pointclouds(points=[torch.rand(4, 3), torch.rand(2, 3)])
        q = p.update_padded(p.points_padded() * 2)
        assert torch.allclose(q.points_list()[1], p.points_list()[1] * 2)


class TestVolumes:
    def test_tutorial_construction(self):
        # fit_textured_volume: densities (N,1,D,H,W), features (N,3,D,H,W), float voxel size
        d = torch.rand(2, 1, 4, 5, 6)
        f = torch.rand(2, 3, 4, 5, 6)
        v = Volumes(densities=d, features=f, voxel_size=0.1)
        assert len(v) == 2
        assert v.densities().shape == (2, 1, 4, 5, 6)
        assert v.features().shape == (2, 3, 4, 5, 6)
        assert v.get_grid_sizes().tolist() == [[4, 5, 6], [4, 5, 6]]
        assert v.get_align_corners() is True
        assert len(v.densities_list()) == 2

    def test_list_input(self):
        v = Volumes(densities=[torch.rand(1, 2, 2, 2), torch.rand(1, 3, 3, 3)])
        assert v.densities().shape == (2, 1, 3, 3, 3)
        assert v.get_grid_sizes().tolist() == [[2, 2, 2], [3, 3, 3]]
        assert [t.shape for t in v.densities_list()] == [(1, 2, 2, 2), (1, 3, 3, 3)]
        assert v.features() is None

    def test_coordinates(self):
        # grid (D,H,W) = (3,5,9), voxel 0.5, align_corners=True: the corner voxel centres sit at
        # local +-1; world extent along x (W) is (9-1)*0.5/2 = 2
        v = Volumes(densities=torch.zeros(1, 1, 3, 5, 9), voxel_size=0.5)
        world = torch.tensor([[[2.0, 1.0, 0.5]]])
        loc = v.world_to_local_coords(world)
        assert torch.allclose(loc, torch.tensor([[[1.0, 1.0, 1.0]]]))
        assert torch.allclose(v.local_to_world_coords(loc), world)
        grid = v.get_coord_grid(world_coordinates=True)
        assert grid.shape == (1, 3, 5, 9, 3)
        assert torch.allclose(grid[0, 0, 0, 0], torch.tensor([-2.0, -1.0, -0.5]))
        loc_grid = v.get_coord_grid(world_coordinates=False)
        assert torch.allclose(loc_grid[0, -1, -1, -1], torch.ones(3))

    def test_translation(self):
        # PyTorch3D: the world position of the volume centre is -volume_translation
        v = Volumes(
            densities=torch.zeros(1, 1, 3, 3, 3), voxel_size=1.0, volume_translation=(1.0, 2.0, 3.0)
        )
        centre = v.local_to_world_coords(torch.zeros(1, 1, 3))
        assert torch.allclose(centre, torch.tensor([[[-1.0, -2.0, -3.0]]]))
        t = v.get_local_to_world_coords_transform()
        assert torch.allclose(t.transform_points(torch.zeros(1, 1, 3)), centre)
        t2 = v.get_world_to_local_coords_transform()
        assert torch.allclose(t2.transform_points(centre), torch.zeros(1, 1, 3), atol=1e-6)

    def test_update_padded_clone(self):
        v = Volumes(densities=torch.zeros(1, 1, 2, 2, 2), features=torch.zeros(1, 2, 2, 2, 2))
        v2 = v.update_padded(torch.ones(1, 1, 2, 2, 2))
        assert v2.densities().sum() == 8 and v.densities().sum() == 0
        # PyTorch3D: update_padded without new_features drops the features
        assert v2.features() is None
        v3 = v.update_padded(torch.ones(1, 1, 2, 2, 2), torch.ones(1, 2, 2, 2, 2))
        assert v3.features().sum() == 16
        c = v.clone()
        assert c.densities() is not v.densities()
        assert v[0].densities().shape == (1, 1, 2, 2, 2)


class TestStructureUtils:
    def test_list_padded_packed(self):
        xs = [torch.ones(2, 3), torch.ones(1, 3) * 2]
        pad = list_to_padded(xs)
        assert pad.shape == (2, 2, 3) and pad[1, 1].abs().sum() == 0
        pad = list_to_padded(xs, pad_value=-1.0)
        assert pad[1, 1].tolist() == [-1.0] * 3
        pad = list_to_padded(xs, pad_size=(4, 5))
        assert pad.shape == (2, 4, 5)
        back = padded_to_list(list_to_padded(xs), split_size=[2, 1])
        assert [b.shape[0] for b in back] == [2, 1]
        packed, num, first, to_idx = list_to_packed(xs)
        assert packed.shape == (3, 3)
        assert num.tolist() == [2, 1] and first.tolist() == [0, 2] and to_idx.tolist() == [0, 0, 1]
        assert [t.shape[0] for t in packed_to_list(packed, [2, 1])] == [2, 1]
        pk = padded_to_packed(list_to_padded(xs), split_size=[2, 1])
        assert pk.shape == (3, 3)
        pk = padded_to_packed(list_to_padded(xs, pad_value=-1.0), pad_value=-1.0)
        assert pk.shape == (3, 3)


class TestFromPyTorch3DSuite:
    """Expected values restated from PyTorch3D's own test_meshes.py / data written by it."""

    def test_ico_sphere_topology_matches_pytorch3d(self, book_dir):
        # deform1.ply was written by PyTorch3D from a deformed ico_sphere(4): same faces
        from inverse3d.io import load_ply
        from inverse3d.utils import ico_sphere

        _, faces = load_ply(book_dir / "chap3/deform1.ply")
        assert torch.equal(ico_sphere(4).faces_packed(), faces)
        counts = [
            (len(ico_sphere(k).verts_packed()), len(ico_sphere(k).faces_packed())) for k in range(3)
        ]
        assert counts == [(12, 20), (42, 80), (162, 320)]

    def test_face_areas_and_shared_vertex_normals(self):
        verts = torch.tensor([[0.0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0], [0.25, 0.8, 0]])
        m = Meshes(verts=[verts], faces=[torch.tensor([[0, 1, 2], [0, 3, 4]])])
        assert torch.allclose(m.faces_areas_packed(), torch.tensor([0.125, 0.2]))
        verts = torch.tensor(
            [[0.1, 0.3, 0.0], [0.5, 0.2, 0.0], [0.0, 0.3, 0.2], [0.0, 0.2, 0.5], [0.0, 0.8, 0.7]]
        )
        m = Meshes(verts=[verts], faces=[torch.tensor([[0, 1, 2], [2, 3, 4]])])
        want = torch.tensor(
            [[-0.2408, -0.9631, -0.1204]] * 2
            + [[-0.9389, -0.3414, -0.0427]]
            + [[-1.0, 0.0, 0.0]] * 2
        )
        assert torch.allclose(m.verts_normals_list()[0], want, atol=4e-5)
        assert torch.allclose(m.faces_normals_list()[0], want[[0, 3]], atol=4e-5)
        e = Meshes(verts=[], faces=[])
        assert e.verts_normals_list() == [] and e.faces_normals_packed().shape[0] == 0

    def test_axis_aligned_and_degenerate_normals(self):
        # one face per axis plane and one collapsed face: unit axes and zeros
        v = torch.tensor(
            [
                [0.1, 0.3, 0.0],
                [0.5, 0.2, 0.0],
                [0.6, 0.8, 0.0],
                [0.0, 0.3, 0.2],
                [0.0, 0.2, 0.5],
                [0.0, 0.8, 0.7],
                [0.5, 0.0, 0.2],
                [0.6, 0.0, 0.5],
                [0.8, 0.0, 0.7],
            ]
            + [[0.0, 0.0, 0.0]] * 3
        )
        m = Meshes(verts=[v], faces=[torch.arange(12).view(4, 3)])
        want = torch.tensor([[0.0, 0, 1], [-1, 0, 0], [0, 1, 0], [0, 0, 0]])
        assert torch.allclose(m.faces_normals_packed(), want)
        assert torch.allclose(m.verts_normals_packed(), want.repeat_interleave(3, 0))

    def test_index_errors(self):
        m = _two_meshes()
        with pytest.raises(IndexError):
            m[torch.tensor([1.0, 0.0])]
        with pytest.raises(IndexError):
            m[1.2]
        with pytest.raises(ValueError):
            m.get_mesh_verts_faces(0.2)

    def test_submeshes_forms(self):
        cube_v = torch.tensor(
            [
                [0.0, 0, 0],
                [1, 0, 0],
                [1, 1, 0],
                [0, 1, 0],
                [0, 1, 1],
                [1, 1, 1],
                [1, 0, 1],
                [0, 0, 1],
            ]
        )
        cube_f = torch.tensor(
            [
                [0, 2, 1],
                [0, 3, 2],
                [2, 3, 4],
                [2, 4, 5],
                [1, 2, 5],
                [1, 5, 6],
                [0, 7, 4],
                [0, 4, 3],
                [5, 4, 7],
                [5, 7, 6],
                [0, 6, 7],
                [0, 1, 6],
            ]
        )
        cubes = Meshes(verts=[cube_v + k for k in range(4)], faces=[cube_f] * 4)
        assert len(cubes.submeshes([[], [], [], []])) == 0
        sub = cubes.submeshes(
            [[], [torch.tensor([0, 1]), torch.tensor([2, 3, 4, 5])], [], [torch.arange(12)]]
        )
        assert sub.num_faces_per_mesh().tolist() == [2, 4, 12]
        two = torch.tensor([[0, 1], [4, 5]])
        assert cubes.submeshes([two, [], two, []]).num_faces_per_mesh().tolist() == [2] * 4
        one = cubes.submeshes(torch.tensor([[[0]], [[1]], [[4]], [[5]]]))
        assert one.num_verts_per_mesh().tolist() == [3] * 4
        with pytest.raises(ValueError):
            Meshes(verts=[], faces=[]).submeshes([torch.tensor([0])])

    def test_assigned_normals_follow_translation_only(self):
        verts = torch.rand(2, 6, 3)
        faces = torch.randint(6, size=(2, 4, 3))
        for given in (list(verts.unbind(0)), verts):
            m = Meshes(verts=verts.clone(), faces=faces, verts_normals=given)
            m.offset_verts_(torch.tensor([1.0, 2.0, 3.0]))
            assert torch.allclose(m.verts_normals_padded(), verts)
            m.offset_verts_(torch.tensor([1.0, 2.0, 3.0]).expand(12, 3))
            assert not torch.allclose(m.verts_normals_padded(), verts)
