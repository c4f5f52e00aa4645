"""SO(3) maps: exp/log round trips (including near 0 and near pi), angles, hat, gradients."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from scipy.spatial.transform import Rotation as SciRot

from inverse3d.transforms.math import acos_linear_extrapolation
from inverse3d.transforms.rotation_conversions import random_rotations
from inverse3d.transforms.so3 import (
    hat,
    hat_inv,
    so3_exp_map,
    so3_exponential_map,
    so3_log_map,
    so3_relative_angle,
    so3_rotation_angle,
)

SMALL_ANGLES = [1e-8, 1e-6, 1e-5, 1e-4, 1e-3]
NEAR_PI = [math.pi - 1e-3, math.pi - 1e-4, math.pi - 1e-5, math.pi - 1e-6]


def _axes(n, dtype=torch.float64):
    a = torch.randn(n, 3, dtype=dtype)
    return a / a.norm(dim=1, keepdim=True)


class TestHat:
    def test_matches_reference(self):
        v = torch.randn(5, 3, dtype=torch.float64)
        u = torch.randn(5, 3, dtype=torch.float64)
        torch.testing.assert_close((hat(v) @ u[:, :, None])[:, :, 0], torch.cross(v, u, dim=1))
        torch.testing.assert_close(hat_inv(hat(v)), v)

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"v must have shape \(N, 3\)"):
            hat(torch.zeros(2, 4))
        with pytest.raises(ValueError, match="skew-symmetric"):
            hat_inv(torch.eye(3)[None])
        with pytest.raises(ValueError, match=r"h must have shape \(N, 3, 3\)"):
            hat_inv(torch.zeros(3, 3))

    def test_gradcheck(self):
        v = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(hat, (v,))
        assert torch.autograd.gradcheck(lambda x: hat_inv(hat(x)), (v,))


class TestSo3ExpMap:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_matches_reference(self, dtype):
        v = torch.randn(30, 3, dtype=dtype)
        ref = torch.as_tensor(SciRot.from_rotvec(v.double().numpy()).as_matrix(), dtype=dtype)
        torch.testing.assert_close(so3_exp_map(v), ref)
        # matrix exponential of hat(v)
        torch.testing.assert_close(
            so3_exp_map(v.double()), torch.linalg.matrix_exp(hat(v.double()))
        )

    def test_small_angles_exact(self):
        for angle in SMALL_ANGLES:
            v = _axes(4) * angle
            expected = torch.linalg.matrix_exp(hat(v))
            eye = torch.eye(3, dtype=torch.float64)
            # R - I is of size `angle`: compare it relatively (a clamp of the angle at
            # sqrt(eps), as in PyTorch3D, gives a relative error ~1e-5 here).
            torch.testing.assert_close(so3_exp_map(v) - eye, expected - eye, atol=1e-15, rtol=1e-9)

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"log_rot must have shape \(N, 3\)"):
            so3_exp_map(torch.zeros(3))

    def test_deprecated_alias(self):
        v = torch.randn(3, 3)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = so3_exponential_map(v)
        assert any("deprecated" in str(x.message) for x in w)
        torch.testing.assert_close(out, so3_exp_map(v))

    def test_gradcheck(self):
        v = torch.cat([torch.randn(2, 3), torch.zeros(1, 3), 1e-6 * torch.ones(1, 3)]).double()
        v.requires_grad_()
        assert torch.autograd.gradcheck(so3_exp_map, (v,))


class TestSo3LogMap:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_round_trip(self, dtype):
        R = random_rotations(100, dtype=dtype)
        torch.testing.assert_close(so3_exp_map(so3_log_map(R)), R, atol=1e-5, rtol=0)
        ref = torch.as_tensor(SciRot.from_matrix(R.double().numpy()).as_rotvec(), dtype=dtype)
        torch.testing.assert_close(
            so3_log_map(R), ref, atol=5e-5 if dtype == torch.float32 else 1e-10, rtol=0
        )

    @pytest.mark.parametrize("angle", SMALL_ANGLES + NEAR_PI)
    def test_near_singularities(self, angle):
        v = _axes(8) * angle
        R = so3_exp_map(v).requires_grad_()
        log = so3_log_map(R)
        torch.testing.assert_close(log, v, atol=1e-12, rtol=0)
        (log * torch.randn_like(log)).sum().backward()
        assert torch.isfinite(R.grad).all()
        # exp side: gradient w.r.t. the log vector is finite too
        v2 = v.clone().requires_grad_()
        so3_exp_map(v2).sum().backward()
        assert torch.isfinite(v2.grad).all()

    def test_gradient_at_identity(self):
        # d log(R) / dR at R = I is the skew part: log_x = (R21 - R12) / 2, ...
        R = torch.eye(3, dtype=torch.float64)[None].requires_grad_()
        w = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
        (so3_log_map(R) * w).sum().backward()
        torch.testing.assert_close(R.grad[0], 0.5 * hat(w)[0])
        assert torch.autograd.gradcheck(so3_log_map, (R,))

    @pytest.mark.parametrize("angle", [1e-4, 1e-3, math.pi - 1e-3])
    def test_near_singularities_float32(self, angle):
        v = (_axes(8) * angle).float()
        log = so3_log_map(so3_exp_map(v))
        torch.testing.assert_close(log, v, atol=2e-6 if angle > 3 else 1e-8, rtol=0)

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"R must have shape \(N, 3, 3\)"):
            so3_log_map(torch.eye(3))
        with pytest.raises(TypeError):
            so3_log_map(None)

    def test_gradcheck(self):
        v = torch.cat([_axes(2) * 0.7, _axes(1) * 1e-4, _axes(1) * (math.pi - 1e-3)])
        R = so3_exp_map(v).requires_grad_()
        assert torch.autograd.gradcheck(so3_log_map, (R,))
        # exp(log(.)) gradient through both maps
        v = v.clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda x: so3_log_map(so3_exp_map(x)), (v,))


class TestSo3Angles:
    def test_matches_reference(self):
        R1 = random_rotations(40, dtype=torch.float64)
        R2 = random_rotations(40, dtype=torch.float64)
        R12 = R1 @ R2.transpose(1, 2)
        expected = torch.acos(((R12.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).clamp(-1, 1))
        angle = so3_relative_angle(R1, R2)
        torch.testing.assert_close(angle, expected)
        torch.testing.assert_close(angle, so3_log_map(R12).norm(dim=1))
        cos = so3_relative_angle(R1, R2, cos_angle=True)
        torch.testing.assert_close(cos, torch.cos(expected))
        torch.testing.assert_close(so3_rotation_angle(R12), expected)
        torch.testing.assert_close(so3_rotation_angle(R12, cos_bound=0.0), expected)

    def test_cos_bound_keeps_gradient_finite(self):
        R = torch.eye(3, dtype=torch.float64)[None].repeat(2, 1, 1).requires_grad_()
        so3_rotation_angle(R).sum().backward()
        assert torch.isfinite(R.grad).all()

    def test_exceptions(self):
        with pytest.raises(ValueError, match="trace"):
            so3_rotation_angle(-3 * torch.eye(3)[None])
        with pytest.raises(ValueError, match="same batch size"):
            so3_relative_angle(torch.eye(3)[None], torch.eye(3)[None].repeat(2, 1, 1))
        with pytest.raises(ValueError, match=r"R1 must have shape"):
            so3_relative_angle(torch.eye(3), torch.eye(3))

    def test_gradcheck(self):
        R1 = random_rotations(3, dtype=torch.float64).requires_grad_()
        R2 = random_rotations(3, dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda a: so3_relative_angle(a, R2), (R1,))


class TestAcosLinearExtrapolation:
    def test_matches_reference(self):
        x = torch.linspace(-1.5, 1.5, 301, dtype=torch.float64)
        lo, hi = -0.9, 0.8
        out = acos_linear_extrapolation(x, (lo, hi))
        inside = (x > lo) & (x < hi)
        torch.testing.assert_close(out[inside], torch.acos(x[inside]))
        above = x >= hi
        slope = -1 / math.sqrt(1 - hi * hi)
        torch.testing.assert_close(out[above], math.acos(hi) + slope * (x[above] - hi))
        below = x <= lo
        slope = -1 / math.sqrt(1 - lo * lo)
        torch.testing.assert_close(out[below], math.acos(lo) + slope * (x[below] - lo))

    def test_exceptions(self):
        x = torch.zeros(3)
        with pytest.raises(ValueError, match="lower must be <= upper"):
            acos_linear_extrapolation(x, (0.5, 0.1))
        with pytest.raises(ValueError, match="inside"):
            acos_linear_extrapolation(x, (-1.0, 0.5))

    def test_gradcheck(self):
        x = torch.tensor([-1.2, -0.5, 0.0, 0.7, 1.0, 1.3], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(acos_linear_extrapolation, (x,))


class TestDevices:
    def test_device(self, device):
        from inverse3d.transforms.rotation_conversions import (
            matrix_to_euler_angles,
            matrix_to_quaternion,
            quaternion_to_matrix,
        )
        from inverse3d.transforms.se3 import se3_exp_map, se3_log_map

        R = random_rotations(16, dtype=torch.float64, device=device)
        assert R.device.type == device.type
        torch.testing.assert_close(so3_exp_map(so3_log_map(R)), R)
        torch.testing.assert_close(quaternion_to_matrix(matrix_to_quaternion(R)), R)
        assert matrix_to_euler_angles(R, "ZYX").device.type == device.type
        x = torch.randn(8, 6, dtype=torch.float64, device=device)
        torch.testing.assert_close(se3_log_map(se3_exp_map(x)), x)
        if device.type == "cuda":
            torch.testing.assert_close(so3_log_map(R).cpu(), so3_log_map(R.cpu()))
