"""models.synsin and datasets.view_pairs: shapes, gradients, the identity warp, geometry."""

import math

import pytest
import torch

from inverse3d.datasets.view_pairs import make_view_pairs, relative_camera, yaw_matrix
from inverse3d.models.synsin import (
    PatchDiscriminator,
    SynSin,
    lift_to_points,
    pixel_ndc_grid,
    project_points,
    splat_features,
)


@pytest.fixture(scope="module")
def pairs():
    return make_view_pairs(4, seed=3, image_size=16)


@pytest.fixture(autouse=True)
def _one_thread():
    # small convolutions: one thread is faster, and much faster on a loaded machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_forward_shapes_and_gradients_reach_encoder_and_depth():
    torch.manual_seed(0)
    m = SynSin(channels=8, blocks=2, depth_width=4)
    x = torch.rand(2, 3, 16, 16)
    R0, T0 = torch.eye(3).expand(2, 3, 3), torch.zeros(2, 3)
    # untrained: the decoder's last layer is zero, the output is the forward warp
    torch.testing.assert_close(m(x, R0, T0).image, m(x, R0, T0).warped.clamp(0, 1))
    torch.nn.init.normal_(m.decoder.net[-1].weight, std=0.1)  # as after a few steps
    R = yaw_matrix(torch.tensor([0.2, -0.1]))
    T = torch.tensor([[0.1, 0.0, 0.05], [-0.1, 0.0, 0.0]])
    out = m(x, R, T)
    assert out.image.shape == (2, 3, 16, 16)
    assert out.depth.shape == (2, 1, 16, 16)
    assert out.splat.shape == (2, 8, 16, 16)
    assert out.coverage.shape == (2, 1, 16, 16)
    assert out.warped.shape == (2, 3, 16, 16)
    assert float(out.depth.detach().min()) > m.depth_net.depth_min
    assert float(out.depth.detach().max()) < m.depth_net.depth_max
    (out.image * torch.rand_like(out.image)).sum().backward()
    for net in (m.encoder, m.depth_net, m.decoder):
        g = sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None)
        assert g > 0, type(net).__name__


def test_identity_camera_reproduces_the_source():
    # target camera = source camera, splats smaller than half a pixel: every pixel sees only
    # its own point at distance 0 (alpha 1), whatever the depth
    g = torch.Generator().manual_seed(1)
    s = 12
    depth = 1.0 + 3.0 * torch.rand(2, 1, s, s, generator=g)
    feats = torch.rand(2, 5, s, s, generator=g)
    m = SynSin(radius=0.9 / s, points_per_pixel=4)
    R, T = torch.eye(3).expand(2, 3, 3).clone(), torch.zeros(2, 3)
    out = m.warp(feats, depth, R, T)
    torch.testing.assert_close(out[:, :5], feats, atol=1e-3, rtol=0)
    torch.testing.assert_close(out[:, 5], torch.ones(2, s, s), atol=1e-3, rtol=0)


def test_lift_project_round_trip_and_pixel_grid():
    depth = torch.full((1, 1, 4, 4), 2.5)
    pts = lift_to_points(depth, focal=1.7)
    proj = project_points(pts, focal=1.7)
    grid = pixel_ndc_grid(4).reshape(1, 16, 2)
    torch.testing.assert_close(proj[..., :2], grid)
    torch.testing.assert_close(proj[..., 2], torch.full((1, 16), 2.5))
    assert float(grid[0, 0, 0]) == pytest.approx(0.75) and float(grid[0, 0, 1]) == 0.75
    behind = project_points(torch.tensor([[[0.3, 0.2, -1.0]]]), 1.0)
    assert behind.tolist() == [[[0.0, 0.0, -1.0]]]


def test_splat_alpha_falloff_is_the_papers():
    # one point at a known offset from a pixel centre: alpha = (1 - d / r) ** gamma
    s, r, gamma = 8, 0.5, 2.0
    grid = pixel_ndc_grid(s)
    centre = grid[3, 4]
    pt = torch.tensor([[[float(centre[0]) + 0.1, float(centre[1]), 1.0]]])
    out = splat_features(pt, torch.ones(1, 1, 1), s, r, 4, gamma)
    assert float(out[0, 1, 3, 4]) == pytest.approx((1 - 0.1 / r) ** gamma, abs=1e-5)


def test_gradcheck_splat_wrt_features_and_points():
    g = torch.Generator().manual_seed(0)
    pts = torch.cat(
        [torch.rand(1, 6, 2, generator=g) - 0.5, 1 + torch.rand(1, 6, 1, generator=g)], -1
    )
    pts = pts.double().requires_grad_()
    feats = torch.rand(1, 6, 2, generator=g, dtype=torch.float64).requires_grad_()
    fn = lambda p, f: splat_features(p, f, 6, 0.4, 3, 1.5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (pts, feats), eps=1e-6, atol=1e-4)


