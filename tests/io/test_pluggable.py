"""IO facade: default formats, textures on load/save, pluggable interpreters, errors."""

from __future__ import annotations

import pytest
import torch

from inverse3d.io.obj_io import load_objs_as_meshes
from inverse3d.io.pluggable import IO
from inverse3d.io.pluggable_formats import MeshFormatInterpreter, PointcloudFormatInterpreter
from inverse3d.renderer.mesh.textures import TexturesAtlas, TexturesUV, TexturesVertex
from inverse3d.structures.meshes import Meshes
from inverse3d.structures.pointclouds import Pointclouds


def _mesh(textures=None):
    g = torch.Generator().manual_seed(1)
    verts = torch.rand(10, 3, generator=g)
    faces = torch.randint(0, 10, (12, 3), generator=g)
    return Meshes(verts=[verts], faces=[faces], textures=textures)


class TestLoadObjsAsMeshes:
    def test_smoke(self, book_dir):
        mesh = load_objs_as_meshes([book_dir / "chap2/data/cow_mesh/cow.obj"])
        assert isinstance(mesh.textures, TexturesUV)
        assert mesh.verts_packed().shape == (2930, 3) and mesh.faces_packed().shape == (5856, 3)
        assert mesh.textures.maps_padded().shape == (1, 1024, 1024, 3)

    def test_atlas_and_batch(self, book_dir):
        d = book_dir / "chap1/obj_io"
        mesh = load_objs_as_meshes(
            [d / "cube_texture.obj", d / "cube.obj"], create_texture_atlas=True
        )
        assert len(mesh) == 2 and isinstance(mesh.textures, TexturesAtlas)
        atlas = mesh.textures.atlas_list()
        assert atlas[0].shape == (12, 4, 4, 3)
        torch.testing.assert_close(atlas[1], torch.tensor([0.8, 0.6, 0.4]).expand(12, 4, 4, 3))


class TestIO:
    @pytest.mark.parametrize("ext", [".obj", ".ply", ".off"])
    def test_round_trip_mesh(self, tmp_path, ext):
        mesh = _mesh()
        IO().save_mesh(mesh, tmp_path / f"m{ext}")
        back = IO().load_mesh(tmp_path / f"m{ext}")
        torch.testing.assert_close(back.verts_packed(), mesh.verts_packed(), atol=1e-6, rtol=0)
        assert torch.equal(back.faces_packed(), mesh.faces_packed())

    @pytest.mark.parametrize("ext,binary", [(".ply", True), (".ply", False), (".off", None)])
    def test_vertex_colors(self, tmp_path, ext, binary):
        colors = torch.rand(1, 10, 3)
        IO().save_mesh(_mesh(TexturesVertex(colors)), tmp_path / f"c{ext}", binary=binary)
        back = IO().load_mesh(tmp_path / f"c{ext}")
        assert isinstance(back.textures, TexturesVertex)
        torch.testing.assert_close(back.textures.verts_features_padded(), colors, atol=1e-6, rtol=0)
        assert IO().load_mesh(tmp_path / f"c{ext}", include_textures=False).textures is None

    def test_obj_texture_round_trip(self, tmp_path):
        tex = TexturesUV(
            maps=torch.rand(1, 8, 8, 3),
            faces_uvs=[torch.randint(0, 5, (12, 3))],
            verts_uvs=[torch.rand(5, 2)],
        )
        IO().save_mesh(_mesh(tex), tmp_path / "t.obj")
        back = IO().load_mesh(tmp_path / "t.obj")
        assert isinstance(back.textures, TexturesUV)
        torch.testing.assert_close(back.textures.verts_uvs_list()[0], tex.verts_uvs_list()[0])
        want = (tex.maps_padded() * 255).round() / 255
        torch.testing.assert_close(back.textures.maps_padded(), want, atol=1e-6, rtol=0)

    def test_pointcloud_round_trip(self, tmp_path):
        pts, nrm, col = torch.rand(30, 3), torch.rand(30, 3), torch.rand(30, 3)
        cloud = Pointclouds(points=[pts], normals=[nrm], features=[col])
        for binary in (True, False):
            IO().save_pointcloud(cloud, tmp_path / "p.ply", binary=binary)
            back = IO().load_pointcloud(tmp_path / "p.ply")
            tol = {"atol": 1e-6, "rtol": 0}
            torch.testing.assert_close(back.points_packed(), pts, **tol)
            torch.testing.assert_close(back.normals_packed(), nrm, **tol)
            torch.testing.assert_close(back.features_packed(), col, **tol)

    def test_book_pointcloud(self, book_dir):
        cloud = IO().load_pointcloud(book_dir / "chap3/pedestrian.ply")
        assert cloud.points_packed().shape == (239, 3)

    def test_register_format(self, tmp_path):
        calls = []

        class XyzFormat(MeshFormatInterpreter):
            def read(self, path, include_textures, device, path_manager, **kwargs):
                if not str(path).endswith(".xyz"):
                    return None
                calls.append(path)
                return _mesh()

            def save(self, data, path, path_manager, binary, **kwargs):
                return False

        io_ = IO()
        io_.register_meshes_format(XyzFormat())
        assert len(io_.load_mesh(tmp_path / "a.xyz")) == 1 and len(calls) == 1
        with pytest.raises(ValueError, match="No mesh interpreter"):
            io_.save_mesh(_mesh(), tmp_path / "a.xyz")
        with pytest.raises(ValueError, match="No mesh interpreter"):
            IO(include_default_formats=False).load_mesh(tmp_path / "a.obj")

        class Cloud(PointcloudFormatInterpreter):
            def read(self, path, device, path_manager, **kwargs):
                return Pointclouds(points=[torch.zeros(2, 3)])

            def save(self, data, path, path_manager, binary, **kwargs):
                return True

        io_.register_pointcloud_format(Cloud())
        assert io_.load_pointcloud(tmp_path / "anything").points_packed().shape == (2, 3)

    def test_exceptions(self, tmp_path):
        with pytest.raises(ValueError, match="No mesh interpreter"):
            IO().load_mesh(tmp_path / "a.stl")
        with pytest.raises(ValueError, match="single mesh"):
            IO().save_mesh(
                Meshes(verts=[torch.rand(3, 3)] * 2, faces=[torch.tensor([[0, 1, 2]])] * 2),
                tmp_path / "a.ply",
            )
        with pytest.raises(ValueError, match="Meshes"):
            IO().save_mesh(torch.rand(3, 3), tmp_path / "a.ply")
        with pytest.raises(FileNotFoundError):
            IO().load_mesh(tmp_path / "missing.ply")
        with pytest.raises(TypeError):
            IO().register_meshes_format(object())
