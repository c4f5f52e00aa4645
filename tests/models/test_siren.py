"""SIREN: published initialisation, activation statistics, fitting speed."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.models.siren import SineLayer, Siren


def _fit(net, x, y, steps, lr=1e-3):
    """Fit net(x) to y by Adam on the mean squared error; return the loss before and after."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    first = ((net(x) - y) ** 2).mean().item()
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return first, ((net(x) - y) ** 2).mean().item()


class TestSineLayer:
    def test_smoke(self):
        layer = SineLayer(3, 8)
        y = layer(torch.randn(5, 3)).detach()
        assert y.shape == (5, 8)
        assert float(y.abs().max()) <= 1.0

    def test_shapes(self):
        layer = SineLayer(2, 4, bias=False, is_first=True)
        assert layer.linear.bias is None
        assert layer(torch.randn(2, 3, 2)).shape == (2, 3, 4)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="in_features"):
            SineLayer(0, 4)
        with pytest.raises(ValueError, match="omega_0"):
            SineLayer(2, 4, omega_0=-1.0)
        with pytest.raises(ValueError, match="x must have shape"):
            SineLayer(2, 4)(torch.randn(5, 3))
        with pytest.raises(TypeError, match="x must"):
            SineLayer(2, 4)(torch.ones(5, 2, dtype=torch.int64))

    @pytest.mark.parametrize("is_first", [True, False])
    def test_matches_reference_init_bounds(self, is_first):
        n_in, omega = 256, 30.0
        layer = SineLayer(n_in, 512, is_first=is_first, omega_0=omega)
        bound = 1.0 / n_in if is_first else math.sqrt(6.0 / n_in) / omega
        w = layer.linear.weight.detach()
        assert float(w.abs().max()) <= bound
        # uniform on [-b, b]: the extremes are reached and the std is b / sqrt(3)
        assert float(w.abs().max()) > 0.99 * bound
        assert float(w.std()) == pytest.approx(bound / math.sqrt(3.0), rel=0.02)


class TestSiren:
    def test_shapes(self):
        net = Siren(2, 32, 3, 1)
        assert net(torch.rand(7, 2)).shape == (7, 1)
        assert len(net.net) == 5
        assert isinstance(net.net[-1], torch.nn.Linear)
        assert isinstance(Siren(2, 8, 0, 3, outermost_linear=False).net[-1], SineLayer)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="hidden_layers"):
            Siren(2, 8, -1, 1)
        with pytest.raises(ValueError, match="coords must have shape"):
            Siren(2, 8, 1, 1)(torch.rand(4, 3))

    def test_init_statistics(self):
        """At init, pre-activations of hidden layers are ~N(0, 1) and activations arcsine."""
        net = Siren(1, 1024, 5, 1)
        x = torch.linspace(-1, 1, 4096)[:, None]
        h = x
        with torch.no_grad():
            for i, layer in enumerate(net.net[:-1]):
                wx = layer.omega_0 * h @ layer.linear.weight.T
                h, z = layer.forward_with_preactivation(h)
                if i >= 1:
                    # the paper's Lemma 1.7: omega_0 W x of arcsine inputs has unit variance;
                    # the default bias U(+-1/sqrt(in)) adds omega_0^2 / (3 in) = 0.29 to it
                    assert float(wx.std()) == pytest.approx(1.0, abs=0.08), i
                    assert float(z.var()) == pytest.approx(1.0 + 900 / 3072, abs=0.2), i
                    assert abs(float(wx.mean())) < 0.1
                    # sin of N(0, s^2), s ~ 1.1: close to the arcsine law on [-1, 1]
                    # (variance 1/2, kurtosis 1.5; a uniform has 1.8, a Gaussian 3) and the
                    # same at every depth (no decay, no blow-up)
                    var = float(h.var())
                    kurt = float(((h - h.mean()) ** 4).mean()) / var**2
                    assert 0.42 < var < 0.52, (i, var)
                    assert kurt < 1.68, (i, kurt)
                    frac = float((h.abs() > math.cos(math.pi / 8)).float().mean())
                    assert 0.19 < frac < 0.26, (i, frac)  # arcsine: 1/4

    def test_fits_1d_signal_quickly(self):
        """A SIREN fits a multi-frequency 1-D signal: loss falls 100x in 300 Adam steps."""
        x = torch.linspace(-1, 1, 256)[:, None]
        y = torch.sin(7 * math.pi * x) + 0.5 * torch.sign(torch.sin(3 * x)) * torch.cos(20 * x)
        first, last = _fit(Siren(1, 64, 2, 1), x, y, 300)
        assert last < first / 100.0, (first, last)

    def test_fits_2d_image_quickly(self):
        """A SIREN fits a 32x32 2-D pattern: loss falls 100x in 300 steps."""
        g = torch.linspace(-1, 1, 32)
        yy, xx = torch.meshgrid(g, g, indexing="ij")
        coords = torch.stack((xx, yy), -1).reshape(-1, 2)
        target = (torch.sin(5 * xx) * torch.cos(4 * yy + xx**2)).reshape(-1, 1)
        first, last = _fit(Siren(2, 64, 2, 1), coords, target, 300)
        assert last < first / 100.0, (first, last)

    def test_relu_baseline_is_slower(self):
        """The same budget leaves a ReLU MLP of equal size far behind (the SIREN claim)."""
        x = torch.linspace(-1, 1, 128)[:, None]
        y = torch.sin(7 * math.pi * x)
        nets = {
            "siren": Siren(1, 32, 1, 1),
            "relu": torch.nn.Sequential(
                torch.nn.Linear(1, 32),
                torch.nn.ReLU(),
                torch.nn.Linear(32, 32),
                torch.nn.ReLU(),
                torch.nn.Linear(32, 1),
            ),
        }
        final = {name: _fit(net, x, y, 150)[1] for name, net in nets.items()}
        assert final["siren"] < final["relu"] / 10.0, final
