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


# --------------------------------------------------------------------------------------------
# Issue 14, IO items. Expected values are PyTorch3D's, written out from its sources and tests:
# pytorch3d/io/ply_io.py (_load_ply: np.vstack of the fans of equal-size polygons), tests/
# test_io_ply.py (CUBE_FACES, test_load_uvs, test_load_pointcloud_bad_order, "Faces have
# invalid indices"), pytorch3d/io/off_io.py + tests/test_io_off.py (colour scaling, lumpy faces,
# "OFF4 2 12"), pytorch3d/io/mtl_io.py (the sampling helpers), pytorch3d/io/utils.py
# (_open_file: a str path goes through path_manager.open).
CUBE_PLY = "\n".join(
    ["ply", "format ascii 1.0", "comment made by Greg Turk", "comment this file is a cube",
     "element vertex 8", "property float x", "property float y", "property float z",
     "element face 6", "property list uchar int vertex_index", "end_header",
     "0 0 0", "0 0 1", "0 1 1", "0 1 0", "1 0 0", "1 0 1", "1 1 1", "1 1 0",
     "4 0 1 2 3", "4 7 6 5 4", "4 0 4 5 1", "4 1 5 6 2", "4 2 6 7 3", "4 3 7 4 0"]
)  # fmt: skip
# PyTorch3D tests/test_io_ply.py CUBE_FACES: faces 0-5 are the first halves, 6-11 the second
CUBE_FACES = [[0, 1, 2], [7, 6, 5], [0, 4, 5], [1, 5, 6], [2, 6, 7], [3, 7, 4],
              [0, 2, 3], [7, 5, 4], [0, 5, 1], [1, 6, 2], [2, 7, 3], [3, 4, 0]]  # fmt: skip


class TestTriangulationOrder:
    @pytest.mark.parametrize("ending", ["\n", "\r\n"])
    def test_ply_quads(self, ending):
        verts, faces = load_ply(pyio.BytesIO(CUBE_PLY.replace("\n", ending).encode()))
        assert faces.tolist() == CUBE_FACES

    def test_ply_binary_quads(self):
        verts, faces = load_ply(pyio.BytesIO(CUBE_PLY.encode()))
        buf = pyio.BytesIO()
        from inverse3d.io.ply_io import _save_ply

        _save_ply(buf, verts=verts, faces=None)
        head = buf.getvalue().replace(
            b"end_header\n", b"element face 6\nproperty list uchar int vertex_index\nend_header\n"
        )
        quads = [[0, 1, 2, 3], [7, 6, 5, 4], [0, 4, 5, 1], [1, 5, 6, 2], [2, 6, 7, 3], [3, 7, 4, 0]]
        body = b"".join(bytes([4]) + torch.tensor(q, dtype=torch.int32).numpy().tobytes()
                        for q in quads)  # fmt: skip
        assert load_ply(pyio.BytesIO(head + body))[1].tolist() == CUBE_FACES
        mesh_faces = IO().load_mesh(pyio.BytesIO(CUBE_PLY.encode())).faces_packed()
        assert mesh_faces.tolist() == CUBE_FACES

    def test_ply_mixed_sizes_polygon_by_polygon(self):
        # PyTorch3D reads ragged face lists one by one (test_heterogenous_verts_per_face)
        text = CUBE_PLY.rsplit("\n", 1)[0] + "\n5 3 7 4 0 1"
        faces = load_ply(pyio.StringIO(text))[1]
        assert faces.shape == (13, 3)
        assert faces[:2].tolist() == [[0, 1, 2], [0, 2, 3]]
        assert faces[-3:].tolist() == [[3, 7, 4], [3, 4, 0], [3, 0, 1]]

    def test_off_quads_with_face_colours(self):
        # PyTorch3D tests/test_io_off.py test_load_face_colors (the Wikipedia cube)
        lines = ["OFF", "# cube.off", "# A cube", " ", "8 6 12",
                 " 1.0  0.0 1.4142", " 0.0  1.0 1.4142", "-1.0  0.0 1.4142", " 0.0 -1.0 1.4142",
                 " 1.0  0.0 0.0", " 0.0  1.0 0.0", "-1.0  0.0 0.0", " 0.0 -1.0 0.0",
                 "4  0 1 2 3  255 0 0 #red", "4  7 4 0 3  0 255 0 #green",
                 "4  4 5 1 0  0 0 255 #blue", "4  5 6 2 1  0 255 0 ", "4  3 2 6 7  0 0 255",
                 "4  6 5 4 7  255 0 0"]  # fmt: skip
        mesh = IO().load_mesh(_named_stream("\n".join(lines), "cube.off"))
        want = [[0, 1, 2], [7, 4, 0], [4, 5, 1], [5, 6, 2], [3, 2, 6], [6, 5, 4],
                [0, 2, 3], [7, 0, 3], [4, 1, 0], [5, 2, 1], [3, 6, 7], [6, 4, 7]]  # fmt: skip
        assert mesh.faces_packed().tolist() == want
        colors = mesh.textures.atlas_padded()
        assert colors.shape == (1, 12, 1, 1, 3)
        red, green, blue = [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]
        per_quad = [red, green, blue, green, blue, red]
        assert colors[0, :, 0, 0].tolist() == per_quad + per_quad

    def test_off_lumpy(self):
        # PyTorch3D tests/test_io_off.py test_load_lumpy: mixed sizes, polygon by polygon
        lines = ["8 3 12", " 1.0  0.0 1.4142", " 0.0  1.0 1.4142", "-1.0  0.0 1.4142",
                 " 0.0 -1.0 1.4142", " 1.0  0.0 0.0", " 0.0  1.0 0.0", "-1.0  0.0 0.0",
                 " 0.0 -1.0 0.0", "3  0 1 2    255 0 0 #red", "4  7 4 0 3  0 255 0 #green",
                 "4  4 5 1 0  0 0 255 #blue"]  # fmt: skip
        from inverse3d.io.off_io import load_off

        data = load_off(pyio.StringIO("\n".join(lines)))
        assert data["faces"].tolist() == [[0, 1, 2], [7, 4, 0], [7, 0, 3], [4, 5, 1], [4, 1, 0]]
        assert data["faces_colors"].tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1],
                                                 [0, 0, 1]]  # fmt: skip

    def test_obj_polygon_by_polygon(self):
        # PyTorch3D io/obj_io.py _parse_face appends the fan of each face line in turn
        text = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\nf 4 3 2 1\n"
        faces = load_obj(pyio.StringIO(text))[1].verts_idx
        assert faces.tolist() == [[0, 1, 2], [0, 2, 3], [3, 2, 1], [3, 1, 0]]


