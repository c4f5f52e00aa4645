"""load_ply / save_ply: book files vs trimesh, deform1.ply byte-exact rewrite, round trips, errors."""

from __future__ import annotations

import io
import re
import struct
import warnings

import numpy as np
import pytest
import torch

from inverse3d.io.ply_io import _load_ply, _save_ply, load_ply, save_ply

PLY_FILES = [
    "chap1/ply_io/cow.ply",
    "chap1/ply_io/cube.ply",
    "chap1/ply_io/parallel_plane_color.ply",
    "chap1/ply_io/parallel_plane_mono.ply",
    "chap3/deform1.ply",
    "chap3/pedestrian.ply",
]


class TestLoadPly:
    def test_smoke(self, book_dir):
        verts, faces = load_ply(book_dir / "chap1/ply_io/cube.ply")
        assert verts.shape == (8, 3) and faces.shape == (12, 3)
        assert verts.dtype == torch.float32 and faces.dtype == torch.int64

    @pytest.mark.parametrize("rel", PLY_FILES)
    def test_matches_trimesh(self, book_dir, rel):
        trimesh = pytest.importorskip("trimesh")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = trimesh.load(book_dir / rel, process=False, maintain_order=True)
        verts, faces = load_ply(book_dir / rel)
        np.testing.assert_allclose(verts.numpy(), ref.vertices, atol=1e-6)
        ref_faces = getattr(ref, "faces", np.zeros((0, 3), dtype=np.int64))
        np.testing.assert_array_equal(faces.numpy(), ref_faces)

    def test_uchar_colors(self, book_dir):
        data = _load_ply(book_dir / "chap1/ply_io/parallel_plane_color.ply")
        want = torch.tensor([[1.0, 0, 0]] * 4 + [[0, 0, 1.0]] * 4)
        torch.testing.assert_close(data.verts_colors, want)
        assert data.header.comments == ["created for the book 3D Deep Learning with Python"]

    def test_point_cloud(self, book_dir):
        verts, faces = load_ply(book_dir / "chap3/pedestrian.ply")
        assert verts.shape == (239, 3) and faces.shape == (0, 3)

    def test_matches_reference_deform1_rewrite(self, book_dir):
        path = book_dir / "chap3/deform1.ply"
        verts, faces = load_ply(path)
        buf = io.BytesIO()
        save_ply(buf, verts, faces, ascii=True)
        assert buf.getvalue() == path.read_bytes()

    def test_scalar_types_lists_and_extra_elements(self):
        # every type name, list with ushort count / uint indices, a quad and a pentagon,
        # an unknown element with a list, comments and obj_info
        header = (
            "ply\nformat binary_big_endian 1.0\ncomment hi\nobj_info made by a test\n"
            "element vertex 5\nproperty float64 x\nproperty float32 y\nproperty double z\n"
            "property int8 a\nproperty uint8 b\nproperty int16 c\nproperty uint16 d\n"
            "property int32 e\nproperty uint32 f2\nproperty char g\nproperty uchar h\n"
            "property short i\nproperty ushort j\nproperty int k\nproperty uint l\n"
            "property float nx\nproperty float ny\nproperty float nz\n"
            "property float s\nproperty float t\n"
            "element face 2\nproperty list ushort uint vertex_indices\n"
            "element edge 1\nproperty list uchar int vertex_pair\nproperty uchar w\n"
            "end_header\n"
        )
        rng = np.random.default_rng(0)
        xyz = rng.random((5, 3))
        vfmt = ">dfd bBhHiI bBhHiI fff ff".replace(" ", "")
        body = b"".join(
            struct.pack(
                vfmt, *xyz[i], -1, 2, -3, 4, -5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 1, 0.25, 0.75
            )
            for i in range(5)
        )
        body += struct.pack(">H4I", 4, 0, 1, 2, 3) + struct.pack(">H5I", 5, 4, 3, 2, 1, 0)
        body += struct.pack(">B2iB", 2, 0, 1, 9)
        data = _load_ply(io.BytesIO(header.encode() + body))
        torch.testing.assert_close(data.verts, torch.from_numpy(xyz).float(), atol=1e-7, rtol=0)
        assert data.faces.tolist() == [[0, 1, 2], [0, 2, 3], [4, 3, 2], [4, 2, 1], [4, 1, 0]]
        torch.testing.assert_close(data.verts_normals, torch.tensor([[0.0, 0, 1]] * 5))
        torch.testing.assert_close(data.verts_uvs, torch.tensor([[0.25, 0.75]] * 5))
        assert data.header.obj_info == ["made by a test"]
        edge = data.header.elements[2]
        assert edge.data["w"].tolist() == [9] and edge.data["vertex_pair"][0].tolist() == [0, 1]

    @pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
    def test_mixed_polygons(self, fmt):
        verts = np.arange(18, dtype=np.float32).reshape(6, 3)
        polys = [[0, 1, 2], [0, 1, 2, 3], [5, 4, 3, 2, 1]]
        header = (
            f"ply\nformat {fmt} 1.0\nelement vertex 6\nproperty float x\nproperty float y\n"
            "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
            "element face 3\nproperty list uchar int vertex_index\nend_header\n"
        )
        if fmt == "ascii":
            body = "".join(" ".join(map(str, v)) + " 255 0 51\n" for v in verts.tolist())
            body += "".join(f"{len(p)} " + " ".join(map(str, p)) + "\n" for p in polys)
            raw = header.encode() + body.encode()
        else:
            e = "<" if "little" in fmt else ">"
            raw = header.encode() + b"".join(
                struct.pack(e + "fffBBB", *v, 255, 0, 51) for v in verts
            )
            raw += b"".join(struct.pack(e + "B%di" % len(p), len(p), *p) for p in polys)
        data = _load_ply(io.BytesIO(raw))
        torch.testing.assert_close(data.verts, torch.from_numpy(verts))
        want = [[0, 1, 2], [0, 1, 2], [0, 2, 3], [5, 4, 3], [5, 3, 2], [5, 2, 1]]
        assert data.faces.tolist() == want
        torch.testing.assert_close(data.verts_colors, torch.tensor([[1.0, 0, 0.2]] * 6))

    def test_exceptions(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            load_ply(tmp_path / "none.ply")
        with pytest.raises((IsADirectoryError, ValueError), match=str(tmp_path)):
            load_ply(tmp_path)


def _write(tmp_path, content: bytes):
    p = tmp_path / "bad.ply"
    p.write_bytes(content)
    return p


HEAD = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
FACE = "element face 1\nproperty list uchar int vertex_index\nend_header\n"


class TestLoadPlyBadInput:
    @pytest.mark.parametrize(
        "text,line,reason",
        [
            (HEAD + FACE + "0 0 0\n1 0 0\n0 1 0\n3 0 1 5\n", 13, "out of range"),
            (HEAD + FACE + "0 0 0\n1 0 0\n0 1 0\n", 12, "file ends"),
            (HEAD + FACE + "0 0 0\n1 x 0\n0 1 0\n3 0 1 2\n", 11, "non-numeric"),
            (HEAD + FACE + "0 0 0\n1 0\n0 1 0\n3 0 1 2\n", 11, "too few"),
            (HEAD + FACE + "0 0 0\n1 0 0 0\n0 1 0\n3 0 1 2\n", 11, "too many"),
            (HEAD + FACE + "0 0 0\n1 0 0\n0 1 0\n4 0 1 2\n", 13, "announces"),
            (HEAD + FACE + "0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n0 0 0\n", 14, "after the last"),
            (HEAD + FACE + "0 0 0\n1 0 0\n0 1 0\n2 0 1\n", 13, "at least 3"),
            (HEAD + "property floot w\n" + FACE + "0 0 0\n", 7, "bad header"),
            (HEAD.replace("vertex 3", "vertex three") + FACE, 3, "element count"),
            ("ply\nformat ascii 2.0\nend_header\n", 2, "version"),
            ("ply\nformat ascii 1.0\nelemnt vertex 1\nend_header\n", 3, "unknown keyword"),
        ],
    )
    def test_ascii(self, tmp_path, text, line, reason):
        p = _write(tmp_path, text.encode())
        with pytest.raises(ValueError, match=re.escape(f"{p}:{line}: ") + f".*{reason}"):
            load_ply(p)

    def test_no_header_end_and_not_ply(self, tmp_path):
        p = _write(tmp_path, b"ply\nformat ascii 1.0\nelement vertex 1\n")
        with pytest.raises(ValueError, match=f"{p}: .*end_header"):
            load_ply(p)
        p = _write(tmp_path, b"OFF\n1 0 0\n0 0 0\n")
        with pytest.raises(ValueError, match=f"{p}:1: .*not a PLY"):
            load_ply(p)

    def test_binary_cut_short(self, tmp_path):
        buf = io.BytesIO()
        save_ply(buf, torch.rand(10, 3), torch.randint(0, 10, (7, 3)))
        raw = buf.getvalue()
        header_len = raw.index(b"end_header\n") + len(b"end_header\n")
        for cut in (header_len + 50, len(raw) - 5):
            p = _write(tmp_path, raw[:cut])
            with pytest.raises(
                ValueError, match=f"{p}: byte offset \\d+: .*(ends inside|bytes are left)"
            ):
                load_ply(p)
        p = _write(tmp_path, raw + b"\x01\x02")
        with pytest.raises(ValueError, match=f"{p}: byte offset {len(raw)}: .*after the last"):
            load_ply(p)

    def test_binary_index_out_of_range(self, tmp_path):
        buf = io.BytesIO()
        save_ply(buf, torch.rand(4, 3), torch.tensor([[0, 1, 2], [1, 2, 3]]))
        raw = bytearray(buf.getvalue())
        raw[-4:] = struct.pack("<i", 40)
        p = _write(tmp_path, bytes(raw))
        with pytest.raises(ValueError, match=f"{p}: byte offset {len(raw) - 13}: .*out of range"):
            load_ply(p)


def _random_attrs(n=15, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "verts": torch.rand(n, 3, generator=g) * 4 - 2,
        "faces": torch.randint(0, n, (23, 3), generator=g),
        "verts_normals": torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1),
        "verts_colors": torch.rand(n, 3, generator=g),
        "verts_uvs": torch.rand(n, 2, generator=g),
    }


