"""PyTorch3D-compatibility checks for inverse3d.io on the book's data files."""

from __future__ import annotations

import io as pyio

import pytest
import torch

from inverse3d.io import (
    IO,
    load_obj,
    load_objs_as_meshes,
    load_ply,
    obj_io,
    ply_io,
    save_obj,
    save_ply,
)
from inverse3d.structures import Meshes, Pointclouds


class TestLoadObj:
    def test_return_types(self, book_dir):
        verts, faces, aux = load_obj(book_dir / "chap1/obj_io/cube.obj")
        assert type(faces).__name__ == "Faces" and type(aux).__name__ == "Properties"
        assert faces._fields == ("verts_idx", "normals_idx", "textures_idx", "materials_idx")
        assert aux._fields == (
            "normals",
            "verts_uvs",
            "material_colors",
            "texture_images",
            "texture_atlas",
        )
        assert obj_io.load_obj is load_obj
        assert verts.dtype == torch.float32 and verts.shape == (8, 3)
        assert faces.verts_idx.dtype == torch.int64 and faces.verts_idx.shape == (12, 3)
        # book's printed output: missing normal/uv indices are -1, materials_idx per face
        assert (faces.normals_idx == -1).all() and faces.normals_idx.shape == (12, 3)
        assert (faces.textures_idx == -1).all()
        assert faces.materials_idx.tolist() == [0] * 12
        assert faces.verts_idx[1].tolist() == [5, 4, 7]
        assert aux.normals is None and aux.verts_uvs is None and aux.texture_atlas is None
        assert aux.texture_images == {}
        door = aux.material_colors["Door"]
        assert set(door) == {"ambient_color", "diffuse_color", "specular_color", "shininess"}
        assert torch.allclose(door["ambient_color"], torch.tensor([0.8, 0.6, 0.4]))
        assert torch.allclose(door["specular_color"], torch.tensor([0.9, 0.9, 0.9]))
        assert door["shininess"].shape == (1,)

    def test_textured_cube(self, book_dir):
        verts, faces, aux = load_obj(book_dir / "chap1/obj_io/cube_texture.obj")
        assert faces.normals_idx[:3].tolist() == [[0, 0, 0], [1, 1, 1], [2, 2, 2]]
        assert faces.textures_idx[0].tolist() == [0, 1, 2]
        assert aux.normals.shape == (6, 3) and aux.verts_uvs.shape == (14, 2)
        assert list(aux.texture_images) == ["Skin"]
        img = aux.texture_images["Skin"]
        assert img.ndim == 3 and img.shape[-1] == 3 and img.dtype == torch.float32
        assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0

    def test_load_textures_false(self, book_dir):
        _, _, aux = load_obj(book_dir / "chap1/obj_io/cube_texture.obj", load_textures=False)
        assert aux.texture_images in ({}, None) or len(aux.texture_images) == 0

    def test_atlas(self, book_dir):
        _, faces, aux = load_obj(
            book_dir / "chap1/obj_io/cube_texture.obj",
            create_texture_atlas=True,
            texture_atlas_size=2,
            texture_wrap="repeat",
        )
        assert aux.texture_atlas.shape == (12, 2, 2, 3)

    def test_cow_file_object_and_string(self, book_dir):
        path = book_dir / "chap2/data/cow_mesh/cow.obj"
        verts, faces, aux = load_obj(str(path), load_textures=False)
        assert verts.shape == (2930, 3) and faces.verts_idx.shape == (5856, 3)
        with open(path) as f:
            v2, f2, _ = load_obj(f, load_textures=False)
        assert torch.equal(v2, verts) and torch.equal(f2.verts_idx, faces.verts_idx)

    def test_teapot_tutorial_pattern(self, book_dir):
        # camera_position_optimization: verts, faces_idx, _ = load_obj(...); faces_idx.verts_idx
        verts, faces_idx, _ = load_obj(book_dir / "chap4/data/teapot.obj")
        faces = faces_idx.verts_idx
        assert verts.shape == (1292, 3) and faces.shape == (2464, 3)


