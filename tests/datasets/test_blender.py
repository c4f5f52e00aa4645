"""NeRF/Blender transforms.json: OpenGL camera-to-world poses, camera_angle_x / fl_x, RGBA."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from inverse3d.datasets.blender import load_blender_scene, opengl_c2w_to_opencv_w2c

H, W = 20, 30


def _gl_c2w(centre: np.ndarray) -> np.ndarray:
    """OpenGL camera-to-world looking at the origin: columns x right, y up, z backward."""
    back = centre / np.linalg.norm(centre)
    right = np.cross([0.0, 1.0, 0.0], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, back, centre
    return c2w


def _project_gl(X, c2w, fx, fy, cx, cy):
    """Pixel (u, v) of world points by the NeRF convention, written from scratch."""
    w2c = np.linalg.inv(c2w)
    x = X @ w2c[:3, :3].T + w2c[:3, 3]
    depth = -x[:, 2]  # the camera looks along -z
    u = cx + fx * x[:, 0] / depth
    v = cy - fy * x[:, 1] / depth  # +y up in the camera, rows go down
    return np.stack([u, v], -1)


def _write(root, rng, random_centres, write_png, name, n, intr, ext=".png", rgba=True):
    frames, c2ws = [], []
    for i, c in enumerate(random_centres(n, rng)):
        c2w = _gl_c2w(c)
        stem = f"{name}/r_{i}"
        img = rng.uniform(size=(H, W, 4 if rgba else 3))
        if rgba:
            img[..., 3] = rng.uniform(size=(H, W)) > 0.5
        write_png(root / (stem + ".png"), img)
        frames.append({"file_path": "./" + stem + ("" if ext is None else ext),
                       "transform_matrix": c2w.tolist()})  # fmt: skip
        c2ws.append(c2w)
    (root / f"transforms_{name}.json").write_text(json.dumps({**intr, "frames": frames}))
    return np.stack(c2ws)


class TestLoadBlenderScene:
    def test_convention_camera_angle_x(self, tmp_path, random_centres, write_png):
        rng = np.random.default_rng(0)
        angle = 0.69
        c2w = _write(tmp_path, rng, random_centres, write_png, "train", 3,
                     {"camera_angle_x": angle}, ext=None)  # fmt: skip
        scene = load_blender_scene(tmp_path)
        f = 0.5 * W / math.tan(0.5 * angle)
        X = rng.uniform(-1, 1, size=(40, 3))
        ours = scene.cameras.transform_points_screen(
            torch.from_numpy(X).float()[None].expand(3, -1, -1)
        )
        for i in range(3):
            ref = _project_gl(X, c2w[i], f, f, W / 2, H / 2)
            np.testing.assert_allclose(ours[i, :, :2].numpy(), ref, atol=1e-3)

    def test_convention_fl_cx(self, tmp_path, random_centres, write_png):
        rng = np.random.default_rng(1)
        intr = {"fl_x": 41.0, "fl_y": 37.5, "cx": 13.2, "cy": 11.1, "w": W, "h": H}
        c2w = _write(tmp_path, rng, random_centres, write_png, "train", 2, intr)
        _write(tmp_path, rng, random_centres, write_png, "test", 2, intr)
        scene = load_blender_scene(tmp_path / "transforms_train.json")
        assert len(scene) == 2  # a single file: only its frames
        X = rng.uniform(-1, 1, size=(40, 3))
        ours = scene.cameras.transform_points_screen(
            torch.from_numpy(X).float()[None].expand(2, -1, -1)
        )
        for i in range(2):
            ref = _project_gl(X, c2w[i], 41.0, 37.5, 13.2, 11.1)
            np.testing.assert_allclose(ours[i, :, :2].numpy(), ref, atol=1e-3)

    def test_splits_masks_background(self, tmp_path, random_centres, write_png):
        rng = np.random.default_rng(2)
        intr = {"camera_angle_x": 0.7}
        _write(tmp_path, rng, random_centres, write_png, "train", 3, intr)
        _write(tmp_path, rng, random_centres, write_png, "test", 2, intr)
        white = load_blender_scene(tmp_path)
        black = load_blender_scene(tmp_path, background="black")
        assert white.train_idx == [0, 1, 2] and white.test_idx == [3, 4]
        assert white.masks.shape == (5, H, W)
        off = white.masks == 0
        assert bool(off.any()) and bool((white.images[off] == 1).all())
        assert bool((black.images[off] == 0).all())
        on = white.masks == 1
        torch.testing.assert_close(white.images[on], black.images[on])

    def test_opengl_to_opencv(self):
        c2w = _gl_c2w(np.array([0.0, 0.0, 3.0]))  # on +z looking at the origin
        R, t = opengl_c2w_to_opencv_w2c(c2w)
        # OpenCV camera: x right = world +x, y down = world -y, z forward = world -z.
        np.testing.assert_allclose(R, np.diag([1.0, -1.0, -1.0]), atol=1e-12)
        np.testing.assert_allclose(t, [0, 0, 3.0], atol=1e-12)

    def test_exceptions(self, tmp_path, random_centres, write_png):
        rng = np.random.default_rng(3)
        with pytest.raises(ValueError, match="no transforms"):
            load_blender_scene(tmp_path)
        _write(tmp_path, rng, random_centres, write_png, "train", 2, {"camera_angle_x": 0.7})
        meta = json.loads((tmp_path / "transforms_train.json").read_text())
        bad = json.loads(json.dumps(meta))
        bad["frames"][1]["transform_matrix"][0][3] = float("nan")
        (tmp_path / "transforms_train.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match="r_1.*NaN"):
            load_blender_scene(tmp_path)
        bad = json.loads(json.dumps(meta))
        del bad["camera_angle_x"]
        (tmp_path / "transforms_train.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match="no intrinsics"):
            load_blender_scene(tmp_path)
        bad = json.loads(json.dumps(meta))
        bad["frames"][0]["file_path"] = "./train/missing"
        (tmp_path / "transforms_train.json").write_text(json.dumps(bad))
        # a frame whose photo was deleted is skipped, as instant-ngp and nerfstudio do
        with pytest.warns(UserWarning, match="skipped 1 of 2 frames.*train/missing"):
            scene = load_blender_scene(tmp_path)
        assert len(scene) == 1 and scene.extra["image_names"] == ["train/r_1.png"]
        bad["frames"][1]["file_path"] = "./train/missing_too"
        (tmp_path / "transforms_train.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match="none of the 2 frames.*missing not found"):
            load_blender_scene(tmp_path)


def test_round_trip_builtin_scene_as_blender(tmp_path, write_png):
    """The built-in scene's cameras written as OpenGL camera-to-world matrices (converted here from
    PyTorch3D's R, T by hand) read back to the same projection."""
    from inverse3d.datasets.synthetic import make_synthetic_scene

    s = make_synthetic_scene(n_views=2, n_test=1, image_size=16, seed=1)
    R, T = s.cameras.R.double().numpy(), s.cameras.T.double().numpy()
    frames = []
    for i in range(len(s)):
        # X_view = X_world @ R + T with view +X left, +Y up, +Z forward; OpenGL camera: x right,
        # y up, z backward, i.e. x_gl = diag(-1, 1, -1) (R^T x + T).
        w2c = np.eye(4)
        w2c[:3, :3] = np.diag([-1.0, 1.0, -1.0]) @ R[i].T
        w2c[:3, 3] = np.diag([-1.0, 1.0, -1.0]) @ T[i]
        write_png(tmp_path / "train" / f"{i}.png", s.images[i].numpy())
        frames.append({"file_path": f"train/{i}", "transform_matrix": np.linalg.inv(w2c).tolist()})
    fov = np.radians(s.extra["fov"])
    (tmp_path / "transforms.json").write_text(json.dumps({"camera_angle_x": fov, "frames": frames}))
    r = load_blender_scene(tmp_path)
    torch.testing.assert_close(r.images, s.images, atol=0.5 / 255 + 1e-6, rtol=0)
    X = torch.randn(len(s), 30, 3) * 0.5
    torch.testing.assert_close(
        r.cameras.transform_points_screen(X)[..., :2],
        s.cameras.transform_points_screen(X)[..., :2],
        atol=1e-3,
        rtol=0,
    )


