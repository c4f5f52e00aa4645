"""Depth supervision of the volumetric methods: weights, view depth, depth and free-space losses."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.loss.ray_losses import depth_losses, view_depth_factor
from inverse3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from inverse3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher
from inverse3d.renderer.implicit.utils import RayBundle
from inverse3d.renderer.implicit.weights import emission_absorption_weights as alpha_weights


class TestAlphaWeights:
    def test_matches_reference(self):
        a = torch.rand(5, 7, dtype=torch.float64)
        w = alpha_weights(a)
        for r in range(5):
            trans = 1.0
            for k in range(7):
                assert w[r, k].item() == pytest.approx(a[r, k].item() * trans, abs=1e-8)
                trans *= 1.0 - a[r, k].item()
        # The total is the ray's opacity, as the raymarcher composites it.
        bundle = RayBundle(
            origins=torch.zeros(1, 5, 3),
            directions=torch.ones(1, 5, 3),
            lengths=torch.linspace(1, 2, 7).expand(1, 5, 7),
            xys=torch.zeros(1, 5, 2),
        )
        rgba = EmissionAbsorptionRaymarcher()(
            rays_densities=a.float()[None, ..., None],
            rays_features=torch.ones(1, 5, 7, 3),
            ray_bundle=bundle,
        )
        assert torch.allclose(w.sum(-1).float(), rgba[0, :, 3], atol=1e-5)


class TestViewDepthFactor:
    def test_matches_reference(self):
        R, T = look_at_view_transform(
            dist=torch.tensor([2.5, 3.0]), elev=[20.0, -30.0], azim=[0, 75]
        )
        cams = FoVPerspectiveCameras(R=R, T=T)
        origins = cams.get_camera_center()[:, None].expand(2, 4, 3)
        dirs = torch.nn.functional.normalize(torch.randn(2, 4, 3) * 0.2 - origins, dim=-1)
        dz = view_depth_factor(cams, origins, dirs)
        t = 1.7
        pts = origins + t * dirs
        z = cams.get_world_to_view_transform().transform_points(pts)[..., 2]
        assert torch.allclose(t * dz, z, atol=1e-5)
        # A ray along the optical axis has dz = 1.
        axis = torch.nn.functional.normalize(-cams.get_camera_center(), dim=-1)[:, None]
        assert torch.allclose(view_depth_factor(cams, origins[:, :1], axis), torch.ones(2, 1))


class TestDepthLosses:
    def test_known_answer(self):
        t = torch.linspace(1.0, 3.0, 21).expand(3, 21)
        w = torch.zeros(3, 21)
        w[0, 10] = 1.0  # all weight at t = 2.0
        w[1, 2] = 0.25  # a floater at t = 1.2 in front of the surface at 2.0
        w[1, 10] = 0.75
        w[2, 5] = 1.0  # no depth: ignored
        dz = torch.tensor([0.5, 0.5, 1.0])
        target_z = torch.tensor([1.0, 1.0, 0.0])  # t* = z / dz = 2.0
        out = depth_losses(w, t, target_z, dz, margin=0.2)
        # ray 0: exact; ray 1: expected t = 0.25 * 1.2 + 0.75 * 2 = 1.8 -> |error| 0.2.
        assert out["depth"].item() == pytest.approx(0.1, abs=1e-6)
        assert out["free"].item() == pytest.approx(0.125, abs=1e-6)

    def test_no_depth_gives_zero_with_grad(self):
        w = torch.rand(4, 6, requires_grad=True)
        out = depth_losses(w, torch.rand(4, 6), torch.zeros(4), torch.ones(4), 0.1)
        assert out["depth"].item() == 0 and out["free"].item() == 0
        (out["depth"] + out["free"]).backward()
        assert w.grad is not None

    def test_gradcheck(self):
        t = torch.linspace(1.0, 3.0, 9, dtype=torch.float64).expand(3, 9)
        target = torch.tensor([1.0, 0.9, 1.3], dtype=torch.float64)
        dz = torch.tensor([0.6, 0.5, 0.7], dtype=torch.float64)
        a = torch.rand(3, 9, dtype=torch.float64, requires_grad=True)

        def f(alpha):
            out = depth_losses(alpha_weights(alpha), t, target, dz, 0.25)
            return out["depth"], out["free"]

        assert torch.autograd.gradcheck(f, (a,))

    def test_descent_moves_termination_to_the_surface(self):
        # Optimising only the depth + free terms of per-sample opacities puts the ray's
        # termination at t* and clears the space in front of it.
        torch.manual_seed(0)
        t = torch.linspace(1.0, 3.0, 41).expand(2, 41)
        logits = torch.full((2, 41), -2.0, requires_grad=True)
        target, dz = torch.tensor([1.2, 1.0]), torch.tensor([0.6, 1.0])  # t* = 2.0 and 1.0
        opt = torch.optim.Adam([logits], lr=0.1)
        for _ in range(300):
            out = depth_losses(alpha_weights(torch.sigmoid(logits)), t, target, dz, 0.1)
            opt.zero_grad()
            (out["depth"] + out["free"]).backward()
            opt.step()
        w = alpha_weights(torch.sigmoid(logits)).detach()
        t_exp = (w * t).sum(-1) / w.sum(-1)
        assert t_exp[0].item() == pytest.approx(2.0, abs=0.05)
        assert t_exp[1].item() == pytest.approx(1.0, abs=0.05)
        assert w[0, t[0] < 1.9].sum().item() < 0.05
        assert not math.isnan(t_exp.sum().item())


class TestDistortionLoss:
    def test_matches_reference(self):
        from inverse3d.loss.ray_losses import distortion_loss

        w = torch.rand(3, 6, dtype=torch.float64)
        t = torch.sort(torch.rand(3, 6, dtype=torch.float64) * 3, dim=-1).values
        total = 0.0
        for r in range(3):
            d = [t[r, k + 1] - t[r, k] for k in range(5)]
            d.append(d[-1])
            m = [t[r, k] + d[k] / 2 for k in range(6)]
            for i in range(6):
                total += w[r, i] ** 2 * d[i] / 3
                for j in range(6):
                    total += w[r, i] * w[r, j] * abs(m[i] - m[j])
        assert distortion_loss(w, t).item() == pytest.approx(total.item() / 3, rel=1e-10)

    def test_concentrated_beats_spread(self):
        from inverse3d.loss.ray_losses import distortion_loss

        t = torch.linspace(0, 1, 11)[None]
        one = torch.zeros(1, 11)
        one[0, 5] = 1.0
        spread = torch.full((1, 11), 1 / 11)
        assert distortion_loss(one, t) < distortion_loss(spread, t) / 5


class TestGridTV:
    def test_known_answer(self):
        from inverse3d.loss.ray_losses import grid_tv_loss

        g = torch.zeros(1, 4, 4, 4)
        assert grid_tv_loss(g).item() == 0
        g[..., 2:] = 1.0  # one step of 1 between x = 1 and 2: 16 of the 48 x-differences
        assert grid_tv_loss(g).item() == pytest.approx(16 / 48)


class TestDepthSupervision:
    def test_for_rays(self):
        from inverse3d.loss.ray_losses import DepthSupervision

        depths = torch.rand(3, 8, 8)
        sup = DepthSupervision.for_rays(depths, 1.0, 3.0, 40, 0.5, 0.0)
        assert sup.margin == pytest.approx(0.1) and sup.depths.shape == (3, 1, 8, 8)
        assert DepthSupervision.for_rays(None, 1.0, 3.0, 40, 0.5, 0.0) is None
        assert DepthSupervision.for_rays(depths, 1.0, 3.0, 40, 0.0, 0.0) is None

    def test_weighted_sum_of_terms(self):
        from inverse3d.loss.ray_losses import DepthSupervision

        R, T = look_at_view_transform(dist=2.0, elev=0.0, azim=0.0)
        cams = FoVPerspectiveCameras(R=R, T=T)
        depths = torch.full((1, 1, 4, 4), 2.0)  # a wall at view depth 2 over the whole image
        sup = DepthSupervision(depths, margin=0.1, w_depth=2.0, w_free=3.0)
        xys = torch.zeros(1, 1, 2)  # the central ray: d_z = 1, t* = 2
        origins = cams.get_camera_center()[:, None]
        dirs = torch.nn.functional.normalize(-origins, dim=-1)
        t = torch.linspace(1.0, 3.0, 11)[None]
        w = torch.zeros(1, 11)
        w[0, 2], w[0, 5] = 0.5, 0.5  # half at t = 1.4 (in front), half at the wall (t = 2)
        loss, terms = sup(cams, [0], xys, origins, dirs, w, t)
        assert terms["depth"].item() == pytest.approx(0.3, abs=1e-5)
        assert terms["free"].item() == pytest.approx(0.5, abs=1e-6)
        assert loss.item() == pytest.approx(2.0 * 0.3 + 3.0 * 0.5, abs=1e-5)