class TestLoadObjsAsMeshes:
    def test_cow(self, book_dir):
        mesh = load_objs_as_meshes([book_dir / "chap2/data/cow_mesh/cow.obj"], device="cpu")
        assert isinstance(mesh, Meshes) and len(mesh) == 1
        assert type(mesh.textures).__name__ == "TexturesUV"
        assert mesh.textures.maps_padded().shape == (1, 1024, 1024, 3)
        assert mesh.textures.verts_uvs_padded().shape[0] == 1
        assert mesh.textures.faces_uvs_padded().shape == (1, 5856, 3)

    def test_no_texture_and_batch(self, book_dir):
        d = book_dir / "chap2/data"
        batch = load_objs_as_meshes([d / "diamond.obj", d / "dodecahedron.obj"], device="cpu")
        assert len(batch) == 2
        assert batch.num_verts_per_mesh().tolist() == [6, 20]
        assert batch.textures is None

    def test_atlas(self, book_dir):
        m = load_objs_as_meshes(
            [book_dir / "chap1/obj_io/cube_texture.obj"],
            create_texture_atlas=True,
            texture_atlas_size=3,
        )
        assert type(m.textures).__name__ == "TexturesAtlas"
        assert m.textures.atlas_padded().shape == (1, 12, 3, 3, 3)


