"""datasets.turntable: cameras from three numbers (checked against look_at + FoV cameras), the
reader, its detection by load_scene and its errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from inverse3d.datasets.loader import detect_format, load_scene
from inverse3d.datasets.turntable import load_turntable_scene, turntable_cameras
from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.look_at import look_at_view_transform


def write_turntable(folder, n=6, size=(20, 30), alpha=False, **meta):
    (folder / "images").mkdir(parents=True)
    g = np.random.default_rng(0)
    for i in range(n):
        arr = (g.random((*size, 4 if alpha else 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / "images" / f"{i:03d}.png")
    info = {"distance": 3.0, "elevation": 20.0, **meta}
    (folder / "turntable.json").write_text(json.dumps(info))
    return folder


class TestTurntableCameras:
    def test_matches_look_at_fov_cameras(self):
        n, dist, elev, fov = 8, 2.5, 15.0, 35.0
        cams = turntable_cameras(n, dist, elev, (40, 60), fov=fov, start_azimuth=10.0)
        R, T = look_at_view_transform(dist, elev, [10.0 + 45.0 * i for i in range(n)])
        ref = FoVPerspectiveCameras(fov=fov, R=R, T=T)
        pts = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1], [-0.4, 0.5, 0.2]])
        a = cams.transform_points_screen(pts)[..., :2]
        # FoV cameras span fov over the shorter side (40 px): NDC scale 20 px, centre (30, 20).
        b = ref.transform_points_ndc(pts)[..., :2]
        b = torch.stack([30.0 - 20.0 * b[..., 0], 20.0 - 20.0 * b[..., 1]], -1)
        assert torch.allclose(a, b, atol=1e-3)
        assert torch.allclose(a[:, 0], torch.tensor([30.0, 20.0]).expand(n, 2), atol=1e-4)
        centres = cams.get_camera_center()
        assert torch.allclose(centres.norm(dim=-1), torch.full((n,), dist), atol=1e-5)
        assert torch.allclose(centres[:, 1], torch.full((n,), dist * math.sin(math.radians(elev))))

    def test_direction(self):
        plus = turntable_cameras(4, 2.0, 0.0, (8, 8)).get_camera_center()
        minus = turntable_cameras(4, 2.0, 0.0, (8, 8), direction=-1).get_camera_center()
        assert torch.allclose(plus[1], minus[3], atol=1e-6)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="n_views"):
            turntable_cameras(0, 2.0, 0.0, (8, 8))
        with pytest.raises(ValueError, match="distance"):
            turntable_cameras(4, -1.0, 0.0, (8, 8))
        with pytest.raises(ValueError, match="fov"):
            turntable_cameras(4, 1.0, 0.0, (8, 8), fov=180.0)
        with pytest.raises(ValueError, match="direction"):
            turntable_cameras(4, 1.0, 0.0, (8, 8), direction=2)


class TestLoadTurntable:
    def test_load_and_detect(self, tmp_path):
        root = write_turntable(tmp_path / "tt", views=6, fov=40.0)
        assert detect_format(root) == "turntable"
        assert detect_format(root / "turntable.json") == "turntable"
        scene = load_scene(root)
        assert scene.images.shape == (6, 20, 30, 3) and scene.masks is None
        assert scene.extra["turntable"]["views"] == 6
        ref = turntable_cameras(6, 3.0, 20.0, (20, 30), fov=40.0)
        assert torch.allclose(scene.cameras.R, ref.R) and torch.allclose(scene.cameras.T, ref.T)

    def test_alpha_gives_masks(self, tmp_path):
        root = write_turntable(tmp_path / "tt", n=3, alpha=True)
        scene = load_turntable_scene(root)
        assert scene.masks.shape == (3, 20, 30)

    @pytest.mark.parametrize(
        "meta, match",
        [
            ({"views": 5}, "views must be the number of images"),
            ({"distance": "far"}, "distance must be a finite number"),
            ({"distance": None}, "'distance' is required"),
            ({"fov": 200.0}, "fov must be in"),
        ],
    )
    def test_exceptions(self, tmp_path, meta, match):
        root = write_turntable(tmp_path / "tt", **meta)
        with pytest.raises(ValueError, match=match) as info:
            load_turntable_scene(root)
        assert "turntable.json" in str(info.value)

    def test_bad_json_and_no_images(self, tmp_path):
        root = tmp_path / "tt"
        root.mkdir()
        (root / "turntable.json").write_text("{")
        with pytest.raises(ValueError, match="not valid JSON"):
            load_turntable_scene(root)
        (root / "turntable.json").write_text('{"distance": 1, "elevation": 0}')
        with pytest.raises(ValueError, match="no images"):
            load_turntable_scene(root)
