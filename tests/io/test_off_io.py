"""OFF reader / writer: hand-written files, round trips, errors naming file and line."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from inverse3d.io.off_io import load_off, save_off

CUBE_QUADS = """OFF
# a unit cube made of quads
8 6 12
0 0 0
0 0 1
0 1 1
0 1 0
1 0 0
1 0 1
1 1 1
1 1 0
4 0 1 2 3
4 7 6 5 4
4 0 4 5 1
4 1 5 6 2
4 2 6 7 3
4 3 7 4 0
"""


class TestLoadOff:
    def test_smoke(self):
        data = load_off(io.StringIO(CUBE_QUADS))
        assert data["verts"].shape == (8, 3) and data["faces"].shape == (12, 3)
        assert "verts_colors" not in data and "faces_colors" not in data

    def test_matches_reference(self):
        data = load_off(io.StringIO(CUBE_QUADS))
        quads = np.array(
            [[0, 1, 2, 3], [7, 6, 5, 4], [0, 4, 5, 1], [1, 5, 6, 2], [2, 6, 7, 3], [3, 7, 4, 0]]
        )
        # PyTorch3D's order (io/off_io.py _read_faces_lump, np.vstack of the fans): the first
        # triangle of every quad, then the second triangle of every quad
        want = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], axis=0)
        np.testing.assert_array_equal(data["faces"], want)
        np.testing.assert_array_equal(data["verts"][6], [1, 1, 1])

    def test_colors(self):
        # PyTorch3D's rule (io/off_io.py _read_verts): vertex colours are integers, scaled by
        # 1/255, when the first vertex line has exactly 3 periods; here x y z have them
        text = (
            "OFF 3 1 0\n0. 0. 0. 255 0 0\n1. 0. 0. 0 255 0\n0. 1. 0. 0 0 255\n"
            "3 0 1 2 0.5 0.25 0.125\n"
        )
        data = load_off(io.BytesIO(text.encode()))
        np.testing.assert_allclose(data["verts_colors"], np.eye(3))
        np.testing.assert_allclose(data["faces_colors"], [[0.5, 0.25, 0.125]])
        # integer coordinates: no period, so the colours are kept as written (not scaled)
        text = "OFF 3 1 0\n0 0 0 255 0 0\n1 0 0 0 255 0\n0 1 0 0 0 255\n3 0 1 2 255 0 0\n"
        data = load_off(io.BytesIO(text.encode()))
        np.testing.assert_allclose(data["verts_colors"], 255 * np.eye(3))
        np.testing.assert_allclose(data["faces_colors"], [[1.0, 0.0, 0.0]])  # no period: /255

    @pytest.mark.parametrize(
        "text,line,reason",
        [
            ("OFF\n3 1 0\n0 0 0\n1 0 0\n", 4, "file ends"),
            ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", 6, "out of range"),
            ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n1 1 1\n", 7, "Extra data at end of file"),
            ("OFF\n3 1 0\n0 0 0\n1 q 0\n0 1 0\n3 0 1 2\n", 4, "non-numeric"),
            ("OFF\n3 1 0\n0 0 0\n1 0\n0 1 0\n3 0 1 2\n", 4, "Bad vertex data"),
            ("OFF\n3 x 0\n", 2, "counts"),
            ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n2 0 1\n", 6, "vertex count"),
            ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 1.5\n", 6, "out of range"),
        ],
    )
    def test_exceptions(self, tmp_path, text, line, reason):
        p = tmp_path / "bad.off"
        p.write_text(text)
        with pytest.raises(ValueError, match=re.escape(f"{p}:{line}: ") + f".*{reason}"):
            load_off(p)

    def test_missing(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            load_off(tmp_path / "no.off")
        with pytest.raises((IsADirectoryError, ValueError)):
            load_off(tmp_path)


class TestSaveOff:
    @pytest.mark.parametrize(
        "vc,fc,with_faces",
        [(vc, fc, wf) for vc in (None, 3, 4) for fc in (None, 3) for wf in (True, False)
         if wf or not fc],
    )  # fmt: skip
    def test_round_trip(self, tmp_path, vc, fc, with_faces):
        verts = torch.rand(9, 3)
        faces = torch.randint(0, 9, (5, 3)) if with_faces else None
        vcol = torch.rand(9, vc) if vc else None
        fcol = torch.rand(5, fc) if fc else None
        save_off(tmp_path / "m.off", verts, faces, verts_colors=vcol, faces_colors=fcol)
        data = load_off(tmp_path / "m.off")
        np.testing.assert_allclose(data["verts"], verts.numpy(), atol=1e-6)
        if with_faces:
            np.testing.assert_array_equal(data["faces"], faces.numpy())
        else:
            assert "faces" not in data
        if vc:
            np.testing.assert_allclose(data["verts_colors"], vcol.numpy(), atol=1e-6)
        if fc:
            np.testing.assert_allclose(data["faces_colors"], fcol.numpy(), atol=1e-6)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="faces"):
            save_off(io.BytesIO(), torch.rand(3, 3), torch.tensor([[0, 1, 5]]))
        with pytest.raises(ValueError, match="verts_colors"):
            save_off(io.BytesIO(), torch.rand(3, 3), verts_colors=torch.rand(2, 3))
