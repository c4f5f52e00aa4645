"""COLMAP text models: quaternion world-to-camera poses, PINHOLE / SIMPLE_PINHOLE / OPENCV."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inverse3d.datasets.colmap import (
    load_colmap_scene,
    qvec_to_rotmat,
    read_colmap_cameras,
    read_colmap_images,
)

H, W = 18, 26
scipy_rot = pytest.importorskip("scipy.spatial.transform")


def _write(root, rng, write_png, n=3, model_dir="sparse/0"):
    d = root / model_dir
    d.mkdir(parents=True)
    (d / "cameras.txt").write_text(
        "# Camera list with one line of data per camera:\n"
        f"1 PINHOLE {W} {H} 30.5 28.0 12.9 9.4\n"
        f"2 SIMPLE_PINHOLE {W} {H} 33.0 13.0 8.7\n"
        f"3 OPENCV {W} {H} 29.0 31.0 13.3 9.1 0.0 0.0 0.0 0.0\n"
    )
    lines = ["# Image list with two lines of data per image:", "#   IMAGE_ID, QW, ..."]
    truth = []
    quats = scipy_rot.Rotation.random(n, random_state=1).as_quat()  # (x, y, z, w)
    for i in range(n):
        qx, qy, qz, qw = quats[i]
        t = rng.uniform(-0.3, 0.3, size=3) + [0, 0, 3.0]
        cam = 1 + i % 3
        name = f"img_{n - i}.png"  # file order differs from name order
        lines.append(f"{i + 1} {qw} {qx} {qy} {qz} {t[0]} {t[1]} {t[2]} {cam} {name}")
        lines.append("" if i % 2 else "10.0 12.0 -1 3.5 4.5 7")
        img = rng.uniform(size=(H, W, 3))
        write_png(root / "images" / name, img)
        R = scipy_rot.Rotation.from_quat(quats[i]).as_matrix()
        truth.append((name, R, t, cam, np.rint(img * 255) / 255))
    (d / "images.txt").write_text("\n".join(lines) + "\n")
    return sorted(truth)


_K = {
    1: np.array([[30.5, 0, 12.9], [0, 28.0, 9.4], [0, 0, 1]]),
    2: np.array([[33.0, 0, 13.0], [0, 33.0, 8.7], [0, 0, 1]]),
    3: np.array([[29.0, 0, 13.3], [0, 31.0, 9.1], [0, 0, 1]]),
}


class TestLoadColmapScene:
    def test_convention(self, tmp_path, write_png):
        rng = np.random.default_rng(0)
        truth = _write(tmp_path, rng, write_png)
        scene = load_colmap_scene(tmp_path)
        assert scene.extra["image_names"] == [t[0] for t in truth]
        X = rng.uniform(-1, 1, size=(40, 3))
        ours = scene.cameras.transform_points_screen(
            torch.from_numpy(X).float()[None].expand(3, -1, -1)
        )
        for i, (_, R, t, cam, img) in enumerate(truth):
            np.testing.assert_allclose(scene.images[i].numpy(), img, atol=1e-6)
            x = X @ R.T + t
            uv = (x @ _K[cam].T)[:, :2] / x[:, 2:]  # COLMAP: pixel centres at +0.5 as ours
            np.testing.assert_allclose(ours[i, :, :2].numpy(), uv, atol=1e-3)

    def test_readers(self, tmp_path, write_png):
        truth = _write(tmp_path, np.random.default_rng(1), write_png, n=4)
        cams = read_colmap_cameras(tmp_path / "sparse/0/cameras.txt")
        assert sorted(cams) == [1, 2, 3] and cams[2]["model"] == "SIMPLE_PINHOLE"
        np.testing.assert_allclose(cams[2]["K"], _K[2])
        imgs = read_colmap_images(tmp_path / "sparse/0/images.txt")
        assert len(imgs) == 4  # empty POINTS2D lines do not shift the pairs
        by_name = {d["name"]: d for d in imgs}
        for name, R, t, *_ in truth:
            np.testing.assert_allclose(by_name[name]["R"], R, atol=1e-12)
            np.testing.assert_allclose(by_name[name]["t"], t)

    def test_qvec_to_rotmat_matches_scipy(self):
        q = scipy_rot.Rotation.random(10, random_state=0).as_quat()
        wxyz = np.concatenate([q[:, 3:], q[:, :3]], axis=1) * 2.0  # unnormalised on purpose
        ref = scipy_rot.Rotation.from_quat(q).as_matrix()
        np.testing.assert_allclose(qvec_to_rotmat(wxyz), ref, atol=1e-12)

    def test_masks_and_test_every(self, tmp_path, write_png):
        rng = np.random.default_rng(2)
        truth = _write(tmp_path, rng, write_png, n=3, model_dir="sparse")
        for name, *_ in truth:
            write_png(tmp_path / "masks" / name, np.ones((H, W)))
        scene = load_colmap_scene(tmp_path, test_every=2)
        assert scene.masks.shape == (3, H, W) and bool((scene.masks == 1).all())
        assert scene.test_idx == [0, 2] and scene.train_idx == [1]

    def test_exceptions(self, tmp_path, write_png):
        rng = np.random.default_rng(3)
        truth = _write(tmp_path, rng, write_png, n=3)
        cam_file = tmp_path / "sparse/0/cameras.txt"
        text = cam_file.read_text()
        cam_file.write_text(text.replace("0.0 0.0 0.0 0.0", "0.1 0.0 0.0 0.0"))
        scene = load_colmap_scene(tmp_path)  # distortion is kept, per image (camera 3 only)
        assert scene.distortion.model == "opencv"
        ks = scene.distortion.coeffs[:, 0].tolist()
        assert ks == pytest.approx([0.1 if cam == 3 else 0.0 for _, _, _, cam, _ in truth])
        cam_file.write_text(text.replace("PINHOLE", "FISHEYE", 1))
        with pytest.raises(ValueError, match=r"cameras.txt:2: unsupported camera model"):
            load_colmap_scene(tmp_path)
        cam_file.write_text(text.replace("30.5", "nan"))
        with pytest.raises(ValueError, match="cameras.txt:2.*NaN"):
            load_colmap_scene(tmp_path)
        cam_file.write_text(text)
        write_png(tmp_path / "images" / "unregistered.png", np.zeros((H, W, 3)))
        with pytest.warns(UserWarning, match="1 image.*without a camera.*unregistered.png"):
            assert len(load_colmap_scene(tmp_path)) == 3
        (tmp_path / "images" / truth[0][0]).unlink()
        with pytest.raises(ValueError, match="not found"):
            load_colmap_scene(tmp_path)
