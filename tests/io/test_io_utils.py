"""Input kinds accepted by every loader, ParseError format, fan triangulation, texture_wrap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inverse3d.io.obj_io import load_obj
from inverse3d.io.off_io import load_off
from inverse3d.io.ply_io import load_ply
from inverse3d.io.utils import ParseError, fan_triangulate


class TestInputKinds:
    @pytest.mark.parametrize("kind", ["str", "path", "binary", "text"])
    def test_smoke(self, book_dir, kind):
        files = {
            load_obj: book_dir / "chap2/data/diamond.obj",
            load_ply: book_dir / "chap1/ply_io/cube.ply",
        }
        for loader, path in files.items():
            if kind == "str":
                out = loader(str(path))
            elif kind == "path":
                out = loader(Path(path))
            else:
                with open(path, "rb" if kind == "binary" else "r") as fh:
                    out = loader(fh)
            assert out[0].shape[1] == 3 and len(out[0]) > 0

    def test_off_kinds(self, tmp_path):
        p = tmp_path / "t.off"
        p.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
        for arg in (str(p), p):
            assert load_off(arg)["faces"].tolist() == [[0, 1, 2]]
        for mode in ("rb", "r"):
            with open(p, mode) as fh:
                assert load_off(fh)["faces"].tolist() == [[0, 1, 2]]

    def test_exceptions(self):
        with pytest.raises(TypeError):
            load_obj(12)


class TestParseError:
    def test_smoke(self):
        e = ParseError("a.obj", "bad thing", line=3)
        assert isinstance(e, ValueError) and str(e) == "a.obj:3: bad thing"
        e = ParseError("b.ply", "cut", offset=17)
        assert str(e) == "b.ply: byte offset 17: cut" and e.offset == 17


class TestFanTriangulate:
    def test_matches_reference(self):
        counts = np.array([3, 5, 4, 3])
        flat = np.arange(counts.sum())
        tri, poly = fan_triangulate(flat, counts)
        want, want_poly, s = [], [], 0
        for p, c in enumerate(counts):
            for i in range(c - 2):
                want.append([s, s + i + 1, s + i + 2])
                want_poly.append(p)
            s += c
        assert tri.tolist() == want and poly.tolist() == want_poly


class TestTextureWrap:
    OBJ = "mtllib m.mtl\nusemtl t\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 1.25 -0.5\nvt 2.5 0.25\nvt 0.5 0.5\nf 1/1 2/2 3/3\n"

    def _write(self, tmp_path):
        from PIL import Image

        Image.fromarray((np.random.default_rng(0).random((6, 6, 3)) * 255).astype(np.uint8)).save(
            tmp_path / "t.png"
        )
        (tmp_path / "m.mtl").write_text("newmtl t\nmap_Kd t.png\n")
        (tmp_path / "m.obj").write_text(self.OBJ)
        return tmp_path / "m.obj"

    def test_matches_reference(self, tmp_path):
        path = self._write(tmp_path)
        with pytest.warns(UserWarning, match="outside the range"):
            _, _, rep = load_obj(path, create_texture_atlas=True, texture_wrap="repeat")
        _, _, clamp = load_obj(path, create_texture_atlas=True, texture_wrap="clamp")
        from inverse3d.io.mtl_io import make_material_atlas

        image = torch.flip(rep.texture_images["t"], [0])
        uvs = torch.tensor([[[1.25, -0.5], [2.5, 0.25], [0.5, 0.5]]])
        torch.testing.assert_close(rep.texture_atlas, make_material_atlas(image, uvs % 1, 4))
        torch.testing.assert_close(
            clamp.texture_atlas, make_material_atlas(image, uvs.clamp(0, 1), 4)
        )
        assert not torch.allclose(rep.texture_atlas, clamp.texture_atlas)