def test_file_path_outside_the_folder(tmp_path, random_centres, write_png):
    """An absolute file_path (and ../) is allowed, as in nerfstudio: same images as relative."""
    rng = np.random.default_rng(3)
    scene_dir = tmp_path / "scene"
    _write(scene_dir, rng, random_centres, write_png, "train", 2, {"camera_angle_x": 0.7})
    ref = load_blender_scene(scene_dir)
    meta = json.loads((scene_dir / "transforms_train.json").read_text())
    outside = tmp_path / "outside" / "r_0.png"
    outside.parent.mkdir()
    outside.write_bytes((scene_dir / "train/r_0.png").read_bytes())
    meta["frames"][0]["file_path"] = str(outside)
    meta["frames"][1]["file_path"] = "../scene/train/r_1.png"
    (scene_dir / "transforms_train.json").write_text(json.dumps(meta))
    scene = load_blender_scene(scene_dir)
    torch.testing.assert_close(scene.images, ref.images)
    assert scene.extra["image_names"][0] == meta["frames"][0]["file_path"]
    meta["frames"][0]["file_path"] = str(tmp_path / "elsewhere/missing.png")
    (scene_dir / "transforms_train.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="transforms_train.json: skipped 1 of .*missing.png"):
        scene = load_blender_scene(scene_dir)
    assert len(scene) == len(ref) - 1


def test_distortion_and_aabb_scale(tmp_path, random_centres, write_png):
    """instant-ngp keys: global k1/k2/p1/p2, a frame's own k1, aabb_scale; nerfstudio's fisheye."""
    rng = np.random.default_rng(5)
    intr = {"fl_x": 25.0, "fl_y": 24.0, "k1": -0.1, "k2": 0.02, "p1": 0.001, "p2": -0.002,
            "aabb_scale": 4}  # fmt: skip
    _write(tmp_path, rng, random_centres, write_png, "train", 3, intr)
    path = tmp_path / "transforms_train.json"
    meta = json.loads(path.read_text())
    meta["frames"][1]["k1"] = -0.3
    path.write_text(json.dumps(meta))
    scene = load_blender_scene(tmp_path)
    assert scene.distortion.model == "opencv"
    # order k1, k2, k3, p1, p2; a frame's key overrides the file's
    want = [[-0.1, 0.02, 0.0, 0.001, -0.002], [-0.3, 0.02, 0.0, 0.001, -0.002]]
    torch.testing.assert_close(scene.distortion.coeffs, torch.tensor([want[0], want[1], want[0]]))
    assert scene.extra["aabb_scale"] == 4.0
    assert scene.subset([2, 1]).distortion.coeffs[1, 0] == pytest.approx(-0.3)
    meta.update(camera_model="OPENCV_FISHEYE", k3=0.01, k4=-0.001)
    path.write_text(json.dumps(meta))
    scene = load_blender_scene(tmp_path)
    assert scene.distortion.model == "fisheye"
    torch.testing.assert_close(scene.distortion.coeffs[0], torch.tensor([-0.1, 0.02, 0.01, -0.001]))
    meta.update(k1="x")
    meta["frames"][1].pop("k1")
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="distortion coefficients must be numbers"):
        load_blender_scene(tmp_path)
    meta.update(k1=0.0, aabb_scale=0.5)
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="aabb_scale must be >= 1"):
        load_blender_scene(tmp_path)
