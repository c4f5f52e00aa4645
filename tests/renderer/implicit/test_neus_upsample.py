"""NeuS hierarchical importance sampling: `neus_upsample` and `neus_importance_samples`."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.implicit.surface import neus_importance_samples, neus_upsample


def _even(R: int, S: int, t0: float, t1: float, dtype=torch.float64) -> torch.Tensor:
    return torch.linspace(t0, t1, S, dtype=dtype).expand(R, S).contiguous()


def test_upsample_plane_concentrates_at_crossing():
    # Rays entering a plane at lengths t* (sdf = t* - t, > 0 in front): the new samples lie in
    # the coarse sections next to t*, whatever the ray.
    R, S = 5, 64
    t = _even(R, S, 0.0, 2.0)
    t_star = torch.tensor([0.3, 0.61, 1.0, 1.37, 1.9], dtype=torch.float64)
    sdf = t_star[:, None] - t
    new = neus_upsample(t, sdf, 512.0, 32, det=True)
    assert new.shape == (R, 32)
    assert bool((new[:, 1:] >= new[:, :-1]).all())
    dt = 2.0 / (S - 1)
    near = (new - t_star[:, None]).abs() <= 1.5 * dt
    assert float(near.double().mean()) > 0.95
    # the mean of the new samples is within a section of the crossing (unbiased weights)
    assert torch.allclose(new.mean(1), t_star, atol=dt)


def test_upsample_ray_starting_inside_is_opaque_at_once():
    # A ray that starts inside (sdf < 0) and leaves: NeuS's opacity is 1 from the first section
    # (the slope clamp makes it flat there), so the samples go to the ray's start, not the exit.
    t = _even(1, 64, 0.0, 2.0)
    sdf = t - 1.0
    new = neus_upsample(t, sdf, 512.0, 16, det=True)
    assert float(new.max()) <= 2.0 / 63 + 1e-9


def test_upsample_all_positive_sdf_no_nan():
    t = _even(3, 16, 0.5, 1.5)
    sdf = torch.rand(3, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sdf = sdf + 0.5
    for s in (64.0, 1e4):
        new = neus_upsample(t, sdf, s, 20)
        assert torch.isfinite(new).all()
        assert float(new.min()) >= 0.5 and float(new.max()) <= 1.5
    # degenerate rays (missed the box: t_near = t_far)
    new = neus_upsample(torch.zeros(2, 8), torch.ones(2, 8), 64.0, 4)
    assert torch.isfinite(new).all() and bool((new == 0).all())


def test_upsample_valid_mask_removes_a_surface():
    # Two entries on the ray; masking the sections of the first sends samples to the second.
    t = _even(1, 101, 0.0, 1.0)
    sdf = torch.where(t < 0.4, 0.3 - t, torch.where(t < 0.7, t - 0.5, 0.8 - t))
    valid = torch.ones(1, 100, dtype=torch.bool)
    new = neus_upsample(t, sdf, 1000.0, 16, det=True)
    assert float(((new - 0.3).abs() < 0.03).double().mean()) > 0.9
    valid[:, :60] = False  # everything before t = 0.6 (outside again there)
    new = neus_upsample(t, sdf, 1000.0, 16, valid=valid, det=True)
    assert float(((new - 0.8).abs() < 0.03).double().mean()) > 0.9


def test_importance_samples_sphere():
    # Rays from z = -2 towards a sphere of radius 0.5 at the origin: entry at t = 1.5 (axis ray)
    # or at 2 - sqrt(0.25 - b^2) for a ray offset by b.
    b = torch.tensor([0.0, 0.2, 0.4], dtype=torch.float64)
    origins = torch.stack([b, torch.zeros_like(b), torch.full_like(b, -2.0)], -1)
    directions = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64).expand(3, 3)
    t_entry = 2.0 - torch.sqrt(0.25 - b**2)

    def sdf_fn(p):
        return p.norm(dim=-1, keepdim=True) - 0.5

    t0 = _even(3, 32, 1.0, 3.0)
    f0 = sdf_fn(origins[:, None] + t0[..., None] * directions[:, None]).squeeze(-1)
    t, f = neus_importance_samples(sdf_fn, origins, directions, t0, f0, 32, rounds=4, det=True)
    assert t.shape == (3, 64) and f.shape == (3, 64)
    assert bool((t[:, 1:] >= t[:, :-1]).all())
    pts = origins[:, None] + t[..., None] * directions[:, None]
    assert torch.allclose(f, sdf_fn(pts).squeeze(-1))
    # the 32 added lengths: >= 3/4 within 0.03 of the entry (uniform: about 1)
    near = ((t - t_entry[:, None]).abs() < 0.03).sum(1)
    coarse_near = ((t0 - t_entry[:, None]).abs() < 0.03).sum(1)
    assert bool((near - coarse_near >= 24).all()), (near, coarse_near)
    # the spacing at the entry is much finer than the coarse 0.065
    k = (t - t_entry[:, None]).abs().argmin(1)
    rows = torch.arange(3)
    gap = t[rows, (k + 1).clamp(max=63)] - t[rows, (k - 1).clamp(min=0)]
    assert float(gap.max()) < 0.02


def test_importance_samples_seeded_and_rounds():
    origins = torch.tensor([[0.0, 0.0, -2.0]])
    directions = torch.tensor([[0.0, 0.0, 1.0]])

    def sdf_fn(p):
        return p.norm(dim=-1) - 0.5

    t0 = _even(1, 16, 1.0, 3.0, torch.float32)
    f0 = sdf_fn(origins[:, None] + t0[..., None] * directions[:, None])
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(neus_importance_samples(sdf_fn, origins, directions, t0, f0, 10, rounds=3)[0])
    assert torch.equal(outs[0], outs[1]) and outs[0].shape == (1, 26)
    torch.manual_seed(4)
    other = neus_importance_samples(sdf_fn, origins, directions, t0, f0, 10, rounds=3)[0]
    assert not torch.equal(outs[0], other)
    t, f = neus_importance_samples(sdf_fn, origins, directions, t0, f0, 0)
    assert torch.equal(t, t0) and torch.equal(f, f0)


def test_validation():
    t = _even(2, 8, 0.0, 1.0)
    with pytest.raises(ValueError, match="sdf"):
        neus_upsample(t, torch.zeros(2, 7, dtype=torch.float64), 64.0, 4)
    with pytest.raises(ValueError, match="inv_s"):
        neus_upsample(t, torch.zeros_like(t), 0.0, 4)
    with pytest.raises(ValueError, match="at least 2"):
        neus_upsample(t[:, :1], torch.zeros(2, 1, dtype=torch.float64), 64.0, 4)
    with pytest.raises(TypeError, match="valid"):
        neus_upsample(t, torch.zeros_like(t), 64.0, 4, valid=torch.ones(2, 7))
    with pytest.raises((TypeError, ValueError), match="n_samples"):
        neus_upsample(t, torch.zeros_like(t), 64.0, -1)
    o = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises((TypeError, ValueError), match="rounds"):
        neus_importance_samples(lambda p: p[:, 0], o, o, t, t, 4, rounds=0)
    with pytest.raises(ValueError, match="base_inv_s"):
        neus_importance_samples(lambda p: p[:, 0], o, o, t, t, 4, base_inv_s=-1.0)