def _named_stream(text: str, name: str):
    s = pyio.BytesIO(text.encode())
    s.name = name
    return s


class TestOffCompat:
    BASE = ["4 2 12", " 1.0  0.0 1.4142", " 0.0  1.0 1.4142", " 1.0  0.0 0.4142",
            " 0.0  1.0 0.4142", "3  0 1 2 ", "3  1 3 0 "]  # fmt: skip

    def _load(self, lines):
        from inverse3d.io.off_io import load_off

        return load_off(pyio.StringIO("\n".join(lines)))

    @pytest.mark.parametrize("first", ["OFF\n4 2 12", "OFF 4 2 12", "OFF4 2 12", "off 4 2 12"])
    def test_header_forms(self, first):
        # tests/test_io_off.py test_bad: "OFF" alone, merged with a space, merged without one
        assert self._load([first] + self.BASE[1:])["faces"].tolist() == [[0, 1, 2], [1, 3, 0]]

    def test_vertex_colours_scaled_as_pytorch3d(self):
        # test_load_vertex_colors: "1.0 0.0 1.4142 0 1 0" has 3 periods: integer colours / 255
        lines = ["8 1 12"] + [f" {x}  {y} {z} 0 1 0" for x, y, z in
                              [("1.0", "0.0", "1.4142")] * 8] + ["3 0 1 2"]  # fmt: skip
        mesh = IO().load_mesh(_named_stream("\n".join(lines), "v.off"))
        colors = mesh.textures.verts_features_packed()
        assert torch.allclose(colors[:, 1], torch.full((8,), 1.0 / 255))
        assert torch.equal(colors[:, [0, 2]], torch.zeros(8, 2))

    def test_both_colours_warn(self):
        lines = [ln + " 4 4 4 4" if i else ln for i, ln in enumerate(self.BASE)]
        with pytest.warns(UserWarning, match="Faces colors ignored because vertex colors"):
            IO().load_mesh(_named_stream("\n".join(lines), "c.off"))

    @pytest.mark.parametrize(
        "edit,phrase",
        [((0, "4 1 12"), "Extra data at end of file"), ((-1, "2 1 3"), "at least 3 vertices"),
         ((6, "3  0 3 0 0.9"), "Unexpected number of colors")],
    )  # fmt: skip
    def test_pytorch3d_phrases(self, edit, phrase):
        lines = list(self.BASE)
        lines[edit[0]] = edit[1]
        if phrase == "Unexpected number of colors":
            lines[5] = "3  0 1 2 0.9"
        with pytest.raises(ValueError, match=phrase):
            self._load(lines)
        with pytest.raises(ValueError, match="Not enough face data"):
            self._load(self.BASE[:-1])


