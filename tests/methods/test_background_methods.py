"""Background models of the object methods (volume, sdf, dvr) on the "mug in a room" capture;
mesh and dvr refuse a capture with surroundings and no masks."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.eval.metrics import psnr
from inverse3d.methods import get_method


@pytest.fixture(scope="module")
def room():
    return make_synthetic_scene(n_views=12, n_test=2, image_size=24, room=True)


@pytest.fixture(scope="module")
def mug():
    return make_synthetic_scene(n_views=12, n_test=2, image_size=24)


def _fit(name, scene, **settings):
    torch.manual_seed(0)
    m = get_method(name)
    return m.fit(m.config_cls(**settings), scene, Loop(progress=False))


def _psnr(rec, scene):
    test = scene.test()
    with torch.no_grad():
        return float(psnr(rec.render(test.cameras)[..., :3].clamp(0, 1), test.images))


VOLUME = dict(steps=100, grid_sizes=(16,), stage_steps=(), rays_per_step=512, pts_per_ray=24)


def test_volume_outer_background_renders_the_room(room):
    """No masks: "auto" is the outer field. Measured 16.5 dB against 13.6 dB with the data's
    white background (which paints the walls into the cube) and 3.4 dB for white images."""
    auto = _fit("volume", room, **VOLUME)
    data = _fit("volume", room, **VOLUME, background_model="data")
    got, base = _psnr(auto, room), _psnr(data, room)
    assert got > base + 2.0
    assert got > 14.5
    v = auto.mesh.verts_packed()
    assert v.numel() == 0 or float(v.abs().max()) <= 1.05  # the cube only


def test_volume_default_with_masks_is_the_data_background(mug):
    """Masks present: "auto" is "data", the same fit as before the background models."""
    small = dict(VOLUME, steps=3, grid_sizes=(8,))
    a = _fit("volume", mug, **small).render(mug.test().cameras)
    b = _fit("volume", mug, **small, background_model="data").render(mug.test().cameras)
    torch.testing.assert_close(a, b)


def test_sdf_outer_background_smoke(room):
    rec = _fit(
        "sdf",
        room,
        steps=2,
        rays_per_step=64,
        samples_per_ray=8,
        importance_samples=0,
        mesh_resolution=8,
        grid_resolution=0,
        render_chunk=1024,
    )
    img = rec.render(room.test().cameras[:1])
    assert img.shape == (1, 24, 24, 4) and torch.isfinite(img).all()
    assert any(k.startswith("background.") for k in rec.artifacts["field"])


def test_dvr_outer_background_with_masks(room, mug):
    """With masks the outer field renders the rays that miss the surface: on those pixels of
    the held-out views it beats the data's (mean) background colour."""
    scene = replace(room, masks=mug.masks)
    rec = _fit(
        "dvr",
        scene,
        steps=60,
        width=32,
        n_blocks=1,
        rays_per_step=256,
        mesh_resolution=16,
        background_model="outer",
    )
    test = scene.test()
    with torch.no_grad():
        img = rec.render(test.cameras)
    miss = img[..., 3] < 0.5
    assert float(miss.float().mean()) > 0.1
    err = ((img[..., :3] - test.images) ** 2)[miss].mean()
    flat = ((torch.tensor(scene.background()) - test.images) ** 2)[miss].mean()
    assert float(err) < 0.8 * float(flat)
    assert rec.history[-1]["background"] < rec.history[0]["background"]


@pytest.mark.parametrize("name", ["dvr", "mesh"])
def test_no_masks_and_surroundings_refused(room, name):
    settings = {"steps": 1}
    with pytest.raises(ValueError, match="needs masks or a uniform background"):
        _fit(name, room, **settings)


def test_dvr_background_model_without_masks_refused(room):
    with pytest.raises(ValueError, match="needs masks"):
        _fit("dvr", room, steps=1, background_model="outer")
