"""The Triton undistortion kernel against the reference Newton iteration: OpenCV and fisheye
models, per-camera coefficients broadcast over rays, the no-gradient rule. Runs on CUDA (marked
cuda) and, without a GPU, under Triton's interpreter on CPU tensors; skipped without triton."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inverse3d.renderer import lens_distortion as ld  # noqa: E402
from kernel_backends import BACKENDS, backend_device, both  # noqa: E402 (sets TRITON_INTERPRET)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "model, coeffs",
    [
        ("opencv", [[0.0578, -0.0805, 0.0, -0.00098, 0.00016], [-0.3, 0.1, -0.02, 0.001, -0.002]]),
        ("fisheye", [[0.05, -0.01, 0.002, -0.0005], [0.2, 0.05, 0.0, 0.0]]),
    ],
)
def test_kernel_matches_reference(monkeypatch, backend, model, coeffs):
    dev = backend_device(backend)
    g = torch.Generator().manual_seed(0)
    xy_true = (torch.rand(2, 333, 2, generator=g) * 1.2 - 0.6).to(dev)  # per camera: 333 rays
    c = torch.tensor(coeffs, device=dev)[:, None, :]  # (2, 1, P): broadcast over the rays
    xy = ld.distort_points(xy_true, model, c)
    ref, fast = both(monkeypatch, ld, lambda: ld.undistort_points(xy, model, c))
    assert fast.shape == ref.shape == (2, 333, 2)
    torch.testing.assert_close(fast, ref, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(fast, xy_true, atol=2e-5, rtol=1e-4)  # and it inverts the model


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_used_only_without_gradient(monkeypatch, backend):
    """A gradient through the iteration needs the reference (the kernel has no backward)."""
    dev = backend_device(backend)
    monkeypatch.setattr(ld, "use_triton", lambda *t, **kw: True)
    xy = (torch.rand(50, 2) * 0.5).to(dev).requires_grad_(True)
    c = torch.tensor([0.1, -0.05, 0.0, 0.001, 0.0], device=dev)
    out = ld.undistort_points(xy, "opencv", c)
    (g,) = torch.autograd.grad(out.sum(), xy)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    with torch.no_grad():
        fast = ld.undistort_points(xy, "opencv", c)
    torch.testing.assert_close(fast, out.detach(), atol=2e-6, rtol=1e-5)
    assert not ld._kernel_applies(xy.double(), (c.double(),))  # float32 only
