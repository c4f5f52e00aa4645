"""nerf --appearance-embedding: per-image latents take up per-view exposure changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.eval.metrics import psnr
from inverse3d.methods import get_method

SETTINGS = dict(
    steps=150,
    n_levels=4,
    log2_hashmap_size=12,
    finest_resolution=32,
    hidden_dim=16,
    rays_per_step=512,
    pts_per_ray=24,
    occupancy_resolution=8,
    occupancy_warmup=40,
    mesh_resolution=16,
)
GAINS = (1.0, 0.7, 1.3, 1.0, 0.7, 1.3, 1.0, 0.7)


@pytest.fixture(scope="module")
def exposed():
    """The built-in scene with the training views' RGB scaled by GAINS (clipped at 1)."""
    scene = make_synthetic_scene(n_views=8, n_test=2, image_size=32)
    gain = torch.ones(len(scene))
    gain[torch.as_tensor(scene.train_idx)] = torch.tensor(GAINS)
    return replace(scene, images=(scene.images * gain[:, None, None, None]).clamp(0, 1))


def _fit(scene, **settings):
    torch.manual_seed(0)
    m = get_method("nerf")
    return m.fit(m.config_cls(**{**SETTINGS, **settings}), scene, Loop(progress=False))


@pytest.fixture(scope="module")
def embedded(exposed):
    return _fit(exposed, appearance_embedding=True, appearance_dim=8)


def test_latents_follow_the_exposures(exposed, embedded):
    rec = embedded
    lat = rec.artifacts["appearance_latents"]
    assert lat.shape == (8, 8)
    # the latents' main direction of variation against log(gain): measured |r| = 0.87
    centred = lat - lat.mean(0)
    u = torch.linalg.svd(centred, full_matrices=False)[0][:, 0]
    g = torch.tensor(GAINS).log()
    g = g - g.mean()
    r = float((u * g).sum() / (u.norm() * g.norm()))
    assert abs(r) > 0.7
    # held-out views render with the mean latent: finite, in range
    rgba = rec.render(exposed.test().cameras)
    assert rgba.shape == (2, 32, 32, 4) and 0 <= rgba.min() and rgba.max() <= 1


def test_embedding_fits_the_views_better(exposed, embedded):
    last = lambda rec: sum(h["rgb"] for h in rec.history[-20:]) / 20  # noqa: E731
    with_emb = embedded
    without = _fit(exposed)
    assert "appearance_latents" not in without.artifacts
    assert last(with_emb) < 0.9 * last(without)


def right_half_psnr(pred, images):
    """PSNR over the right half of the images' columns: (N, H, W, 3) both."""
    w = images.shape[2]
    return float(psnr(pred[:, :, w // 2 :, :3].clamp(0, 1), images[:, :, w // 2 :]))


def test_nerf_w_held_out_protocol(exposed, embedded):
    """NeRF-W's evaluation: each held-out view's latent is optimised (field frozen) on the left
    half of its image, the PSNR is taken on the right half. Measured (right halves): mean
    latent 12.5 dB, left-half latent 15.8 dB; a fit without the embedding 13.2 dB."""
    test = exposed.test()
    w = test.images.shape[2]
    keep = torch.zeros(test.images.shape[:3])
    keep[:, :, : w // 2] = 1.0
    torch.manual_seed(1)
    lat = embedded.artifacts["fit_appearance"](test.cameras, test.images, keep, steps=60)
    assert lat.shape == (2, 8)
    with torch.no_grad():
        fitted = right_half_psnr(embedded.render(test.cameras, appearance=lat), test.images)
        mean = right_half_psnr(embedded.render(test.cameras), test.images)
    print(f"right half: mean latent {mean:.2f} dB, left-half latent {fitted:.2f} dB")
    assert fitted > mean + 0.5
