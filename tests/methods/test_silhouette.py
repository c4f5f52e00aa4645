"""Method "silhouette": 2-step smoke runs of every init, a quality floor, the auto-init's head
start, camera refinement, automatic masks, and a turntable capture end to end via the pipeline."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from inverse3d.datasets.synthetic import make_synthetic_scene, mug_mesh
from inverse3d.engine import Loop
from inverse3d.methods import get_method

TINY = dict(steps=2, image_size=24, hull_resolution=16, views_per_step=2)


@pytest.fixture(scope="module")
def tiny_scene():
    return make_synthetic_scene(n_views=6, n_test=2, image_size=32)


def fit(scene, **settings):
    torch.manual_seed(0)
    m = get_method("silhouette")
    return m.fit(m.config_cls(**settings), scene, Loop(progress=False))


def hard_iou(rec, scene) -> float:
    """IoU of the rendered alpha > 0.5 with the masks > 0.5 over the training views."""
    train = scene.train()
    alpha = rec.render(train.cameras)[..., 3] > 0.5
    mask = train.masks > 0.5
    return float((alpha & mask).sum() / (alpha | mask).sum())


class TestSmoke:
    @pytest.mark.parametrize("init", ["auto", "sphere", "hull"])
    def test_smoke(self, tiny_scene, init):
        rec = fit(tiny_scene, init=init, **TINY)
        assert rec.steps == 2 and len(rec.history) == 2
        assert all(math.isfinite(h["loss"]) and 0 <= h["soft_iou"] <= 1 for h in rec.history)
        # the hard IoU every hard_iou_every (10) steps: step 0 only
        assert 0 <= rec.history[0]["hard_iou"] <= 1 and "hard_iou" not in rec.history[1]
        assert {"iou_loss", "laplacian", "flatten"} <= set(rec.history[0])
        rgba = rec.render(tiny_scene.test().cameras)
        assert rgba.shape == (2, 32, 32, 4) and 0 <= rgba.min() and rgba.max() <= 1
        assert rec.mesh.verts_packed().shape[0] > 0 and rec.mesh.textures is not None
        images = rec.artifacts["images"]
        assert sorted(images)[0] == "silhouettes/000.png" and len(images) == len(tiny_scene)
        assert images["silhouettes/000.png"].shape == (32, 32, 4)
        assert torch.allclose(images["silhouettes/001.png"][..., 3], tiny_scene.masks[1])

    def test_refine_cameras(self, tiny_scene):
        rec = fit(tiny_scene, refine_cameras=True, lr_cameras=0.01, **TINY)
        off = rec.artifacts["camera_offsets"]
        assert off["rot"].shape == (6, 3)
        assert off["rot"][1:].abs().sum() > 0  # views 1.. moved
        # View 0 fixes the frame: its offsets receive no gradient.
        assert off["rot"][0].abs().sum() == 0 and off["trans"][0].abs().sum() == 0

    def test_sphere_level_follows_resolution(self, tiny_scene):
        small = fit(tiny_scene, steps=0, image_size=16)
        large = fit(tiny_scene, steps=0, image_size=128)
        lv = lambda r: r.artifacts["metrics"]["sphere_level"]  # noqa: E731
        assert lv(small) < lv(large)
        assert fit(tiny_scene, steps=0, sphere_level=2).mesh.faces_packed().shape[0] == 320

    def test_auto_masks(self, tiny_scene):
        from dataclasses import replace

        scene = replace(tiny_scene, masks=None)
        with pytest.warns(UserWarning, match="no masks"):
            rec = fit(scene, **TINY)
        assert rec.artifacts["mask_source"] == "background keying"
        keyed = rec.artifacts["images"]["silhouettes/000.png"][..., 3] > 0.5
        truth = tiny_scene.masks[0] > 0.5
        assert (keyed & truth).sum() / (keyed | truth).sum() > 0.85

    @pytest.mark.skipif(
        importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed"
    )
    def test_segmentation_weights_need_torchvision(self, tiny_scene, tmp_path):
        with pytest.raises(ImportError, match="torchvision"):
            fit(tiny_scene, masks="auto", segmentation_weights=str(tmp_path / "w.pt"), **TINY)


class TestQuality:
    def test_floor_from_plain_sphere(self, tiny_scene):
        """From the plain sphere (train IoU 0.67), 40 steps must reach 0.85."""
        start = fit(tiny_scene, init="sphere", steps=0, image_size=32, sphere_level=2)
        rec = fit(tiny_scene, init="sphere", steps=40, image_size=32, lr=0.01, sphere_level=2)
        # Measured: 0.67 -> 0.93 (6 views of 32 x 32).
        assert hard_iou(start, tiny_scene) < 0.75
        assert hard_iou(rec, tiny_scene) > 0.85

    def test_auto_init_starts_closer(self):
        """An off-centre object at 0.3x scale: the auto init starts near it, the sphere does not."""
        scene = make_synthetic_scene(n_views=6, n_test=0, image_size=32)
        scene = _moved(scene, 0.3, (0.35, -0.2, 0.25))
        auto = fit(scene, init="auto", steps=1, image_size=32)
        sphere = fit(scene, init="sphere", steps=1, image_size=32)
        assert auto.history[0]["soft_iou"] > 0.6 > sphere.history[0]["soft_iou"]


@pytest.fixture(scope="module")
def sphere_scene():
    """The built-in cameras (distance 2.9) looking at an ico-sphere (level 3) of radius 0.8
    at the origin: the plain sphere init at bound 1 is the true mesh."""
    from dataclasses import replace

    from inverse3d.renderer.mesh.render_views import render_mesh_views
    from inverse3d.utils.ico_sphere import ico_sphere

    scene = make_synthetic_scene(n_views=6, n_test=0, image_size=48)
    s = ico_sphere(3)
    gt = s.update_padded(s.verts_padded() * 0.8)
    rgba = render_mesh_views(gt, scene.cameras, 48)
    return replace(scene, images=rgba[..., :3], masks=rgba[..., 3], depths=None, gt_mesh=gt)


class TestHardIoUTracking:
    """The history's "hard_iou": hard silhouettes of the mesh being fitted against the masks."""

    def first_hard_iou(self, scene, bound: float) -> float:
        settings = dict(steps=1, lr=0.0, sphere_level=3, hard_iou_every=1, project_colors=False)
        rec = fit(scene, init="sphere", bound=bound, image_size=48, **settings)
        return rec.history[0]["hard_iou"]

    def test_true_mesh_scores_one(self, sphere_scene):
        assert self.first_hard_iou(sphere_scene, 1.0) > 0.97  # measured 0.988

    def test_shrunken_sphere_scores_the_area_ratio(self, sphere_scene):
        """A sphere of radius r inside the true one of radius R: IoU = the ratio of the discs'
        areas, (tan(asin(r / d)) / tan(asin(R / d)))^2 with d = 2.9 (perspective)."""
        d = 2.9
        for k in (0.6, 0.85):
            ratio = (math.tan(math.asin(0.8 * k / d)) / math.tan(math.asin(0.8 / d))) ** 2
            assert self.first_hard_iou(sphere_scene, k) == pytest.approx(ratio, abs=0.02)

    def test_period(self, tiny_scene):
        rec = fit(tiny_scene, **{**TINY, "steps": 5, "hard_iou_every": 2})
        assert ["hard_iou" in h for h in rec.history] == [True, False, True, False, True]
        rec = fit(tiny_scene, **{**TINY, "hard_iou_every": 0})
        assert not any("hard_iou" in h for h in rec.history)


