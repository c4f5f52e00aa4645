"""IDR/DTU cameras.npz: world_mat = K [R | t] (any scale), scale_mat normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inverse3d.datasets.dtu import decompose_projection, load_dtu_scene

H, W = 22, 28


def _write(root, rng, look_at_cv, random_centres, write_png, n=3, skew=0.0):
    S = np.diag([2.5, 2.5, 2.5, 1.0])
    S[:3, 3] = [0.3, -0.2, 1.0]  # normalised -> world
    Ps = []
    mats = {}
    for i, c in enumerate(random_centres(n, rng, dist=(6.0, 9.0)) + S[:3, 3]):
        R, t = look_at_cv(c - S[:3, 3])
        t = -R @ c
        K = np.array([[50.0 + i, skew, 14.2], [0, 47.0, 10.6], [0, 0, 1]])
        P = np.eye(4)
        P[:3, :4] = K @ np.concatenate([R, t[:, None]], 1) * (-1.7 if i == 1 else 3.0)
        mats[f"world_mat_{i}"] = P
        mats[f"scale_mat_{i}"] = S
        Ps.append(P[:3] @ S)
        write_png(root / "image" / f"{i:06d}.png", rng.uniform(size=(H, W, 3)))
        write_png(root / "mask" / f"{i:03d}.png", np.ones((H, W, 3)))
    np.savez(root / "cameras.npz", **mats)
    return Ps


class TestDecomposeProjection:
    def test_matches_reference(self, look_at_cv):
        R, t = look_at_cv(np.array([1.0, 2.0, -3.0]))
        K = np.array([[100.0, 2.0, 30.0], [0, 90.0, 20.0], [0, 0, 1]])
        for s in (1.0, -0.01, 7.0):
            K2, R2, t2 = decompose_projection(s * K @ np.concatenate([R, t[:, None]], 1))
            np.testing.assert_allclose(K2, K, atol=1e-9)
            np.testing.assert_allclose(R2, R, atol=1e-12)
            np.testing.assert_allclose(t2, t, atol=1e-12)
            assert np.linalg.det(R2) > 0


class TestLoadDtuScene:
    def test_convention(self, tmp_path, look_at_cv, random_centres, write_png):
        rng = np.random.default_rng(0)
        Ps = _write(tmp_path, rng, look_at_cv, random_centres, write_png)
        scene = load_dtu_scene(tmp_path)
        assert scene.masks.shape == (3, H, W)
        Xn = rng.uniform(-1, 1, size=(40, 3))  # points of the normalised scene
        ours = scene.cameras.transform_points_screen(
            torch.from_numpy(Xn).float()[None].expand(3, -1, -1)
        )
        for i, P in enumerate(Ps):
            x = np.concatenate([Xn, np.ones((40, 1))], 1) @ P.T
            uv = x[:, :2] / x[:, 2:]
            # IDR's pixel grid has pixel centres at integers; ours at +0.5.
            np.testing.assert_allclose(ours[i, :, :2].numpy(), uv + 0.5, atol=1e-3)

    def test_exceptions(self, tmp_path, look_at_cv, random_centres, write_png):
        rng = np.random.default_rng(1)
        _write(tmp_path, rng, look_at_cv, random_centres, write_png)
        write_png(tmp_path / "image" / "000003.png", np.zeros((H, W, 3)))
        with pytest.raises(ValueError, match="no world_mat_3 for image 000003.png"):
            load_dtu_scene(tmp_path)
        (tmp_path / "image" / "000003.png").unlink()
        data = dict(np.load(tmp_path / "cameras.npz"))
        data["world_mat_2"][0, 0] = np.nan
        np.savez(tmp_path / "cameras.npz", **data)
        with pytest.raises(ValueError, match="camera 2.*NaN"):
            load_dtu_scene(tmp_path)

    def test_skew_warns(self, tmp_path, look_at_cv, random_centres, write_png):
        _write(tmp_path, np.random.default_rng(2), look_at_cv, random_centres, write_png, skew=0.5)
        with pytest.warns(UserWarning, match="skew"):
            load_dtu_scene(tmp_path)
