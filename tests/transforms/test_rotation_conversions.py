"""Rotation conversions: round trips, mutual agreement, scipy reference, gradcheck."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy.spatial.transform import Rotation as SciRot

from inverse3d.transforms.rotation_conversions import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    euler_angles_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler_angles,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_apply,
    quaternion_invert,
    quaternion_multiply,
    quaternion_raw_multiply,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    random_quaternions,
    random_rotation,
    random_rotations,
    rotation_6d_to_matrix,
    standardize_quaternion,
)

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
CONVENTIONS = [
    "".join(c) for c in itertools.product("XYZ", repeat=3) if c[1] != c[0] and c[1] != c[2]
]


def _tol(dtype):
    return dict(atol=TOL[dtype] * 10, rtol=0)


def _scipy_quat(q):
    """(w, x, y, z) -> scipy's scalar-last array."""
    return q[..., [1, 2, 3, 0]].numpy()


class TestConventions:
    def test_twelve_conventions(self):
        assert len(CONVENTIONS) == 12

    def test_convention_column_vectors(self):
        # 90 degrees about Z maps the x axis to the y axis: R @ e_x = e_y.
        R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
        torch.testing.assert_close(R @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]))
        q = axis_angle_to_quaternion(torch.tensor([0.0, 0.0, math.pi / 2]))
        torch.testing.assert_close(
            q, torch.tensor([math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)])
        )


class TestQuaternionToMatrix:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_reference(self, dtype):
        q = random_quaternions(50, dtype=dtype)
        ref = SciRot.from_quat(_scipy_quat(q)).as_matrix()
        torch.testing.assert_close(quaternion_to_matrix(q), torch.as_tensor(ref, dtype=dtype))

    def test_shapes(self):
        q = random_quaternions(6).view(2, 3, 4)
        assert quaternion_to_matrix(q).shape == (2, 3, 3, 3)
        # non-unit quaternions give the rotation of q / |q|
        torch.testing.assert_close(quaternion_to_matrix(3 * q), quaternion_to_matrix(q))

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"quaternions must have shape \(\.\.\., 4\)"):
            quaternion_to_matrix(torch.zeros(2, 3))
        with pytest.raises(TypeError):
            quaternion_to_matrix([1.0, 0, 0, 0])

    def test_gradcheck(self):
        q = random_quaternions(3, dtype=torch.float64).requires_grad_()
        assert torch.autograd.gradcheck(quaternion_to_matrix, (q,))


class TestMatrixToQuaternion:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_round_trip(self, dtype):
        q = random_quaternions(200, dtype=dtype)
        torch.testing.assert_close(matrix_to_quaternion(quaternion_to_matrix(q)), q, **_tol(dtype))

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_reference(self, dtype):
        R = random_rotations(50, dtype=dtype)
        ref = torch.as_tensor(SciRot.from_matrix(R.numpy()).as_quat(), dtype=dtype)
        ref = standardize_quaternion(ref[:, [3, 0, 1, 2]])
        torch.testing.assert_close(matrix_to_quaternion(R), ref, **_tol(dtype))

    def test_robust_near_pi_and_identity(self):
        # Half turns about each axis and diagonals: every formula branch gets used.
        axes = torch.tensor(
            [[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 1], [0, 0, 0]],
            dtype=torch.float64,
        )
        axes = axes / axes.norm(dim=1, keepdim=True).clamp(min=1)
        for angle in (math.pi, math.pi - 1e-7, 1e-9, 0.0):
            aa = axes * angle
            R = axis_angle_to_matrix(aa)
            q = matrix_to_quaternion(R)
            torch.testing.assert_close(quaternion_to_matrix(q), R, atol=1e-12, rtol=0)
            assert torch.all(q[:, 0] >= 0)
            torch.testing.assert_close(q.norm(dim=1), torch.ones(6, dtype=torch.float64))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="matrix must have shape"):
            matrix_to_quaternion(torch.zeros(3, 4))

    def test_gradcheck(self):
        # One rotation per branch (w, x, y, z largest).
        aa = torch.tensor(
            [[0.1, 0.2, -0.3], [3.0, 0.1, 0.2], [0.1, -3.0, 0.2], [0.2, 0.1, 3.0]],
            dtype=torch.float64,
        )
        R = axis_angle_to_matrix(aa).requires_grad_()
        assert torch.autograd.gradcheck(matrix_to_quaternion, (R,))
        R.grad = None
        matrix_to_quaternion(R).sum().backward()
        assert torch.isfinite(R.grad).all()


