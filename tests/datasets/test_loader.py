"""load_scene: format detection and the bad-input errors every reader shares."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inverse3d.datasets.loader import detect_format, load_scene

H, W = 12, 16


def _folder(root, write_png, look_at_cv, n=3):
    cams = []
    for i in range(n):
        R, t = look_at_cv(np.array([0.5 * i + 0.2, 1.0, 3.0]))
        write_png(root / "images" / f"{i}.png", np.full((H, W, 3), 0.2 * i))
        cams.append({"image": f"{i}.png", "K": [[20, 0, 7.5], [0, 20, 5.5], [0, 0, 1]],
                     "R": R.tolist(), "t": t.tolist()})  # fmt: skip
    (root / "cameras.json").write_text(json.dumps({"image_size": [H, W], "cameras": cams}))
    return cams


class TestDetectFormat:
    def test_smoke(self, tmp_path):
        for sub, files, fmt in [
            ("a", ["cameras.json"], "folder"),
            ("b", ["transforms.json"], "blender"),
            ("c", ["transforms_train.json"], "blender"),
            ("d", ["cameras.npz"], "dtu"),
            ("e", ["sparse/0/cameras.txt"], "colmap"),
            ("f", ["sparse/cameras.txt"], "colmap"),
        ]:
            for f in files:
                p = tmp_path / sub / f
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text("")
            assert detect_format(tmp_path / sub) == fmt
            assert detect_format(tmp_path / sub / files[0]) == fmt

    def test_exceptions(self, tmp_path):
        with pytest.raises(ValueError, match="no such file"):
            detect_format(tmp_path / "nope")
        with pytest.raises(ValueError, match="no scene found"):
            detect_format(tmp_path)


class TestLoadScene:
    def test_smoke(self, tmp_path, write_png, look_at_cv):
        _folder(tmp_path, write_png, look_at_cv)
        scene = load_scene(tmp_path)
        assert len(scene) == 3 and scene.image_size == (H, W)
        assert load_scene(tmp_path, format="folder", background="black").images.shape[0] == 3

    def test_exceptions(self, tmp_path, write_png, look_at_cv):
        missing = tmp_path / "missing"
        with pytest.raises(ValueError, match=f"{missing}: no such file"):
            load_scene(missing)
        with pytest.raises(ValueError, match="format must be one of"):
            _folder(tmp_path, write_png, look_at_cv)
            load_scene(tmp_path, format="ply")
        img1 = tmp_path / "images" / "1.png"
        # images of different sizes
        write_png(img1, np.zeros((H + 1, W, 3)))
        with pytest.raises(ValueError, match=r"1.png: image size 13x16 \(HxW\) differs"):
            load_scene(tmp_path)
        # unreadable image
        img1.write_bytes(b"\x89PNG broken")
        with pytest.raises(ValueError, match="1.png: unreadable image"):
            load_scene(tmp_path)
        write_png(img1, np.zeros((H, W, 3)))
        # a camera missing for an image
        write_png(tmp_path / "images" / "9.png", np.zeros((H, W, 3)))
        with pytest.raises(ValueError, match="9.png: no camera"):
            load_scene(tmp_path)
        (tmp_path / "images" / "9.png").unlink()
        # NaN in cameras
        meta = json.loads((tmp_path / "cameras.json").read_text())
        meta["cameras"][2]["t"][1] = float("nan")
        (tmp_path / "cameras.json").write_text(json.dumps(meta))
        with pytest.raises(ValueError, match=r"cameras.json: cameras\[2\] \(2.png\): camera t"):
            load_scene(tmp_path)
        meta["cameras"][2]["t"][1] = 0.0
        (tmp_path / "cameras.json").write_text(json.dumps(meta))
        # masks of the wrong size
        for i in range(3):
            write_png(tmp_path / "masks" / f"{i}.png", np.ones((H, W if i else W - 2)))
        with pytest.raises(ValueError, match="0.png: mask size 12x14"):
            load_scene(tmp_path)
        write_png(tmp_path / "masks" / "0.png", np.ones((H, W)))
        assert load_scene(tmp_path).masks.shape == (3, H, W)
