"""sdf --background-model environment on the "mug in a room" capture (no masks)."""

from __future__ import annotations

import torch

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.eval.metrics import psnr
from inverse3d.methods.sdf import SdfConfig, fit

TINY = dict(
    rays_per_step=256,
    samples_per_ray=32,
    mesh_resolution=24,
    grid_resolution=16,
    render_chunk=1024,
)


def test_environment_renders_the_room():
    room = make_synthetic_scene(n_views=12, n_test=2, image_size=32, room=True)
    test = room.test()
    white = float(psnr(torch.ones_like(test.images), test.images))  # 3.4 dB
    torch.manual_seed(0)
    cfg = SdfConfig(steps=40, background_model="environment", environment_size=8, **TINY)
    rec = fit(cfg, room, Loop(progress=False))
    got = float(psnr(rec.render(test.cameras)[..., :3], test.images))
    # measured 14.4 dB after 60 steps (16 x 32 map); the uniform background empties the SDF
    # on this scene (no surface, 3.4 dB)
    assert got > white + 7.0
    v = rec.mesh.verts_packed()
    assert v.shape[0] > 0 and float(v.abs().max()) <= 1.0 + 1e-5  # the object's cube only


def test_no_opaque_section_does_not_crash():
    """No section heavy enough for a colour (min_weight 1): the background alone, no crash
    (an emptied field, as the uniform background gives on the room, used to raise here)."""
    scene = make_synthetic_scene(n_views=4, n_test=1, image_size=16)
    torch.manual_seed(0)
    cfg = SdfConfig(steps=2, min_weight=1.0, **{**TINY, "mesh_resolution": 8, "grid_resolution": 0})
    rec = fit(cfg, scene, Loop(progress=False))
    img = rec.render(scene.test().cameras)
    assert torch.isfinite(img).all() and img.shape == (1, 16, 16, 4)
