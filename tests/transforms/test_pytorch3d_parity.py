"""Side-by-side parity with PyTorch3D 0.7.9 itself, when it is importable (skipped otherwise).

Run with the peer on the path, e.g. ``PYTHONPATH=.peer/p3d pytest tests/transforms``
(see ../shared/peers/). Only PyTorch3D's pure-Python modules are needed.
"""

from __future__ import annotations

import itertools
import sys
import types

import pytest
import torch

p3t = pytest.importorskip("pytorch3d.transforms")

import inverse3d.transforms as T  # noqa: E402
from inverse3d.transforms import so3 as our_so3  # noqa: E402

CONVENTIONS = [
    "".join(c) for c in itertools.product("XYZ", repeat=3) if c[1] != c[0] and c[1] != c[2]
]


def _close(a, b, atol=1e-10):
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


def _aa(n=20, max_angle=3.0):
    v = torch.randn(n, 3, dtype=torch.float64)
    return (
        v / v.norm(dim=1, keepdim=True) * (0.1 + torch.rand(n, 1, dtype=torch.float64) * max_angle)
    )


class TestRotationConversionsParity:
    def test_matches_reference(self):
        q = torch.randn(20, 4, dtype=torch.float64)
        R = p3t.random_rotations(20, dtype=torch.float64)
        aa = _aa()
        _close(T.quaternion_to_matrix(q), p3t.quaternion_to_matrix(q))
        _close(T.matrix_to_quaternion(R), p3t.matrix_to_quaternion(R))
        _close(T.standardize_quaternion(q), p3t.standardize_quaternion(q))
        q2 = torch.randn(20, 4, dtype=torch.float64)
        _close(T.quaternion_raw_multiply(q, q2), p3t.quaternion_raw_multiply(q, q2))
        _close(T.quaternion_multiply(q, q2), p3t.quaternion_multiply(q, q2))
        _close(T.quaternion_invert(q), p3t.quaternion_invert(q))
        p = torch.randn(20, 3, dtype=torch.float64)
        qn = q / q.norm(dim=1, keepdim=True)
        _close(T.quaternion_apply(qn, p), p3t.quaternion_apply(qn, p))
        _close(T.axis_angle_to_matrix(aa), p3t.axis_angle_to_matrix(aa))
        _close(T.axis_angle_to_quaternion(aa), p3t.axis_angle_to_quaternion(aa))
        _close(T.matrix_to_axis_angle(R), p3t.matrix_to_axis_angle(R))
        # unit quaternions (for |q| != 1 PyTorch3D scales the angle by |q|; we do not)
        _close(T.quaternion_to_axis_angle(qn), p3t.quaternion_to_axis_angle(qn))
        d6 = torch.randn(20, 6, dtype=torch.float64)
        _close(T.rotation_6d_to_matrix(d6), p3t.rotation_6d_to_matrix(d6))
        _close(T.matrix_to_rotation_6d(R), p3t.matrix_to_rotation_6d(R))

    @pytest.mark.parametrize("convention", CONVENTIONS)
    def test_euler(self, convention):
        a = torch.rand(20, 3, dtype=torch.float64) * 2 - 1
        _close(T.euler_angles_to_matrix(a, convention), p3t.euler_angles_to_matrix(a, convention))
        R = p3t.random_rotations(20, dtype=torch.float64)
        _close(
            T.matrix_to_euler_angles(R, convention),
            p3t.matrix_to_euler_angles(R, convention),
            atol=1e-8,
        )

    def test_random_same_stream(self):
        torch.manual_seed(3)
        ours = T.random_quaternions(10, dtype=torch.float64)
        torch.manual_seed(3)
        theirs = p3t.random_quaternions(10, dtype=torch.float64)
        _close(ours, theirs)


class TestSo3Se3Parity:
    def test_matches_reference(self):
        aa = _aa()
        _close(T.so3_exp_map(aa), p3t.so3_exp_map(aa))
        R = T.so3_exp_map(aa)
        _close(T.so3_log_map(R), p3t.so3_log_map(R), atol=1e-8)
        R2 = p3t.random_rotations(20, dtype=torch.float64)
        for kw in ({}, {"cos_angle": True}, {"cos_bound": 0.0}):
            _close(T.so3_relative_angle(R, R2, **kw), p3t.so3_relative_angle(R, R2, **kw))
            _close(T.so3_rotation_angle(R, **kw), p3t.so3_rotation_angle(R, **kw))
        _close(our_so3.hat(aa), p3t.so3.hat(aa))
        for a, b in zip(our_so3._so3_exp_map(aa), p3t.so3._so3_exp_map(aa)):
            _close(a, b)
        _close(our_so3.hat_inv(our_so3.hat(aa)), p3t.so3.hat_inv(p3t.so3.hat(aa)))
        x = torch.linspace(-1.3, 1.3, 53, dtype=torch.float64)
        _close(T.acos_linear_extrapolation(x), p3t.acos_linear_extrapolation(x))
        _close(
            T.acos_linear_extrapolation(x, (-0.5, 0.7)),
            p3t.acos_linear_extrapolation(x, (-0.5, 0.7)),
        )
        log = torch.cat([torch.randn(20, 3, dtype=torch.float64), aa], dim=1)
        _close(T.se3_exp_map(log), p3t.se3_exp_map(log))
        M = p3t.se3_exp_map(log)
        _close(T.se3_log_map(M), p3t.se3_log_map(M), atol=1e-8)

    def test_small_angle_precision_beats_reference(self):
        # PyTorch3D's se3 V matrix clamps the squared angle at eps; our series are exact.
        log = torch.cat([torch.randn(5, 3, dtype=torch.float64), _aa(5, 0.0) * 1e-3], dim=1)
        twist = torch.zeros(5, 4, 4, dtype=torch.float64)
        twist[:, :3, :3] = our_so3.hat(log[:, 3:])
        twist[:, :3, 3] = log[:, :3]
        exact = torch.linalg.matrix_exp(twist).transpose(1, 2)
        ours = (T.se3_exp_map(log) - exact).abs().max()
        theirs = (p3t.se3_exp_map(log) - exact).abs().max()
        assert ours < 1e-15 < theirs