class TestQuaternionAlgebra:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_multiply_matches_matrix_product(self, dtype):
        a, b = random_quaternions(20, dtype=dtype), random_quaternions(20, dtype=dtype)
        ab = quaternion_multiply(a, b)
        torch.testing.assert_close(
            quaternion_to_matrix(ab), quaternion_to_matrix(a) @ quaternion_to_matrix(b)
        )
        assert torch.all(ab[:, 0] >= 0)
        raw = quaternion_raw_multiply(a, b)
        torch.testing.assert_close(standardize_quaternion(raw), ab)
        # Against scipy's composition
        ref = (SciRot.from_quat(_scipy_quat(a)) * SciRot.from_quat(_scipy_quat(b))).as_matrix()
        torch.testing.assert_close(quaternion_to_matrix(ab), torch.as_tensor(ref, dtype=dtype))

    def test_invert_and_apply(self):
        q = random_quaternions(10, dtype=torch.float64)
        ident = quaternion_raw_multiply(q, quaternion_invert(q))
        torch.testing.assert_close(ident, torch.tensor([1.0, 0, 0, 0]).expand(10, 4).double())
        p = torch.randn(10, 3, dtype=torch.float64)
        expected = (quaternion_to_matrix(q) @ p[:, :, None])[:, :, 0]
        torch.testing.assert_close(quaternion_apply(q, p), expected)

    def test_standardize(self):
        q = torch.tensor([[-0.5, 0.5, 0.5, 0.5], [0.5, -0.5, 0.5, 0.5]])
        out = standardize_quaternion(q)
        torch.testing.assert_close(out[0], -q[0])
        torch.testing.assert_close(out[1], q[1])

    def test_exceptions(self):
        with pytest.raises(ValueError, match="point must have shape"):
            quaternion_apply(torch.zeros(4), torch.zeros(2))
        with pytest.raises(ValueError):
            quaternion_raw_multiply(torch.zeros(3), torch.zeros(4))

    def test_gradcheck(self):
        a = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
        b = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
        p = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(quaternion_multiply, (a, b))
        assert torch.autograd.gradcheck(quaternion_apply, (a, p))
        assert torch.autograd.gradcheck(quaternion_invert, (a,))