class TestSavePly:
    @pytest.mark.parametrize("mode", ["ascii", "le", "be"])
    @pytest.mark.parametrize("faces", [True, False])
    @pytest.mark.parametrize("extra", [(), ("verts_normals",), ("verts_colors", "verts_uvs"),
                                       ("verts_normals", "verts_colors", "verts_uvs")])  # fmt: skip
    def test_round_trip(self, mode, faces, extra):
        a = _random_attrs()
        kw = {k: a[k] for k in extra}
        buf = io.BytesIO()
        _save_ply(
            buf, verts=a["verts"], faces=a["faces"] if faces else None, ascii=mode == "ascii",
            big_endian=mode == "be", **kw,
        )  # fmt: skip
        buf.seek(0)
        data = _load_ply(buf)
        tol = {"atol": 2e-6, "rtol": 0} if mode == "ascii" else {"atol": 0, "rtol": 0}
        torch.testing.assert_close(data.verts, a["verts"], **tol)
        if faces:
            assert torch.equal(data.faces, a["faces"])
        else:
            assert data.faces is None
        for key, got in (
            ("verts_normals", data.verts_normals),
            ("verts_colors", data.verts_colors),
            ("verts_uvs", data.verts_uvs),
        ):
            if key in kw:
                torch.testing.assert_close(got, kw[key], **tol)
            else:
                assert got is None

    def test_uint8_colors(self):
        a = _random_attrs()
        buf = io.BytesIO()
        _save_ply(
            buf, verts=a["verts"], faces=None, verts_colors=a["verts_colors"], colors_as_uint8=True
        )
        assert b"property uchar red" in buf.getvalue()
        buf.seek(0)
        got = _load_ply(buf).verts_colors
        torch.testing.assert_close(got, (a["verts_colors"] * 255).round() / 255)

    def test_public_colors_and_path(self, tmp_path):
        a = _random_attrs()
        save_ply(
            tmp_path / "c.ply", a["verts"], a["faces"], a["verts_normals"], colors=a["verts_colors"]
        )
        data = _load_ply(str(tmp_path / "c.ply"))
        assert torch.equal(data.verts_colors, a["verts_colors"])
        assert torch.equal(data.verts_normals, a["verts_normals"])

    def test_decimal_places(self):
        buf = io.BytesIO()
        save_ply(buf, torch.tensor([[1.0, 2.0, 3.0]]), ascii=True, decimal_places=2)
        assert buf.getvalue().endswith(b"end_header\n1.00 2.00 3.00\n")

    def test_exceptions(self):
        with pytest.raises(ValueError, match="verts"):
            save_ply(io.BytesIO(), torch.rand(3, 2))
        # PyTorch3D warns "Faces have invalid indices" and still writes the file
        # (pytorch3d/io/ply_io.py _save_ply -> io/utils.py _check_faces_indices)
        with pytest.warns(UserWarning, match="Faces have invalid indices"):
            save_ply(io.BytesIO(), torch.rand(3, 3), torch.tensor([[0, 1, 3]]))
        with pytest.warns(UserWarning, match="Faces have invalid indices"):
            save_ply(io.BytesIO(), torch.rand(3, 3), torch.tensor([[-1, 0, 1]]))
        with pytest.raises(ValueError, match="verts_normals"):
            save_ply(io.BytesIO(), torch.rand(3, 3), verts_normals=torch.rand(2, 3))


