"""FishEyeCameras: values from PyTorch3D's own camera tests (tests/test_cameras.py,
TestFishEyeProjection, PyTorch3D 0.7.x), analytic cases, round trips and the pinhole limit."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from inverse3d.renderer import FishEyeCameras as FromPackage
from inverse3d.renderer.cameras import PerspectiveCameras
from inverse3d.renderer.fisheyecameras import FishEyeCameras
from inverse3d.transforms.rotation_conversions import random_rotations

# the "simple" and "Aria" intrinsics of PyTorch3D's TestFishEyeProjection
FOCAL = torch.tensor([[240.0]])
PP = torch.tensor([[320.0, 240.0]])
P3D = torch.tensor([[2.0, 3.0, 1.0], [3.0, 2.0, 1.0]])
ARIA = dict(
    focal_length=torch.tensor([[608.9255557152]]),
    principal_point=torch.tensor([[712.0114821205, 706.8666571177]]),
    radial_params=torch.tensor(
        [[0.3877090026, -0.315613384, -0.3434984955, 1.8565874201, -2.1799372221, 0.7713834763]]
    ),
    tangential_params=torch.tensor([[-0.0002747019, 0.0005228974]]),
    thin_prism_params=torch.tensor([[0.000134884, -0.000084822, -0.0009420014, -0.0001276838]]),
)


def _batch_cameras(combination):
    """PyTorch3D's setUpBatchCameras: camera 0 undistorted, camera 1 the Aria intrinsics."""
    zero = dict(
        radial_params=torch.zeros(1, 6),
        tangential_params=torch.zeros(1, 2),
        thin_prism_params=torch.zeros(1, 4),
        focal_length=FOCAL,
        principal_point=PP,
    )
    kw = {k: torch.cat([zero[k], ARIA[k]]) for k in ARIA}
    return FishEyeCameras(
        use_radial=bool(combination[0]),
        use_tangential=bool(combination[1]),
        use_thin_prism=bool(combination[2]),
        **kw,
    )