class TestAxisAngle:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_reference(self, dtype):
        aa = torch.randn(50, 3, dtype=dtype)
        ref = torch.as_tensor(SciRot.from_rotvec(aa.numpy()).as_matrix(), dtype=dtype)
        torch.testing.assert_close(axis_angle_to_matrix(aa), ref, **_tol(dtype))
        R = random_rotations(50, dtype=dtype)
        ref_vec = torch.as_tensor(SciRot.from_matrix(R.numpy()).as_rotvec(), dtype=dtype)
        torch.testing.assert_close(matrix_to_axis_angle(R), ref_vec, atol=TOL[dtype] * 50, rtol=0)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_round_trip(self, dtype):
        aa = torch.randn(100, 3, dtype=dtype)
        aa = aa / aa.norm(dim=1, keepdim=True) * torch.rand(100, 1, dtype=dtype) * 3.0
        torch.testing.assert_close(
            matrix_to_axis_angle(axis_angle_to_matrix(aa)), aa, **_tol(dtype)
        )
        q = axis_angle_to_quaternion(aa)
        torch.testing.assert_close(quaternion_to_axis_angle(q), aa, **_tol(dtype))
        # matrix via quaternion == via axis-angle
        torch.testing.assert_close(quaternion_to_matrix(q), axis_angle_to_matrix(aa), **_tol(dtype))
        assert torch.allclose(q.norm(dim=1), torch.ones(100, dtype=dtype))

    def test_tiny_angles(self):
        for angle in (0.0, 1e-12, 1e-8, 1e-4, 1e-3, 2e-3):
            aa = torch.tensor([[angle, -2 * angle, 0.5 * angle]], dtype=torch.float64)
            torch.testing.assert_close(
                matrix_to_axis_angle(axis_angle_to_matrix(aa)), aa, atol=1e-15, rtol=1e-10
            )
            torch.testing.assert_close(
                quaternion_to_axis_angle(axis_angle_to_quaternion(aa)), aa, atol=1e-15, rtol=1e-10
            )

    def test_quaternion_with_negative_real_part(self):
        # PyTorch3D semantics: angle = 2 atan2(|v|, w) > pi when w < 0
        q = torch.tensor([[-math.cos(0.3), math.sin(0.3), 0.0, 0.0]], dtype=torch.float64)
        aa = quaternion_to_axis_angle(q)
        torch.testing.assert_close(aa, torch.tensor([[2 * (math.pi - 0.3), 0, 0]]).double())
        assert torch.isfinite(quaternion_to_axis_angle(torch.tensor([[-1.0, 0, 0, 0]]))).all()

    def test_exceptions(self):
        with pytest.raises(ValueError, match="axis_angle must have shape"):
            axis_angle_to_matrix(torch.zeros(4))
        with pytest.raises(ValueError, match="quaternions must have shape"):
            quaternion_to_axis_angle(torch.zeros(3))

    def test_gradcheck(self):
        aa = torch.tensor([[0.3, -0.2, 0.5], [1e-5, 2e-5, 0.0], [0.0, 0.0, 0.0]])
        aa = aa.double().requires_grad_()
        assert torch.autograd.gradcheck(axis_angle_to_matrix, (aa,))
        assert torch.autograd.gradcheck(axis_angle_to_quaternion, (aa,))
        q = torch.tensor([[0.9, 0.1, -0.3, 0.2], [1.0, 1e-5, 0, 0], [0.1, 0.7, 0.5, 0.2]])
        q = q.double().requires_grad_()
        assert torch.autograd.gradcheck(quaternion_to_axis_angle, (q,))
        R = random_rotations(3, dtype=torch.float64).requires_grad_()
        assert torch.autograd.gradcheck(matrix_to_axis_angle, (R,))


class TestEuler:
    @pytest.mark.parametrize("convention", CONVENTIONS)
    def test_matches_reference(self, convention):
        angles = torch.rand(20, 3, dtype=torch.float64) * 2 - 1
        R = euler_angles_to_matrix(angles, convention)
        ref = SciRot.from_euler(convention, angles.numpy()).as_matrix()  # uppercase = intrinsic
        torch.testing.assert_close(R, torch.as_tensor(ref))
        # Matrix via euler == via quaternion == via axis-angle
        q = matrix_to_quaternion(R)
        torch.testing.assert_close(quaternion_to_matrix(q), R)
        torch.testing.assert_close(axis_angle_to_matrix(matrix_to_axis_angle(R)), R)

    @pytest.mark.parametrize("convention", CONVENTIONS)
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_round_trip(self, convention, dtype):
        R = random_rotations(50, dtype=dtype)
        angles = matrix_to_euler_angles(R, convention)
        torch.testing.assert_close(
            euler_angles_to_matrix(angles, convention), R, atol=TOL[dtype] * 20, rtol=0
        )
        if dtype == torch.float64:
            ref = SciRot.from_matrix(R.numpy()).as_euler(convention)
            torch.testing.assert_close(angles, torch.as_tensor(ref), atol=1e-9, rtol=0)
        # middle angle range
        mid = angles[:, 1]
        if convention[0] == convention[2]:
            assert torch.all((mid >= 0) & (mid <= math.pi))
        else:
            assert torch.all(mid.abs() <= math.pi / 2)

    def test_exceptions(self):
        x = torch.zeros(2, 3)
        for bad in ("XY", "XXY", "XYY", "XYA", "xyz"):
            with pytest.raises(ValueError, match="convention"):
                euler_angles_to_matrix(x, bad)
            with pytest.raises(ValueError, match="convention"):
                matrix_to_euler_angles(torch.eye(3), bad)
        with pytest.raises(ValueError, match="euler_angles must have shape"):
            euler_angles_to_matrix(torch.zeros(2, 4), "XYZ")

    def test_gradcheck(self):
        a = (torch.rand(2, 3, dtype=torch.float64) - 0.5).requires_grad_()
        assert torch.autograd.gradcheck(lambda x: euler_angles_to_matrix(x, "ZYX"), (a,))
        assert torch.autograd.gradcheck(lambda x: euler_angles_to_matrix(x, "XZX"), (a,))
        R = euler_angles_to_matrix(a.detach() + 0.3, "YXZ").requires_grad_()
        assert torch.autograd.gradcheck(lambda m: matrix_to_euler_angles(m, "YXZ"), (R,))
        R2 = euler_angles_to_matrix(a.detach().abs() + 0.3, "ZXZ").requires_grad_()
        assert torch.autograd.gradcheck(lambda m: matrix_to_euler_angles(m, "ZXZ"), (R2,))


