"""emission_absorption_weights / _transmittance against an explicit loop and finite differences."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.implicit import (
    EmissionAbsorptionRaymarcher,
    emission_absorption_transmittance,
    emission_absorption_weights,
)


def _loop_weights(a: torch.Tensor, eps: float, thickness: int) -> torch.Tensor:
    """w_i = a_i prod_{j < i - thickness + 1} ((1 + eps) - a_j), one sample at a time."""
    out = torch.zeros_like(a)
    for r in range(a.shape[0]):
        for i in range(a.shape[1]):
            t = torch.ones((), dtype=a.dtype)
            for j in range(i - thickness + 1):
                t = t * ((1.0 + eps) - a[r, j])
            out[r, i] = a[r, i] * t
    return out


class TestEmissionAbsorptionWeights:
    def test_smoke(self):
        w = emission_absorption_weights(torch.tensor([0.5, 0.5, 1.0]))
        assert torch.allclose(w, torch.tensor([0.5, 0.25, 0.25]))

    def test_shapes(self):
        a = torch.rand(2, 3, 4, 7)
        assert emission_absorption_weights(a).shape == (2, 3, 4, 7)
        assert emission_absorption_transmittance(a, surface_thickness=9).shape == (2, 3, 4, 7)
        assert torch.equal(
            emission_absorption_transmittance(a, surface_thickness=9), torch.ones_like(a)
        )

    @pytest.mark.parametrize("thickness", [1, 2, 3])
    @pytest.mark.parametrize("eps", [0.0, 1e-10, 1e-3])
    def test_matches_reference(self, thickness, eps):
        a = torch.rand(4, 6, dtype=torch.float64)
        a[0, 2] = 1.0  # an opaque sample: only eps passes
        got = emission_absorption_weights(a, eps=eps, surface_thickness=thickness)
        assert torch.allclose(got, _loop_weights(a, eps, thickness), rtol=1e-12, atol=1e-15)
        trans = emission_absorption_transmittance(a, eps=eps, surface_thickness=thickness)
        assert torch.allclose(got, a * trans)

    def test_opacity(self):
        # With eps = 0 the weights sum to the ray's opacity 1 - prod (1 - a).
        a = torch.rand(5, 8, dtype=torch.float64)
        w = emission_absorption_weights(a, eps=0.0)
        assert torch.allclose(w.sum(-1), 1 - torch.prod(1 - a, -1))

    def test_raymarcher_uses_it(self):
        a = torch.rand(3, 5, 1)
        f = torch.rand(3, 5, 2)
        for thickness in (1, 2):
            out = EmissionAbsorptionRaymarcher(surface_thickness=thickness)(a, f)
            w = emission_absorption_weights(a[..., 0], surface_thickness=thickness)
            assert torch.equal(out[..., :2], (w[..., None] * f).sum(-2))

    def test_gradcheck(self):
        a = (torch.rand(2, 5, dtype=torch.float64) * 0.9).requires_grad_()
        for thickness in (1, 2):
            assert torch.autograd.gradcheck(
                lambda x, k=thickness: emission_absorption_weights(x, 1e-10, k), (a,)
            )

    def test_exceptions(self):
        with pytest.raises(TypeError, match="densities"):
            emission_absorption_weights(torch.ones(3, dtype=torch.int64))
        with pytest.raises(ValueError, match="densities"):
            emission_absorption_weights(torch.tensor(0.5))
        with pytest.raises(ValueError, match="surface_thickness"):
            emission_absorption_weights(torch.rand(3), surface_thickness=0)
        with pytest.raises(ValueError, match="eps"):
            emission_absorption_weights(torch.rand(3), eps=-1.0)
