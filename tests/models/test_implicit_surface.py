"""SDF / colour / occupancy networks and the dense grid encoding."""

from __future__ import annotations

import pytest
import torch

from inverse3d.models.dense_grid import DenseGridEncoding
from inverse3d.models.implicit_surface import (
    ColorNetwork,
    LearnedSharpness,
    OccupancyNetwork,
    SDFNetwork,
)


@pytest.mark.parametrize("encoding", ["grid", "hash", "harmonic", "none"])
def test_sdf_geometric_init_is_a_sphere(encoding):
    torch.manual_seed(0)
    net = SDFNetwork(
        encoding=encoding,
        n_levels=4,
        finest_resolution=32,
        log2_hashmap_size=12,
        n_harmonic=4,
        hidden_dim=64,
        init_radius=0.5,
    )
    p = torch.rand(500, 3) * 2 - 1
    sdf, feat = net(p)
    assert sdf.shape == (500, 1) and feat.shape == (500, 15)
    err = (sdf[:, 0] - (p.norm(dim=-1) - 0.5)).abs()
    assert float(err.max()) < 1e-5


@pytest.mark.parametrize("encoding", ["hash", "none"])
def test_finite_difference_gradient_matches_autograd(encoding):
    torch.manual_seed(0)
    net = SDFNetwork(encoding=encoding, n_levels=4, finest_resolution=32, log2_hashmap_size=12)
    with torch.no_grad():
        for prm in net.parameters():
            prm.add_(torch.randn_like(prm) * 0.01)
    p = torch.rand(64, 3, dtype=torch.float64) * 1.6 - 0.8
    net = net.double()
    _, g_auto, _ = net.sdf_and_gradient(p, create_graph=False)
    _, g_fd, _ = net.sdf_and_gradient(p, create_graph=False, fd_eps=1e-5)
    # equal except across the rare grid cell boundaries within eps of a point
    close = (g_auto - g_fd).norm(dim=-1) < 1e-3
    assert float(close.float().mean()) > 0.95


def test_sdf_gradient_exceptions_and_levels():
    net = SDFNetwork(encoding="grid", n_levels=3, finest_resolution=16)
    net.set_active_levels(1)
    assert net.n_active_levels == 1 and float(net.level_mask.sum()) == 2.0
    with pytest.raises(ValueError, match="encoding"):
        SDFNetwork(encoding="bogus")
    with pytest.raises(ValueError, match="points"):
        net(torch.zeros(4, 2))


def test_dense_grid_matches_vertex_values():
    enc = DenseGridEncoding(
        n_levels=2,
        n_features_per_level=3,
        base_resolution=3,
        finest_resolution=5,
        bound=2.0,
        init_scale=1.0,
    )
    assert enc.resolutions == [3, 5] and enc.output_dim == 6
    # the vertex (i, j, k) of a 5^3 level sits at -2 + i (x), -2 + j (y), -2 + k (z)
    x = torch.tensor([[-1.0, 0.0, 1.0]])  # i=1, j=2, k=3
    out = enc(x)
    torch.testing.assert_close(out[0, 3:], enc.grids[1][0, :, 3, 2, 1])
    # midpoint of two vertices: the mean (trilinear)
    x2 = torch.tensor([[-1.5, 0.0, 1.0]])
    want = 0.5 * (enc.grids[1][0, :, 3, 2, 0] + enc.grids[1][0, :, 3, 2, 1])
    torch.testing.assert_close(enc(x2)[0, 3:], want)
    with pytest.raises(ValueError, match="base_resolution"):
        DenseGridEncoding(base_resolution=1)


def test_color_network_and_sharpness():
    net = ColorNetwork(feature_dim=5, hidden_dim=16)
    rgb = net(torch.rand(7, 3), torch.rand(7, 3), torch.rand(7, 3), torch.rand(7, 5))
    assert rgb.shape == (7, 3) and float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    # The view direction changes the colour unless view_dependent=False.
    torch.manual_seed(0)
    p, n, f = torch.rand(7, 3), torch.rand(7, 3), torch.rand(7, 5)
    d1, d2 = torch.randn(7, 3), torch.randn(7, 3)
    assert not torch.allclose(net(p, n, d1, f), net(p, n, d2, f))
    lamb = ColorNetwork(feature_dim=5, hidden_dim=16, view_dependent=False)
    assert torch.equal(lamb(p, n, d1, f), lamb(p, n, d2, f))
    assert lamb.mlp[0].in_features == 3 + 3 + 5
    with pytest.raises(TypeError, match="view_dependent"):
        ColorNetwork(view_dependent=1)
    s = LearnedSharpness(0.3)
    assert float(s()) == pytest.approx(torch.exp(torch.tensor(3.0)).item(), rel=1e-5)


def test_occupancy_network_dvr_shape_and_init():
    torch.manual_seed(0)
    net = OccupancyNetwork(width=32, n_blocks=2)
    logit, rgb = net(torch.tensor([[0.0, 0.0, 0.0], [0.95, 0.95, 0.95]]))
    assert logit.shape == (2, 1) and rgb.shape == (2, 3)
    assert float(logit[0]) > 0 > float(logit[1])  # starts as a ball of radius 0.5
    for enc in ("harmonic", "hash"):
        assert OccupancyNetwork(width=8, n_blocks=1, encoding=enc)(torch.zeros(3, 3))[0].shape == (
            3,
            1,
        )
    with pytest.raises(ValueError, match="encoding"):
        OccupancyNetwork(encoding="x")