class TestTransform3dParity:
    def _pair(self, build):
        return build(T), build(p3t)

    def test_matches_reference(self):
        R = p3t.random_rotations(3, dtype=torch.float64)
        xyz = torch.randn(3, 3, dtype=torch.float64)
        s = torch.rand(3, dtype=torch.float64) + 0.5
        ang = torch.tensor([10.0, -40.0, 75.0], dtype=torch.float64)

        def build(M):
            kw = {"dtype": torch.float64}
            return (
                M.Transform3d(**kw)
                .scale(s, 2.0, torch.tensor([3.0], dtype=torch.float64))
                .rotate(R)
                .translate(xyz)
                .rotate_axis_angle(ang, axis="Y")
                .compose(M.Scale(0.5, **kw), M.Translate(1.0, 2.0, 3.0, **kw))
            )

        ours, theirs = self._pair(build)
        _close(ours.get_matrix(), theirs.get_matrix())
        _close(ours.inverse().get_matrix(), theirs.inverse().get_matrix())
        _close(
            ours.inverse(invert_composed=True).get_matrix(),
            theirs.inverse(invert_composed=True).get_matrix(),
        )
        pts = torch.randn(3, 6, 3, dtype=torch.float64)
        _close(ours.transform_points(pts), theirs.transform_points(pts))
        _close(ours.transform_points(pts[0]), theirs.transform_points(pts[0]))
        _close(ours.transform_normals(pts), theirs.transform_normals(pts))
        _close(ours[1].get_matrix(), theirs[1].get_matrix())
        _close(ours[[0, 2]].get_matrix(), theirs[[0, 2]].get_matrix())
        _close(ours.stack(ours[0]).get_matrix(), theirs.stack(theirs[0]).get_matrix())
        assert len(ours) == len(theirs)

    def test_eps_divide(self):
        M = torch.eye(4, dtype=torch.float64)[None].repeat(2, 1, 1)
        M[0, 3, 3] = 0.0
        M[1, 3, 3] = -1e-5
        pts = torch.randn(2, 4, 3, dtype=torch.float64)
        ours = T.Transform3d(matrix=M).transform_points(pts, eps=1e-3)
        theirs = p3t.Transform3d(matrix=M).transform_points(pts, eps=1e-3)
        _close(ours, theirs)

    def test_subclasses(self):
        cases = [
            lambda M: M.Translate(torch.tensor([1.0, 2.0]), 3.0, 4.0),
            lambda M: M.Translate(torch.randn(4, 3)),
            lambda M: M.Scale(2.0),
            lambda M: M.Scale(torch.tensor([1.0, 2.0]), 1.0, torch.tensor([3.0])),
            lambda M: M.Rotate(p3t.random_rotations(2)),
            lambda M: M.RotateAxisAngle(30.0, axis="z"),
            lambda M: M.RotateAxisAngle(torch.tensor([0.3, 1.2]), axis="X", degrees=False),
        ]
        torch.manual_seed(0)
        for build in cases:
            torch.manual_seed(1)
            ours = build(T)
            torch.manual_seed(1)
            theirs = build(p3t)
            _close(ours.get_matrix(), theirs.get_matrix(), atol=1e-6)
            _close(ours.inverse().get_matrix(), theirs.inverse().get_matrix(), atol=1e-6)


def _import_p3d_utils():
    try:
        from pytorch3d import _C  # noqa: F401
    except ImportError:
        # The compiled extension is not needed by the functions compared here.
        stub = types.ModuleType("pytorch3d._C")
        stub.__getattr__ = lambda name: 0  # constants read at import time (EPS, MAX_UINT...)
        sys.modules.setdefault("pytorch3d._C", stub)
        import pytorch3d

        pytorch3d._C = sys.modules["pytorch3d._C"]
    from pytorch3d.utils import checkerboard, ico_sphere, torus

    return ico_sphere, torus, checkerboard


class TestUtilsParity:
    def test_matches_reference(self):
        try:
            p_ico, p_torus, p_checker = _import_p3d_utils()
        except Exception as err:  # pragma: no cover - depends on the peer build
            pytest.skip(f"pytorch3d.utils not importable: {err}")
        from inverse3d.utils.checkerboard import checkerboard
        from inverse3d.utils.ico_sphere import ico_sphere
        from inverse3d.utils.torus import torus

        for level in range(4):
            ours, theirs = ico_sphere(level), p_ico(level)
            assert torch.equal(ours.faces_packed(), theirs.faces_packed())
            # PyTorch3D's level-0 table is rounded to 4 decimals
            _close(ours.verts_packed(), theirs.verts_packed(), atol=1e-4)
        ours, theirs = torus(0.5, 2.0, 7, 9), p_torus(0.5, 2.0, 7, 9)
        assert torch.equal(ours.faces_packed(), theirs.faces_packed())
        _close(ours.verts_packed(), theirs.verts_packed(), atol=1e-6)
        ours, theirs = checkerboard(3, (0.2, 0.3, 0.4)), p_checker(3, (0.2, 0.3, 0.4))
        assert torch.equal(ours.faces_packed(), theirs.faces_packed())
        _close(ours.verts_packed(), theirs.verts_packed().float(), atol=0)
        _close(ours.textures.atlas_padded(), theirs.textures.atlas_padded(), atol=0)