class TestBinaryVariableRecords:
    @pytest.mark.parametrize("e", ["<", ">"])
    def test_matches_reference(self, e):
        fmt = "binary_little_endian" if e == "<" else "binary_big_endian"
        header = (
            f"ply\nformat {fmt} 1.0\nelement vertex 5\nproperty float x\nproperty float y\n"
            "property float z\nelement face 4\nproperty short id\n"
            "property list ushort int vertex_indices\nproperty double w\nend_header\n"
        )
        body = b"".join(struct.pack(e + "3f", i, 0, 0) for i in range(5))
        polys = [[0, 1, 2], [0, 1, 2, 3], [4, 3, 2, 1, 0], [1, 2, 3]]
        for j, poly in enumerate(polys):
            body += struct.pack(e + "hH%did" % len(poly), -j, len(poly), *poly, j / 4)
        data = _load_ply(io.BytesIO(header.encode() + body))
        face = data.header.elements[1]
        assert face.data["id"].tolist() == [0, -1, -2, -3]
        assert face.data["w"].tolist() == [0, 0.25, 0.5, 0.75]
        flat, lens = face.data["vertex_indices"]
        assert lens.tolist() == [3, 4, 5, 3] and flat.tolist() == sum(polys, [])
        assert data.faces.tolist() == [
            [0, 1, 2], [0, 1, 2], [0, 2, 3], [4, 3, 2], [4, 2, 1], [4, 1, 0], [1, 2, 3],
        ]  # fmt: skip
        for cut in (len(body) - 3, len(body) - 20):
            with pytest.raises(ValueError, match="byte offset .*ends inside element 'face'"):
                _load_ply(io.BytesIO(header.encode() + body[:cut]))
