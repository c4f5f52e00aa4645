"""Tests of renderer/blending.py against formulas and per-pixel loop implementations."""

from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch

from inverse3d.renderer.blending import (
    BlendParams,
    hard_rgb_blend,
    sigmoid_alpha_blend,
    softmax_rgb_blend,
)


class Frags(NamedTuple):
    pix_to_face: torch.Tensor
    zbuf: torch.Tensor
    bary_coords: torch.Tensor
    dists: torch.Tensor


def make_fragments(N=2, H=3, W=4, K=3, dtype=torch.float64) -> Frags:
    """Random fragments, sorted by depth, with some empty slots (-1) and empty pixels."""
    n_hit = torch.randint(0, K + 1, (N, H, W))
    n_hit[0, 0, 0] = 0  # one empty pixel for sure
    n_hit[0, 0, 1] = K
    k = torch.arange(K)
    valid = k < n_hit[..., None]  # (N, H, W, K)
    pix_to_face = torch.where(valid, torch.randint(0, 20, (N, H, W, K)), -1)
    zbuf = torch.sort(torch.rand(N, H, W, K, dtype=dtype) * 5 + 1, dim=-1).values
    zbuf = torch.where(valid, zbuf, torch.full_like(zbuf, -1.0))
    dists = torch.where(valid, torch.randn(N, H, W, K, dtype=dtype) * 0.3, -torch.ones_like(zbuf))
    bary = torch.rand(N, H, W, K, 3, dtype=dtype)
    return Frags(pix_to_face, zbuf, bary, dists)


def softmax_loop(colors, frags, params, znear, zfar):
    """Per-pixel Python implementation of SoftRas blending (Liu et al. 2019, PyTorch3D eps)."""
    N, H, W, K, C = colors.shape
    eps = 1e-10
    out = torch.zeros(N, H, W, C + 1, dtype=colors.dtype)
    bg = torch.tensor(params.background_color, dtype=colors.dtype)
    for n in range(N):
        for i in range(H):
            for j in range(W):
                probs, zs = [], []
                for k in range(K):
                    if frags.pix_to_face[n, i, j, k] < 0:
                        probs.append(0.0)
                        zs.append(0.0)
                    else:
                        d = float(frags.dists[n, i, j, k])
                        x = -d / params.sigma  # stable logistic sigmoid(x)
                        p = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
                        probs.append(p)
                        zs.append((zfar - float(frags.zbuf[n, i, j, k])) / (zfar - znear))
                zmax = max(max(zs), eps)
                w = [p * math.exp((z - zmax) / params.gamma) for p, z in zip(probs, zs)]
                w_bg = max(math.exp((eps - zmax) / params.gamma), eps)
                rgb = sum(w[k] * colors[n, i, j, k] for k in range(K)) + w_bg * bg
                out[n, i, j, :C] = rgb / (sum(w) + w_bg)
                out[n, i, j, C] = 1 - math.prod(1 - p for p in probs)
    return out


class TestBlendParams:
    def test_defaults(self):
        p = BlendParams()
        assert p.sigma == 1e-4 and p.gamma == 1e-4 and tuple(p.background_color) == (1, 1, 1)
        assert BlendParams(0.5)._replace(gamma=0.2).gamma == 0.2


class TestHardRgbBlend:
    def test_matches_reference(self):
        frags = make_fragments()
        colors = torch.rand(2, 3, 4, 3, 3, dtype=torch.float64)
        out = hard_rgb_blend(colors, frags, BlendParams(background_color=(0.1, 0.2, 0.3)))
        assert out.shape == (2, 3, 4, 4)
        empty = frags.pix_to_face[..., 0] < 0
        assert empty.any() and (~empty).any()
        assert torch.allclose(out[empty][:, :3], torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))
        assert torch.equal(out[empty][:, 3], torch.zeros(int(empty.sum()), dtype=torch.float64))
        assert torch.equal(out[~empty][:, :3], colors[..., 0, :][~empty])
        assert torch.equal(out[~empty][:, 3], torch.ones(int((~empty).sum()), dtype=torch.float64))

    def test_exceptions(self):
        frags = make_fragments()
        with pytest.raises(ValueError, match="background_color"):
            hard_rgb_blend(torch.rand(2, 3, 4, 3, 3), frags, BlendParams(background_color=(1, 1)))
        with pytest.raises(ValueError, match="colors"):
            hard_rgb_blend(torch.rand(2, 3, 4, 3), frags, BlendParams())
        with pytest.raises(ValueError, match="colors"):
            hard_rgb_blend(torch.rand(2, 3, 4, 2, 3), frags, BlendParams())


