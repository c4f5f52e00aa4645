"""Our folder format: convention (OpenCV, pixel (0, 0) centred at 0), round trips, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inverse3d.datasets.folder import load_folder_scene, write_folder_scene
from inverse3d.datasets.synthetic import make_synthetic_scene

H, W = 24, 32


def _write_scene(root, rng, look_at_cv, random_centres, write_png, n=4, masks=True):
    centres = random_centres(n, rng)
    cams, imgs = [], []
    for i, c in enumerate(centres):
        R, t = look_at_cv(c)
        K = np.array([[40.0 + i, 0, 15.3 + i], [0, 38.0, 11.7 - i], [0, 0, 1]])
        img = rng.uniform(size=(H, W, 3))
        write_png(root / "images" / f"v{i}.png", img)
        imgs.append(np.rint(img * 255) / 255)
        if masks:
            write_png(root / "masks" / f"v{i}.png", (rng.uniform(size=(H, W)) > 0.5) * 1.0)
        cams.append({"image": f"v{i}.png", "K": K.tolist(), "R": R.tolist(), "t": t.tolist()})
    meta = {"image_size": [H, W], "cameras": cams, "split": {"train": [0, 1], "test": ["v3"]}}
    (root / "cameras.json").write_text(json.dumps(meta))
    return meta, np.stack(imgs)


class TestLoadFolderScene:
    def test_smoke(self, tmp_path, look_at_cv, random_centres, write_png):
        rng = np.random.default_rng(0)
        _write_scene(tmp_path, rng, look_at_cv, random_centres, write_png)
        scene = load_folder_scene(tmp_path)
        assert len(scene) == 4
        assert scene.train_idx == [0, 1] and scene.test_idx == [3]
        assert scene.extra["image_names"] == [f"v{i}.png" for i in range(4)]

    def test_shapes(self, tmp_path, look_at_cv, random_centres, write_png):
        rng = np.random.default_rng(1)
        _, imgs = _write_scene(tmp_path, rng, look_at_cv, random_centres, write_png)
        scene = load_folder_scene(tmp_path / "cameras.json")
        assert scene.images.shape == (4, H, W, 3) and scene.masks.shape == (4, H, W)
        torch.testing.assert_close(scene.images, torch.from_numpy(imgs).float())
        assert set(scene.masks.unique().tolist()) <= {0.0, 1.0}

    def test_convention_opencv_pixels(self, tmp_path, look_at_cv, random_centres, write_png):
        rng = np.random.default_rng(2)
        meta, _ = _write_scene(tmp_path, rng, look_at_cv, random_centres, write_png)
        scene = load_folder_scene(tmp_path)
        X = rng.uniform(-1, 1, size=(50, 3))
        ours = scene.cameras.transform_points_screen(
            torch.from_numpy(X).float()[None].expand(4, -1, -1)
        )
        for i, cam in enumerate(meta["cameras"]):
            K, R, t = (np.asarray(cam[k]) for k in ("K", "R", "t"))
            x = X @ R.T + t
            uv = (x @ K.T)[:, :2] / x[:, 2:]
            # OpenCV puts pixel (0, 0)'s centre at 0; our screen space at 0.5.
            np.testing.assert_allclose(ours[i, :, :2].numpy(), uv + 0.5, atol=1e-3)

    def test_downscale(self, tmp_path, look_at_cv, random_centres, write_png):
        rng = np.random.default_rng(3)
        meta, imgs = _write_scene(tmp_path, rng, look_at_cv, random_centres, write_png)
        full = load_folder_scene(tmp_path)
        half = load_folder_scene(tmp_path, downscale=2)
        assert half.images.shape == (4, H // 2, W // 2, 3)
        torch.testing.assert_close(
            half.images,
            full.images.reshape(4, H // 2, 2, W // 2, 2, 3).mean((2, 4)),
            atol=1e-5,
            rtol=0,
        )
        X = torch.rand(1, 30, 3).expand(4, -1, -1) - 0.5
        a = full.cameras.transform_points_screen(X)[..., :2]
        b = half.cameras.transform_points_screen(X)[..., :2]
        torch.testing.assert_close(b, a / 2, atol=1e-4, rtol=0)  # continuous coordinates scale

    def test_exceptions(self, tmp_path, look_at_cv, random_centres, write_png):
        with pytest.raises(ValueError, match="no such file"):
            load_folder_scene(tmp_path / "missing")
        rng = np.random.default_rng(4)
        meta, _ = _write_scene(tmp_path, rng, look_at_cv, random_centres, write_png)
        cam_file = tmp_path / "cameras.json"
        bad = json.loads(cam_file.read_text())
        bad["cameras"][1]["R"][0][0] = float("nan")
        cam_file.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=r"cameras\[1\].*NaN"):
            load_folder_scene(tmp_path)
        cam_file.write_text(json.dumps(meta))
        write_png(tmp_path / "images" / "extra.png", np.zeros((H, W, 3)))
        with pytest.raises(ValueError, match="extra.png: no camera"):
            load_folder_scene(tmp_path)
        (tmp_path / "images" / "extra.png").unlink()
        write_png(tmp_path / "masks" / "v2.png", np.zeros((H, W + 1)))
        with pytest.raises(ValueError, match="v2.png: mask size"):
            load_folder_scene(tmp_path)
        write_png(tmp_path / "masks" / "v2.png", np.zeros((H, W)))
        write_png(tmp_path / "images" / "v1.png", np.zeros((H + 2, W, 3)))
        with pytest.raises(ValueError, match="v1.png: image size"):
            load_folder_scene(tmp_path)
        (tmp_path / "images" / "v1.png").write_bytes(b"not a png")
        with pytest.raises(ValueError, match="v1.png: unreadable image"):
            load_folder_scene(tmp_path)
        cam_file.write_text("{ not json")
        with pytest.raises(ValueError, match="cameras.json: not valid JSON"):
            load_folder_scene(tmp_path)


@pytest.fixture(scope="module")
def small_scene():
    return make_synthetic_scene(n_views=3, n_test=2, image_size=24, seed=3)


class TestWriteFolderScene:
    def test_round_trip(self, tmp_path, small_scene):
        s = small_scene
        out = write_folder_scene(s, tmp_path / "scene")
        r = load_folder_scene(out)
        assert r.train_idx == s.train_idx and r.test_idx == s.test_idx
        torch.testing.assert_close(r.images, s.images, atol=0.5 / 255 + 1e-6, rtol=0)
        torch.testing.assert_close(r.masks, s.masks, atol=0.5 / 255 + 1e-6, rtol=0)
        torch.testing.assert_close(r.depths, s.depths)
        X = torch.randn(len(s), 40, 3) * 0.5
        torch.testing.assert_close(
            r.cameras.transform_points_screen(X),
            s.cameras.transform_points_screen(X),
            atol=1e-4,
            rtol=1e-5,
        )
        torch.testing.assert_close(r.gt_mesh.verts_packed(), s.gt_mesh.verts_packed())
        assert torch.equal(r.gt_mesh.faces_packed(), s.gt_mesh.faces_packed())
        torch.testing.assert_close(
            r.gt_mesh.textures.verts_features_packed(), s.gt_mesh.textures.verts_features_packed()
        )

    def test_cameras_json_is_opencv(self, tmp_path, small_scene):
        out = write_folder_scene(small_scene, tmp_path / "s")
        meta = json.loads((out / "cameras.json").read_text())
        H_, W_ = small_scene.image_size
        X = np.random.default_rng(0).normal(size=(20, 3)) * 0.4
        ours = small_scene.cameras.transform_points_screen(
            torch.from_numpy(X).float()[None].expand(len(small_scene), -1, -1)
        )
        for i, cam in enumerate(meta["cameras"]):
            K, R, t = (np.asarray(cam[k]) for k in ("K", "R", "t"))
            np.testing.assert_allclose(K[:2, 2], [(W_ - 1) / 2, (H_ - 1) / 2], atol=1e-5)
            x = X @ R.T + t
            uv = (x @ K.T)[:, :2] / x[:, 2:]
            np.testing.assert_allclose(ours[i, :, :2].numpy(), uv + 0.5, atol=1e-3)

    def test_exceptions(self, tmp_path, small_scene):
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x.txt").write_text("x")
        with pytest.raises(ValueError, match="not empty"):
            write_folder_scene(small_scene, tmp_path / "full")
        write_folder_scene(small_scene, tmp_path / "full", overwrite=True)
        with pytest.raises(TypeError, match="scene must be a SceneData"):
            write_folder_scene({"images": 1}, tmp_path / "o")