class TestPlyCompat:
    def test_uvs_and_texture_file(self, tmp_path):
        # tests/data/uvs.ply: texture_u / texture_v and "comment TextureFile <image>"
        from PIL import Image

        Image.fromarray(torch.zeros(16, 32, 3, dtype=torch.uint8).numpy()).save(tmp_path / "t.png")
        head = CUBE_PLY.replace("comment this file is a cube", "comment TextureFile t.png")
        head = head.replace("property float z", "property float z\nproperty float texture_u\n"
                            "property float texture_v")  # fmt: skip
        rows = head.split("\n")
        start = rows.index("end_header") + 1
        uvs = [[0, 0]] + [[0.2, 0.3]] * 6 + [[0.4, 0.5]]
        for i in range(8):
            rows[start + i] += f" {uvs[i][0]} {uvs[i][1]}"
        (tmp_path / "uvs.ply").write_text("\n".join(rows))
        mesh = IO().load_mesh(tmp_path / "uvs.ply")
        tex = mesh.textures
        assert type(tex).__name__ == "TexturesUV"
        assert torch.allclose(tex.verts_uvs_padded()[0], torch.tensor(uvs, dtype=torch.float32))
        assert tex.faces_uvs_padded().shape == mesh.faces_padded().shape
        assert tex.maps_padded().shape == (1, 16, 32, 3)
        assert IO().load_mesh(tmp_path / "uvs.ply", include_textures=False).textures is None

    def test_pointcloud_bad_order(self):
        # tests/test_io_ply.py test_load_pointcloud_bad_order (a StringIO, no name)
        text = "\n".join(["ply", "format ascii 1.0", "element vertex 1", "property uchar green",
                          "property float x", "property float z", "property uchar red",
                          "property float y", "property uchar blue", "end_header",
                          "1 2 3 4 5 6"])  # fmt: skip
        cloud = IO().load_pointcloud(pyio.StringIO(text))
        assert cloud.points_padded().tolist() == [[[2.0, 5.0, 3.0]]]
        want = torch.tensor([[[4.0, 1.0, 6.0]]]) / 255
        assert torch.allclose(cloud.features_padded(), want)

    def test_colour_scale_by_type_size(self):
        # _get_verts_column_indices: 1-byte colour types / 255, others unscaled
        text = ("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                "property float z\nproperty {t} red\nproperty {t} green\nproperty {t} blue\n"
                "end_header\n0 0 0 1 2 300\n")  # fmt: skip
        cloud = IO().load_pointcloud(pyio.StringIO(text.format(t="ushort")))
        assert cloud.features_packed().tolist() == [[1.0, 2.0, 300.0]]

    def test_save_invalid_faces_warns(self):
        # tests/test_io_ply.py test_save_ply_invalid_indices: UserWarning, file still written
        buf = pyio.BytesIO()
        with pytest.warns(UserWarning, match="Faces have invalid indices"):
            save_ply(buf, torch.rand(1, 3), torch.tensor([[0, 1, 2]]))
        assert b"element face 1" in buf.getvalue()


class FakePathManager:
    """iopath's PathManager surface that PyTorch3D's io code uses."""

    def __init__(self, files: dict):
        self.files = files
        self.calls = []

    def open(self, path, mode="r"):
        self.calls.append(("open", path, mode))
        data = self.files[path]
        return pyio.BytesIO(data) if "b" in mode else pyio.StringIO(data.decode())

    def exists(self, path):
        self.calls.append(("exists", path))
        return path in self.files

    def isfile(self, path):
        self.calls.append(("isfile", path))
        return path in self.files

    def get_local_path(self, path):
        return path


