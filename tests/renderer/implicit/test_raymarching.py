"""Ray marchers against closed-form transmittance and a per-ray loop."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.implicit.raymarching import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
)


class TestEmissionAbsorptionRaymarcher:
    def test_shapes(self):
        out = EmissionAbsorptionRaymarcher()(torch.rand(2, 5, 7, 9, 1), torch.rand(2, 5, 7, 9, 4))
        assert out.shape == (2, 5, 7, 5)
        out = EmissionAbsorptionRaymarcher()(torch.rand(3, 9, 1), torch.rand(3, 9, 0))
        assert out.shape == (3, 1)

    @pytest.mark.parametrize("d", [0.0, 0.1, 0.37, 1.0])
    def test_matches_reference_homogeneous_slab(self, d):
        # constant opacity d per sample over a slab of k samples: T = (1 - d)^k
        S, k, start = 20, 7, 5
        dens = torch.zeros(S, dtype=torch.float64)
        dens[start : start + k] = d
        feat = torch.ones(S, 1, dtype=torch.float64)  # white slab: colour = absorbed light
        out = EmissionAbsorptionRaymarcher()(dens[None, :, None], feat[None], eps=0.0)
        T = (1 - d) ** k
        torch.testing.assert_close(out[0, 1], torch.tensor(1 - T, dtype=torch.float64))
        torch.testing.assert_close(out[0, 0], torch.tensor(1 - T, dtype=torch.float64))

    def test_matches_reference_loop(self):
        torch.manual_seed(1)
        dens = torch.rand(4, 11, 1, dtype=torch.float64)
        feat = torch.rand(4, 11, 3, dtype=torch.float64)
        for thick in (1, 2, 3):
            out = EmissionAbsorptionRaymarcher(surface_thickness=thick)(dens, feat, eps=1e-10)
            for r in range(4):
                acc = torch.zeros(3, dtype=torch.float64)
                for k in range(11):
                    trans = 1.0
                    for j in range(k - thick + 1):
                        trans *= 1 + 1e-10 - float(dens[r, j, 0])
                    acc += float(dens[r, k, 0]) * trans * feat[r, k]
                torch.testing.assert_close(out[r, :3], acc)
                torch.testing.assert_close(out[r, 3], 1 - torch.prod(1 - dens[r, :, 0]))

    def test_opacity_in_unit_interval(self):
        out = EmissionAbsorptionRaymarcher()(torch.rand(50, 64, 1), torch.rand(50, 64, 2))
        assert bool(((out[:, -1] >= 0) & (out[:, -1] <= 1)).all())
        binary = (torch.rand(50, 64, 1) > 0.5).float()
        out = EmissionAbsorptionRaymarcher()(binary, torch.ones(50, 64, 1))
        assert bool(((out >= 0) & (out <= 1 + 1e-6)).all())

    def test_exceptions(self):
        m = EmissionAbsorptionRaymarcher(strict_densities=True)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            m(torch.full((2, 4, 1), 1.5), torch.rand(2, 4, 3))
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            m(torch.full((2, 4, 1), -0.2), torch.rand(2, 4, 3))
        with pytest.raises(ValueError, match="rays_features"):
            m(torch.rand(2, 4, 1), torch.rand(2, 5, 3))
        with pytest.raises(ValueError, match=r"\(\.\.\., S, 1\)"):
            m(torch.rand(2, 4, 2), torch.rand(2, 4, 3))
        with pytest.raises(ValueError, match="at least one point"):
            m(torch.rand(2, 0, 1), torch.rand(2, 0, 3))
        with pytest.raises(TypeError, match="rays_features"):
            m(torch.rand(2, 4, 1), None)
        with pytest.raises(ValueError, match="surface_thickness"):
            EmissionAbsorptionRaymarcher(surface_thickness=0)

    def test_gradcheck(self):
        dens = (torch.rand(2, 5, 1, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
        feat = torch.rand(2, 5, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(EmissionAbsorptionRaymarcher(), (dens, feat))


class TestAbsorptionOnlyRaymarcher:
    def test_matches_reference(self):
        d = 0.2
        dens = torch.full((3, 6, 1), d, dtype=torch.float64)
        out = AbsorptionOnlyRaymarcher()(dens)
        assert out.shape == (3, 1)
        torch.testing.assert_close(out, torch.full((3, 1), 1 - (1 - d) ** 6, dtype=torch.float64))

    def test_exceptions(self):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            AbsorptionOnlyRaymarcher(strict_densities=True)(torch.full((2, 4, 1), 2.0))
        with pytest.warns(UserWarning, match="outside of valid range"):
            AbsorptionOnlyRaymarcher()(torch.full((2, 4, 1), 2.0))
        with pytest.raises(TypeError):
            AbsorptionOnlyRaymarcher()([0.5])
