"""VelocityField and integrate_flow: exact rotation flow, checkpointed == plain gradients."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.models.velocity_field import VelocityField, integrate_flow


def rotation_field(omega: float):
    """v(x, t) = omega * (-y, x, 0): rotation about z at angular speed omega."""

    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return omega * torch.stack([-x[:, 1], x[:, 0], torch.zeros_like(x[:, 2])], dim=-1)

    return v


def rotate_z(x: torch.Tensor, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.stack([c * x[:, 0] - s * x[:, 1], s * x[:, 0] + c * x[:, 1], x[:, 2]], dim=-1)


@pytest.fixture
def points():
    g = torch.Generator().manual_seed(0)
    return torch.randn(50, 3, generator=g, dtype=torch.float64)


class TestRotation:
    def test_rk4_matches_exact_rotation(self, points):
        omega = 1.3
        out = integrate_flow(rotation_field(omega), points, steps=20, method="rk4")
        exact = rotate_z(points, omega)
        # RK4 global error ~ T (omega dt)^5 / 120 |x| ~ 5e-7
        assert torch.allclose(out, exact, atol=2e-6)
        err10 = (integrate_flow(rotation_field(omega), points, 10, "rk4") - exact).abs().max()
        err20 = (out - exact).abs().max()
        assert 12.0 < err10 / err20 < 20.0  # fourth order: halving dt divides the error by 16

    def test_euler_first_order(self, points):
        omega = 1.0
        exact = rotate_z(points, omega)
        errs = [
            (integrate_flow(rotation_field(omega), points, steps=T) - exact).abs().max().item()
            for T in (20, 40)
        ]
        # halving dt halves the error (first order); Euler spirals outwards: radius grows
        assert 1.8 < errs[0] / errs[1] < 2.2
        out = integrate_flow(rotation_field(omega), points, steps=20)
        assert (out[:, :2].norm(dim=1) > points[:, :2].norm(dim=1)).all()

    def test_time_dependent_and_path(self, points):
        # v = (t, 0, 0): x(1) = x(0) + 1/2 exactly with RK4 (polynomial of degree 1 in t)
        def v(x, t):
            return torch.stack([t.expand(len(x)), x.new_zeros(len(x)), x.new_zeros(len(x))], -1)

        out, path = integrate_flow(v, points, steps=4, method="rk4", return_path=True)
        assert len(path) == 5 and path[0] is points
        assert torch.allclose(out[:, 0], points[:, 0] + 0.5)
        assert torch.allclose(out[:, 1:], points[:, 1:])


class TestCheckpoint:
    @pytest.mark.parametrize("method", ["euler", "rk4"])
    def test_same_gradients(self, method):
        torch.manual_seed(0)
        field = VelocityField(hidden_dim=16, n_layers=2, zero_init=False).double()
        x = torch.randn(30, 3, dtype=torch.float64, requires_grad=True)
        target = torch.randn(30, 3, dtype=torch.float64)
        grads = []
        for ckpt in (False, True):
            field.zero_grad()
            x.grad = None
            out = integrate_flow(field, x, steps=5, method=method, checkpoint=ckpt)
            ((out - target) ** 2).sum().backward()
            grads.append([p.grad.clone() for p in field.parameters()] + [x.grad.clone()])
        for a, b in zip(*grads):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)

    def test_gradcheck(self):
        torch.manual_seed(1)
        field = VelocityField(hidden_dim=8, n_layers=1, n_harmonic_xyz=1, zero_init=False).double()
        x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda y: integrate_flow(field, y, steps=3, method="rk4"), (x,)
        )


class TestVelocityField:
    def test_zero_init_is_identity(self):
        x = torch.rand(10, 3)
        assert torch.equal(integrate_flow(VelocityField(), x, steps=3), x)

    def test_shapes_and_errors(self):
        f = VelocityField(hidden_dim=8, n_layers=1)
        assert f(torch.rand(7, 3), 0.5).shape == (7, 3)
        with pytest.raises(ValueError, match="x must have shape"):
            f(torch.rand(7, 2), 0.0)
        with pytest.raises(ValueError, match="method"):
            integrate_flow(f, torch.rand(3, 3), method="midpoint")
        with pytest.raises(ValueError, match="steps"):
            integrate_flow(f, torch.rand(3, 3), steps=0)
        with pytest.raises(ValueError, match="activation"):
            VelocityField(activation="tanh")


class TestLipschitz:
    def test_bound_holds(self):
        torch.manual_seed(2)
        f = VelocityField(hidden_dim=32, n_layers=2, lipschitz=3.0, zero_init=False)
        with torch.no_grad():
            for _ in range(30):  # power iterations converge during training forwards
                f(torch.randn(8, 3), 0.3)
            # push the gain to its extreme, the worst case
            f.gain.fill_(5.0)
        f.eval()
        x = torch.randn(4000, 3)
        y = x + 1e-2 * torch.randn(4000, 3)
        with torch.no_grad():
            ratio = (f(x, 0.5) - f(y, 0.5)).norm(dim=1) / (x - y).norm(dim=1)
        assert ratio.max() <= 3.0 * 1.01
        assert ratio.max() > 0.01  # not trivially zero

    def test_zero_init_and_errors(self):
        f = VelocityField(hidden_dim=8, n_layers=1, lipschitz=1.0)
        x = torch.rand(5, 3)
        assert torch.equal(integrate_flow(f, x, steps=2), x)
        with pytest.raises(ValueError, match="lipschitz"):
            VelocityField(lipschitz=-1.0)
