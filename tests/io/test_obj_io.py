"""load_obj / save_obj / MTL: golden outputs of PyTorch3D, trimesh cross-checks, round trips."""

from __future__ import annotations

import ast
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from inverse3d.io.mtl_io import make_material_atlas
from inverse3d.io.obj_io import Faces, Properties, load_obj, save_obj

OBJ_FILES = [
    "chap1/camera/cube.obj",
    "chap1/obj_io/cube.obj",
    "chap1/obj_io/cube_texture.obj",
    "chap10/demo_results/0_mesh_sofa_0.887.obj",
    "chap2/data/cow_mesh/cow.obj",
    "chap2/data/cube.obj",
    "chap2/data/diamond.obj",
    "chap2/data/dodecahedron.obj",
    "chap4/data/teapot.obj",
]


def _golden_tensors(text: str) -> dict:
    """name -> nested list for every ``name=tensor([...])`` / ``name =  tensor([...])`` printed."""
    out = {}
    for m in re.finditer(r"(\w+)\s*=\s*tensor\((\[[^()]*?\])\)", text, re.S):
        if "..." in m.group(2):
            continue
        out.setdefault(m.group(1), ast.literal_eval(m.group(2).replace("\n", " ")))
    return out


def _check_against_golden(path: Path, golden: Path, verts, faces, aux) -> None:
    text = golden.read_text()
    g = _golden_tensors(text)
    torch.testing.assert_close(verts, torch.tensor(g["vertices"]), atol=5e-5, rtol=0)
    for field in ("verts_idx", "normals_idx", "textures_idx", "materials_idx"):
        assert getattr(faces, field).tolist() == g[field], field
    for field in ("normals", "verts_uvs"):
        value = getattr(aux, field)
        if f"{field}=None" in text:
            assert value is None
        else:
            torch.testing.assert_close(value, torch.tensor(g[field]), atol=5e-5, rtol=0)
    # material_colors={'Name': {'ambient_color': tensor(...), ...}}
    mat = re.search(r"material_colors=\{'(\w+)': \{(.*?)\}\}", text, re.S)
    assert list(aux.material_colors) == [mat.group(1)]
    props = dict(re.findall(r"'(\w+)': tensor\((\[[^()]*\])\)", mat.group(2)))
    got = aux.material_colors[mat.group(1)]
    assert list(got) == list(props)
    for key, val in props.items():
        torch.testing.assert_close(got[key], torch.tensor(ast.literal_eval(val)), atol=5e-5, rtol=0)
    assert "texture_atlas=None" in text and aux.texture_atlas is None


