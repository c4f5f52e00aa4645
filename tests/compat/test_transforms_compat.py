"""PyTorch3D-compatibility checks for inverse3d.transforms (row-vector convention, names, defaults)."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

import inverse3d.transforms as T
from inverse3d.transforms import (
    Rotate,
    RotateAxisAngle,
    Scale,
    Transform3d,
    Translate,
)
from inverse3d.transforms.so3 import hat, hat_inv, so3_exp_map, so3_log_map, so3_relative_angle

RZ90 = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


class TestRotationConversions:
    def test_quaternion_real_first(self):
        s = math.sqrt(0.5)
        q = torch.tensor([s, 0.0, 0.0, s])
        assert torch.allclose(T.quaternion_to_matrix(q), RZ90, atol=1e-6)
        q2 = T.matrix_to_quaternion(RZ90)
        assert torch.allclose(q2, q, atol=1e-6)

    def test_euler(self):
        m = T.euler_angles_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]), "XYZ")
        assert torch.allclose(m, RZ90, atol=1e-6)
        ang = torch.tensor([[0.1, 0.4, 0.7]])
        for conv in ("XYZ", "ZYX", "ZXZ", "YXY"):
            back = T.matrix_to_euler_angles(T.euler_angles_to_matrix(ang, conv), conv)
            assert torch.allclose(back, ang, atol=1e-5)
        with pytest.raises(ValueError):
            T.euler_angles_to_matrix(ang, "XXY")

    def test_axis_angle(self):
        aa = torch.tensor([0.0, 0.0, math.pi / 2])
        assert torch.allclose(T.axis_angle_to_matrix(aa), RZ90, atol=1e-6)
        assert torch.allclose(T.matrix_to_axis_angle(RZ90), aa, atol=1e-6)
        q = T.axis_angle_to_quaternion(aa)
        assert torch.allclose(T.quaternion_to_axis_angle(q), aa, atol=1e-6)

    def test_6d(self):
        six = T.matrix_to_rotation_6d(RZ90)
        # PyTorch3D keeps the first two rows
        assert torch.allclose(six, RZ90[:2].reshape(6))
        assert torch.allclose(T.rotation_6d_to_matrix(six), RZ90, atol=1e-6)

    def test_quaternion_ops(self):
        q = T.random_quaternions(4)
        assert q.shape == (4, 4)
        assert (T.standardize_quaternion(-q)[:, 0] >= 0).all()
        ident = T.quaternion_multiply(q, T.quaternion_invert(q))
        assert torch.allclose(ident, torch.tensor([1.0, 0, 0, 0]).expand(4, 4), atol=1e-6)
        raw = T.quaternion_raw_multiply(q, q)
        assert raw.shape == (4, 4)
        p = torch.tensor([1.0, 0, 0])
        s = math.sqrt(0.5)
        assert torch.allclose(
            T.quaternion_apply(torch.tensor([s, 0, 0, s]), p), torch.tensor([0.0, 1, 0]), atol=1e-6
        )

    def test_random_rotations(self):
        R = T.random_rotations(3, dtype=torch.float64)
        assert R.shape == (3, 3, 3) and R.dtype == torch.float64
        assert torch.allclose(
            R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(3, 3, 3), atol=1e-10
        )
        assert T.random_rotation().shape == (3, 3)
        # 0.7.9 signature: (n, dtype=None, device=None)
        assert list(inspect.signature(T.random_rotations).parameters) == ["n", "dtype", "device"]


class TestSO3SE3:
    def test_hat(self):
        v = torch.tensor([[1.0, 2.0, 3.0]])
        h = hat(v)
        assert h[0].tolist() == [[0.0, -3.0, 2.0], [3.0, 0.0, -1.0], [-2.0, 1.0, 0.0]]
        assert torch.equal(hat_inv(h), v)

    def test_exp_log(self):
        R = so3_exp_map(torch.tensor([[0.0, 0.0, math.pi / 2]]))
        assert torch.allclose(R[0], RZ90, atol=1e-6)
        assert torch.allclose(so3_log_map(R), torch.tensor([[0.0, 0.0, math.pi / 2]]), atol=1e-5)
        assert T.so3_exponential_map is not None
        assert torch.allclose(T.so3_exponential_map(torch.zeros(1, 3)), torch.eye(3)[None])
        sig = inspect.signature(so3_exp_map)
        assert sig.parameters["eps"].default == 0.0001

    def test_book_log_rot(self):
        # chap2/transformation_and_rotation.py: small log-rotations survive exp then log
        log_rot = torch.tensor([[0.001, 0.0001, 0.0002], [0.001, 0.002, 0.003]])
        assert hat(log_rot).shape == (2, 3, 3)
        back = so3_log_map(so3_exp_map(log_rot))
        assert torch.allclose(back, log_rot, atol=1e-4)

    def test_relative_angle(self):
        R1 = torch.eye(3)[None]
        R2 = so3_exp_map(torch.tensor([[0.0, 0.3, 0.0]]))
        assert torch.allclose(so3_relative_angle(R1, R2), torch.tensor([0.3]), atol=1e-5)
        assert torch.allclose(
            so3_relative_angle(R1, R2, cos_angle=True), torch.tensor([math.cos(0.3)]), atol=1e-5
        )
        assert torch.allclose(T.so3_rotation_angle(R2), torch.tensor([0.3]), atol=1e-5)

    def test_se3(self):
        log = torch.tensor([[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]])
        M = T.se3_exp_map(log)
        assert M.shape == (1, 4, 4)
        # row convention: the translation sits in the last row
        assert torch.allclose(M[0, 3, :3], torch.tensor([1.0, 2.0, 3.0]))
        assert torch.allclose(M[0, :3, 3], torch.zeros(3))
        log2 = torch.tensor([[0.1, -0.2, 0.3, 0.2, 0.1, -0.3]])
        assert torch.allclose(T.se3_log_map(T.se3_exp_map(log2)), log2, atol=1e-5)

    def test_acos_linear_extrapolation(self):
        x = torch.tensor([0.5, 1.5])
        y = T.acos_linear_extrapolation(x, bounds=(-0.9, 0.9))
        assert torch.allclose(y[0], torch.acos(torch.tensor(0.5)))
        assert torch.isfinite(y).all()


class TestTransform3d:
    def test_translate_matrix_layout(self):
        t = Translate(1.0, 2.0, 3.0)
        M = t.get_matrix()
        assert M.shape == (1, 4, 4)
        assert M[0, 3, :3].tolist() == [1.0, 2.0, 3.0]
        assert torch.allclose(
            t.transform_points(torch.zeros(2, 3)), torch.tensor([[1.0, 2, 3]] * 2)
        )
        t2 = Translate(torch.tensor([[1.0, 2, 3], [4, 5, 6]]))
        assert len(t2) == 2
        out = t2.transform_points(torch.zeros(1, 3))
        assert out.shape == (2, 1, 3)

    def test_chain_order(self):
        # methods compose left to right: scale first, then translate
        t = Transform3d().scale(2.0).translate(1.0, 0.0, 0.0)
        assert torch.allclose(
            t.transform_points(torch.tensor([[1.0, 1, 1]])), torch.tensor([[3.0, 2, 2]])
        )
        t1, t2 = Scale(2.0), Translate(1.0, 0.0, 0.0)
        assert torch.allclose(t1.compose(t2).get_matrix(), t.get_matrix())
        inv = t.inverse()
        assert torch.allclose(
            inv.transform_points(torch.tensor([[3.0, 2, 2]])),
            torch.tensor([[1.0, 1, 1]]),
            atol=1e-6,
        )

    def test_rotate(self):
        # points @ R
        r = Rotate(RZ90)
        assert torch.allclose(
            r.transform_points(torch.tensor([[1.0, 0, 0]])), torch.tensor([[0.0, -1, 0]]), atol=1e-6
        )
        ra = RotateAxisAngle(90, axis="Z")
        assert torch.allclose(
            ra.transform_points(torch.tensor([[1.0, 0, 0]])), torch.tensor([[0.0, 1, 0]]), atol=1e-6
        )
        rr = RotateAxisAngle(math.pi / 2, axis="Z", degrees=False)
        assert torch.allclose(rr.get_matrix(), ra.get_matrix(), atol=1e-6)
        chained = Transform3d().rotate_axis_angle(90, axis="Z")
        assert torch.allclose(chained.get_matrix(), ra.get_matrix(), atol=1e-6)

    def test_normals(self):
        t = Scale(1.0, 2.0, 1.0)
        n = t.transform_normals(torch.tensor([[1.0, 1.0, 0.0]]))
        assert torch.allclose(n, torch.tensor([[1.0, 0.5, 0.0]]))

    def test_matrix_kwarg_dtype_device(self):
        M = torch.eye(4, dtype=torch.float64)
        t = Transform3d(matrix=M)
        assert t.get_matrix().shape == (1, 4, 4) and t.dtype == torch.float64
        t = Transform3d(dtype=torch.float64, device="cpu")
        assert t.get_matrix().dtype == torch.float64
        assert t.device == torch.device("cpu")

    def test_stack_index_clone(self):
        a, b = Translate(1.0, 0, 0), Translate(0, 2.0, 0)
        s = a.stack(b)
        assert len(s) == 2
        assert torch.allclose(s[1].get_matrix(), b.get_matrix())
        assert len(s[[0, 1]]) == 2
        c = s.clone()
        assert torch.equal(c.get_matrix(), s.get_matrix())
        assert s.to("cpu").get_matrix().device.type == "cpu"
        assert s.cpu() is not None

    def test_inverse_batched_points(self):
        R = T.random_rotations(2)
        t = Rotate(R).translate(torch.tensor([[1.0, 2, 3], [0, 1, 0]]))
        pts = torch.rand(2, 5, 3)
        back = t.inverse().transform_points(t.transform_points(pts))
        assert torch.allclose(back, pts, atol=1e-5)

    def test_get_se3_log_roundtrip(self):
        if not hasattr(Transform3d, "get_se3_log"):
            pytest.skip("get_se3_log absent")
        log = torch.tensor([[0.1, -0.2, 0.3, 0.2, 0.1, -0.3]])
        t = Transform3d(matrix=T.se3_exp_map(log))
        assert torch.allclose(t.get_se3_log(), log, atol=1e-5)
