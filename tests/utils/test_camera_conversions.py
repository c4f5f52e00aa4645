"""Tests of utils/camera_conversions.py against a hand-written OpenCV projection."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.cameras import PerspectiveCameras
from inverse3d.transforms.rotation_conversions import random_rotations
from inverse3d.utils.camera_conversions import (
    cameras_from_opencv_projection,
    opencv_from_cameras_projection,
)

F64 = torch.float64


def _opencv_setup(N=3):
    R = random_rotations(N, dtype=F64)
    tvec = torch.randn(N, 3, dtype=F64) * 0.2 + torch.tensor([0.0, 0.0, 4.0], dtype=F64)
    image_size = torch.tensor([[48, 64], [64, 48], [50, 50]])[:N]
    K = torch.zeros(N, 3, 3, dtype=F64)
    K[:, 0, 0] = torch.rand(N, dtype=F64) * 50 + 40
    K[:, 1, 1] = torch.rand(N, dtype=F64) * 50 + 40
    K[:, 0, 2] = image_size[:, 1] / 2 + torch.randn(N, dtype=F64) * 3
    K[:, 1, 2] = image_size[:, 0] / 2 + torch.randn(N, dtype=F64) * 3
    K[:, 2, 2] = 1.0
    return R, tvec, K, image_size


def _opencv_project(points, R, tvec, K):
    """u = K (R x + t) / z for column vectors (OpenCV's projectPoints without distortion)."""
    cam = points @ R.transpose(1, 2) + tvec[:, None]
    uvw = cam @ K.transpose(1, 2)
    return uvw[..., :2] / uvw[..., 2:3]


class TestOpencvConversions:
    def test_default_float32_transforms(self):
        # PyTorch3D builds the cameras without a dtype: float32 transforms for float64 inputs
        R, tvec, K, image_size = _opencv_setup()
        cams = cameras_from_opencv_projection(R, tvec, K, image_size)
        pts = torch.randn(3, 10, 3)
        assert cams.transform_points_screen(pts).dtype == torch.float32

    def test_matches_reference(self):
        R, tvec, K, image_size = _opencv_setup()
        cams = cameras_from_opencv_projection(R, tvec, K, image_size, dtype=F64)
        assert cams.in_ndc()
        pts = torch.randn(3, 10, 3, dtype=F64)
        ours = cams.transform_points_screen(pts)[..., :2]
        assert torch.allclose(ours, _opencv_project(pts, R, tvec, K), atol=1e-8)

    def test_round_trip(self):
        R, tvec, K, image_size = _opencv_setup()
        cams = cameras_from_opencv_projection(R, tvec, K, image_size)
        R2, t2, K2 = opencv_from_cameras_projection(cams, image_size)
        assert torch.allclose(R2, R) and torch.allclose(t2, tvec) and torch.allclose(K2, K)

    def test_screen_space_cameras(self):
        R, tvec, K, image_size = _opencv_setup()
        ndc = cameras_from_opencv_projection(R, tvec, K, image_size, dtype=F64)
        R2, t2, K2 = opencv_from_cameras_projection(ndc, image_size)
        screen = PerspectiveCameras(
            R=ndc.R,
            T=ndc.T,
            focal_length=torch.stack([K[:, 0, 0], K[:, 1, 1]], 1),
            principal_point=K[:, :2, 2],
            in_ndc=False,
            image_size=image_size,
            dtype=F64,
        )
        pts = torch.randn(3, 10, 3, dtype=F64)
        assert torch.allclose(screen.transform_points_screen(pts), ndc.transform_points_screen(pts))
        R3, t3, K3 = opencv_from_cameras_projection(screen, image_size)
        assert torch.allclose(R3, R2) and torch.allclose(t3, t2) and torch.allclose(K3, K2)

    def test_gradcheck(self):
        R, tvec, K, image_size = _opencv_setup(N=1)
        K = K.requires_grad_()
        tvec = tvec.requires_grad_()
        pts = torch.randn(1, 4, 3, dtype=F64)

        def fn(tvec, K):
            cams = cameras_from_opencv_projection(R, tvec, K, image_size, dtype=F64)
            return cams.transform_points_screen(pts)

        assert torch.autograd.gradcheck(fn, (tvec, K))

    def test_exceptions(self):
        R, tvec, K, image_size = _opencv_setup()
        with pytest.raises(ValueError, match="tvec"):
            cameras_from_opencv_projection(R, tvec[:2], K, image_size)
        with pytest.raises(ValueError, match="camera_matrix"):
            cameras_from_opencv_projection(R, tvec, K[:, :2], image_size)
        with pytest.raises(ValueError, match="image_size"):
            cameras_from_opencv_projection(R, tvec, K, image_size * 0)
        with pytest.raises(TypeError, match="cameras"):
            opencv_from_cameras_projection("cam", image_size)


class TestAgainstOpenCV:
    def test_matches_cv2_project_points(self):
        cv2 = pytest.importorskip("cv2")
        import numpy as np

        R, tvec, K, image_size = _opencv_setup()
        cams = cameras_from_opencv_projection(R, tvec, K, image_size, dtype=F64)
        pts = torch.randn(3, 10, 3, dtype=F64)
        ours = cams.transform_points_screen(pts)[..., :2]
        for i in range(3):
            rvec, _ = cv2.Rodrigues(R[i].numpy())
            uv, _ = cv2.projectPoints(pts[i].numpy(), rvec, tvec[i].numpy(), K[i].numpy(), None)
            assert np.allclose(uv[:, 0], ours[i].numpy(), atol=1e-6)
