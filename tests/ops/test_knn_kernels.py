"""Triton knn kernel against the reference search: values, indices and gradients (CUDA only),
plus the dispatch switch (runs everywhere)."""

from __future__ import annotations

import pytest
import torch

from inverse3d._dispatch import kernels_mode, use_triton
from inverse3d.loss.chamfer import chamfer_distance
from inverse3d.ops.knn import knn_points


def _both(monkeypatch, fn):
    """fn() under INVERSE3D_KERNELS=reference, then =triton."""
    monkeypatch.setenv("INVERSE3D_KERNELS", "reference")
    ref = fn()
    monkeypatch.setenv("INVERSE3D_KERNELS", "triton")
    fast = fn()
    return ref, fast


def _grads(out, inputs, seed):
    g = torch.Generator(device=out.device).manual_seed(seed)
    cot = torch.randn(out.shape, device=out.device, generator=g, dtype=out.dtype)
    return torch.autograd.grad((out * cot).sum(), inputs, allow_unused=True)


class TestDispatch:
    def test_modes(self, monkeypatch):
        monkeypatch.setenv("INVERSE3D_KERNELS", "reference")
        assert kernels_mode() == "reference"
        assert not use_triton(torch.zeros(1))
        monkeypatch.setenv("INVERSE3D_KERNELS", "auto")
        assert not use_triton(torch.zeros(1))  # CPU tensors: always the reference
        monkeypatch.setenv("INVERSE3D_KERNELS", "fast")
        with pytest.raises(ValueError, match="INVERSE3D_KERNELS"):
            kernels_mode()


@pytest.mark.cuda
class TestKnnKernel:
    @pytest.mark.parametrize("norm", [1, 2])
    @pytest.mark.parametrize("K", [1, 3, 8, 13])
    def test_kernel_matches_reference(self, monkeypatch, norm, K):
        dev = torch.device("cuda")
        torch.manual_seed(K + 10 * norm)
        N, P1, P2, D = 4, 700, 1000, 3
        p1 = torch.randn(N, P1, D, device=dev, dtype=torch.float64)
        p2 = torch.randn(N, P2, D, device=dev, dtype=torch.float64)
        l1 = torch.tensor([P1, 0, 311, 5], device=dev)
        l2 = torch.tensor([P2, 500, 0, K - 1 if K > 1 else 1], device=dev)

        def run():
            a = p1.clone().requires_grad_(True)
            b = p2.clone().requires_grad_(True)
            out = knn_points(a, b, l1, l2, norm=norm, K=K, return_nn=True)
            return out, _grads(out.dists, (a, b), seed=K)

        (ref, gref), (fast, gfast) = _both(monkeypatch, run)
        assert torch.equal(fast.idx, ref.idx)
        torch.testing.assert_close(fast.dists, ref.dists)
        torch.testing.assert_close(fast.knn, ref.knn)
        for a, b in zip(gfast, gref):
            torch.testing.assert_close(a, b)

    @pytest.mark.parametrize("D", [1, 2, 5, 16])
    def test_dims_float32(self, monkeypatch, D):
        dev = torch.device("cuda")
        p1 = torch.rand(2, 3000, D, device=dev)
        p2 = torch.rand(2, 2000, D, device=dev)
        (ref, fast) = _both(monkeypatch, lambda: knn_points(p1, p2, K=5))
        # float32 near-ties may pick another index: compare the distances
        torch.testing.assert_close(fast.dists, ref.dists, rtol=1e-5, atol=1e-6)
        assert (fast.idx == ref.idx).float().mean() > 0.999

    def test_ties_and_duplicates(self, monkeypatch):
        dev = torch.device("cuda")
        # integer lattice queries and references, each reference duplicated: many exact ties
        g = torch.arange(6, device=dev, dtype=torch.float32)
        lattice = torch.stack(torch.meshgrid(g, g, g, indexing="ij"), -1).reshape(1, -1, 3)
        p2 = torch.cat([lattice, lattice], 1)
        p1 = lattice[lattice.amax(-1) < 5][None] + 0.5  # cell centres: 8 corners at 0.75
        ref, fast = _both(monkeypatch, lambda: knn_points(p1, p2, K=8, return_nn=True))
        torch.testing.assert_close(fast.dists, ref.dists)
        assert bool((fast.dists == 0.75).all())
        # the neighbours returned are the ones whose distances are reported
        torch.testing.assert_close(((fast.knn - p1[:, :, None]) ** 2).sum(-1), fast.dists)

    def test_large_and_half(self, monkeypatch):
        dev = torch.device("cuda")
        p1 = torch.rand(1, 20_000, 3, device=dev).half()
        p2 = torch.rand(1, 30_000, 3, device=dev).half()
        monkeypatch.setenv("INVERSE3D_KERNELS", "triton")
        fast = knn_points(p1, p2, K=2)
        # truth: the reference on the same (exactly representable) points in float32; the
        # reference's own half-precision search is too coarse to compare with
        monkeypatch.setenv("INVERSE3D_KERNELS", "reference")
        ref = knn_points(p1.float(), p2.float(), K=2)
        assert fast.dists.dtype == torch.float16
        torch.testing.assert_close(fast.dists.float(), ref.dists, rtol=5e-3, atol=1e-5)
        assert (fast.idx == ref.idx).float().mean() > 0.999

    def test_chamfer_matches_reference(self, monkeypatch):
        dev = torch.device("cuda")
        x = torch.rand(3, 4000, 3, device=dev, dtype=torch.float64)
        y = torch.rand(3, 3500, 3, device=dev, dtype=torch.float64)
        xl = torch.tensor([4000, 17, 0], device=dev)
        yl = torch.tensor([3500, 0, 100], device=dev)

        def run():
            a, b = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
            loss, _ = chamfer_distance(a, b, x_lengths=xl, y_lengths=yl)
            return loss, torch.autograd.grad(loss, (a, b))

        (lr, gr), (lf, gf) = _both(monkeypatch, run)
        torch.testing.assert_close(lf, lr)
        for a, b in zip(gf, gr):
            torch.testing.assert_close(a, b)

    def test_nan_reference_never_chosen(self, monkeypatch):
        dev = torch.device("cuda")
        p1 = torch.rand(1, 500, 3, device=dev)
        p2 = torch.rand(1, 900, 3, device=dev)
        p2[0, 7, 1] = float("nan")  # its tile's box must not prune the tile's other points
        monkeypatch.setenv("INVERSE3D_KERNELS", "triton")
        fast = knn_points(p1, p2, K=4)
        d = ((p1[0, :, None] - p2[0, None]) ** 2).sum(-1).nan_to_num(nan=float("inf"))
        exp = d.topk(4, largest=False).values
        torch.testing.assert_close(fast.dists[0], exp)


def test_experimental_kernels_run_only_when_asked_for(monkeypatch):
    """Kernels not yet checked on a GPU (experimental=True) stay off under "auto"."""
    from types import SimpleNamespace

    from inverse3d import _dispatch

    fake_cuda = SimpleNamespace(is_cuda=True)
    monkeypatch.setattr(_dispatch, "triton_available", lambda: True)
    monkeypatch.setenv("INVERSE3D_KERNELS", "auto")
    assert use_triton(fake_cuda)
    assert not use_triton(fake_cuda, experimental=True)
    monkeypatch.setenv("INVERSE3D_KERNELS", "triton")
    assert use_triton(fake_cuda, experimental=True)
    monkeypatch.setenv("INVERSE3D_KERNELS", "reference")
    assert not use_triton(fake_cuda) and not use_triton(fake_cuda, experimental=True)
