"""HarmonicEmbedding against the formula written out per element."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding


def _reference(x, L, omega0, logspace, append, diag_cov=None):
    freqs = (
        [omega0 * (2.0**j) for j in range(L)]
        if logspace
        else [omega0 * f for f in torch.linspace(1.0, 2.0 ** (L - 1), L).tolist()]
    )
    rows = []
    for v, var in zip(
        x.reshape(-1, x.shape[-1]),
        (diag_cov.reshape(-1, x.shape[-1]) if diag_cov is not None else [None] * x[..., 0].numel()),
    ):
        sins, coss = [], []
        for d in range(x.shape[-1]):
            for f in freqs:
                damp = 1.0 if var is None else math.exp(-0.5 * f * f * float(var[d]))
                sins.append(math.sin(f * float(v[d])) * damp)
                coss.append(math.cos(f * float(v[d])) * damp)
        row = sins + coss + (v.tolist() if append else [])
        rows.append(row)
    return torch.tensor(rows, dtype=x.dtype).reshape(*x.shape[:-1], -1)


class TestHarmonicEmbedding:
    @pytest.mark.parametrize("logspace", [True, False])
    @pytest.mark.parametrize("append", [True, False])
    def test_matches_reference(self, logspace, append):
        x = torch.randn(2, 3, 3, dtype=torch.float64)
        he = HarmonicEmbedding(4, omega_0=0.7, logspace=logspace, append_input=append)
        out = he(x)
        assert out.shape == (2, 3, he.get_output_dim(3))
        torch.testing.assert_close(
            out, _reference(x, 4, 0.7, logspace, append), atol=1e-5, rtol=1e-5
        )

    def test_integrated_encoding(self):
        x = torch.randn(5, 2, dtype=torch.float64)
        cov = torch.rand(5, 2, dtype=torch.float64) * 0.3
        he = HarmonicEmbedding(3)
        torch.testing.assert_close(
            he(x, diag_cov=cov), _reference(x, 3, 1.0, True, True, cov), atol=1e-5, rtol=1e-5
        )
        # Monte-Carlo check of the meaning: E[sin(f X)] for X ~ N(x, var)
        g = torch.Generator().manual_seed(0)
        xs = x[0] + cov[0].sqrt() * torch.randn(200000, 2, dtype=torch.float64, generator=g)
        mc = he(xs).mean(0)
        torch.testing.assert_close(he(x[:1], diag_cov=cov[:1])[0], mc, atol=1e-2, rtol=0)

    def test_shapes(self):
        assert HarmonicEmbedding().get_output_dim() == 39
        assert HarmonicEmbedding(10, append_input=False).get_output_dim(2) == 40
        assert HarmonicEmbedding.get_output_dim_static(3, 4, True) == 27
        assert HarmonicEmbedding(0)(torch.rand(4, 3)).shape == (4, 3)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="diag_cov"):
            HarmonicEmbedding()(torch.rand(4, 3), diag_cov=torch.rand(4, 2))
        with pytest.raises(ValueError, match="n_harmonic_functions"):
            HarmonicEmbedding(-1)

    def test_gradcheck(self):
        x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        c = torch.rand(3, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: HarmonicEmbedding(3)(a, diag_cov=b), (x, c))