class TestPathManager:
    def _files(self):
        from PIL import Image

        png = pyio.BytesIO()
        Image.fromarray(torch.full((2, 2, 3), 255, dtype=torch.uint8).numpy()).save(png, "PNG")
        obj = b"mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nusemtl a\nf 1/1 2/1 3/1\n"
        return {
            "mem://d/m.obj": obj,
            "mem://d/m.mtl": b"newmtl a\nKd 1 0 0\nmap_Kd t.png\n",
            "mem://d/t.png": png.getvalue(),
            "mem://d/c.ply": CUBE_PLY.encode(),
        }

    def test_all_loaders_open_through_it(self):
        from inverse3d.io import load_objs_as_meshes
        from inverse3d.io.off_io import load_off

        pm = FakePathManager(self._files())
        verts, faces, aux = load_obj("mem://d/m.obj", path_manager=pm)
        assert aux.texture_images["a"].shape == (2, 2, 3)
        assert torch.equal(aux.material_colors["a"]["diffuse_color"], torch.tensor([1.0, 0, 0]))
        opened = [c[1] for c in pm.calls if c[0] == "open"]
        assert opened == ["mem://d/m.obj", "mem://d/m.mtl", "mem://d/t.png"]
        mesh = load_objs_as_meshes(["mem://d/m.obj"], path_manager=pm)
        assert mesh.textures.maps_padded().shape == (1, 2, 2, 3)
        assert load_ply("mem://d/c.ply", path_manager=pm)[1].tolist() == CUBE_FACES
        io = IO(path_manager=pm)
        assert io.load_mesh("mem://d/c.ply").faces_packed().tolist() == CUBE_FACES
        assert io.load_pointcloud("mem://d/c.ply").points_packed().shape == (8, 3)
        pm.files["mem://d/q.off"] = b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"
        assert load_off("mem://d/q.off", path_manager=pm)["faces"].tolist() == [[0, 1, 2]]

    def test_saving(self):
        saved = {}

        class Writer(FakePathManager):
            def open(self, path, mode="r"):
                buf = pyio.BytesIO()
                buf.close = lambda: saved.__setitem__(path, buf.getvalue())
                return buf

        pm = Writer({})
        save_ply("mem://o.ply", torch.rand(3, 3), torch.tensor([[0, 1, 2]]), path_manager=pm)
        save_obj("mem://o.obj", torch.rand(3, 3), torch.tensor([[0, 1, 2]]), path_manager=pm)
        assert saved["mem://o.ply"].startswith(b"ply\n")
        assert saved["mem://o.obj"].startswith(b"v ")
        save_obj("mem://t.obj", torch.rand(3, 3), torch.tensor([[0, 1, 2]]), path_manager=pm,
                 verts_uvs=torch.rand(3, 2), faces_uvs=torch.tensor([[0, 1, 2]]),
                 texture_map=torch.rand(4, 4, 3))  # fmt: skip
        assert saved["mem://t.mtl"] == b"newmtl mesh\nmap_Kd t.png\n"
        assert saved["mem://t.png"].startswith(b"\x89PNG")


class TestMtlHelpers:
    def test_names_and_signatures(self):
        import inspect

        from inverse3d.io import mtl_io

        sig = inspect.signature(mtl_io.make_mesh_texture_atlas)
        assert list(sig.parameters) == [
            "material_properties", "texture_images", "face_material_names", "faces_uvs",
            "verts_uvs", "texture_size", "texture_wrap",
        ]  # fmt: skip
        assert list(inspect.signature(mtl_io.make_material_atlas).parameters) == [
            "image", "faces_verts_uvs", "texture_size"
        ]  # fmt: skip
        for name in ("_bilinear_interpolation_vectorized", "_bilinear_interpolation_grid_sample"):
            assert list(inspect.signature(getattr(mtl_io, name)).parameters) == ["image", "grid"]
        assert list(inspect.signature(mtl_io._parse_mtl).parameters) == [
            "f", "path_manager", "device"
        ]  # fmt: skip

    def test_bilinear_helpers_agree(self):
        from inverse3d.io.mtl_io import (
            _bilinear_interpolation_grid_sample,
            _bilinear_interpolation_vectorized,
        )

        g = torch.Generator().manual_seed(0)
        image = torch.rand(7, 5, 3, generator=g)
        grid = torch.rand(4, 3, 3, 2, generator=g)
        grid[0, 0, 0] = torch.tensor([1.0, 1.0])  # the last pixel's centre
        grid[0, 0, 1] = torch.tensor([0.0, 0.0])
        a = _bilinear_interpolation_vectorized(image, grid)
        b = _bilinear_interpolation_grid_sample(image, grid)
        assert a.shape == b.shape == (4, 3, 3, 3)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a[0, 0, 0], image[-1, -1])
        torch.testing.assert_close(a[0, 0, 1], image[0, 0])
        # analytic: halfway between columns 0 and 1 of row 0
        half = torch.tensor([[[[0.5 / 4, 0.0]]]])
        torch.testing.assert_close(
            _bilinear_interpolation_vectorized(image, half)[0, 0, 0],
            (image[0, 0] + image[0, 1]) / 2,
        )

    def test_parse_mtl_like_pytorch3d(self, tmp_path):
        # tests/test_io_obj.py test_load_mtl_with_spaces_in_resource_filename
        from pathlib import Path

        from inverse3d.io.mtl_io import _parse_mtl

        p = tmp_path / "m.mtl"
        p.write_text("newmtl material_1\nmap_Kd material 1.png\nKa 1.000 1.000 1.000\n"
                     "Kd 1.000 1.000 1.000\nKs 0.000 0.000 0.000\nNs 10.0\n")  # fmt: skip
        props, files = _parse_mtl(Path(p), path_manager=None, device="cpu")
        assert files == {"material_1": "material 1.png"}
        assert props["material_1"]["shininess"].tolist() == [10.0]
        assert props["material_1"]["specular_color"].tolist() == [0.0, 0.0, 0.0]
