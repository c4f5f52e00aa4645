"""Fused Triton hash encoding against the reference: values and table gradients (CUDA only)."""

from __future__ import annotations

import pytest
import torch

from inverse3d.models.hash_grid import HashGridEncoding


def _run(monkeypatch, mode, enc, x, cot):
    monkeypatch.setenv("INVERSE3D_KERNELS", mode)
    enc.zero_grad()
    out = enc(x)
    (out * cot).sum().backward()
    return out.detach(), enc.embeddings.grad.clone()


@pytest.mark.cuda
class TestHashGridKernel:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {},  # 16 levels, 2 features, 2^19 rows: dense coarse levels, hashed fine ones
            {"n_levels": 5, "n_features_per_level": 4, "log2_hashmap_size": 12},
            {"n_levels": 3, "n_features_per_level": 3, "log2_hashmap_size": 10, "bounds": 2.0},
        ],
    )
    def test_kernel_matches_reference(self, monkeypatch, kwargs):
        dev = torch.device("cuda")
        enc = HashGridEncoding(init_scale=1.0, **kwargs).to(dev)
        b = float(kwargs.get("bounds", 1.0))
        x = (torch.rand(20_000, 3, device=dev) * 2 - 1) * b * 1.1  # some outside: clamped
        x[:4] = torch.tensor([[-b, -b, -b], [b, b, b], [0, 0, 0], [b, -b, 0.5]], device=dev)
        cot = torch.randn(20_000, enc.output_dim, device=dev)
        out_r, g_r = _run(monkeypatch, "reference", enc, x, cot)
        out_t, g_t = _run(monkeypatch, "triton", enc, x, cot)
        torch.testing.assert_close(out_t, out_r, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(g_t, g_r, rtol=1e-4, atol=1e-4)

    def test_batched_shape_and_empty(self, monkeypatch):
        dev = torch.device("cuda")
        enc = HashGridEncoding(n_levels=4, log2_hashmap_size=10).to(dev)
        monkeypatch.setenv("INVERSE3D_KERNELS", "triton")
        assert enc(torch.rand(2, 7, 3, device=dev)).shape == (2, 7, 8)
        assert enc(torch.rand(0, 3, device=dev)).shape == (0, 8)

    def test_points_requiring_grad_take_the_reference(self, monkeypatch):
        dev = torch.device("cuda")
        enc = HashGridEncoding(n_levels=2, log2_hashmap_size=8, init_scale=1.0).to(dev)
        monkeypatch.setenv("INVERSE3D_KERNELS", "triton")
        x = torch.rand(50, 3, device=dev, requires_grad=True)
        (gx,) = torch.autograd.grad(enc(x).sum(), x)
        assert gx.abs().sum() > 0