class TestSigmoidAlphaBlend:
    def test_matches_reference(self):
        frags = make_fragments()
        colors = torch.rand(2, 3, 4, 3, 3, dtype=torch.float64)
        params = BlendParams(sigma=0.1)
        out = sigmoid_alpha_blend(colors, frags, params)
        prob = torch.sigmoid(-frags.dists / 0.1) * (frags.pix_to_face >= 0)
        expected_alpha = 1 - torch.prod(1 - prob, dim=-1)
        assert torch.allclose(out[..., 3], expected_alpha)
        assert torch.equal(out[..., :3], colors[..., 0, :])
        empty = (frags.pix_to_face < 0).all(dim=-1)
        assert torch.equal(out[..., 3][empty], torch.zeros(int(empty.sum()), dtype=torch.float64))

    def test_gradcheck(self):
        frags = make_fragments(N=1, H=2, W=2, K=2)
        dists = frags.dists.clone().requires_grad_()
        colors = torch.rand(1, 2, 2, 2, 3, dtype=torch.float64, requires_grad=True)

        def fn(c, d):
            return sigmoid_alpha_blend(c, frags._replace(dists=d), BlendParams(sigma=0.3))

        assert torch.autograd.gradcheck(fn, (colors, dists))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_grad_matches_plain_formula_across_chunks(self, dtype, monkeypatch):
        # The fused forward/backward (chunked over pixels) against autograd through the plain
        # formula, with saturated factors (1 - p == 0 deep inside a face) included.
        import inverse3d.renderer.blending as blending

        monkeypatch.setattr(blending, "_ALPHA_CHUNK", 5)
        frags = make_fragments(N=2, H=5, W=3, K=4, dtype=dtype)
        d0 = frags.dists.clone()
        d0[1, 2, 1, 0] = -100.0  # sigmoid(-1000) == 0: the product is exactly 0
        mask = frags.pix_to_face >= 0
        mask[1, 2, 1, 0] = True
        frags = frags._replace(pix_to_face=torch.where(mask, frags.pix_to_face.clamp_min(0), -1))
        g = torch.randn(2, 5, 3, dtype=dtype)
        d = d0.clone().requires_grad_()
        out = sigmoid_alpha_blend(
            torch.ones(2, 5, 3, 4, 3, dtype=dtype), frags._replace(dists=d), BlendParams(sigma=0.1)
        )
        (out[..., 3] * g).sum().backward()
        d_ref = d0.clone().requires_grad_()
        prob = torch.where(mask, torch.sigmoid(-d_ref / 0.1), torch.zeros((), dtype=dtype))
        alpha_ref = 1 - torch.prod(1 - prob, dim=-1)
        (alpha_ref * g).sum().backward()
        tol = dict(atol=1e-6, rtol=1e-5) if dtype == torch.float32 else dict(atol=1e-12, rtol=0)
        torch.testing.assert_close(out[..., 3], alpha_ref.detach(), **tol)
        torch.testing.assert_close(d.grad, d_ref.grad, **tol)
        assert (d.grad[~mask] == 0).all() and (d.grad[mask] != 0).any()
        assert out[1, 2, 1, 3] == 1 and (d.grad[1, 2, 1] == 0).all()


class TestSoftmaxRgbBlend:
    @pytest.mark.parametrize("sigma,gamma", [(0.1, 0.05), (1e-4, 1e-4), (0.5, 1.0)])
    def test_matches_reference(self, sigma, gamma):
        frags = make_fragments()
        colors = torch.rand(2, 3, 4, 3, 3, dtype=torch.float64)
        params = BlendParams(sigma=sigma, gamma=gamma, background_color=(0.2, 0.4, 0.6))
        out = softmax_rgb_blend(colors, frags, params, znear=0.5, zfar=8.0)
        ref = softmax_loop(colors, frags, params, 0.5, 8.0)
        assert torch.allclose(out, ref, atol=1e-9)

    def test_tensor_znear_zfar(self):
        frags = make_fragments()
        colors = torch.rand(2, 3, 4, 3, 3, dtype=torch.float64)
        params = BlendParams(sigma=0.1, gamma=0.1)
        out = softmax_rgb_blend(
            colors, frags, params, znear=torch.tensor([0.5, 1.0]), zfar=torch.tensor([8.0, 9.0])
        )
        ref1 = softmax_loop(colors[1:], Frags(*(t[1:] for t in frags)), params, 1.0, 9.0)
        assert torch.allclose(out[1:], ref1, atol=1e-9)

    def test_empty_pixel_is_background(self):
        frags = make_fragments()
        colors = torch.rand(2, 3, 4, 3, 3, dtype=torch.float64)
        out = softmax_rgb_blend(colors, frags, BlendParams(background_color=(0.0, 0.5, 1.0)))
        assert torch.allclose(out[0, 0, 0], torch.tensor([0.0, 0.5, 1.0, 0.0], dtype=torch.float64))

    def test_gradcheck(self):
        frags = make_fragments(N=1, H=2, W=2, K=2)
        colors = torch.rand(1, 2, 2, 2, 3, dtype=torch.float64, requires_grad=True)
        dists = frags.dists.clone().requires_grad_()
        zbuf = frags.zbuf.clone().requires_grad_()
        params = BlendParams(sigma=0.3, gamma=0.5)

        def fn(c, d, z):
            return softmax_rgb_blend(c, frags._replace(dists=d, zbuf=z), params, 0.5, 8.0)

        assert torch.autograd.gradcheck(fn, (colors, dists, zbuf))


class TestDevice:
    def test_blends_follow_device(self, device):
        frags = make_fragments(dtype=torch.float32)
        colors = torch.rand(2, 3, 4, 3, 3)
        params = BlendParams(sigma=0.1, gamma=0.1)
        frags_d = Frags(*(t.to(device) for t in frags))
        for fn in (hard_rgb_blend, sigmoid_alpha_blend, softmax_rgb_blend):
            out = fn(colors.to(device), frags_d, params)
            assert out.device.type == device.type
            assert torch.allclose(out.cpu(), fn(colors, frags, params), atol=1e-5)
