"""DeepSDF MLP: shapes, skip connection, gradients, latent codes."""

from __future__ import annotations

import pytest
import torch

from inverse3d.models.deepsdf import DeepSDF, LatentCodes


class TestDeepSDF:
    def test_smoke(self):
        net = DeepSDF(latent_dim=16, hidden_dim=32, n_layers=4)
        out = net(torch.randn(10, 3), torch.randn(10, 16))
        assert out.shape == (10, 1)
        assert float(out.detach().abs().max()) < 1.0  # tanh

    def test_shapes(self):
        net = DeepSDF(latent_dim=8, hidden_dim=16, n_layers=8, tanh_output=False, dropout=0.2)
        assert net.skip_layer == 4
        # the skip layer takes [h, z, x]
        first, skip = net.layers[0], net.layers[4]
        assert first.in_features == 11
        assert skip.in_features == 16 + 11
        assert net(torch.randn(2, 5, 3), torch.randn(8)).shape == (2, 5, 1)
        assert DeepSDF(latent_dim=0, hidden_dim=8, n_layers=2)(torch.randn(4, 3)).shape == (4, 1)
        # the paper's defaults: 8 layers of 512, weight-normalised
        big = DeepSDF()
        assert len(big.layers) == 8 and big.layers[1].weight.shape == (512, 512)
        assert any(
            "weight" in n and ("original" in n or "_g" in n) for n, _ in big.named_parameters()
        )

    def test_exceptions(self):
        net = DeepSDF(latent_dim=4, hidden_dim=8, n_layers=4)
        with pytest.raises(ValueError, match="latent must be given"):
            net(torch.randn(3, 3))
        with pytest.raises(ValueError, match="points must have shape"):
            net(torch.randn(3, 2), torch.randn(4))
        with pytest.raises(ValueError, match="latent must have shape"):
            net(torch.randn(3, 3), torch.randn(2, 4))
        with pytest.raises(ValueError, match="skip_layer"):
            DeepSDF(n_layers=4, skip_layer=4)
        with pytest.raises(ValueError, match="dropout"):
            DeepSDF(dropout=1.5)

    def test_skip_connection_carries_input(self):
        """With every layer before the skip zeroed, the output still depends on x and z."""
        torch.manual_seed(0)
        net = DeepSDF(latent_dim=4, hidden_dim=16, n_layers=4, weight_norm=False)
        with torch.no_grad():
            for layer in net.layers[: net.skip_layer]:
                layer.weight.zero_()
                layer.bias.zero_()
        x = torch.randn(64, 3, requires_grad=True)
        z = torch.randn(64, 4, requires_grad=True)
        out = net(x, z)
        gx, gz = torch.autograd.grad(out.sum(), (x, z))
        assert float(gx.abs().sum()) > 0 and float(gz.abs().sum()) > 0
        # and the dependence is exactly through the skip: the re-injected input's columns
        skip = net.layers[net.skip_layer]
        with torch.no_grad():
            skip.weight[:, 16:] = 0.0
        out = net(x, z)
        assert torch.allclose(out, out[:1].expand_as(out))

    def test_gradients_flow_to_all_parameters(self):
        net = DeepSDF(latent_dim=4, hidden_dim=16, n_layers=4)
        codes = LatentCodes(3, 4)
        idx = torch.tensor([0, 2, 2, 1])
        out = net(torch.randn(4, 3), codes(idx))
        (out.sum() + codes.regularization(idx)).backward()
        for name, p in list(net.named_parameters()) + list(codes.named_parameters()):
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, name

    def test_gradcheck(self):
        net = DeepSDF(latent_dim=2, hidden_dim=6, n_layers=3, weight_norm=False).double()
        x = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
        z = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(net, (x, z))

    def test_fits_sphere_sdf(self):
        """Single-shape fit of a sphere's SDF: the L1 error ends 10x below the best constant's."""
        net = DeepSDF(latent_dim=0, hidden_dim=32, n_layers=4, tanh_output=False)
        x = torch.rand(512, 3) * 2 - 1
        sdf = x.norm(dim=-1, keepdim=True) - 0.5
        best_constant = float((sdf - sdf.median()).abs().mean())  # ~0.23
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(200):
            opt.zero_grad()
            loss = (net(x) - sdf).abs().mean()
            loss.backward()
            opt.step()
        assert loss.item() < best_constant / 10.0


class TestLatentCodes:
    def test_shapes(self):
        codes = LatentCodes(5, latent_dim=7, init_std=0.01)
        assert codes(torch.tensor([[0, 1], [4, 4]])).shape == (2, 2, 7)
        assert float(codes.embedding.weight.detach().std()) == pytest.approx(0.01, rel=0.3)
        assert codes.regularization(torch.arange(5)).shape == ()

    def test_exceptions(self):
        codes = LatentCodes(5, latent_dim=7)
        with pytest.raises(ValueError, match="idx must lie"):
            codes(torch.tensor([5]))
        with pytest.raises(TypeError, match="idx"):
            codes(torch.tensor([0.5]))
