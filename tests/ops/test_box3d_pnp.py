"""box3d_overlap (analytic and Monte-Carlo volumes) and efficient_pnp (synthetic cameras)."""

from __future__ import annotations

import pytest
import torch

from inverse3d.ops.iou_box3d import box3d_overlap
from inverse3d.ops.perspective_n_points import EpnpSolution, efficient_pnp
from inverse3d.transforms.rotation_conversions import random_rotations

_UNIT = torch.tensor(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    dtype=torch.float64,
)


def _box(centre, size, R=None):
    """Corners (8, 3) of a box with the given centre, edge lengths and rotation (row vectors)."""
    c = (_UNIT - 0.5) * torch.as_tensor(size, dtype=torch.float64)
    if R is not None:
        c = c @ R
    return c + torch.as_tensor(centre, dtype=torch.float64)


def _mc_overlap(c1, s1, R1, c2, s2, R2, n=400_000):
    """Monte-Carlo intersection volume from inside tests in each box's own frame."""
    lo = torch.minimum(_box(c1, s1, R1).min(0).values, _box(c2, s2, R2).min(0).values)
    hi = torch.maximum(_box(c1, s1, R1).max(0).values, _box(c2, s2, R2).max(0).values)
    g = torch.Generator().manual_seed(1)
    p = lo + (hi - lo) * torch.rand(n, 3, generator=g, dtype=torch.float64)

    def inside(c, s, R):
        local = (p - torch.as_tensor(c, dtype=torch.float64)) @ R.T
        return (local.abs() <= torch.as_tensor(s, dtype=torch.float64) / 2).all(1)

    frac = (inside(c1, s1, R1) & inside(c2, s2, R2)).double().mean()
    box_vol = float((hi - lo).prod())
    return float(frac) * box_vol, box_vol * float((frac * (1 - frac) / n).sqrt())


class TestBox3dOverlap:
    def test_smoke(self):
        vol, iou = box3d_overlap(_box([0, 0, 0], [1, 2, 3])[None], _box([0, 0, 0], [1, 2, 3])[None])
        assert vol.shape == iou.shape == (1, 1)
        assert float(vol) == pytest.approx(6.0) and float(iou) == pytest.approx(1.0)

    def test_shapes(self):
        b1 = torch.stack([_box(torch.randn(3), torch.rand(3) + 0.5) for _ in range(3)])
        b2 = torch.stack([_box(torch.randn(3), torch.rand(3) + 0.5) for _ in range(5)])
        vol, iou = box3d_overlap(b1.float(), b2.float())
        assert vol.shape == (3, 5) and iou.shape == (3, 5) and vol.dtype == torch.float32
        v_t, _ = box3d_overlap(b2, b1)
        assert torch.allclose(vol.double(), v_t.T, atol=1e-5)

    def test_disjoint_and_touching(self):
        a = _box([0, 0, 0], [1, 1, 1])
        vol, iou = box3d_overlap(a[None], torch.stack([_box([3, 0, 0], [1, 1, 1]),
                                                      _box([1, 0, 0], [1, 1, 1])]))  # fmt: skip
        assert vol.abs().max() < 1e-9 and iou.abs().max() < 1e-9

    def test_axis_aligned_analytic(self):
        for _ in range(10):
            c1, c2 = torch.rand(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64)
            s1 = torch.rand(3, dtype=torch.float64) + 0.3
            s2 = torch.rand(3, dtype=torch.float64) + 0.3
            lo = torch.maximum(c1 - s1 / 2, c2 - s2 / 2)
            hi = torch.minimum(c1 + s1 / 2, c2 + s2 / 2)
            want = float((hi - lo).clamp(min=0).prod())
            vol, iou = box3d_overlap(_box(c1, s1)[None], _box(c2, s2)[None])
            assert float(vol) == pytest.approx(want, abs=1e-9)
            union = float(s1.prod() + s2.prod()) - want
            assert float(iou) == pytest.approx(want / union, abs=1e-9)

    def test_matches_reference(self):
        # rotated boxes against a Monte-Carlo estimate (within 5 standard errors)
        for _ in range(3):
            R1, R2 = random_rotations(2, dtype=torch.float64)
            c1, c2 = 0.3 * torch.randn(3), 0.3 * torch.randn(3)
            s1, s2 = torch.rand(3) + 0.5, torch.rand(3) + 0.5
            vol, _ = box3d_overlap(_box(c1, s1, R1)[None], _box(c2, s2, R2)[None])
            mc, se = _mc_overlap(c1, s1, R1, c2, s2, R2)
            assert abs(float(vol) - mc) < 5 * se + 1e-6, (float(vol), mc, se)
            assert float(vol) > 0

    def test_rotated_copy_in_plane(self):
        # a unit cube and its copy rotated 45 degrees about z: overlap = octagon area * height
        a = _box([0, 0, 0], [1, 1, 1])
        c, s = 2**-0.5, 2**-0.5
        Rz = torch.tensor([[c, s, 0], [-s, c, 0], [0, 0, 1]], dtype=torch.float64)
        vol, _ = box3d_overlap(a[None], _box([0, 0, 0], [1, 1, 1], Rz)[None])
        octagon = 2 * (2**0.5 - 1)  # area of the regular octagon inside the unit square
        assert float(vol) == pytest.approx(octagon, abs=1e-9)

    def test_gradcheck(self):
        # through box parameters (moving one corner alone would make the faces non-planar)
        R = random_rotations(1, dtype=torch.float64)[0]
        centre = torch.tensor([0.2, 0.1, 0.05], dtype=torch.float64, requires_grad=True)
        size = torch.tensor([1.0, 1.2, 0.8], dtype=torch.float64, requires_grad=True)
        b2 = _box([0, 0, 0], [1, 1, 1], R)

        def fn(c, s):
            return box3d_overlap(_box(c, s)[None], b2[None])

        torch.autograd.gradcheck(fn, (centre, size))

    def test_exceptions(self):
        a = _box([0, 0, 0], [1, 1, 1])
        bad = a.clone()
        bad[0, 2] += 0.3  # corner 0 off its faces' planes
        with pytest.raises(ValueError, match="coplanar"):
            box3d_overlap(bad[None], a[None])
        flat = a.clone()
        flat[:, 2] = 0  # zero height
        with pytest.raises(ValueError, match="boxes2"):
            box3d_overlap(a[None], flat[None])
        with pytest.raises(ValueError, match="boxes1"):
            box3d_overlap(a[None, :6], a[None])


