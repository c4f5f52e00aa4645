"""Every model runs on the inputs' device and gives the CPU result (CUDA-marked cases skip
without a GPU)."""

from __future__ import annotations

import torch

from inverse3d.models.deepsdf import DeepSDF
from inverse3d.models.hash_grid import HashGridEncoding, HashGridField
from inverse3d.models.nerf import NeRF, NeuralRadianceField
from inverse3d.models.occupancy_grid import OccupancyGrid
from inverse3d.models.siren import Siren
from inverse3d.renderer.implicit.utils import RayBundle


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-4) -> None:
    torch.testing.assert_close(a.detach().cpu(), b.detach().cpu(), atol=atol, rtol=1e-4)


def test_models_follow_device(device):
    x = torch.rand(50, 3) * 2 - 1
    d = torch.randn(50, 3)
    for net, args in (
        (Siren(3, 16, 2, 1), (x,)),
        (DeepSDF(latent_dim=0, hidden_dim=16, n_layers=4), (x,)),
        (HashGridEncoding(n_levels=4, log2_hashmap_size=10), (x,)),
    ):
        ref = net(*args)
        net_d = net.to(device)
        _close(net_d(*(a.to(device) for a in args)), ref)

    field = HashGridField(HashGridEncoding(n_levels=3, log2_hashmap_size=10), hidden_dim=8)
    ref_sigma, ref_rgb = field(x, d)
    field = field.to(device)
    sigma, rgb = field(x.to(device), d.to(device))
    assert sigma.device.type == device.type
    _close(sigma, ref_sigma)
    _close(rgb, ref_rgb)

    nrf = NeuralRadianceField(4, 16)
    bundle = RayBundle(x[:10], d[:10], torch.rand(10, 6) + 1, torch.rand(10, 2))
    ref = nrf.batched_forward(bundle, n_batches=3)
    nrf = nrf.to(device)
    out = nrf.batched_forward(RayBundle(*(t.to(device) for t in bundle)), n_batches=3)
    _close(out[0], ref[0])
    _close(out[1], ref[1])

    grid = OccupancyGrid(resolution=8)
    grid.update(lambda p: (p.norm(dim=-1) < 0.5).float(), jitter=False)
    ref_occ = grid.is_occupied(x)
    grid = grid.to(device)
    assert torch.equal(grid.is_occupied(x.to(device)).cpu(), ref_occ)

    nerf = NeRF(nrf.cpu(), nrf.cpu(), n_coarse=8, n_fine=8, occupancy_grid=grid.cpu()).eval()
    o = torch.tensor([0.0, 0.0, -3.0]).expand(10, 3)
    ref = nerf.render_rays(o, d[:10], 1.0, 5.0)
    nerf = nerf.to(device)
    out = nerf.render_rays(o.to(device), d[:10].to(device), 1.0, 5.0)
    assert out["rgb"].device.type == device.type
    _close(out["rgb"], ref["rgb"])
    assert out["n_evaluated"] == ref["n_evaluated"]
