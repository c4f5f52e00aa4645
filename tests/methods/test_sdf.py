"""Method "sdf": 2-step smoke run and a quality floor on a tiny built-in scene."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.methods.base import get_method
from inverse3d.methods.sdf import SdfConfig, fit


@pytest.fixture(scope="module")
def tiny_scene():
    return make_synthetic_scene(n_views=4, n_test=1, image_size=32)


def _cfg(**kw):
    base = dict(
        rays_per_step=128,
        samples_per_ray=32,
        mesh_resolution=24,
        grid_resolution=16,
        render_chunk=1024,
    )
    base.update(kw)
    return SdfConfig(**base)


def test_smoke_two_steps(tiny_scene):
    torch.manual_seed(0)
    rec = fit(_cfg(steps=2), tiny_scene, Loop(progress=False))
    assert rec.steps == 2 and len(rec.history) == 2
    assert {"loss", "rgb", "eikonal", "mask"} <= set(rec.history[0])
    verts = rec.mesh.verts_packed()
    assert verts.shape[0] > 0 and rec.mesh.textures is not None
    assert float(verts.abs().max()) <= 1.0
    img = rec.render(tiny_scene.test().cameras)
    assert img.shape == (1, 32, 32, 4)
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    assert get_method("sdf").config_cls is SdfConfig


def test_without_masks_and_with_depth(tiny_scene):
    from dataclasses import replace

    torch.manual_seed(0)
    scene = replace(tiny_scene, masks=None)
    rec = fit(_cfg(steps=1, use_depth=True), scene, Loop(progress=False))
    assert "mask" not in rec.history[0] and "depth" in rec.history[0]


def test_quality_floor(tiny_scene):
    # the colour and mask losses must fall clearly within 40 steps (a method that stops
    # learning fails here)
    torch.manual_seed(0)
    rec = fit(_cfg(steps=30, lr=2e-2), tiny_scene, Loop(progress=False))
    first = sum(h["rgb"] + h["mask"] for h in rec.history[:5]) / 5
    last = sum(h["rgb"] + h["mask"] for h in rec.history[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_importance_sampling_off_and_rounds(tiny_scene):
    # importance_samples=0 is the even sampling alone; other round counts run too
    torch.manual_seed(0)
    for kw in ({"importance_samples": 0}, {"importance_samples": 10, "upsample_rounds": 3}):
        rec = fit(_cfg(steps=1, mesh_resolution=8, **kw), tiny_scene, Loop(progress=False))
        assert torch.isfinite(torch.tensor(rec.history[0]["loss"]))
    from inverse3d.pipeline.config import ConfigError, check_config

    with pytest.raises(ConfigError, match="upsample_rounds"):
        check_config(SdfConfig(upsample_rounds=0))
    with pytest.raises(ValueError, match="rounds"):  # fit itself refuses it too
        fit(_cfg(steps=1, upsample_rounds=0), tiny_scene, Loop(progress=False))


def test_sharpness_warmup_caps_s_on_a_geometric_ramp(tiny_scene):
    # During the warm-up (the first 2 of 4 steps) the s used is min(learned s, cap), the cap going
    # geometrically from the initial s0 = exp(3) to sharpness_warmup_end (here 5, below s0, so the
    # cap binds): step 1 uses s0 (5 / s0)^(1/2); after the warm-up the learned s (~ s0) is back.
    torch.manual_seed(0)
    cfg = _cfg(steps=4, sharpness_warmup=0.5, sharpness_warmup_end=5.0, mesh_resolution=8)
    rec = fit(cfg, tiny_scene, Loop(progress=False))
    s = [h["s"] for h in rec.history]
    s0 = math.exp(3.0)
    assert s[1] == pytest.approx(s0 * (5.0 / s0) ** 0.5, rel=1e-5)
    assert s[3] == pytest.approx(s0, rel=0.02)
    off = fit(_cfg(steps=2, mesh_resolution=8), tiny_scene, Loop(progress=False))
    assert off.history[1]["s"] == pytest.approx(s0, rel=0.02)  # default: no cap


def test_minimal_occupancy_prior_is_logged_and_shrinks(tiny_scene):
    # With a weight that dominates the image losses the prior must shrink the solid.
    torch.manual_seed(0)
    rec = fit(
        _cfg(steps=4, w_min_occupancy=50.0, occupancy_band=0.05, mesh_resolution=8),
        tiny_scene,
        Loop(progress=False),
    )
    occ = [h["occupancy"] for h in rec.history]
    assert "occupancy" in rec.history[0]
    assert occ[-1] < occ[0]


def test_minimal_surface_prior_is_logged(tiny_scene):
    torch.manual_seed(0)
    rec = fit(_cfg(steps=1, w_min_area=0.01, mesh_resolution=8), tiny_scene, Loop(progress=False))
    assert rec.history[0]["area"] > 0 and "occupancy" not in rec.history[0]
