"""2-step smoke runs of every reconstruction method on a tiny built-in scene (CPU)."""

from __future__ import annotations

import json
import math

import pytest

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.methods import REGISTRY, get_method
from inverse3d.methods.common import METRIC_KEYS, read_config_yaml

OUTPUT_FILES = [
    "config.yaml",
    "mesh.obj",
    "mesh.ply",
    "turntable.gif",
    "plots/loss.png",
    "plots/views.png",
    "report.json",
    "report.html",
    "renders/000_target.png",
    "renders/000_prediction.png",
    "renders/000_error.png",
]

TINY = {
    "mesh": dict(steps=2, hull_resolution=24, image_size=32, eval_samples=2000),
    "volume": dict(
        steps=2,
        grid_sizes=(8, 16),
        stage_steps=(1,),
        rays_per_step=256,
        pts_per_ray=16,
        init_density=1.0,
        eval_samples=2000,  # dense start: a surface exists after 2 steps
    ),
    "nerf": dict(
        steps=2,
        n_levels=4,
        log2_hashmap_size=12,
        finest_resolution=32,
        hidden_dim=16,
        rays_per_step=128,
        pts_per_ray=16,
        occupancy_resolution=8,
        occupancy_warmup=1,
        occupancy_every=1,
        mesh_resolution=16,
        eval_samples=2000,
    ),
}


@pytest.fixture(scope="module")
def tiny_scene():
    return make_synthetic_scene(n_views=4, n_test=2, image_size=32)


def check_report(report: dict, method: str, steps: int) -> None:
    assert set(report) == {
        "method",
        "data",
        "metrics",
        "steps",
        "time_s",
        "peak_memory_mb",
        "device",
        "versions",
    }
    assert report["method"] == method
    assert set(report["metrics"]) == set(METRIC_KEYS)
    assert report["metrics"]["f_score_tau"] == 0.01
    for k in ("psnr", "ssim", "mask_iou"):
        assert math.isfinite(report["metrics"][k])
    assert report["steps"] == steps
    assert report["time_s"] > 0 and report["peak_memory_mb"] > 0
    assert {"torch", "inverse3d", "python"} <= set(report["versions"])


class TestMethodsSmoke:
    @pytest.mark.parametrize("method", sorted(TINY))
    def test_smoke(self, method, tiny_scene, tmp_path):
        cls, run = get_method(method)
        report = run(cls(**TINY[method]), tiny_scene, tmp_path, progress=False)
        for rel in OUTPUT_FILES:
            assert (tmp_path / rel).is_file(), rel
        check_report(report, method, 2)
        # The gt mesh is there: geometric metrics are numbers; the JSON file equals the return.
        if method != "nerf":  # 2 steps leave the NeRF empty (no surface, null geometry)
            assert report["metrics"]["chamfer_l1"] is not None
        assert json.loads((tmp_path / "report.json").read_text()) == report
        cfg = read_config_yaml(tmp_path / "config.yaml")
        assert cfg["method"] == method and cfg["steps"] == 2
        html = (tmp_path / "report.html").read_text()
        assert "data:image/png;base64," in html and "data:image/gif;base64," in html
        assert (tmp_path / "checkpoints" / "last.pt").is_file()

    def test_no_gt_mesh_gives_null_geometry(self, tiny_scene, tmp_path):
        from dataclasses import replace

        data = replace(tiny_scene, gt_mesh=None)
        cls, run = get_method("mesh")
        report = run(cls(**TINY["mesh"]), data, tmp_path, progress=False)
        for k in ("chamfer_l1", "accuracy", "completeness", "normal_consistency", "f_score"):
            assert report["metrics"][k] is None
        assert report["metrics"]["psnr"] is not None

    def test_sphere_init_subdivides(self, tiny_scene, tmp_path):
        cls, run = get_method("mesh")
        cfg = cls(
            init="sphere",
            steps=3,
            subdivide_at=(1, 2),
            sphere_level=1,
            image_size=32,
            eval_samples=1000,
        )
        run(cfg, tiny_scene, tmp_path, progress=False)
        from inverse3d.io.ply_io import load_ply

        verts, faces = load_ply(tmp_path / "mesh.ply")
        assert faces.shape[0] == 80 * 16  # level-1 sphere (80 faces) subdivided twice

    def test_exceptions(self, tiny_scene, tmp_path):
        with pytest.raises(ValueError, match="unknown method"):
            get_method("nope")
        cls, run = get_method("mesh")
        with pytest.raises(ValueError, match="init"):
            run(cls(init="cube", steps=1), tiny_scene, tmp_path, progress=False)
        cls, run = get_method("volume")
        with pytest.raises(ValueError, match="stage_steps"):
            run(cls(grid_sizes=(8, 16), stage_steps=()), tiny_scene, tmp_path, progress=False)

    @pytest.mark.parametrize("method", ["volume", "nerf"])
    def test_depth_terms_follow_use_depth(self, method, tiny_scene, tmp_path):
        from dataclasses import replace

        import torch

        cls, run = get_method(method)
        terms = {}
        for name, data, use in [
            ("on", tiny_scene, True),
            ("off", tiny_scene, False),
            ("nodata", replace(tiny_scene, depths=None), True),
        ]:
            run(cls(**TINY[method], use_depth=use), data, tmp_path / name, progress=False)
            ckpt = torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=False)
            terms[name] = set(ckpt["history"][-1])
        assert {"depth", "free"} <= terms["on"]
        assert not {"depth", "free"} & (terms["off"] | terms["nodata"])

    def test_mesh_without_masks_warns(self, tiny_scene, tmp_path):
        from dataclasses import replace

        cls, run = get_method("mesh")
        for name, depths in [("depths", tiny_scene.depths), ("none", None)]:
            data = replace(tiny_scene, masks=None, depths=depths)
            with pytest.warns(UserWarning, match="no masks"):
                report = run(cls(**TINY["mesh"]), data, tmp_path / name, progress=False)
            assert report["metrics"]["mask_iou"] is None and report["metrics"]["psnr"] > 0

    def test_registry(self):
        assert {"mesh", "volume", "nerf"} <= set(REGISTRY)
        for cls, run in REGISTRY.values():
            assert callable(run) and hasattr(cls, "__dataclass_fields__")
