"""Losses of implicit-surface methods on toy fields with known values."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.loss.implicit_surface import (
    eikonal_loss,
    mask_bce_loss,
    minimal_occupancy_loss,
    normal_smoothness_loss,
    occupancy_bce_loss,
    surface_area_loss,
)


def test_eikonal_exact_sdf_is_zero_and_scaled_is_known():
    p = torch.randn(100, 3, requires_grad=True)
    sdf = p.norm(dim=-1) - 0.5  # an exact SDF: unit gradient
    (g,) = torch.autograd.grad(sdf.sum(), p)
    assert float(eikonal_loss(g)) == pytest.approx(0.0, abs=1e-10)
    assert float(eikonal_loss(2.0 * g)) == pytest.approx(1.0, abs=1e-5)
    assert float(eikonal_loss(torch.zeros(0, 3))) == 0.0


def test_mask_bce_matches_formula():
    o = torch.tensor([0.9, 0.2, 0.5])
    m = torch.tensor([1.0, 0.0, 1.0])
    want = -(math.log(0.9) + math.log(0.8) + math.log(0.5)) / 3
    assert float(mask_bce_loss(o, m)) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="mask"):
        mask_bce_loss(o, m[:2])


def test_occupancy_bce_free_and_occupied():
    logits = torch.tensor([0.0, 2.0])
    free = (math.log(2.0) + math.log1p(math.exp(2.0))) / 2
    occ = (math.log(2.0) + math.log1p(math.exp(-2.0))) / 2
    assert float(occupancy_bce_loss(logits, occupied=False)) == pytest.approx(free, rel=1e-6)
    assert float(occupancy_bce_loss(logits, occupied=True)) == pytest.approx(occ, rel=1e-6)
    assert float(occupancy_bce_loss(torch.zeros(0), occupied=True)) == 0.0
    with pytest.raises(TypeError, match="occupied"):
        occupancy_bce_loss(logits, occupied=1)


def test_normal_smoothness_known_values():
    n = torch.tensor([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    assert float(normal_smoothness_loss(n, n)) == 0.0
    assert float(normal_smoothness_loss(n, -n)) == pytest.approx(2.0)
    perp = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert float(normal_smoothness_loss(n, perp)) == pytest.approx(math.sqrt(2.0))
    with pytest.raises(ValueError, match="neighbour_normals"):
        normal_smoothness_loss(n, n[:1])


def test_minimal_occupancy_estimates_solid_volume_share():
    # Uniform points in [-1, 1]^3, the SDF of a sphere of radius 0.5: with a thin band the loss is
    # the sphere's share of the cube, pi / 48 (analytic), up to the Monte-Carlo error.
    g = torch.Generator().manual_seed(0)
    p = torch.rand(400_000, 3, generator=g, dtype=torch.float64) * 2 - 1
    sdf = p.norm(dim=-1) - 0.5
    assert float(minimal_occupancy_loss(sdf, 1e-4)) == pytest.approx(math.pi / 48, abs=2e-3)
    # Exact values: sdf 0 -> 1/2; sdf = -band * log(3) -> sigmoid(log 3) = 3/4.
    band = 0.02
    v = torch.tensor([0.0, -band * math.log(3.0)], dtype=torch.float64)
    assert float(minimal_occupancy_loss(v, band)) == pytest.approx((0.5 + 0.75) / 2, abs=1e-12)
    assert float(minimal_occupancy_loss(torch.zeros(0), band)) == 0.0


def test_minimal_occupancy_gradient_pushes_surface_inwards():
    # d/dsdf sigmoid(-sdf / b) = -s (1 - s) / b with s the sigmoid: negative (raising the SDF,
    # i.e. shrinking the solid, lowers the loss), largest at the surface, vanishing far inside.
    band = 0.05
    sdf = torch.tensor([0.0, -0.02, -1.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(minimal_occupancy_loss(sdf, band), sdf)
    sig = torch.sigmoid(-sdf.detach() / band)
    want = -sig * (1 - sig) / band / 3
    assert torch.allclose(g, want, atol=1e-12)
    assert float(g[0]) < float(g[1]) < 0 and abs(float(g[2])) < 1e-6
    assert torch.autograd.gradcheck(lambda x: minimal_occupancy_loss(x, band), (sdf,))


def test_minimal_occupancy_rejects_bad_band_and_input():
    with pytest.raises(ValueError, match="band"):
        minimal_occupancy_loss(torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="band"):
        minimal_occupancy_loss(torch.zeros(3), True)
    with pytest.raises((TypeError, ValueError), match="sdf"):
        minimal_occupancy_loss(torch.zeros(3, dtype=torch.long), 0.1)


def test_surface_area_estimates_sphere_area():
    # Uniform points in [-1, 1]^3 (volume 8), a sphere of radius 0.5 (area pi): 8 * loss -> pi.
    g = torch.Generator().manual_seed(1)
    p = torch.rand(400_000, 3, generator=g, dtype=torch.float64) * 2 - 1
    sdf = p.norm(dim=-1) - 0.5
    assert 8.0 * float(surface_area_loss(sdf, 0.01)) == pytest.approx(math.pi, rel=0.03)
    # Exact value at the surface: sigmoid(0) (1 - sigmoid(0)) / band = 1 / (4 band).
    assert float(surface_area_loss(torch.zeros(5), 0.05)) == pytest.approx(5.0, rel=1e-6)
    assert float(surface_area_loss(torch.zeros(0), 0.05)) == 0.0
    with pytest.raises(ValueError, match="band"):
        surface_area_loss(torch.zeros(3), -1.0)


def test_surface_area_gradient_shrinks_a_sphere():
    # For the sphere SDF |p| - r the estimated area falls as r falls (d area / d r = 8 pi r > 0).
    g = torch.Generator().manual_seed(2)
    p = torch.rand(200_000, 3, generator=g, dtype=torch.float64) * 2 - 1
    r = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    loss = 8.0 * surface_area_loss(p.norm(dim=-1) - r, 0.02)
    (dr,) = torch.autograd.grad(loss, r)
    assert float(dr) == pytest.approx(8 * math.pi * 0.5, rel=0.1)
