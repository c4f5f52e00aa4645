"""normalize_scene: the object of a capture in its own frame is found and mapped into the unit cube."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from inverse3d.datasets.normalize import (
    _apply,
    _look_at_point,
    estimate_object_frame,
    normalize_scene,
    to_world,
)
from inverse3d.datasets.synthetic import make_synthetic_scene

SCALE, CENTRE = 2.5, torch.tensor([1.0, -2.0, 0.5])


@pytest.fixture(scope="module")
def unit_scene():
    return make_synthetic_scene(n_views=12, n_test=2, image_size=48)


@pytest.fixture(scope="module")
def world_scene(unit_scene):
    # The same capture in a frame where x_world = 2.5 x_unit + (1, -2, 0.5).
    return _apply(unit_scene, (-CENTRE / SCALE).tolist(), 1.0 / SCALE)


class TestNormalizeScene:
    def test_projections_unchanged(self, world_scene):
        n = normalize_scene(world_scene)
        norm = n.extra["normalization"]
        x = torch.randn(1, 64, 3) * 0.3 * SCALE + CENTRE
        xu = (x - torch.tensor(norm["centre"])) / norm["scale"]
        for i in (0, 5, 11):
            a = world_scene.cameras[i].transform_points_screen(x, image_size=((48, 48),))
            b = n.cameras[i].transform_points_screen(xu, image_size=((48, 48),))
            assert torch.allclose(a[..., :2], b[..., :2], atol=1e-3)
        # Depths scale with the frame.
        assert torch.allclose(n.depths * norm["scale"], world_scene.depths, atol=1e-5)

    def test_object_fills_unit_cube(self, world_scene, unit_scene):
        n = normalize_scene(world_scene, fill=0.85)
        v = n.gt_mesh.verts_packed()
        assert v.abs().max() <= 0.86  # inside the hull's box, which fills [-0.85, 0.85]^3
        assert v.abs().max() >= 0.7  # and the object is not lost in a corner of the cube
        # The similarity found is close to the one we applied (up to the hull's slack).
        s = n.extra["normalization"]["scale"]
        unit_extent = float(unit_scene.gt_mesh.verts_packed().abs().max())
        assert s == pytest.approx(SCALE * unit_extent / 0.85, rel=0.1)

    def test_to_world_round_trip(self, world_scene):
        n = normalize_scene(world_scene)
        back = to_world(n.gt_mesh.verts_packed(), n)
        assert torch.allclose(back, world_scene.gt_mesh.verts_packed(), atol=1e-5)
        assert to_world(back, world_scene) is back  # not normalised: identity

    def test_without_masks(self, world_scene):
        data = dataclasses.replace(world_scene, masks=None)
        centre, scale = estimate_object_frame(data)
        # Cameras look at the object's centre: the guess is exact; the cube is 0.4 x distance.
        assert torch.allclose(torch.tensor(centre), CENTRE, atol=1e-3)
        dist = float((data.cameras.get_camera_center() - CENTRE).norm(dim=-1).min())
        assert scale == pytest.approx(0.4 * dist, rel=1e-4)

    def test_look_at_point_degenerate(self, world_scene):
        # One camera: no least-squares point; the mean of the centres is returned.
        cams = world_scene.cameras[[0]]
        assert torch.allclose(_look_at_point(cams).float(), cams.get_camera_center()[0])

    def test_exceptions(self, world_scene):
        with pytest.raises(ValueError, match="fill"):
            normalize_scene(world_scene, fill=0.0)
        from inverse3d.renderer.cameras import FoVOrthographicCameras

        ortho = dataclasses.replace(
            world_scene,
            cameras=FoVOrthographicCameras(R=world_scene.cameras.R, T=world_scene.cameras.T),
        )
        with pytest.raises(ValueError, match="perspective"):
            normalize_scene(ortho)

    @pytest.mark.cuda
    def test_cuda_matches_cpu(self, world_scene):
        a = normalize_scene(world_scene).extra["normalization"]
        b = normalize_scene(world_scene.to("cuda")).extra["normalization"]
        assert b["scale"] == pytest.approx(a["scale"], rel=1e-3)
        assert torch.allclose(torch.tensor(b["centre"]), torch.tensor(a["centre"]), atol=1e-3)


def test_aabb_scale_grows_the_region(world_scene):
    """instant-ngp's aabb_scale: same centre, scale times aabb_scale, cameras that much closer."""
    base = normalize_scene(world_scene)
    grown = normalize_scene(
        dataclasses.replace(world_scene, extra={**world_scene.extra, "aabb_scale": 4})
    )
    n0, n1 = base.extra["normalization"], grown.extra["normalization"]
    assert n1["centre"] == pytest.approx(n0["centre"])
    assert n1["scale"] == pytest.approx(4 * n0["scale"])
    d0 = base.cameras.get_camera_center().norm(dim=-1)
    d1 = grown.cameras.get_camera_center().norm(dim=-1)
    torch.testing.assert_close(d1, d0 / 4, rtol=1e-5, atol=1e-6)
    bad = dataclasses.replace(world_scene, extra={**world_scene.extra, "aabb_scale": 0.5})
    with pytest.raises(ValueError, match="aabb_scale"):
        normalize_scene(bad)