class TestRotation6d:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_round_trip(self, dtype):
        R = random_rotations(30, dtype=dtype)
        d6 = matrix_to_rotation_6d(R)
        assert d6.shape == (30, 6)
        torch.testing.assert_close(d6, R[:, :2, :].reshape(30, 6))  # rows, as PyTorch3D
        torch.testing.assert_close(rotation_6d_to_matrix(d6), R, **_tol(dtype))

    def test_matches_reference(self):
        # Gram-Schmidt of arbitrary rows gives a proper rotation whose first row is a1/|a1|.
        d6 = torch.randn(10, 6, dtype=torch.float64)
        R = rotation_6d_to_matrix(d6)
        eye = torch.eye(3, dtype=torch.float64).expand(10, 3, 3)
        torch.testing.assert_close(R @ R.transpose(1, 2), eye)
        torch.testing.assert_close(torch.det(R), torch.ones(10, dtype=torch.float64))
        torch.testing.assert_close(R[:, 0], d6[:, :3] / d6[:, :3].norm(dim=1, keepdim=True))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="d6 must have shape"):
            rotation_6d_to_matrix(torch.zeros(5))

    def test_gradcheck(self):
        d6 = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(rotation_6d_to_matrix, (d6,))
        R = random_rotations(2, dtype=torch.float64).requires_grad_()
        assert torch.autograd.gradcheck(matrix_to_rotation_6d, (R,))


class TestRandom:
    def test_shapes(self):
        assert random_quaternions(7).shape == (7, 4)
        assert random_rotations(5, dtype=torch.float64).dtype == torch.float64
        assert random_rotation().shape == (3, 3)
        assert random_rotations(0).shape == (0, 3, 3)

    def test_matches_reference(self):
        q = random_quaternions(4000, dtype=torch.float64)
        torch.testing.assert_close(q.norm(dim=1), torch.ones(4000, dtype=torch.float64))
        assert torch.all(q[:, 0] >= 0)
        # Haar measure: the rotation angle has density (1 - cos t) / pi, mean pi/2 + 2/pi.
        angles = matrix_to_axis_angle(quaternion_to_matrix(q)).norm(dim=1)
        assert abs(float(angles.mean()) - (math.pi / 2 + 2 / math.pi)) < 0.03
        R = random_rotations(100, dtype=torch.float64)
        torch.testing.assert_close(torch.det(R), torch.ones(100, dtype=torch.float64))

    def test_exceptions(self):
        with pytest.raises(ValueError):
            random_quaternions(-1)
        with pytest.raises(TypeError):
            random_quaternions(2.5)