def heldout_iou(rec, scene) -> float:
    """IoU of the rendered alpha > 0.5 with the masks > 0.5 over the held-out views."""
    test = scene.test()
    alpha = rec.render(test.cameras)[..., 3] > 0.5
    mask = test.masks > 0.5
    return float((alpha & mask).sum() / (alpha | mask).sum())


class TestScaleAndCrop:
    def test_fit_is_scale_equivariant(self, tiny_scene):
        """The world scaled by s (object and camera positions): the same images, so the fit must
        give s times the same mesh (learning rate and Laplacian weight relative to its size)."""
        from dataclasses import replace

        s = 0.4
        cams = tiny_scene.cameras.clone()
        cams.T = cams.T * s
        small = replace(tiny_scene, cameras=cams)
        settings = dict(steps=4, image_size=24, views_per_step=2, project_colors=False)
        a = fit(tiny_scene, **settings).mesh.verts_packed()
        b = fit(small, **settings).mesh.verts_packed()
        assert (
            a - fit(tiny_scene, **{**settings, "steps": 0}).mesh.verts_packed()
        ).abs().max() > 1e-3
        assert torch.allclose(b, s * a, atol=1e-4 * float(a.abs().max()))

    def test_crop_follows_the_object(self, tiny_scene):
        """A small off-centre object is fitted in a window around it; a large centred one and
        the plain sphere (which fills the images) are not cropped."""
        scene = _moved(tiny_scene, 0.3, (0.35, -0.2, 0.25))
        small = fit(scene, steps=0, image_size=32).artifacts["metrics"]
        assert 0 < small["crop_side"] < 24
        assert fit(tiny_scene, steps=0, image_size=32).artifacts["metrics"]["crop_side"] == 0
        sphere = fit(scene, init="sphere", steps=0, image_size=32).artifacts["metrics"]
        assert sphere["crop_side"] == 0
        assert fit(scene, steps=0, image_size=32, crop=False).artifacts["metrics"]["crop_side"] == 0

    def test_small_off_centre_mug_converges(self):
        """Issue 17's case, small: the mug at 0.3x, off-centre, 16 views of 64 x 64 (it spans
        about 16 pixels). With the crop the auto init reaches held-out IoU >= 0.9 in 60 steps
        (measured 0.94); fitted in the whole images it stops below."""
        base = make_synthetic_scene(n_views=16, n_test=4, image_size=64)
        scene = _moved(base, 0.3, (0.35, -0.2, 0.25))
        settings = dict(steps=60, image_size=64, views_per_step=2, project_colors=False)
        rec = fit(scene, **settings)
        assert rec.artifacts["metrics"]["crop_side"] > 0
        assert heldout_iou(rec, scene) >= 0.9
        assert heldout_iou(fit(scene, crop=False, **settings), scene) < 0.9


