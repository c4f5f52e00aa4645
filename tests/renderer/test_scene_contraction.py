"""mip-NeRF 360 contraction and the unbounded ray lengths."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer.implicit.scene_contraction import contract_points, unbounded_ray_lengths


def test_identity_inside_bounded_outside():
    g = torch.Generator().manual_seed(0)
    d = torch.nn.functional.normalize(torch.randn(500, 3, generator=g, dtype=torch.float64), dim=-1)
    inside = d * torch.rand(500, 1, generator=g, dtype=torch.float64)
    assert torch.equal(contract_points(inside), inside)
    far = d * torch.logspace(0.01, 12, 500, dtype=torch.float64)[:, None]
    c = contract_points(far)
    assert (c.norm(dim=-1) < 2).all() and (c.norm(dim=-1) > 1).all()
    # direction kept, norm 2 - 1/|x|
    torch.testing.assert_close(torch.nn.functional.normalize(c, dim=-1), d)
    torch.testing.assert_close(c.norm(dim=-1), 2 - 1 / far.norm(dim=-1))
    assert contract_points(torch.tensor([[3.0, 0, 0]]), radius=2.0).tolist() == [
        [pytest.approx(8 / 3), 0, 0]  # 2 * contract(3 / 2)
    ]


def test_continuous_and_differentiable():
    """Finely spaced points along lines through the unit sphere move by at most their spacing."""
    g = torch.Generator().manual_seed(1)
    d = torch.nn.functional.normalize(torch.randn(20, 3, generator=g, dtype=torch.float64), dim=-1)
    s = torch.linspace(0.5, 3.0, 2501, dtype=torch.float64)
    pts = d[:, None] * s[None, :, None] + 0.1 * torch.randn(
        20, 1, 3, generator=g, dtype=torch.float64
    )
    c = contract_points(pts)
    step = (pts[:, 1:] - pts[:, :-1]).norm(dim=-1)
    jump = (c[:, 1:] - c[:, :-1]).norm(dim=-1)
    assert (jump <= step * (1 + 1e-9)).all()  # 1-Lipschitz: no jump at |x| = 1
    x = torch.randn(30, 3, generator=g, dtype=torch.float64).mul(2).requires_grad_()
    assert torch.autograd.gradcheck(contract_points, (x,))
    with pytest.raises(ValueError, match=r"x must be a \(\.\.\., 3\)"):
        contract_points(torch.zeros(4, 2))


def test_unbounded_ray_lengths():
    t = unbounded_ray_lengths(4, 0.1, 2.0, 1000.0, 8, 16, stratified=False)
    assert t.shape == (4, 24) and (t[:, 1:] > t[:, :-1]).all()
    assert t[0, :8].diff().allclose(torch.full((7,), 1.9 / 8))
    disp = 1 / t[0, 8:]
    assert disp.diff().allclose(torch.full((15,), (1 / 1000 - 1 / 2) / 16))
    torch.manual_seed(0)
    ts = unbounded_ray_lengths(500, 0.1, 2.0, 1000.0, 8, 16)
    assert (ts[:, 1:] >= ts[:, :-1]).all() and ts.min() >= 0.1 and ts.max() <= 1000.0
    # the stratified draws average to the bin midpoints (in t inside, in disparity outside)
    assert (ts[:, :8].mean(0) - t[0, :8]).abs().max() < 0.02
    assert ((1 / ts[:, 8:]).mean(0) - disp).abs().max() < 0.002
    with pytest.raises(ValueError, match="near, mid, far"):
        unbounded_ray_lengths(1, 1.0, 0.5, 2.0, 4, 4)