def test_validation_errors():
    m = SynSin()
    with pytest.raises(ValueError, match="images"):
        m(torch.rand(1, 3, 16, 12), torch.eye(3)[None], torch.zeros(1, 3))
    with pytest.raises(ValueError, match="R must be"):
        m(torch.rand(1, 3, 16, 16), torch.eye(3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="radius"):
        splat_features(torch.rand(1, 2, 3), torch.rand(1, 2, 1), 4, 0.0)
    with pytest.raises(ValueError, match="depth must be"):
        m.warp(
            torch.rand(1, 4, 8, 8), torch.rand(1, 1, 4, 4), torch.eye(3)[None], torch.zeros(1, 3)
        )
    with pytest.raises(ValueError, match="focal"):
        project_points(torch.rand(1, 2, 3), 0.0)
    with pytest.raises(ValueError, match="depth_min"):
        SynSin(depth_min=2.0, depth_max=1.0)


def test_pairs_are_deterministic_and_ground_truth_depth_warps_to_the_target(pairs):
    again = make_view_pairs(4, seed=3, image_size=16)
    torch.testing.assert_close(pairs.source, again.source)
    torch.testing.assert_close(pairs.R, again.R)
    assert pairs.source.shape == (4, 3, 16, 16) and pairs.depth.shape == (4, 1, 16, 16)
    assert float(pairs.depth.min()) > 0.5 and float(pairs.angle.abs().max()) <= 15.0
    # the relative rotation is a yaw by the pair's angle
    for i in range(4):
        want = yaw_matrix(torch.tensor(math.radians(float(pairs.angle[i]))))
        torch.testing.assert_close(pairs.R[i], want, atol=1e-5, rtol=0)


def test_true_depth_warps_the_source_onto_the_target():
    # sideways / forward moves only, where depth matters: the splatted source with the true depth
    # (normalised by its coverage, pixels fully covered) beats a constant depth and the copy
    p = make_view_pairs(4, seed=3, image_size=16, max_angle=0.0, max_shift=0.5)

    def err(depth):
        w = SynSin().warp(p.source, depth, p.R, p.T)
        cov = w[:, 3:]
        m = (cov > 0.9).float()
        return float(((w[:, :3] / cov.clamp(min=1e-3) - p.target).abs() * m).sum() / (3 * m.sum()))

    true_err = err(p.depth)
    assert true_err < 0.95 * err(torch.full_like(p.depth, 2.5))
    assert true_err < 0.8 * float((p.source - p.target).abs().mean())


def test_relative_camera_maps_points_between_views():
    g = torch.Generator().manual_seed(2)
    R1, R2 = yaw_matrix(torch.rand(1, generator=g)), yaw_matrix(torch.rand(1, generator=g))
    T1, T2 = torch.rand(1, 3, generator=g), torch.rand(1, 3, generator=g)
    X = torch.rand(5, 3, generator=g)
    R, T = relative_camera(R1, T1, R2, T2)
    torch.testing.assert_close((X @ R1[0] + T1) @ R[0] + T, X @ R2[0] + T2)


def test_pairs_validation():
    with pytest.raises(ValueError, match="image_size"):
        make_view_pairs(1, image_size=18)
    with pytest.raises(ValueError, match="max_angle"):
        make_view_pairs(1, max_angle=120.0)


@pytest.mark.parametrize("size,layers", [(32, 3), (32, 2), (16, 1)])
def test_patch_discriminator_one_logit_per_patch(size, layers):
    torch.manual_seed(0)
    d = PatchDiscriminator(width=8, n_layers=layers)
    out = d(torch.rand(2, 3, size, size))
    f = 2**layers
    assert out.shape == (2, 1, size // f, size // f)


def test_patch_discriminator_receptive_field_is_local():
    # the pixels that reach one central logit (nonzero input gradient) span receptive_field
    torch.manual_seed(0)
    d = PatchDiscriminator(width=4, n_layers=3)
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    out = d(x)
    assert out.shape == (1, 1, 16, 16)
    (g,) = torch.autograd.grad(out[0, 0, 8, 8], x)
    rows = g.abs().sum((0, 1, 3)).nonzero()[:, 0]
    cols = g.abs().sum((0, 1, 2)).nonzero()[:, 0]
    assert d.receptive_field == 38
    assert int(rows.max() - rows.min() + 1) == 38 and int(cols.max() - cols.min() + 1) == 38
    # a corner pixel changes the corner logits, not the far ones
    y = x.detach().clone()
    y[0, :, 0, 0] += 1.0
    with torch.no_grad():
        diff = (d(y) - out.detach()).abs()[0, 0]
    assert float(diff[0, 0]) > 0 and float(diff[4:, :].max()) == 0 and float(diff[:, 4:].max()) == 0


def test_patch_discriminator_validation():
    d = PatchDiscriminator(n_layers=3)
    with pytest.raises(ValueError, match="divisible"):
        d(torch.rand(1, 3, 20, 20))
    with pytest.raises(ValueError, match="images"):
        d(torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match="n_layers"):
        PatchDiscriminator(n_layers=0)
