"""One reconstruct run end to end on a tiny scene: every output, the report's schema, the held-out
split for data without one, config.yaml written before the method runs."""

from __future__ import annotations

import json
import math

import pytest

from inverse3d.eval.report_metrics import METRIC_KEYS
from inverse3d.methods import REGISTRY
from inverse3d.methods.base import Method
from inverse3d.pipeline import RunContext, RunSettings, reconstruct, resolve_settings
from inverse3d.pipeline.config import read_yaml_file

OUTPUT_FILES = [
    ".inverse3d-run",
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
    "checkpoints/last.pt",
]


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene

    out = tmp_path_factory.mktemp("scene") / "tiny"
    write_folder_scene(make_synthetic_scene(n_views=4, n_test=2, image_size=24), out)
    return out


def _run(scene_dir, tmp_path, method="mesh", **flags):
    run, cfg, m = resolve_settings(
        {"data": str(scene_dir), "device": "cpu", "eval_samples": 500, "method": method},
        {"steps": 2, "hull_resolution": 16, "image_size": 24, **flags},
    )
    ctx = RunContext()
    report = reconstruct(run, cfg, m, out=tmp_path, progress=False, context=ctx, log=lambda s: None)
    return report, ctx.folder


def test_outputs_and_report(scene_dir, tmp_path):
    report, folder = _run(scene_dir, tmp_path)
    assert folder == tmp_path / "tiny-mesh"
    for rel in OUTPUT_FILES:
        assert (folder / rel).is_file(), rel
    assert json.loads((folder / "report.json").read_text()) == report
    assert set(METRIC_KEYS) <= set(report["metrics"])
    assert set(METRIC_KEYS) <= set(report["metric_definitions"])
    for k in ("psnr", "ssim", "mask_iou", "chamfer_l1", "f_score"):
        assert math.isfinite(report["metrics"][k]), k
    assert report["steps"] == 2 and report["time_s"] > 0 and report["peak_memory_mb"] > 0
    assert {"torch", "inverse3d", "python"} <= set(report["versions"])
    assert report["settings"]["steps"] == 2
    saved = read_yaml_file(folder / "config.yaml")
    assert saved["method"] == "mesh" and saved["settings"]["steps"] == 2
    assert saved["data"] == str(scene_dir)
    html = (folder / "report.html").read_text()
    assert "data:image/png;base64," in html and "data:image/gif;base64," in html
    # The OBJ carries the vertex colours ("v x y z r g b").
    first_v = next(
        line for line in (folder / "mesh.obj").read_text().splitlines() if line.startswith("v ")
    )
    assert len(first_v.split()) == 7


def test_config_yaml_is_written_before_the_method_runs(scene_dir, tmp_path, monkeypatch):
    seen = {}

    def spy_fit(config, scene, loop):
        seen["config"] = read_yaml_file(loop.out_dir / "config.yaml")
        raise RuntimeError("stop here")

    m = REGISTRY["mesh"]
    monkeypatch.setitem(REGISTRY, "mesh", Method("mesh", m.config_cls, spy_fit))
    with pytest.raises(RuntimeError, match="stop here"):
        _run(scene_dir, tmp_path)
    assert seen["config"]["settings"]["steps"] == 2


def test_holdout_split_for_data_without_one(tmp_path):
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene
    from inverse3d.pipeline.reconstruct import load_run_scene

    scene = make_synthetic_scene(n_views=16, n_test=0, image_size=16)
    write_folder_scene(scene, tmp_path / "s")
    got = load_run_scene(RunSettings(data=str(tmp_path / "s"), holdout_every=8), "cpu")
    assert got.test_idx == [0, 8] and len(got.train_idx) == 14
    assert not set(got.test_idx) & set(got.train_idx)
    none = load_run_scene(RunSettings(data=str(tmp_path / "s"), holdout_every=0), "cpu")
    assert none.test_idx == [] and len(none.train_idx) == 16


def test_downscale_divides_the_images_and_intrinsics(tmp_path):
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene
    from inverse3d.pipeline.reconstruct import load_run_scene

    write_folder_scene(make_synthetic_scene(n_views=3, n_test=1, image_size=16), tmp_path / "s")
    full = load_run_scene(RunSettings(data=str(tmp_path / "s")), "cpu")
    half = load_run_scene(RunSettings(data=str(tmp_path / "s"), downscale=2), "cpu")
    assert tuple(full.images.shape[1:3]) == (16, 16)
    assert tuple(half.images.shape[1:3]) == (8, 8)
    assert half.cameras.image_size[0].tolist() == [8, 8]
    # NDC cameras: the same projection of a world point at either size
    import torch

    p = torch.tensor([[[0.1, -0.2, 0.05]]])
    a = full.cameras[0].transform_points_screen(p, image_size=(16, 16))[..., :2]
    b = half.cameras[0].transform_points_screen(p, image_size=(8, 8))[..., :2]
    torch.testing.assert_close(a / 2, b, atol=1e-4, rtol=1e-4)