class TestSaveObj:
    def test_round_trip_and_format(self, tmp_path):
        verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
        faces = torch.tensor([[0, 1, 2]])
        p = tmp_path / "t.obj"
        save_obj(p, verts, faces)
        lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
        assert "v 1.000000 0.000000 0.000000" in lines
        assert "f 1 2 3" in lines
        v2, f2, _ = load_obj(p)
        assert torch.allclose(v2, verts) and torch.equal(f2.verts_idx, faces)
        save_obj(p, verts, faces, decimal_places=2)
        assert "v 1.00 0.00 0.00" in p.read_text().splitlines()

    def test_textured_round_trip(self, tmp_path):
        verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
        faces = torch.tensor([[0, 1, 2]])
        uvs = torch.tensor([[0.0, 0], [1, 0], [0, 1]])
        tex = torch.rand(4, 4, 3)
        p = tmp_path / "tex.obj"
        save_obj(p, verts, faces, verts_uvs=uvs, faces_uvs=faces, texture_map=tex)
        assert (tmp_path / "tex.mtl").exists() and (tmp_path / "tex.png").exists()
        _, f2, aux = load_obj(p)
        assert torch.allclose(aux.verts_uvs, uvs)
        assert torch.equal(f2.textures_idx, faces)
        img = next(iter(aux.texture_images.values()))
        assert img.shape == (4, 4, 3)
        assert torch.allclose(img, tex, atol=1 / 255)

    def test_exact_text_like_pytorch3d(self, tmp_path):
        # PyTorch3D: "%.<d>f" numbers, 1-based "v//vn" / "v/vt" corners, no newline after the
        # last face, a blank-line framed header before a texture and a two-line .mtl
        verts = torch.tensor([[0.5, 0.25, 0.125], [1.0, 0.0, 0.0], [0.0, 1.0, 0.333]])
        faces = torch.tensor([[0, 1, 2], [2, 1, 0]])
        normals = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        p = tmp_path / "n.obj"
        save_obj(
            p,
            verts,
            faces,
            decimal_places=1,
            normals=normals,
            faces_normals_idx=torch.tensor([[0, 0, 1], [1, 1, 0]]),
        )
        assert p.read_text() == (
            "v 0.5 0.2 0.1\nv 1.0 0.0 0.0\nv 0.0 1.0 0.3\nvn 0.0 0.0 1.0\nvn 0.0 1.0 0.0\n"
            "f 1//1 2//1 3//2\nf 3//2 2//2 1//1"
        )
        uvs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        p = tmp_path / "mesh.obj"
        save_obj(
            p,
            verts,
            faces,
            decimal_places=1,
            verts_uvs=uvs,
            faces_uvs=faces,
            texture_map=torch.ones(2, 2, 3),
        )
        assert p.read_text() == (
            "\nmtllib mesh.mtl\nusemtl mesh\n\nv 0.5 0.2 0.1\nv 1.0 0.0 0.0\nv 0.0 1.0 0.3\n"
            "vt 0.0 0.0\nvt 1.0 0.0\nvt 0.0 1.0\nf 1/1 2/2 3/3\nf 3/3 2/2 1/1"
        )
        assert (tmp_path / "mesh.mtl").read_text() == "newmtl mesh\nmap_Kd mesh.png\n"
        assert sorted(x.name for x in tmp_path.iterdir() if x.stem == "mesh") == [
            "mesh.mtl",
            "mesh.obj",
            "mesh.png",
        ]

    def test_partial_texture_arguments_are_dropped(self, tmp_path):
        verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
        faces = torch.tensor([[0, 1, 2]])
        p = tmp_path / "p.obj"
        for kw in (
            {"texture_map": torch.ones(2, 2, 3)},
            {"faces_uvs": faces},
            {"verts_uvs": torch.rand(3, 2)},
        ):
            with pytest.warns(UserWarning):
                save_obj(p, verts, faces, decimal_places=0, **kw)
            assert p.read_text() == "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3"
        assert sorted(x.name for x in tmp_path.iterdir()) == ["p.obj"]
        with pytest.raises(ValueError):
            save_obj(
                p,
                verts,
                faces,
                verts_uvs=torch.rand(3),
                faces_uvs=faces,
                texture_map=torch.ones(2, 2, 3),
            )

    def test_normals_keyword(self, tmp_path):
        verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
        faces = torch.tensor([[0, 1, 2]])
        normals = torch.tensor([[0.0, 0, 1]])
        p = tmp_path / "n.obj"
        save_obj(p, verts, faces, normals=normals, faces_normals_idx=torch.zeros(1, 3).long())
        _, f2, aux = load_obj(p)
        assert torch.allclose(aux.normals, normals)
        assert f2.normals_idx.tolist() == [[0, 0, 0]]

    def test_deform_tutorial_pattern(self, tmp_path):
        # final_verts, final_faces = new_src_mesh.get_mesh_verts_faces(0); save_obj(...)
        from inverse3d.utils import ico_sphere

        m = ico_sphere(1)
        v, f = m.get_mesh_verts_faces(0)
        save_obj(tmp_path / "final.obj", v, f)
        v2, f2, _ = load_obj(tmp_path / "final.obj")
        assert torch.allclose(v2, v, atol=1e-6) and torch.equal(f2.verts_idx, f)


class TestPly:
    def test_load_ply(self, book_dir):
        assert ply_io.load_ply is load_ply
        verts, faces = load_ply(book_dir / "chap1/ply_io/cube.ply")
        assert verts.dtype == torch.float32 and faces.dtype == torch.int64
        assert verts.shape == (8, 3) and faces.shape == (12, 3)

    def test_polygons_triangulated(self, book_dir):
        verts, faces = load_ply(book_dir / "chap1/ply_io/parallel_plane_color.ply")
        assert verts.shape == (8, 3)
        # 4 faces in the file; quads are split in two triangles each
        assert faces.shape[1] == 3 and faces.shape[0] in (4, 8)

    def test_point_cloud_has_empty_faces(self, book_dir):
        verts, faces = load_ply(book_dir / "chap3/pedestrian.ply")
        assert verts.shape == (239, 3)
        assert faces.shape == (0, 3) and faces.dtype == torch.int64

    def test_ascii_writer_matches_pytorch3d_file(self, book_dir, tmp_path):
        src = book_dir / "chap3/deform1.ply"
        verts, faces = load_ply(src)
        out = tmp_path / "d.ply"
        save_ply(out, verts, faces, ascii=True)
        assert out.read_bytes() == src.read_bytes()

    def test_binary_round_trip_with_normals(self, tmp_path):
        verts = torch.rand(5, 3)
        faces = torch.tensor([[0, 1, 2], [2, 3, 4]])
        normals = torch.nn.functional.normalize(torch.rand(5, 3), dim=1)
        buf = pyio.BytesIO()
        save_ply(buf, verts, faces, verts_normals=normals)
        buf.seek(0)
        v2, f2 = load_ply(buf)
        assert torch.allclose(v2, verts) and torch.equal(f2, faces)
        # verts only
        save_ply(tmp_path / "p.ply", verts)
        v3, f3 = load_ply(tmp_path / "p.ply")
        assert torch.allclose(v3, verts) and f3.shape == (0, 3)


