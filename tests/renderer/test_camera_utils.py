"""Tests of renderer/camera_utils.py: join_cameras_as_batch, rotate_on_spot, camera_to_eye_at_up."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.camera_utils import (
    camera_to_eye_at_up,
    join_cameras_as_batch,
    rotate_on_spot,
)
from inverse3d.renderer.cameras import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    PerspectiveCameras,
    look_at_view_transform,
)
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix, random_rotations

F64 = torch.float64


class TestJoinCamerasAsBatch:
    def test_matches_reference(self):
        a = PerspectiveCameras(
            focal_length=torch.rand(2, 2),
            R=random_rotations(2),
            T=torch.randn(2, 3),
            in_ndc=False,
            image_size=((10, 20),),
        )
        b = PerspectiveCameras(
            focal_length=((3.0, 4.0),),
            R=random_rotations(1),
            T=torch.randn(1, 3),
            in_ndc=False,
            image_size=((30, 40),),
        )
        joined = join_cameras_as_batch([a, b])
        assert isinstance(joined, PerspectiveCameras) and len(joined) == 3 and not joined.in_ndc()
        assert torch.equal(joined.R, torch.cat([a.R, b.R]))
        assert torch.equal(joined.image_size, torch.tensor([[10, 20], [10, 20], [30, 40]]).float())
        pts = torch.randn(3, 5, 3) + torch.tensor([0.0, 0.0, 5.0])
        out = joined.transform_points_screen(pts)
        assert torch.allclose(out[:2], a.transform_points_screen(pts[:2]))
        assert torch.allclose(out[2:], b.transform_points_screen(pts[2:]))

    def test_fov(self):
        a = FoVPerspectiveCameras(fov=30.0)
        b = FoVPerspectiveCameras(fov=torch.tensor([40.0, 50.0]))
        joined = join_cameras_as_batch([a, b])
        assert torch.equal(joined.fov, torch.tensor([30.0, 40.0, 50.0]))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="one class"):
            join_cameras_as_batch([FoVPerspectiveCameras(), FoVOrthographicCameras()])
        with pytest.raises(ValueError, match="in_ndc"):
            join_cameras_as_batch(
                [PerspectiveCameras(), PerspectiveCameras(in_ndc=False, image_size=((4, 4),))]
            )
        with pytest.raises(ValueError, match="degrees"):
            join_cameras_as_batch(
                [FoVPerspectiveCameras(), FoVPerspectiveCameras(fov=1.0, degrees=False)]
            )
        with pytest.raises(ValueError, match="non-empty"):
            join_cameras_as_batch([])


class TestRotateOnSpot:
    def test_matches_reference(self):
        R, T = look_at_view_transform(3.0, torch.tensor([10.0, 30.0]), torch.tensor([20.0, -40.0]))
        R, T = R.double(), T.double()
        rotation = random_rotations(2, dtype=F64)
        new_R, new_T = rotate_on_spot(R, T, rotation)
        old = PerspectiveCameras(R=R, T=T, dtype=F64)
        new = PerspectiveCameras(R=new_R, T=new_T, dtype=F64)
        assert torch.allclose(new.get_camera_center(), old.get_camera_center(), atol=1e-10)
        pts = torch.randn(2, 6, 3, dtype=F64)
        old_view = old.get_world_to_view_transform().transform_points(pts)
        new_view = new.get_world_to_view_transform().transform_points(pts)
        assert torch.allclose(new_view, old_view @ rotation.transpose(1, 2), atol=1e-10)

    def test_turn_right(self):
        # the camera at +z looking at the origin turns right by 10 degrees about its y axis:
        # the origin, straight ahead before, now appears on its left (+X in view space)
        R, T = look_at_view_transform(dist=5.0)
        rotation = axis_angle_to_matrix(torch.tensor([0.0, math.radians(10), 0.0]))
        new_R, new_T = rotate_on_spot(R, T, rotation)
        view = PerspectiveCameras(R=new_R, T=new_T).get_world_to_view_transform()
        origin = view.transform_points(torch.zeros(1, 1, 3))[0, 0]
        assert origin[0] > 0 and origin[0] == pytest.approx(5 * math.sin(math.radians(10)), 1e-5)

    def test_shapes(self):
        new_R, new_T = rotate_on_spot(torch.eye(3), torch.zeros(3), random_rotations(4))
        assert new_R.shape == (4, 3, 3) and new_T.shape == (4, 3)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="rotation"):
            rotate_on_spot(torch.eye(3), torch.zeros(3), torch.eye(4))
        with pytest.raises(ValueError, match="batch sizes"):
            rotate_on_spot(random_rotations(2), torch.zeros(2, 3), random_rotations(3))


class TestCameraToEyeAtUp:
    def test_round_trip(self):
        eye = torch.tensor([[1.0, 2.0, 3.0], [-2.0, 0.5, 1.0]], dtype=F64)
        at = torch.tensor([[0.0, 0.1, 0.0], [0.3, 0.0, -0.2]], dtype=F64)
        R, T = look_at_view_transform(eye=eye, at=at)
        w2v = PerspectiveCameras(R=R, T=T, dtype=F64).get_world_to_view_transform()
        eye2, at2, up2 = camera_to_eye_at_up(w2v)
        assert torch.allclose(eye2, eye)
        R2, T2 = look_at_view_transform(eye=eye2, at=at2, up=up2)
        assert torch.allclose(R2, R) and torch.allclose(T2, T)