def _scene(N, P, dtype=torch.float64):
    x = torch.randn(N, P, 3, dtype=dtype)
    R = random_rotations(N, dtype=dtype)
    T = 0.3 * torch.randn(N, 3, dtype=dtype) + torch.tensor([0, 0, 6.0], dtype=dtype)
    xc = x @ R + T[:, None]
    return x, xc[..., :2] / xc[..., 2:], R, T, xc


class TestEfficientPnP:
    def test_smoke(self):
        x, y, _, _, _ = _scene(2, 10)
        sol = efficient_pnp(x, y)
        assert isinstance(sol, EpnpSolution)
        assert sol.x_cam.shape == (2, 10, 3) and sol.R.shape == (2, 3, 3)
        assert sol.T.shape == (2, 3) and sol.err_2d.shape == (2,) and sol.err_3d.shape == (2,)

    @pytest.mark.parametrize("skip", [False, True])
    def test_matches_reference(self, skip):
        x, y, R, T, xc = _scene(4, 12)
        sol = efficient_pnp(x, y, skip_quadratic_eq=skip)
        assert torch.allclose(sol.R, R, atol=1e-6) and torch.allclose(sol.T, T, atol=1e-6)
        assert torch.allclose(sol.x_cam, xc, atol=1e-6)
        assert float(sol.err_2d.max()) < 1e-8

    def test_noise_and_weights(self):
        x, y, R, T, _ = _scene(2, 40)
        y_noisy = y + 1e-3 * torch.randn_like(y)
        sol = efficient_pnp(x, y_noisy)
        assert torch.allclose(sol.R, R, atol=2e-2) and torch.allclose(sol.T, T, atol=0.1)
        y_out = y.clone()
        y_out[:, :5] += 0.5  # outliers, weighted out
        w = torch.ones(2, 40, dtype=torch.float64)
        w[:, :5] = 0
        sol = efficient_pnp(x, y_out, weights=w)
        assert torch.allclose(sol.R, R, atol=1e-6) and torch.allclose(sol.T, T, atol=1e-6)

    def test_gradcheck(self):
        x, y, _, _, _ = _scene(1, 8)
        y = y.requires_grad_(True)
        torch.autograd.gradcheck(lambda t: efficient_pnp(x, t, skip_quadratic_eq=True).T, (y,))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="y"):
            efficient_pnp(torch.randn(1, 6, 3), torch.randn(1, 5, 2))
        with pytest.raises(ValueError, match="x"):
            efficient_pnp(torch.randn(1, 6, 2), torch.randn(1, 6, 2))
        with pytest.raises(ValueError, match="at least 4"):
            efficient_pnp(torch.randn(1, 3, 3), torch.randn(1, 3, 2))
        with pytest.raises(ValueError, match="weights"):
            efficient_pnp(torch.randn(1, 6, 3), torch.randn(1, 6, 2), weights=torch.ones(1, 5))