def _moved(scene, scale: float, offset):
    """The scene re-rendered with its mesh scaled about the origin and moved (masks only)."""
    from dataclasses import replace

    from inverse3d.renderer.mesh.render_views import render_mesh_views

    gt = scene.gt_mesh
    v = gt.verts_packed() * scale + torch.tensor(offset)
    mesh = gt.update_padded(v[None])
    rgba = render_mesh_views(mesh, scene.cameras, scene.image_size[0])
    return replace(scene, images=rgba[..., :3], masks=rgba[..., 3], depths=None, gt_mesh=mesh)


def test_turntable_end_to_end(tmp_path):
    """Images (RGB, no masks) + turntable.json -> a reconstruct run with keyed silhouettes."""
    from inverse3d.pipeline import RunContext, reconstruct, resolve_settings
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.look_at import look_at_view_transform
    from inverse3d.renderer.mesh.render_views import render_mesh_views

    n, dist, elev, fov = 8, 2.9, 20.0, 40.0
    R, T = look_at_view_transform(dist, elev, [360.0 * i / n for i in range(n)])
    cams = FoVPerspectiveCameras(fov=fov, R=R, T=T)
    rgba = render_mesh_views(mug_mesh(0), cams, 48, background=(0.0, 0.0, 0.0))  # as ALOI
    root = tmp_path / "cup"
    (root / "images").mkdir(parents=True)
    for i in range(n):
        arr = np.clip(rgba[i, ..., :3].numpy() * 255 + 0.5, 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(root / "images" / f"{i:02d}.png")
    meta = {"views": n, "distance": dist, "elevation": elev, "fov": fov}
    (root / "turntable.json").write_text(json.dumps(meta))

    run, cfg, method = resolve_settings(
        {"data": str(root), "device": "cpu", "eval_samples": 500, "method": "silhouette"},
        {"steps": 2, "image_size": 24, "views_per_step": 2},
    )
    ctx = RunContext()
    with pytest.warns(UserWarning, match="no masks"):
        report = reconstruct(
            run, cfg, method, out=tmp_path / "runs", progress=False, context=ctx, log=lambda s: 0
        )
    folder = ctx.folder
    assert report["steps"] == 2 and (folder / "mesh.obj").is_file()
    sil = np.asarray(Image.open(folder / "silhouettes" / "000.png"))
    assert sil.shape == (48, 48, 4)
    keyed = sil[..., 3] > 127
    truth = rgba[0, ..., 3].numpy() > 0.5
    assert (keyed & truth).sum() / (keyed | truth).sum() > 0.85
    assert report["train_views"] + report["test_views"] == n
