"""alpha_composite / norm_weighted_sum / weighted_sum against per-pixel loops, gradcheck."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.compositing import alpha_composite, norm_weighted_sum, weighted_sum


def _inputs(seed=0, N=2, K=3, H=4, W=5, C=2, P=6):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(-1, P, (N, K, H, W), generator=g)
    alphas = torch.rand(N, K, H, W, generator=g, dtype=torch.float64)
    feats = torch.rand(C, P, generator=g, dtype=torch.float64)
    return idx, alphas, feats


def _loop(idx, alphas, feats, mode):
    N, K, H, W = idx.shape
    out = torch.zeros(N, feats.shape[0], H, W, dtype=feats.dtype)
    for n in range(N):
        for y in range(H):
            for x in range(W):
                cum, total, acc = 1.0, 0.0, torch.zeros(feats.shape[0], dtype=feats.dtype)
                for k in range(K):
                    p = int(idx[n, k, y, x])
                    if p < 0:
                        continue
                    a = float(alphas[n, k, y, x])
                    w = a * cum if mode == "alpha" else a
                    acc += w * feats[:, p]
                    cum *= 1 - a
                    total += a
                if mode == "norm":
                    acc = acc / max(total, 1e-4)
                out[n, :, y, x] = acc
    return out


FUNCS = {"alpha": alpha_composite, "norm": norm_weighted_sum, "sum": weighted_sum}


@pytest.mark.parametrize("mode", list(FUNCS))
class TestCompositing:
    def test_matches_reference(self, mode):
        idx, a, f = _inputs()
        out = FUNCS[mode](idx, a, f)
        assert out.shape == (2, 2, 4, 5)
        torch.testing.assert_close(out, _loop(idx, a, f, mode))

    def test_empty_entries_ignored(self, mode):
        idx, a, f = _inputs(3)
        a2 = a.clone()
        a2[idx < 0] = float("nan")  # whatever sits at the empty entries
        torch.testing.assert_close(FUNCS[mode](idx, a2, f), FUNCS[mode](idx, a, f))

    def test_gradcheck(self, mode):
        idx, a, f = _inputs(1, N=1, K=3, H=2, W=2, C=2, P=4)
        a = (a * 0.8 + 0.1).requires_grad_()
        f.requires_grad_()
        assert torch.autograd.gradcheck(lambda a, f: FUNCS[mode](idx, a, f), (a, f))

    def test_exceptions(self, mode):
        idx, a, f = _inputs()
        fn = FUNCS[mode]
        with pytest.raises(ValueError, match="alphas"):
            fn(idx, a[:, :2], f)
        with pytest.raises(ValueError, match="pointsidx"):
            fn(idx[0], a[0], f)
        with pytest.raises(ValueError, match="pt_clds"):
            fn(idx, a, f[0])
        with pytest.raises(ValueError, match="index 5"):
            fn(idx, a, f[:, :5])
        with pytest.raises(TypeError, match="pointsidx"):
            fn(idx.double(), a, f)


def test_alpha_composite_front_occludes():
    idx = torch.tensor([0, 1]).reshape(1, 2, 1, 1)
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # point 0 red-ish, point 1 green-ish
    out = alpha_composite(idx, torch.ones(1, 2, 1, 1), f)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([1.0, 0.0]))
    out = alpha_composite(idx.flip(1), torch.ones(1, 2, 1, 1), f)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.0, 1.0]))
    half = alpha_composite(idx, torch.full((1, 2, 1, 1), 0.5), f)
    torch.testing.assert_close(half[0, :, 0, 0], torch.tensor([0.5, 0.25]))


@pytest.mark.parametrize("mode", list(FUNCS))
def test_device_matches_cpu(device, mode):
    idx, a, f = _inputs(2)
    out = FUNCS[mode](idx.to(device), a.to(device), f.to(device))
    assert out.device.type == device.type
    torch.testing.assert_close(out.cpu(), FUNCS[mode](idx, a, f))
