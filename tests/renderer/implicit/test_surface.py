"""Ray/box intersection, secant root finding, implicit differentiation and NeuS weights."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.implicit.surface import (
    find_surface,
    max_along_rays,
    neus_alpha,
    neus_weights,
    ray_box_intersection,
    surface_depth,
)
from inverse3d.renderer.implicit.weights import emission_absorption_weights


class TestRayBoxIntersection:
    def test_matches_analytic(self):
        o = torch.tensor([[0.0, 0.0, -3.0], [0.5, 0.5, -3.0], [2.0, 0.0, -3.0], [0.0, 0.0, 0.0]])
        d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
        near, far, hit = ray_box_intersection(o, d, 1.0)
        assert hit.tolist() == [True, True, False, True]
        torch.testing.assert_close(near[:2], torch.tensor([2.0, 1.0]))
        torch.testing.assert_close(far[:2], torch.tensor([4.0, 2.0]))
        # origin inside: enters at 0 (clipped), leaves at x = 1
        assert near[3] == 0.0 and far[3] == pytest.approx(1.0)

    def test_matches_dense_sampling(self):
        g = torch.Generator().manual_seed(0)
        o = torch.randn(200, 3, generator=g) * 2.0
        d = torch.randn(200, 3, generator=g)
        near, far, hit = ray_box_intersection(o, d, 0.8)
        t = torch.linspace(0, 8, 8001)
        inside = ((o[:, None] + t[None, :, None] * d[:, None]).abs() <= 0.8).all(-1)
        assert torch.equal(hit, inside.any(-1)) or (hit != inside.any(-1)).sum() <= 1
        for i in torch.nonzero(hit & inside.any(-1)).squeeze(-1)[:50]:
            ts = t[inside[i]]
            assert float(ts.min()) == pytest.approx(float(near[i]), abs=2e-3)
            assert float(ts.max()) == pytest.approx(float(far[i]), abs=2e-3)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="directions"):
            ray_box_intersection(torch.zeros(2, 3), torch.zeros(3, 3))
        with pytest.raises(ValueError, match="bound"):
            ray_box_intersection(torch.zeros(2, 3), torch.ones(2, 3), 0.0)


def _sphere(radius, centre):
    # positive inside, negative outside
    return lambda p: radius - (p - centre).norm(dim=-1)


class TestFindSurface:
    def test_secant_root_accuracy(self):
        o = torch.tensor(
            [[0.0, 0.0, -3.0], [0.1, 0.2, -3.0], [0.0, 0.0, -3.0]], dtype=torch.float64
        )
        d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
        near, far, _ = ray_box_intersection(o, d, 1.0)
        far = torch.where(far > near, far, near + 1)
        t, hit = find_surface(
            _sphere(0.5, torch.zeros(3, dtype=torch.float64)),
            o,
            d,
            near,
            far,
            n_samples=16,
            n_secant=8,
        )
        assert hit.tolist() == [True, True, False]
        true1 = 3.0 - (0.25 - 0.05) ** 0.5
        torch.testing.assert_close(
            t[:2], torch.tensor([2.5, true1], dtype=torch.float64), atol=1e-9, rtol=0
        )

    def test_first_crossing_and_inside_start(self):
        # two spheres along the ray: the first one is found; a ray starting inside has no hit
        f = lambda p: torch.maximum(  # noqa: E731
            0.2 - (p - p.new_tensor([0, 0, -0.5])).norm(dim=-1),
            0.2 - (p - p.new_tensor([0, 0, 0.5])).norm(dim=-1),
        )
        o = torch.tensor([[0.0, 0.0, -3.0], [0.0, 0.0, 0.5]])
        d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
        t, hit = find_surface(f, o, d, torch.tensor([0.0, 0.0]), torch.tensor([5.0, 1.0]), 64, 6)
        assert hit.tolist() == [True, False]
        assert float(t[0]) == pytest.approx(2.3, abs=1e-4)


class TestSurfaceDepth:
    def test_gradcheck(self):
        # t(radius, centre, origin, direction) through secant + implicit differentiation
        def depth(radius, centre, origin, direction):
            f = lambda p: radius - (p - centre).norm(dim=-1)  # noqa: E731
            near, far, _ = ray_box_intersection(origin.detach(), direction.detach(), 1.0)
            t0, hit = find_surface(f, origin.detach(), direction.detach(), near, far, 32, 30)
            assert bool(hit.all())
            t, _ = surface_depth(f, origin, direction, t0)
            return t

        args = (
            torch.tensor(0.5, dtype=torch.float64, requires_grad=True),
            torch.tensor([0.05, -0.02, 0.1], dtype=torch.float64, requires_grad=True),
            torch.tensor(
                [[0.1, 0.0, -3.0], [0.0, -0.2, -2.5]], dtype=torch.float64, requires_grad=True
            ),
            torch.tensor(
                [[0.0, 0.05, 1.0], [0.02, 0.0, 1.0]], dtype=torch.float64, requires_grad=True
            ),
        )
        assert torch.autograd.gradcheck(depth, args, eps=1e-6, atol=1e-6)

    def test_matches_analytic(self):
        r = torch.tensor(0.5, requires_grad=True)
        f = lambda p: r - p.norm(dim=-1)  # noqa: E731
        o, d = torch.tensor([[0.0, 0.0, -3.0]]), torch.tensor([[0.0, 0.0, 1.0]])
        t0, _ = find_surface(f, o, d, torch.tensor([2.0]), torch.tensor([4.0]), 16, 8)
        t, p = surface_depth(f, o, d, t0)
        t.sum().backward()
        assert float(r.grad) == pytest.approx(-1.0, abs=1e-4)
        torch.testing.assert_close(p.detach(), torch.tensor([[0.0, 0.0, -0.5]]), atol=1e-5, rtol=0)


class TestNeusWeights:
    def test_unbiased_on_plane(self):
        # plane at length t0 facing the camera: sdf(t) = t0 - t, slope cos = -1
        S, t0 = 400, 1.2345
        t = torch.linspace(0.0, 3.0, S)
        delta = torch.full((S,), 3.0 / (S - 1))
        for inv_s in (20.0, 200.0):
            _, w = neus_weights(t0 - t, -torch.ones(S), delta, inv_s)
            assert abs(float(t[w.argmax()]) - t0) <= float(delta[0])
            assert float(w.sum()) == pytest.approx(1.0, abs=1e-3)
            # weighted mean length of the weights: the surface (symmetric density)
            assert float((w * t).sum() / w.sum()) == pytest.approx(t0, abs=2 * float(delta[0]))

    def test_occlusion_aware(self):
        # two walls of thickness 0.2 centred at lengths 1 and 2: the far one gets no weight
        S = 600
        t = torch.linspace(0.0, 3.0, S)
        d1, d2 = (t - 1.0).abs() - 0.1, (t - 2.0).abs() - 0.1
        sdf = torch.minimum(d1, d2)
        cos = torch.where(d1 < d2, torch.sign(t - 1.0), torch.sign(t - 2.0))
        _, w = neus_weights(sdf, cos, torch.full((S,), 3.0 / S), 100.0)
        assert float(w[t < 1.5].sum()) > 0.98 and float(w[t > 1.5].sum()) < 0.01
        assert abs(float(t[w.argmax()]) - 0.9) < 0.01

    def test_alpha_zero_away_from_surface_and_weights_sum(self):
        a = neus_alpha(
            torch.tensor([0.5, 0.5]), torch.tensor([-1.0, 1.0]), torch.full((2,), 0.01), 1000.0
        )
        assert float(a.max()) < 1e-4
        w = emission_absorption_weights(torch.tensor([[0.5, 0.5, 1.0]]), eps=1e-7)
        torch.testing.assert_close(w, torch.tensor([[0.5, 0.25, 0.25]]), atol=1e-6, rtol=0)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="cos"):
            neus_alpha(torch.zeros(3), torch.zeros(2), torch.zeros(3), 1.0)


class TestMaxAlongRays:
    def test_peak_of_a_bump(self):
        # f(p) = -|p - c|^2 peaks where the ray passes closest to c: t* = (c - o) . d / |d|^2.
        g = torch.Generator().manual_seed(0)
        o = torch.randn(64, 3, generator=g, dtype=torch.float64) * 0.2 + torch.tensor(
            [0.0, 0.0, -3.0], dtype=torch.float64
        )
        d = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64) + 0.1 * torch.randn(
            64, 3, generator=g, dtype=torch.float64
        )
        c = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
        near, far = (
            torch.full((64,), 1.0, dtype=torch.float64),
            torch.full((64,), 5.0, dtype=torch.float64),
        )
        t, v = max_along_rays(lambda p: -((p - c) ** 2).sum(-1), o, d, near, far, n_samples=401)
        t_star = ((c - o) * d).sum(-1) / (d * d).sum(-1)
        torch.testing.assert_close(t, t_star, atol=0.01, rtol=0)  # spacing 0.01, no wider
        p = o + t[:, None] * d
        torch.testing.assert_close(v, -((p - c) ** 2).sum(-1))

    def test_first_of_ties_and_empty(self):
        o = torch.zeros(2, 3)
        d = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        t, v = max_along_rays(
            lambda p: torch.ones(p.shape[0]), o, d, torch.ones(2), torch.full((2,), 3.0), 5
        )
        torch.testing.assert_close(t, torch.ones(2))
        t0, _ = max_along_rays(lambda p: p[:, 0], o[:0], d[:0], torch.ones(0), torch.ones(0), 4)
        assert t0.shape == (0,)

    def test_validation(self):
        o, d = torch.zeros(2, 3), torch.ones(2, 3)
        with pytest.raises(ValueError, match="t_far"):
            max_along_rays(lambda p: p[:, 0], o, d, torch.zeros(2), torch.zeros(3))
        with pytest.raises((ValueError, TypeError), match="n_samples"):
            max_along_rays(lambda p: p[:, 0], o, d, torch.zeros(2), torch.ones(2), 0)