def test_default_method_follows_the_data(tmp_path):
    """mesh for data with masks, nerf (scene mode) for data without; a method given by flag or
    config file is kept."""
    import dataclasses

    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene
    from inverse3d.pipeline.config import write_yaml_file

    scene = make_synthetic_scene(n_views=3, n_test=1, image_size=16)
    write_folder_scene(scene, tmp_path / "masked")
    write_folder_scene(dataclasses.replace(scene, masks=None, depths=None), tmp_path / "photos")
    assert resolve_settings({"data": str(tmp_path / "masked")}, {})[2].name == "mesh"
    assert resolve_settings({}, {})[2].name == "mesh"  # the built-in scene
    run, cfg, method = resolve_settings({"data": str(tmp_path / "photos")}, {"steps": 3})
    assert method.name == "nerf" and run.method == "nerf" and cfg.steps == 3
    flagged = resolve_settings({"data": str(tmp_path / "photos"), "method": "volume"}, {})
    assert flagged[2].name == "volume"
    write_yaml_file(tmp_path / "c.yaml", {"method": "mesh"})
    from_file = resolve_settings(
        {"data": str(tmp_path / "photos")}, {}, config_file=str(tmp_path / "c.yaml")
    )
    assert from_file[2].name == "mesh"


def test_appearance_protocol_metrics_use_the_halves():
    """The NeRF-W protocol: latents fitted on the left halves, PSNR on the right halves. A fake
    fit whose 'latent' is a per-view gain: fitting it on the left half recovers the exposure
    exactly, so the fitted right halves are perfect (capped PSNR) and the mean-latent ones are not."""
    from types import SimpleNamespace

    import torch

    from inverse3d.eval.metrics import psnr
    from inverse3d.methods.base import Reconstruction
    from inverse3d.pipeline.reconstruct import appearance_protocol_metrics

    torch.manual_seed(0)
    base = torch.rand(2, 6, 8, 3) * 0.5 + 0.1
    gains = torch.tensor([0.7, 1.4])
    images = base * gains[:, None, None, None]
    seen = {}

    def render(cameras, distortion=None, appearance=None):
        g = torch.ones(2) if appearance is None else appearance[:, 0]
        rgb = base * g[:, None, None, None]
        return torch.cat([rgb, torch.ones(2, 6, 8, 1)], -1)

    def fit_appearance(cameras, imgs, keep, distortion=None, steps=100):
        seen["keep"] = keep.clone()
        k = keep[..., None].expand_as(imgs).bool()
        g = [(imgs[i][k[i]] / base[i][k[i]]).mean() for i in range(2)]
        return torch.stack(g)[:, None]

    rec = Reconstruction(
        mesh=None, render=render, history=[], steps=1, artifacts={"fit_appearance": fit_appearance}
    )
    views = SimpleNamespace(images=images, cameras=[0, 1], distortion=None)
    m = appearance_protocol_metrics(rec, views, render(None))
    assert seen["keep"][:, :, :4].all() and not seen["keep"][:, :, 4:].any()
    expected_mean = sum(float(psnr(base[i, :, 4:], images[i, :, 4:])) for i in range(2)) / 2
    assert m["psnr_appearance_mean"] == pytest.approx(expected_mean, rel=1e-5)
    assert m["psnr_appearance_fit"] > expected_mean + 20


def test_appearance_embedding_run_reports_the_protocol(scene_dir, tmp_path):
    def nerf(out, **flags):
        run, cfg, m = resolve_settings(
            {"data": str(scene_dir), "device": "cpu", "eval_samples": 500, "method": "nerf"},
            {"steps": 2, "rays_per_step": 64, "n_levels": 2, "mesh_resolution": 16, **flags},
        )
        return reconstruct(run, cfg, m, out=out, progress=False, log=lambda s: None)

    report = nerf(tmp_path, appearance_embedding=True)
    for k in ("psnr_appearance_fit", "psnr_appearance_mean"):
        assert math.isfinite(report["metrics"][k]), k
        assert k in report["metric_definitions"]
    plain = nerf(tmp_path / "plain")
    assert "psnr_appearance_fit" not in plain["metrics"]
