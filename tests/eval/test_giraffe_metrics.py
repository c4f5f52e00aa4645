"""eval.giraffe_metrics: controllability on the untrained generator (the brief's thresholds) and
the rotation check against generators with an analytic box density (posed like the ground truth,
or ignoring the rotation input)."""

import pytest
import torch

from inverse3d.eval.giraffe_metrics import canonical_box_fit, controllability, rotation_check
from inverse3d.models.giraffe import GiraffeGenerator, ObjectPoses


class _BoxField(torch.nn.Module):
    """Density 50 inside the box |p| <= half (canonical frame), zero features."""

    def __init__(self, half):
        super().__init__()
        self.half = torch.tensor(half)

    def forward(self, points, z_shape, z_app):
        inside = (points.abs() <= self.half).all(-1)
        return 50.0 * inside.float(), torch.zeros(*points.shape[:2], 4)


class _BoxGenerator(GiraffeGenerator):
    def __init__(self, half, **kw):
        super().__init__(hidden=8, feat_dim=4, n_samples=32, **kw)
        self.objects = _BoxField(half)


class _IgnoresRotation(_BoxGenerator):
    def object_fields(self, points, codes, poses):
        still = ObjectPoses(poses.scale, poses.translation, torch.zeros_like(poses.rotation))
        return super().object_fields(points, codes, still)


def test_untrained_generator_is_controllable():
    torch.manual_seed(0)
    m = controllability(GiraffeGenerator(hidden=32, n_samples=16), n=20, seed=0, n_angles=0)
    assert m["translation_corr_x"] >= 0.9 and m["translation_corr_y"] >= 0.9, m
    assert m["appearance_iou"] >= 0.9 and m["mean_opacity"] > 0.01, m
    assert "rotation_width_corr" not in m


def test_box_fit_recovers_analytic_box():
    gen = _BoxGenerator((0.9, 0.5, 0.3))
    codes, poses = gen.sample_latents(2, torch.Generator().manual_seed(0))
    centre, half = canonical_box_fit(gen, codes, poses, grid=20)
    torch.testing.assert_close(centre, torch.zeros(2, 3), atol=1e-5, rtol=0)
    # cell centres inside |x| <= h on a 20-cell grid: the moment fit is within one cell
    torch.testing.assert_close(half, torch.tensor([[0.9, 0.5, 0.3]] * 2), atol=0.1, rtol=0)


def test_rotation_check_passes_posed_box_and_fails_without_rotation():
    half = (0.9, 0.8, 0.35)  # elongated: the width swings as it turns
    good = rotation_check(_BoxGenerator(half), n=12, seed=0)
    assert good["rotation_width_corr"] >= 0.9, good
    assert 0.8 <= good["rotation_width_ratio"] <= 1.25 and good["rotation_iou"] >= 0.85, good
    bad = rotation_check(_IgnoresRotation(half), n=12, seed=0)
    assert abs(bad["rotation_width_corr"]) < 0.2 and bad["rotation_width_ratio"] < 0.05, bad
    assert bad["rotation_iou"] < good["rotation_iou"] - 0.05, bad


class _Object1IgnoresRotation(_BoxGenerator):
    def object_fields(self, points, codes, poses):
        rot = poses.rotation.clone()
        rot[:, 1] = 0.0
        return super().object_fields(
            points, codes, ObjectPoses(poses.scale, poses.translation, rot)
        )


def test_rotation_check_per_object():
    gen = _Object1IgnoresRotation((0.9, 0.8, 0.35), n_objects=2)
    m = controllability(gen, n=8, seed=0, n_angles=8)
    assert m["rotation_width_corr"] >= 0.85 and m["translation_corr_x_object1"] >= 0.9, m
    assert abs(m["rotation_width_corr_object1"]) < 0.2, m
    with pytest.raises(ValueError, match="k must"):
        rotation_check(gen, n=3, k=2)


def test_controllability_includes_rotation_and_every_object():
    torch.manual_seed(0)
    gen = GiraffeGenerator(n_objects=2, hidden=16, feat_dim=4, n_samples=8)
    m = controllability(gen, n=6, seed=0, n_angles=4)
    for key in ("translation_corr_x", "translation_corr_y_object1", "rotation_width_corr",
                "rotation_width_ratio", "rotation_iou", "rotation_iou_object1"):  # fmt: skip
        assert key in m, key


def test_validation():
    with pytest.raises(TypeError, match="gen"):
        controllability(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="n must be >= 3"):
        controllability(GiraffeGenerator(hidden=8), n=2)
    with pytest.raises(ValueError, match="n_angles"):
        controllability(GiraffeGenerator(hidden=8), n=3, n_angles=2)
    with pytest.raises(ValueError, match="n_angles"):
        rotation_check(GiraffeGenerator(hidden=8), n=3, n_angles=1)
    with pytest.raises(TypeError, match="gen"):
        rotation_check(torch.nn.Linear(2, 2))
