"""models.BackgroundModel: the environment and NeRF++ outer-field backgrounds of object methods."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inverse3d.models.background import BackgroundModel, OuterField, resolve_background
from inverse3d.models.environment_map import direction_latlong


def _rays(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    origins = F.normalize(torch.randn(n, 3, generator=g), dim=-1) * 2.9
    target = torch.randn(n, 3, generator=g) * 0.3
    return origins, target - origins  # towards the object, not unit


def test_resolve_background_follows_the_masks():
    assert resolve_background("auto", has_masks=True) == "data"
    assert resolve_background("auto", has_masks=False) == "outer"
    assert resolve_background("environment", has_masks=True) == "environment"
    with pytest.raises(ValueError, match="background_model"):
        resolve_background("sky", has_masks=False)


def test_latlong_of_the_axes():
    d = torch.tensor([[0.0, 0, 1], [1.0, 0, 0], [0.0, 1, 0], [0.0, 0, -1]])
    lon, lat = direction_latlong(d * 3.0)  # need not be unit
    torch.testing.assert_close(lon[:3], torch.tensor([0.0, 0.5, 0.0]))
    assert abs(float(lon[3])) == pytest.approx(1.0)  # the seam behind -z
    torch.testing.assert_close(lat, torch.tensor([0.0, 0.0, -1.0, 0.0]))


def test_environment_kind_is_the_environment_map_of_the_direction():
    torch.manual_seed(0)
    bg = BackgroundModel("environment", size=4)
    with torch.no_grad():
        bg.field.logits.normal_()
    o, d = _rays(50)
    o2 = o + 5.0 * torch.randn(50, 3)  # the origin does not matter
    torch.testing.assert_close(bg(o, d), bg.field(F.normalize(d, dim=-1)))
    torch.testing.assert_close(bg(o2, d), bg(o, d))


def test_outer_transparent_is_the_environment_at_infinity():
    """With no density, every ray sees the layer s = 0 in its own direction, whatever its origin
    (no parallax at infinity)."""
    torch.manual_seed(0)
    bg = BackgroundModel("outer", size=4, layers=4, samples=8)
    with torch.no_grad():
        bg.field.logits.normal_()
        bg.field.logits[0] = -60.0  # softplus ~ 0: transparent
    o, d = _rays(40)
    got = bg(o, d)
    far = bg.field(F.normalize(d, dim=-1), torch.zeros(40))[1]
    torch.testing.assert_close(got, far, atol=1e-5, rtol=0)
    torch.testing.assert_close(bg(o * 0.9, d, stratified=True), got, atol=1e-5, rtol=0)


def test_outer_opaque_sees_where_the_ray_leaves_the_cube():
    """With a huge density the first sample, where the ray leaves the cube, takes the colour:
    the inverted-sphere coordinates of that point (its direction from the centre, bound / |x|),
    so two rays of the same direction from different origins see different colours
    (parallax)."""
    torch.manual_seed(0)
    bound = 1.0
    bg = BackgroundModel("outer", bound=bound, size=4, layers=4, samples=8)
    with torch.no_grad():
        bg.field.logits.normal_()
        bg.field.logits[0] = 1e4  # softplus: opaque on any section
    o = torch.tensor([[0.0, 0.0, -3.0], [0.0, 0.0, -3.0], [0.5, 0.2, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.1, 0.05, 1.0], [0.0, 0.0, 1.0]])
    # exits of the cube: z = +1 (the third ray too: it starts off the axis)
    du = F.normalize(d, dim=-1)
    t_exit = (1.0 - o[:, 2]) / du[:, 2]
    x = o + t_exit[:, None] * du
    expected = bg.field(x, bound / x.norm(dim=-1))[1]
    torch.testing.assert_close(bg(o, d), expected, atol=1e-4, rtol=0)
    assert (bg(o, d)[0] - bg(o, d)[2]).abs().max() > 1e-3  # same direction, other colour


def test_outer_rays_missing_the_cube_start_at_their_closest_approach():
    bg = BackgroundModel("outer", size=4, layers=4, samples=8)
    with torch.no_grad():
        bg.field.logits.normal_()
        bg.field.logits[0] = 1e4  # softplus: opaque on any section
    o = torch.tensor([[3.0, -3.0, 0.0]])
    d = torch.tensor([[0.0, 1.0, 0.0]])  # passes x = 3: misses the cube; closest at (3, 0, 0)
    x = torch.tensor([[3.0, 0.0, 0.0]])
    torch.testing.assert_close(
        bg(o, d), bg.field(x, torch.tensor([1.0 / 3.0]))[1], atol=1e-4, rtol=0
    )


def test_outer_field_gradcheck():
    torch.manual_seed(0)
    f = OuterField(layers=3, height=4, width=6).double()
    d = torch.randn(5, 3, dtype=torch.float64)
    s = torch.rand(5, dtype=torch.float64)

    def run(logits):
        sig, rgb = torch.func.functional_call(f, {"logits": logits}, (d, s))
        return torch.cat([sig[:, None], rgb], -1)

    torch.autograd.gradcheck(run, (f.logits.detach().clone().requires_grad_(),))


def test_background_fits_a_room_by_gradient_descent():
    """The outer field learns the colours of rays (a target with parallax: a wall at distance 3
    coloured by its height) far better than its initial grey."""
    torch.manual_seed(0)
    bg = BackgroundModel("outer", size=8, layers=4, samples=8)
    o, d = _rays(512, seed=1)
    du = F.normalize(d, dim=-1)
    target = torch.stack(
        [0.5 + 0.4 * torch.tanh(du[:, 1] * 3), 0.3 + 0 * du[:, 0], 0.6 + 0.3 * du[:, 0]], -1
    )
    opt = torch.optim.Adam(bg.parameters(), lr=0.1)
    first = float(((bg(o, d) - target) ** 2).mean())
    for _ in range(60):
        loss = ((bg(o, d, stratified=True) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = float(((bg(o, d) - target) ** 2).mean())
    assert last < 0.2 * first
    assert math.isfinite(last)


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        BackgroundModel("sky")
    with pytest.raises(ValueError, match="bound"):
        BackgroundModel("outer", bound=0.0)
    bg = BackgroundModel("outer", size=2)
    with pytest.raises(ValueError, match="directions"):
        bg(torch.zeros(4, 3), torch.ones(5, 3))