class TestIO:
    def test_load_mesh_obj_and_ply(self, book_dir):
        io = IO()
        m = io.load_mesh(book_dir / "chap2/data/cow_mesh/cow.obj", device="cpu")
        assert isinstance(m, Meshes) and m.verts_packed().shape == (2930, 3)
        assert type(m.textures).__name__ == "TexturesUV"
        m = io.load_mesh(book_dir / "chap2/data/cow_mesh/cow.obj", include_textures=False)
        assert m.textures is None
        m = io.load_mesh(book_dir / "chap1/ply_io/parallel_plane_color.ply")
        assert type(m.textures).__name__ == "TexturesVertex"
        colors = m.textures.verts_features_packed()
        assert colors.shape == (8, 3)
        assert torch.allclose(colors[0], torch.tensor([1.0, 0.0, 0.0]))

    def test_pointcloud(self, book_dir, tmp_path):
        io = IO()
        pc = io.load_pointcloud(book_dir / "chap3/pedestrian.ply")
        assert isinstance(pc, Pointclouds) and pc.num_points_per_cloud().tolist() == [239]
        io.save_pointcloud(pc, tmp_path / "pc.ply")
        pc2 = io.load_pointcloud(tmp_path / "pc.ply")
        assert torch.allclose(pc2.points_packed(), pc.points_packed())

    def test_save_mesh_round_trip(self, book_dir, tmp_path):
        io = IO()
        m = io.load_mesh(book_dir / "chap2/data/dodecahedron.obj")
        io.save_mesh(m, tmp_path / "d.ply")
        io.save_mesh(m, tmp_path / "d.obj")
        for name in ("d.ply", "d.obj"):
            m2 = io.load_mesh(tmp_path / name)
            assert torch.allclose(m2.verts_packed(), m.verts_packed(), atol=1e-6)
            assert torch.equal(m2.faces_packed(), m.faces_packed())

    def test_unknown_format(self, tmp_path):
        p = tmp_path / "x.unknownext"
        p.write_text("hello")
        with pytest.raises(ValueError):
            IO().load_mesh(p)


def test_pluggable_custom_format_is_tried_first(tmp_path):
    # third-party code registers interpreters; the newest one is tried first
    from inverse3d.io.pluggable_formats import MeshFormatInterpreter

    class Tiny(MeshFormatInterpreter):
        def read(self, path, include_textures, device, path_manager, **kwargs):
            if not str(path).endswith(".tiny"):
                return None
            v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
            return Meshes(verts=[v], faces=[torch.tensor([[0, 1, 2]])])

        def save(self, data, path, path_manager, binary, **kwargs):
            if not str(path).endswith(".tiny"):
                return False
            open(path, "w").write("tiny")
            return True

    io = IO()
    io.register_meshes_format(Tiny())
    p = tmp_path / "m.tiny"
    io.save_mesh(Meshes(verts=[torch.rand(3, 3)], faces=[torch.tensor([[0, 1, 2]])]), p)
    assert p.read_text() == "tiny"
    assert io.load_mesh(p).verts_packed().shape == (3, 3)