class TestLoadObj:
    def test_smoke(self, book_dir):
        verts, faces, aux = load_obj(book_dir / "chap2/data/cube.obj")
        assert isinstance(faces, Faces) and isinstance(aux, Properties)
        assert type(faces).__name__ == "Faces" and type(aux).__name__ == "Properties"

    def test_matches_reference_cube_texture(self, book_dir):
        d = book_dir / "chap1/obj_io"
        verts, faces, aux = load_obj(d / "cube_texture.obj")
        _check_against_golden(
            d / "cube_texture.obj", d / "obj_example2_output.txt", verts, faces, aux
        )
        text = (d / "obj_example2_output.txt").read_text()
        assert list(aux.texture_images) == ["Skin"]
        img = aux.texture_images["Skin"]
        assert img.shape == (250, 250, 3) and img.dtype == torch.float32
        first = [
            float(x)
            for x in re.search(r"'Skin': tensor\(\[\[\[([^\]]*)\]", text).group(1).split(",")
        ]
        torch.testing.assert_close(img[0, 0], torch.tensor(first), atol=5e-5, rtol=0)
        last = re.findall(r"\[([-\d., ]+)\]\]\]\)\}", text)[0]
        torch.testing.assert_close(
            img[-1, -1], torch.tensor(ast.literal_eval(f"[{last}]")), atol=5e-5, rtol=0
        )

    def test_matches_reference_cube(self, book_dir):
        d = book_dir / "chap1/obj_io"
        verts, faces, aux = load_obj(d / "cube.obj")
        _check_against_golden(d / "cube.obj", d / "obj_example1_output.txt", verts, faces, aux)
        assert aux.texture_images == {}

    @pytest.mark.parametrize("rel", OBJ_FILES)
    def test_matches_trimesh(self, book_dir, rel):
        trimesh = pytest.importorskip("trimesh")
        path = book_dir / rel
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = trimesh.load(path, process=False, maintain_order=True)
        verts, faces, _ = load_obj(path, load_textures=False)
        np.testing.assert_allclose(verts.numpy(), ref.vertices, atol=1e-6)
        np.testing.assert_array_equal(faces.verts_idx.numpy(), ref.faces)

    def test_shapes(self):
        text = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0 9\nvn 0 0 1\nf 1/1 2/1 3/1 4/1\n"
        verts, faces, aux = load_obj(io.StringIO(text))
        assert verts.shape == (4, 3) and verts.dtype == torch.float32
        assert faces.verts_idx.tolist() == [[0, 1, 2], [0, 2, 3]]  # fan triangulation
        assert faces.textures_idx.tolist() == [[0, 0, 0], [0, 0, 0]]
        assert faces.normals_idx.tolist() == [[-1, -1, -1]] * 2
        assert faces.materials_idx.tolist() == [-1, -1]
        assert aux.verts_uvs.shape == (1, 2)  # third vt value dropped
        assert aux.normals.shape == (1, 3)
        assert aux.material_colors is None and aux.texture_images is None

    def test_face_formats_and_relative_indices(self):
        text = (
            "# comment\r\nv 0 0 0\r\nv 1 0 0\r\nv 0 1 0\r\nvn 0 0 1\r\nvt 0.5 0.5\r\n"
            "g grp\r\no obj\r\ns 1\r\n"
            "f 1//1 2//1 3//1\r\nf -3/-1/-1 -2/-1/-1 -1/-1/-1\r\n  f 1 2 \\\r\n 3\r\n"
            "v 0 0 1\r\nf -1 1 2 # trailing comment\r\n"
        )
        verts, faces, aux = load_obj(io.BytesIO(text.encode()))
        assert verts.shape == (4, 3)
        assert faces.verts_idx.tolist() == [[0, 1, 2], [0, 1, 2], [0, 1, 2], [3, 0, 1]]
        assert faces.normals_idx.tolist() == [[0, 0, 0], [0, 0, 0], [-1] * 3, [-1] * 3]
        assert faces.textures_idx.tolist() == [[-1] * 3, [0, 0, 0], [-1] * 3, [-1] * 3]

    def test_materials_and_atlas(self, tmp_path):
        from PIL import Image

        img = np.zeros((4, 4, 3), dtype=np.uint8)
        img[:2] = 255  # top half white, bottom half black
        Image.fromarray(img).save(tmp_path / "tex.png")
        (tmp_path / "m.mtl").write_text(
            "newmtl red\nKd 1 0 0\nKa 0.1 0.1 0.1\nd 1\nillum 2\n"
            "newmtl tex\nKd 0 1 0\nmap_Kd tex.png\n"
        )
        (tmp_path / "m.obj").write_text(
            "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 0 0.99\n"
            "f 1 2 3\nusemtl red\nf 1 2 3\nusemtl tex\nf 1/1 2/2 3/3\nf 1/4 2/4 3/4\n"
            "usemtl red\nf 1 2 3\n"
        )
        verts, faces, aux = load_obj(
            tmp_path / "m.obj", create_texture_atlas=True, texture_atlas_size=2
        )
        assert faces.materials_idx.tolist() == [-1, 0, 1, 1, 0]
        assert set(aux.material_colors) == {"red", "tex"}
        assert aux.texture_images["tex"].shape == (4, 4, 3)
        atlas = aux.texture_atlas
        assert atlas.shape == (5, 2, 2, 3)
        torch.testing.assert_close(atlas[0], torch.ones(2, 2, 3))  # no material: white
        torch.testing.assert_close(atlas[1], torch.tensor([1.0, 0, 0]).expand(2, 2, 3))
        torch.testing.assert_close(atlas[3], torch.ones(2, 2, 3))  # v = 0.99: top row, white
        assert atlas[2].min() < 1.0  # samples the black half near v = 0

    def test_make_material_atlas_matches_bruteforce(self):
        image = torch.rand(5, 7, 3)
        uvs = torch.rand(6, 3, 2)
        R = 3
        atlas = make_material_atlas(image, uvs, R)
        H, W = 5, 7
        for f in range(6):
            for y in range(R):
                for x in range(R):
                    if x + y < R:
                        w0, w1 = (x + 1 / 3) / R, (y + 1 / 3) / R
                    else:
                        w0, w1 = (R - 1 - x + 2 / 3) / R, (R - 1 - y + 2 / 3) / R
                    u, v = (uvs[f] * torch.tensor([w0, w1, 1 - w0 - w1])[:, None]).sum(0)
                    px, py = float(u) * (W - 1), float(v) * (H - 1)
                    x0, y0 = int(px), int(py)
                    x1, y1 = min(x0 + 1, W - 1), min(y0 + 1, H - 1)
                    ax, ay = px - x0, py - y0
                    want = (
                        image[y0, x0] * (1 - ax) * (1 - ay) + image[y0, x1] * ax * (1 - ay)
                        + image[y1, x0] * (1 - ax) * ay + image[y1, x1] * ax * ay
                    )  # fmt: skip
                    torch.testing.assert_close(atlas[f, y, x], want, atol=1e-5, rtol=0)

    def test_missing_mtl_and_texture_warn(self, tmp_path):
        (tmp_path / "a.obj").write_text(
            "mtllib nope.mtl\nusemtl x\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
        )
        with pytest.warns(UserWarning, match="nope.mtl"):
            verts, faces, aux = load_obj(tmp_path / "a.obj")
        assert faces.verts_idx.shape == (1, 3)
        (tmp_path / "b.mtl").write_text("newmtl x\nKd 1 1 1\nmap_Kd gone.png\n")
        (tmp_path / "b.obj").write_text(
            "mtllib b.mtl\nusemtl x\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
        )
        with pytest.warns(UserWarning, match="gone.png"):
            verts, faces, aux = load_obj(tmp_path / "b.obj")
        assert aux.texture_images == {} and "x" in aux.material_colors

    def test_exceptions(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            load_obj(tmp_path / "missing.obj")
        with pytest.raises((IsADirectoryError, ValueError), match=str(tmp_path)):
            load_obj(tmp_path)
        with pytest.raises(ValueError, match="texture_wrap"):
            load_obj(io.StringIO("v 0 0 0\n"), texture_wrap="mirror")


BAD_OBJ = [
    ("v 0 0 0\nv 1 0\n", 2, "needs 3 values"),
    ("v 0 0 0\nv 1 x 0\n", 2, "non-numeric"),
    ("v 0 0 0\nvt 0.5\n", 2, "needs 2 values"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", 4, "out of range"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 0\n", 4, "index 0"),
    ("v 0 0 0\nv 1 0 0\nf -1 -2 -3\nv 0 1 0\n", 3, "before the first"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", 4, "at least 3"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 a\n", 4, "non-numeric"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2 3/1\n", 5, "mixes"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 1\nf 1//1 2//1 3//2\n", 5, "out of range"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/1/1/1 2 3\n", 4, "more than 3"),
    ("v 0 0 0\nusemtl\n", 2, "usemtl"),
]


class TestLoadObjBadInput:
    @pytest.mark.parametrize("text,line,reason", BAD_OBJ)
    def test_exceptions(self, tmp_path, text, line, reason):
        path = tmp_path / "bad.obj"
        path.write_text(text)
        with pytest.raises(ValueError, match=re.escape(f"{path}:{line}: ") + f".*{reason}"):
            load_obj(path)

    def test_truncated_and_binary_garbage(self, tmp_path):
        path = tmp_path / "t.obj"
        path.write_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2")
        with pytest.raises(ValueError, match=f"{path}:5: .*at least 3"):
            load_obj(path)
        path.write_bytes(b"v 0 0 0\n\xff\xfe\x00")
        with pytest.raises(ValueError, match=f"{path}.*UTF-8"):
            load_obj(path)


def _random_mesh(n_verts=20, n_faces=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    verts = torch.rand(n_verts, 3, generator=g) * 2 - 1
    faces = torch.randint(0, n_verts, (n_faces, 3), generator=g)
    return verts, faces


class TestSaveObj:
    @pytest.mark.parametrize("with_normals", [False, True])
    @pytest.mark.parametrize("with_uvs", [False, True])
    def test_round_trip(self, tmp_path, with_normals, with_uvs):
        verts, faces = _random_mesh()
        kw = {}
        if with_normals:
            kw["normals"] = torch.nn.functional.normalize(torch.randn(7, 3), dim=1)
            kw["faces_normals_idx"] = torch.randint(0, 7, faces.shape)
        if with_uvs:
            kw["verts_uvs"] = torch.rand(11, 2)
            kw["faces_uvs"] = torch.randint(0, 11, faces.shape)
        path = tmp_path / "m.obj"
        save_obj(path, verts, faces, **kw)
        v2, f2, aux = load_obj(path)
        torch.testing.assert_close(v2, verts, atol=1e-6, rtol=0)
        assert torch.equal(f2.verts_idx, faces)
        if with_normals:
            torch.testing.assert_close(aux.normals, kw["normals"], atol=1e-6, rtol=0)
            assert torch.equal(f2.normals_idx, kw["faces_normals_idx"])
        else:
            assert aux.normals is None and bool((f2.normals_idx == -1).all())
        if with_uvs:
            torch.testing.assert_close(aux.verts_uvs, kw["verts_uvs"], atol=1e-6, rtol=0)
            assert torch.equal(f2.textures_idx, kw["faces_uvs"])
        else:
            assert aux.verts_uvs is None

    def test_round_trip_texture(self, tmp_path):
        verts, faces = _random_mesh()
        uvs, fuv = torch.rand(9, 2), torch.randint(0, 9, faces.shape)
        tex = torch.rand(8, 6, 3)
        save_obj(tmp_path / "t.obj", verts, faces, verts_uvs=uvs, faces_uvs=fuv, texture_map=tex)
        assert (tmp_path / "t.mtl").exists() and (tmp_path / "t.png").exists()
        _, f2, aux = load_obj(tmp_path / "t.obj")
        img = aux.texture_images["mesh"]
        torch.testing.assert_close(img, (tex * 255).round() / 255, atol=1e-6, rtol=0)
        assert torch.equal(f2.textures_idx, fuv)

    def test_decimal_places_and_stream(self):
        buf = io.StringIO()
        save_obj(
            buf, torch.tensor([[0.123456, 1.0, -2.5]]), torch.zeros(0, 3, dtype=torch.int64), 2
        )
        assert buf.getvalue() == "v 0.12 1.00 -2.50\n"

    def test_exceptions(self, tmp_path):
        verts, faces = _random_mesh()
        with pytest.raises(ValueError, match="verts"):
            save_obj(tmp_path / "x.obj", verts[:, :2], faces)
        with pytest.raises(ValueError, match="faces"):
            save_obj(tmp_path / "x.obj", verts, faces + 100)
        with pytest.raises(ValueError, match="together"):
            save_obj(tmp_path / "x.obj", verts, faces, normals=torch.rand(3, 3))
        with pytest.raises(ValueError, match="path"):
            save_obj(
                io.BytesIO(), verts, faces, verts_uvs=torch.rand(3, 2),
                faces_uvs=torch.zeros_like(faces), texture_map=torch.rand(2, 2, 3),
            )  # fmt: skip


class TestDevice:
    def test_shapes(self, book_dir, device):
        d = book_dir / "chap1/obj_io"
        verts, faces, aux = load_obj(
            d / "cube_texture.obj", create_texture_atlas=True, device=device
        )
        tensors = [verts, *faces, aux.normals, aux.verts_uvs, aux.texture_atlas]
        tensors += list(aux.texture_images.values()) + list(aux.material_colors["Skin"].values())
        assert all(t.device.type == device.type for t in tensors)
        assert aux.texture_atlas.shape == (12, 4, 4, 3)
