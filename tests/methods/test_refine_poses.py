"""nerf --refine-poses on the built-in scene: training poses perturbed by a known small error
(3 degrees about each camera's centre, 0.02 shift) are corrected (16 training views of 32x32,
translations learnt at a tenth of the rotations' rate: `pose_translation_scale` 0.1)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.methods import get_method
from inverse3d.transforms.so3 import so3_exp_map, so3_relative_angle

REFINE = dict(
    steps=240,
    n_levels=4,
    log2_hashmap_size=12,
    finest_resolution=32,
    hidden_dim=16,
    rays_per_step=512,
    pts_per_ray=24,
    occupancy_resolution=8,
    occupancy_warmup=10**6,  # nothing skipped
    mesh_resolution=16,
    refine_poses=True,
    lr_poses=0.005,
    pose_warmup=60,
    pose_translation_scale=0.1,
)


def perturb(scene, degrees: float, shift: float, seed: int = 0):
    """The scene with training views 1.. turned by `degrees` about their centres (axes across
    the optical axis) and shifted by `shift` (random directions); view 0 (the refinement's
    fixed frame) kept."""
    g = torch.Generator().manual_seed(seed)
    tr = torch.as_tensor(scene.train_idx)[1:]
    axis = torch.randn(len(tr), 3, generator=g)
    axis[:, 2] = 0.0
    r = so3_exp_map(F.normalize(axis, dim=-1) * math.radians(degrees))
    d = F.normalize(torch.randn(len(tr), 3, generator=g), dim=-1)
    cams = scene.cameras.clone()
    R, T = cams.R.clone(), cams.T.clone()
    R[tr] = torch.bmm(R[tr], r)
    T[tr] = torch.bmm(T[tr][:, None], r)[:, 0] + shift * d
    cams.R, cams.T = R, T
    return replace(scene, cameras=cams)


def errors(cams, truth, points):
    """Mean over views 1..: rotation error (degrees) and reprojection error of `points`
    (pixels of a 32-pixel image)."""
    rot = so3_relative_angle(cams.R[1:], truth.R[1:]).mean() * 180.0 / math.pi
    proj = lambda k: torch.stack([k[i].transform_points(points)[:, :2] for i in range(1, len(k))])  # noqa: E731
    pix = (proj(cams) - proj(truth)).norm(dim=-1).mean() * 16.0
    return float(rot), float(pix)


@pytest.fixture(scope="module")
def scene():
    return make_synthetic_scene(n_views=16, n_test=2, image_size=32)


def test_refine_poses_recovers_a_perturbation(scene):
    truth = scene.train().cameras
    bad = perturb(scene, 3.0, 0.02)
    points = scene.gt_mesh.verts_packed()
    rot0, pix0 = errors(bad.train().cameras, truth, points)
    assert rot0 == pytest.approx(3.0, abs=1e-3) and pix0 > 2.0  # measured 2.31 px
    # One thread: with two, the fit's CPU reductions vary from run to run (measured 1.37 to
    # 1.50 degrees at seed 0 with the same code), which a fixed bar cannot tolerate.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        m = get_method("nerf")
        rec = m.fit(m.config_cls(**REFINE), bad, Loop(progress=False))
    finally:
        torch.set_num_threads(threads)
    rot1, pix1 = errors(rec.artifacts["refined_cameras"], truth, points)
    # Measured (seeds 0 / 1): 0.48 / 0.36 px, 1.39 / 0.85 degrees (160 steps: 1.17 / 1.51, most
    # of the rest a roll about the optical axis, which hardly moves a centred mug at 32 px).
    # With 8 views, 160 steps and translations at the rotations' rate: 2.08 / 1.72 / 1.86
    # degrees for seeds 0 / 1 / 2 (a turn about the camera's centre and a sideways shift move
    # the mug's image alike).
    assert pix1 < 0.5 * pix0
    assert rot1 < 0.5 * rot0
    metrics = rec.artifacts["metrics"]
    assert 0.5 < metrics["pose_rotation_deg"] < 5.0 and metrics["pose_translation"] > 0.0
    off = rec.artifacts["camera_offsets"]
    assert off["rot"].shape == (16, 3) and off["rot"][0].abs().sum() == 0  # view 0 fixed
    assert float(off["trans"].norm(dim=-1).max()) < 0.1


def test_refine_poses_off_reports_nothing(scene):
    torch.manual_seed(0)
    m = get_method("nerf")
    rec = m.fit(
        m.config_cls(**{**REFINE, "steps": 2, "refine_poses": False}), scene, Loop(progress=False)
    )
    assert "pose_rotation_deg" not in rec.artifacts["metrics"]
    assert "refined_cameras" not in rec.artifacts


def test_volume_refine_poses_smoke(scene):
    """volume shares the ray path: the corrections move (view 0 kept) and are reported."""
    torch.manual_seed(0)
    m = get_method("volume")
    settings = dict(
        steps=4,
        grid_sizes=(8,),
        stage_steps=(),
        rays_per_step=128,
        pts_per_ray=16,
        init_density=1.0,
        refine_poses=True,
        lr_poses=0.01,
        pose_warmup=0,
    )
    rec = m.fit(m.config_cls(**settings), perturb(scene, 3.0, 0.02), Loop(progress=False))
    off = rec.artifacts["camera_offsets"]
    assert off["rot"][0].abs().sum() == 0 and off["rot"][1:].abs().sum() > 0
    assert rec.artifacts["metrics"]["pose_rotation_deg"] > 0
    plain = m.fit(m.config_cls(**{**settings, "refine_poses": False}), scene, Loop(progress=False))
    assert "camera_offsets" not in plain.artifacts