class TestFishEyeCameras:
    def test_smoke(self):
        assert FromPackage is FishEyeCameras
        cam = FishEyeCameras()
        assert cam.in_ndc() and not cam.is_perspective()
        assert cam.transform_points(torch.rand(5, 3) + 1).shape == (5, 3)

    def test_zero_distortion_values(self):
        # PyTorch3D test_distortion_params_set_to_zeors: equidistant fisheye f * atan(r) / r
        cam = FishEyeCameras(focal_length=FOCAL, principal_point=PP)
        want = torch.tensor([[493.0993, 499.6489, 1.0], [579.6489, 413.0993, 1.0]])
        assert torch.allclose(cam.transform_points(P3D), want, atol=1e-3)
        r = math.sqrt(13.0)
        u = 320 + 240 * math.atan(r) / r * 2.0
        assert float(cam.transform_points(P3D)[0, 0]) == pytest.approx(u, rel=1e-6)
        cam2 = FishEyeCameras(
            focal_length=FOCAL, principal_point=PP, use_tangential=False, use_thin_prism=False
        )
        assert torch.allclose(cam2.transform_points(P3D), want, atol=1e-3)

    def test_undistorted_equals_perspective(self):
        cam = FishEyeCameras(
            focal_length=FOCAL,
            principal_point=PP,
            use_radial=False,
            use_tangential=False,
            use_thin_prism=False,
        )
        persp = PerspectiveCameras(focal_length=FOCAL, principal_point=PP)
        pts = torch.rand(20, 3) * 2 - 1 + torch.tensor([0.0, 0.0, 3.0])
        want = persp.get_projection_transform().transform_points(pts)
        got = cam.transform_points(pts)
        assert torch.allclose(got[..., :2], want[..., :2], atol=1e-4)
        assert torch.equal(got[..., 2], torch.ones(20))

    @pytest.mark.parametrize("combination", list(itertools.product([0, 1], repeat=3)))
    def test_batch_values(self, combination):
        # expected values of PyTorch3D's test_project_shape_broadcasts (combination order of
        # itertools.product([0, 1], repeat=3)); row 0 = camera 0, row 1 = camera 1 (Aria)
        aria = {
            (0, 0, 0): [[1929.862549, 2533.643311], [2538.788086, 1924.717773]],
            (0, 0, 1): [[1927.272095, 2524.220459], [2536.197754, 1915.295166]],
            (0, 1, 0): [[1930.050293, 2538.434814], [2537.956543, 1927.569092]],
            (0, 1, 1): [[1927.459839, 2529.011963], [2535.366211, 1918.146484]],
            (1, 0, 0): [[1662.673950, 2132.860352], [2138.005127, 1657.529053]],
            (1, 0, 1): [[1660.083496, 2123.437744], [2135.414795, 1648.106445]],
            (1, 1, 0): [[1662.861816, 2137.651855], [2137.173828, 1660.380371]],
            (1, 1, 1): [[1660.271240, 2128.229248], [2134.583496, 1650.957764]],
        }[combination]
        cam0 = (
            [[800.0, 960.0], [1040.0, 720.0]]
            if combination[0] == 0
            else [[493.099304, 499.648926], [579.648926, 413.099304]]
        )
        want = torch.cat([torch.tensor([cam0, aria]), torch.ones(2, 2, 1)], dim=-1)
        cams = _batch_cameras(combination)
        got = cams.transform_points(P3D)
        assert got.shape == (2, 2, 3)
        assert torch.allclose(got, want, rtol=1e-5, atol=2e-3)
        assert torch.allclose(cams.transform_points(P3D[None]), want, rtol=1e-5, atol=2e-3)

    @pytest.mark.parametrize("combination", list(itertools.product([0, 1], repeat=3)))
    def test_unproject_values(self, combination):
        # PyTorch3D test_unproject_shape_broadcasts: unprojection ignores use_radial
        xy = torch.tensor([[2134.5814033, 1650.95653328, 1.0], [1074.25442904, 1159.52461285, 1.0]])
        rows = [
            [[2.999442, 1.990583], [0.666728, 0.833142]],
            [[2.997338, 2.005411], [0.666859, 0.834456]],
            [[3.002090, 1.985229], [0.666537, 0.832025]],
            [[2.999999, 2.000000], [0.666667, 0.833333]],
        ]
        want = torch.cat([torch.tensor(rows[combination[1] * 2 + combination[2]]),
                          torch.ones(2, 1)], dim=-1)  # fmt: skip
        flags = dict(
            use_radial=bool(combination[0]),
            use_tangential=bool(combination[1]),
            use_thin_prism=bool(combination[2]),
        )
        cam = FishEyeCameras(**ARIA, **flags)
        assert torch.allclose(cam.unproject_points(xy), want, atol=1e-4)
        assert torch.allclose(cam.unproject_points(xy.repeat(3, 1, 1)), want.repeat(3, 1, 1),
                              atol=1e-4)  # fmt: skip
        cams = FishEyeCameras(**{k: v.repeat(2, 1) for k, v in ARIA.items()}, **flags)
        assert torch.allclose(cams.unproject_points(xy), want.repeat(2, 1, 1), atol=1e-4)

    def test_round_trip(self):
        torch.manual_seed(0)
        cam = FishEyeCameras(**{k: v.double() for k, v in ARIA.items()})
        # directions within 70 degrees of the axis
        pts = torch.rand(200, 3, dtype=torch.float64) * 2 - 1
        pts[:, 2] = 1.0
        pts[:, :2] *= math.tan(math.radians(70)) / math.sqrt(2)
        depth = torch.rand(200, 1, dtype=torch.float64) * 4 + 0.5
        back = cam.unproject_points(cam.transform_points(pts * depth))
        assert torch.allclose(back, pts, atol=1e-7)
        uv = cam.transform_points(pts)
        assert torch.allclose(cam.transform_points(cam.unproject_points(uv)), uv, atol=1e-6)

    def test_round_trip_principal_point(self):
        cam = FishEyeCameras(**{k: v.double() for k, v in ARIA.items()})
        pp = ARIA["principal_point"].double()
        out = cam.unproject_points(torch.cat([pp, torch.ones(1, 1, dtype=pp.dtype)], -1))
        assert torch.isfinite(out).all()

    def test_world_coordinates(self):
        torch.manual_seed(1)
        R = random_rotations(1)
        T = torch.tensor([[0.1, -0.2, 4.0]])
        world = torch.rand(10, 3) - 0.5
        cam_w = FishEyeCameras(**ARIA, R=R, T=T, world_coordinates=True)
        cam_v = FishEyeCameras(**ARIA)
        view = world @ R[0] + T
        assert torch.allclose(cam_w.transform_points(world), cam_v.transform_points(view),
                              atol=1e-3)  # fmt: skip
        assert torch.allclose(cam_w.get_camera_center(), -T @ R[0].T, atol=1e-6)

    def test_gradcheck(self):
        cam = FishEyeCameras(**{k: v.double() for k, v in ARIA.items()})
        cam.focal = cam.focal / 600  # keep the Jacobian entries near 1
        pts = torch.tensor([[0.3, -0.2, 1.0], [0.0, 0.0, 2.0]], dtype=torch.float64,
                           requires_grad=True)  # fmt: skip
        torch.autograd.gradcheck(cam.transform_points, (pts,))

    def test_getitem_clone(self):
        cams = _batch_cameras((1, 1, 1))
        c1 = cams[1]
        assert isinstance(c1, FishEyeCameras)
        assert cams.__dict__.keys() == c1.__dict__.keys()
        assert torch.allclose(c1.transform_points(P3D), cams.transform_points(P3D)[1])
        cl = cams.clone()
        assert torch.equal(cl.radial_params, cams.radial_params)
        assert cl.radial_params is not cams.radial_params

    def test_exceptions(self):
        cams = _batch_cameras(None or (1, 1, 1))
        with pytest.raises(ValueError, match="Expected points of"):
            cams.transform_points(torch.rand(3, 3, 3))
        with pytest.raises(ValueError, match="radial_params"):
            FishEyeCameras(radial_params=torch.zeros(1, 4))
        with pytest.raises(ValueError, match="principal_point"):
            FishEyeCameras(principal_point=torch.zeros(2, 2))
        with pytest.raises(TypeError, match="points"):
            cams.transform_points([[1.0, 2.0, 3.0]])
