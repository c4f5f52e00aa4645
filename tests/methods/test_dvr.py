"""Method "dvr": 2-step smoke runs (each depth mode) and a quality floor on a tiny scene."""

from __future__ import annotations

import pytest
import torch

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.methods.base import get_method
from inverse3d.methods.dvr import DvrConfig, fit


@pytest.fixture(scope="module")
def tiny_scene():
    return make_synthetic_scene(n_views=4, n_test=1, image_size=32)


def _cfg(**kw):
    base = dict(
        width=32, n_blocks=1, rays_per_step=128, n_samples=8, mesh_resolution=24, render_chunk=1024
    )
    base.update(kw)
    return DvrConfig(**base)


@pytest.mark.parametrize("depth", ["none", "dense", "sparse"])
def test_smoke_two_steps(tiny_scene, depth):
    torch.manual_seed(0)
    rec = fit(_cfg(steps=2, depth=depth), tiny_scene, Loop(progress=False))
    assert rec.steps == 2
    assert {"loss", "rgb", "free", "occ"} <= set(rec.history[0])
    assert ("depth" in rec.history[-1]) == (depth != "none") or rec.history[-1]["hit"] == 0
    assert rec.mesh.verts_packed().shape[0] > 0
    img = rec.render(tiny_scene.test().cameras)
    assert img.shape == (1, 32, 32, 4)
    assert get_method("dvr").config_cls is DvrConfig


def test_quality_floor(tiny_scene):
    torch.manual_seed(0)
    rec = fit(_cfg(steps=30, lr=3e-3, use_depth=False), tiny_scene, Loop(progress=False))
    first = sum(h["free"] + h["occ"] for h in rec.history[:5]) / 5
    last = sum(h["free"] + h["occ"] for h in rec.history[-5:]) / 5
    assert last < 0.7 * first, (first, last)
