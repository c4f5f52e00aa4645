"""sample_pdf: distribution of the samples (KS test) and deterministic quantiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inverse3d.renderer.implicit.sample_pdf import sample_pdf


def _cdf(x, bins, w):
    """CDF of the piecewise-constant pdf with edges bins and masses w (numpy, written here)."""
    p = w / w.sum()
    c = np.concatenate([[0.0], np.cumsum(p)])
    return np.interp(x, bins, c)


class TestSamplePdf:
    def test_shapes(self):
        s = sample_pdf(torch.linspace(0, 1, 6).expand(2, 3, 6), torch.rand(2, 3, 5), 7)
        assert s.shape == (2, 3, 7)

    def test_matches_reference_ks(self):
        stats = pytest.importorskip("scipy.stats")
        bins = torch.tensor([0.0, 0.5, 0.7, 1.5, 2.0, 3.0], dtype=torch.float64)
        w = torch.tensor([1.0, 4.0, 0.0, 2.0, 0.5], dtype=torch.float64)
        s = sample_pdf(bins[None], w[None], 4000, eps=0.0)[0].numpy()
        res = stats.kstest(s, lambda x: _cdf(x, bins.numpy(), w.numpy()))
        assert res.pvalue > 0.01
        # the empty bin holds no sample, all lie within the edges
        assert not np.any((s > 0.7 + 1e-9) & (s < 1.5 - 1e-9))
        assert s.min() >= 0.0 and s.max() <= 3.0
        # and a wrong pdf is rejected (the test can fail)
        wrong = stats.kstest(s, lambda x: _cdf(x, bins.numpy(), np.ones(5)))
        assert wrong.pvalue < 1e-6

    def test_det_quantiles(self):
        bins = torch.tensor([[0.0, 1.0, 2.0, 4.0]], dtype=torch.float64)
        w = torch.tensor([[1.0, 2.0, 1.0]], dtype=torch.float64)
        s = sample_pdf(bins, w, 5, det=True, eps=0.0)
        # quantiles 0, .25, .5, .75, 1 of masses (.25, .5, .25)
        torch.testing.assert_close(
            s, torch.tensor([[0.0, 1.0, 1.5, 2.0, 4.0]], dtype=torch.float64)
        )
        # the CDF of the samples is the uniform grid u
        q = _cdf(s[0].numpy(), bins[0].numpy(), w[0].numpy())
        np.testing.assert_allclose(q, np.linspace(0, 1, 5), atol=1e-12)

    def test_eps_gives_empty_weights_uniform(self):
        bins = torch.linspace(0, 1, 5)[None]
        s = sample_pdf(bins, torch.zeros(1, 4), 9, det=True)
        torch.testing.assert_close(s, torch.linspace(0, 1, 9)[None])

    def test_no_grad(self):
        bins = torch.linspace(0, 1, 5, requires_grad=True)[None]
        w = torch.rand(1, 4, requires_grad=True)
        assert not sample_pdf(bins, w, 3).requires_grad

    def test_exceptions(self):
        with pytest.raises(ValueError, match="bins must have shape"):
            sample_pdf(torch.rand(2, 5), torch.rand(2, 5), 3)
        with pytest.raises(ValueError, match="non-negative"):
            sample_pdf(torch.linspace(0, 1, 4)[None], torch.tensor([[1.0, -1.0, 1.0]]), 3)
        with pytest.raises(TypeError):
            sample_pdf(torch.arange(4)[None], torch.rand(1, 3), 3)
        with pytest.raises(ValueError, match="n_samples"):
            sample_pdf(torch.linspace(0, 1, 4)[None], torch.rand(1, 3), -1)
