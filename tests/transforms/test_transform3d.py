"""Transform3d and its subclasses: row-vector convention, composition, inverse, broadcasting."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.transforms.rotation_conversions import random_rotations
from inverse3d.transforms.se3 import se3_exp_map
from inverse3d.transforms.transform3d import (
    Rotate,
    RotateAxisAngle,
    Scale,
    Transform3d,
    Translate,
)


def _homog(points, M):
    """Reference: [p, 1] @ M with an explicit loop over the batch, then divide by w."""
    out = []
    for n in range(M.shape[0]):
        p = points[n] if points.dim() == 3 else points
        ph = torch.cat([p, torch.ones(p.shape[0], 1, dtype=p.dtype)], dim=1) @ M[n]
        out.append(ph[:, :3] / ph[:, 3:])
    return torch.stack(out)


class TestTransform3d:
    def test_smoke(self):
        t = Transform3d()
        assert len(t) == 1
        torch.testing.assert_close(t.get_matrix(), torch.eye(4)[None])
        assert t.device == torch.device("cpu") and t.dtype == torch.float32

    def test_init_matrix(self):
        M = torch.randn(2, 4, 4, dtype=torch.float64)
        t = Transform3d(matrix=M)
        assert t.dtype == torch.float64 and len(t) == 2
        torch.testing.assert_close(t.get_matrix(), M)
        assert Transform3d(matrix=torch.eye(4)).get_matrix().shape == (1, 4, 4)

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"matrix must have shape \(4, 4\) or \(N, 4, 4\)"):
            Transform3d(matrix=torch.eye(3))
        t = Transform3d()
        with pytest.raises(ValueError, match=r"points must have shape \(P, 3\) or \(N, P, 3\)"):
            t.transform_points(torch.zeros(5, 2))
        with pytest.raises(ValueError, match="points must have shape"):
            t.transform_points(torch.zeros(5))
        with pytest.raises(ValueError, match="normals must have shape"):
            t.transform_normals(torch.zeros(1, 2, 3, 3))
        with pytest.raises(ValueError, match="Transform3d objects only"):
            t.compose(torch.eye(4))
        with pytest.raises(ValueError, match="equal or 1"):
            Translate(torch.randn(2, 3)).transform_points(torch.randn(3, 4, 3))
        with pytest.raises(ValueError, match="Transform3d objects only"):
            t.stack(3)
        with pytest.raises(TypeError, match="points must have the transform's dtype"):
            t.transform_points(torch.zeros(4, 3, dtype=torch.float64))
        with pytest.raises(TypeError, match="normals must have the transform's dtype"):
            t.transform_normals(torch.zeros(4, 3, dtype=torch.float64))

    def test_transform_points_matches_reference(self):
        M = torch.randn(3, 4, 4, dtype=torch.float64)
        M[:, :, 3] = torch.tensor([0.1, -0.2, 0.3, 2.0], dtype=torch.float64)  # w stays ~2
        t = Transform3d(matrix=M)
        pts = torch.randn(3, 7, 3, dtype=torch.float64) * 0.5
        torch.testing.assert_close(t.transform_points(pts), _homog(pts, M))
        # (P, 3) points broadcast against N transforms
        p2 = pts[0]
        torch.testing.assert_close(t.transform_points(p2), _homog(p2, M))
        # (P, 3) with a single transform keeps the shape
        t1 = Transform3d(matrix=M[:1])
        assert t1.transform_points(p2).shape == (7, 3)
        # a single transform broadcasts over N point sets
        torch.testing.assert_close(t1.transform_points(pts), _homog(pts, M[:1].expand(3, 4, 4)))

    def test_transform_points_eps(self):
        M = torch.eye(4)[None].clone()
        M[0, 3, 3] = 0.0  # w = 0 for every point
        t = Transform3d(matrix=M)
        pts = torch.tensor([[1.0, 2.0, 3.0]])
        out = t.transform_points(pts, eps=1e-2)
        torch.testing.assert_close(out, pts / 1e-2)  # zero counts as positive
        M[0, 3, 3] = -1e-4
        out = Transform3d(matrix=M).transform_points(pts, eps=1e-2)
        torch.testing.assert_close(out, -pts / 1e-2)  # sign kept, magnitude clamped
        assert not torch.isfinite(Transform3d(matrix=M * 0).transform_points(pts)).all()

    def test_compose_order(self):
        # Row vectors: t1.compose(t2) applies t1 first. Scale then translate != translate then scale.
        pts = torch.tensor([[1.0, 2.0, 3.0]])
        st = Scale(2.0).compose(Translate(1.0, 0.0, 0.0))
        torch.testing.assert_close(st.transform_points(pts), torch.tensor([[3.0, 4.0, 6.0]]))
        ts = Translate(1.0, 0.0, 0.0).compose(Scale(2.0))
        torch.testing.assert_close(ts.transform_points(pts), torch.tensor([[4.0, 4.0, 6.0]]))
        # chaining methods build the same thing
        chained = Transform3d().scale(2.0).translate(1.0, 0.0, 0.0)
        torch.testing.assert_close(chained.get_matrix(), st.get_matrix())
        # the composed matrix is the left-to-right product
        a, b, c = (Transform3d(matrix=torch.randn(2, 4, 4)) for _ in range(3))
        torch.testing.assert_close(
            a.compose(b, c).get_matrix(),
            a.get_matrix() @ b.get_matrix() @ c.get_matrix(),
            atol=1e-4,
            rtol=1e-4,
        )

    def test_compose_broadcast(self):
        t = Translate(torch.randn(4, 3)).compose(Rotate(random_rotations(1)))
        assert len(t) == 4
        t2 = Rotate(random_rotations(1)).compose(Scale(torch.rand(4, 3) + 0.5))
        assert t2.get_matrix().shape == (4, 4, 4)

    @pytest.mark.parametrize("invert_composed", [False, True])
    def test_inverse(self, invert_composed):
        R = random_rotations(3, dtype=torch.float64)
        t = (
            Transform3d(dtype=torch.float64)
            .scale(torch.rand(3, 3, dtype=torch.float64) + 0.5)
            .rotate(R)
            .translate(torch.randn(3, 3, dtype=torch.float64))
        )
        inv = t.inverse(invert_composed=invert_composed)
        torch.testing.assert_close(inv.get_matrix(), torch.inverse(t.get_matrix()))
        pts = torch.randn(3, 5, 3, dtype=torch.float64)
        torch.testing.assert_close(inv.transform_points(t.transform_points(pts)), pts)

    def test_subclass_inverse_closed_form(self):
        for t in (
            Translate(torch.randn(2, 3, dtype=torch.float64), dtype=torch.float64),
            Scale(torch.rand(2, 3, dtype=torch.float64) + 0.5, dtype=torch.float64),
            Rotate(random_rotations(2, dtype=torch.float64), dtype=torch.float64),
            RotateAxisAngle(torch.tensor([30.0, -70.0]), axis="Y", dtype=torch.float64),
        ):
            torch.testing.assert_close(t.inverse().get_matrix(), torch.inverse(t.get_matrix()))

    def test_transform_normals(self):
        # Normals stay perpendicular to transformed tangents under a non-uniform scale + rotation.
        t = (
            Transform3d(dtype=torch.float64)
            .scale(torch.tensor([[2.0, 0.5, 3.0]], dtype=torch.float64))
            .rotate(random_rotations(1, dtype=torch.float64))
            .translate(1.0, 2.0, 3.0)
        )
        n = torch.randn(20, 3, dtype=torch.float64)
        tangent = torch.cross(n, torch.randn(20, 3, dtype=torch.float64), dim=1)
        assert torch.allclose((n * tangent).sum(1), torch.zeros(20, dtype=torch.float64))
        p0 = torch.randn(20, 3, dtype=torch.float64)
        new_tangent = t.transform_points(p0 + tangent) - t.transform_points(p0)
        new_n = t.transform_normals(n)
        assert new_n.shape == (20, 3)
        torch.testing.assert_close(
            (new_n * new_tangent).sum(1), torch.zeros(20, dtype=torch.float64)
        )
        # Translation does not move normals
        torch.testing.assert_close(Translate(1.0, 2.0, 3.0).transform_normals(n.float()), n.float())

    def test_stack_getitem_len(self):
        a = Translate(torch.randn(2, 3))
        b = Rotate(random_rotations(3))
        s = a.stack(b)
        assert len(s) == 5
        torch.testing.assert_close(s.get_matrix(), torch.cat([a.get_matrix(), b.get_matrix()]))
        torch.testing.assert_close(s[3].get_matrix(), b.get_matrix()[1:2])
        torch.testing.assert_close(s[1:3].get_matrix(), s.get_matrix()[1:3])
        torch.testing.assert_close(s[[0, 4]].get_matrix(), s.get_matrix()[[0, 4]])
        mask = torch.tensor([True, False, True, False, False])
        assert len(s[mask]) == 2
        assert len(s[torch.tensor([1, 2, 3])]) == 3
        # Translate / Scale indexing keep their class
        assert isinstance(a[1], Translate)
        torch.testing.assert_close(a[1].get_matrix(), a.get_matrix()[1:2])
        r = RotateAxisAngle(torch.tensor([10.0, 20.0, 30.0]), axis="Z", dtype=torch.float64)
        assert isinstance(r[1], Rotate) and r[1].dtype == torch.float64
        torch.testing.assert_close(r[1:].get_matrix(), r.get_matrix()[1:])
        assert Translate(torch.randn(2, 3, dtype=torch.float64), dtype=torch.float64)[0].dtype == (
            torch.float64
        )
        sc = Scale(torch.rand(3, 3))
        assert isinstance(sc[0], Scale)
        torch.testing.assert_close(sc[[0, 2]].get_matrix(), sc.get_matrix()[[0, 2]])

    def test_clone_to(self):
        t = Translate(1.0, 2.0, 3.0).compose(Scale(2.0))
        c = t.clone()
        c._matrix[0, 0, 0] = 5.0
        assert t._matrix[0, 0, 0] == 1.0
        assert t.to("cpu") is t
        assert t.to("cpu", copy=True) is not t
        d = t.to("cpu", dtype=torch.float64)
        assert d.dtype == torch.float64 and d.get_matrix().dtype == torch.float64
        torch.testing.assert_close(d.get_matrix(), t.get_matrix().double())
        assert t.cpu().device == torch.device("cpu")

    def test_cuda(self, device):
        t = Translate(1.0, 2.0, 3.0, device=device).rotate_axis_angle(90.0, "Z")
        pts = torch.randn(4, 3, device=device)
        out = t.transform_points(pts)
        assert out.device.type == device.type
        if device.type == "cuda":
            ref = t.cpu().transform_points(pts.cpu())
            torch.testing.assert_close(out.cpu(), ref)

    def test_get_se3_log(self):
        x = torch.randn(4, 6, dtype=torch.float64)
        t = Transform3d(matrix=se3_exp_map(x))
        torch.testing.assert_close(t.get_se3_log(), x)

    def test_gradients_flow(self):
        x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
        R = random_rotations(2, dtype=torch.float64).requires_grad_()

        def f(x, R):
            t = Rotate(R, dtype=torch.float64).compose(Translate(x, dtype=torch.float64))
            return t.transform_points(torch.ones(2, 4, 3, dtype=torch.float64))

        assert torch.autograd.gradcheck(f, (x, R))


class TestTranslate:
    def test_matches_reference(self):
        t = Translate(torch.tensor([1.0, 2.0]), 3.0, torch.tensor([4.0]))
        M = t.get_matrix()
        assert M.shape == (2, 4, 4)
        torch.testing.assert_close(M[:, 3, :3], torch.tensor([[1.0, 3.0, 4.0], [2.0, 3.0, 4.0]]))
        torch.testing.assert_close(M[:, :3, :3], torch.eye(3).expand(2, 3, 3))
        xyz = torch.randn(3, 3)
        torch.testing.assert_close(Translate(xyz).get_matrix()[:, 3, :3], xyz)
        pts = torch.randn(5, 3)
        torch.testing.assert_close(Translate(xyz[:1]).transform_points(pts), pts + xyz[0])

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"x must have shape \(N, 3\)"):
            Translate(torch.zeros(2, 2))
        with pytest.raises(ValueError, match="y and z must be None"):
            Translate(torch.zeros(2, 3), 1.0)
        with pytest.raises(ValueError, match="broadcast"):
            Translate(torch.zeros(2), torch.zeros(3), 0.0)
        with pytest.raises(ValueError, match="give x, y and z"):
            Translate(1.0)


class TestScale:
    def test_matches_reference(self):
        torch.testing.assert_close(
            Scale(2.0).get_matrix(), torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0]))[None]
        )
        torch.testing.assert_close(
            Scale(1.0, 2.0, 3.0).get_matrix(), torch.diag(torch.tensor([1.0, 2.0, 3.0, 1.0]))[None]
        )
        s = torch.rand(4) + 0.5
        torch.testing.assert_close(Scale(s).get_matrix()[:, 1, 1], s)

    def test_exceptions(self):
        with pytest.raises(ValueError):
            Scale(torch.zeros(2, 4))


class TestRotate:
    def test_matches_reference(self):
        R = random_rotations(2)
        pts = torch.randn(2, 6, 3)
        torch.testing.assert_close(Rotate(R).transform_points(pts), pts @ R)  # row vectors

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"R must have shape \(3, 3\) or \(N, 3, 3\)"):
            Rotate(torch.eye(4))
        with pytest.raises(TypeError):
            Rotate([[1, 0, 0], [0, 1, 0], [0, 0, 1]])

    def test_check_rotation_env(self, monkeypatch):
        monkeypatch.setenv("INVERSE3D_CHECK_ROTATION_MATRICES", "1")
        with pytest.warns(UserWarning, match="not a valid rotation"):
            Rotate(2 * torch.eye(3))


class TestRotateAxisAngle:
    @pytest.mark.parametrize("axis", ["X", "Y", "Z", "y"])
    def test_matches_reference(self, axis):
        angle = 30.0
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        # Hand-built column-vector matrices; the row-vector block is their transpose.
        hand = {
            "X": [[1, 0, 0], [0, c, -s], [0, s, c]],
            "Y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
            "Z": [[c, -s, 0], [s, c, 0], [0, 0, 1]],
        }[axis.upper()]
        Rcol = torch.tensor(hand)
        t = RotateAxisAngle(angle, axis=axis)
        torch.testing.assert_close(t.get_matrix()[0, :3, :3], Rcol.T)
        # Counter-clockwise: about Z, +x goes to +y.
        if axis == "Z":
            out = t.transform_points(torch.tensor([[1.0, 0.0, 0.0]]))
            torch.testing.assert_close(out, torch.tensor([[c, s, 0.0]]))
        # radians give the same
        rad = RotateAxisAngle(math.radians(angle), axis=axis, degrees=False)
        torch.testing.assert_close(rad.get_matrix(), t.get_matrix())

    def test_batch(self):
        t = RotateAxisAngle(torch.tensor([0.0, 90.0, 180.0]), axis="Z")
        assert len(t) == 3
        out = t.transform_points(torch.tensor([[1.0, 0.0, 0.0]]))
        torch.testing.assert_close(
            out, torch.tensor([[[1.0, 0, 0]], [[0, 1, 0]], [[-1, 0, 0]]]), atol=1e-6, rtol=0
        )

    def test_exceptions(self):
        with pytest.raises(ValueError, match="axis must be one of"):
            RotateAxisAngle(10.0, axis="W")
        with pytest.raises(ValueError, match="angle must be a scalar"):
            RotateAxisAngle(torch.zeros(2, 2))
