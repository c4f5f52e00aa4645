"""nerf --bbox: the region that is meshed (working frame), and the CLI's number lists."""

from __future__ import annotations

import argparse

import pytest
import torch

from inverse3d.cli._flags import add_dataclass_flags, config_from_flags
from inverse3d.methods.nerf import NerfConfig, _field_mesh, mesh_box


def test_mesh_box():
    assert torch.equal(mesh_box((), 1.0, False), torch.tensor([[-1.0] * 3, [1.0] * 3]))
    box = mesh_box((-0.5, -0.2, 0.0, 0.5, 0.2, 0.3), 1.0, False)
    assert torch.allclose(box, torch.tensor([[-0.5, -0.2, 0.0], [0.5, 0.2, 0.3]]))
    assert mesh_box((-3, -3, -3, 3, 3, 3), 1.0, True)[1, 0] == 3.0  # scenes: anywhere
    with pytest.raises(ValueError, match="6 numbers"):
        mesh_box((0.0, 1.0), 1.0, False)
    with pytest.raises(ValueError, match="min < max"):
        mesh_box((0, 0, 0, 1, -1, 1), 1.0, False)
    with pytest.raises(ValueError, match=r"lie in the cube"):
        mesh_box((-2, -1, -1, 1, 1, 1), 1.0, False)


class _Ball(torch.nn.Module):
    """Density 100 inside the sphere of radius 0.6 about (0, 0.1, 0), 0 outside; grey."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def density(self, p):
        c = torch.tensor([0.0, 0.1, 0.0])
        return 100.0 * ((p - c).norm(dim=-1, keepdim=True) < 0.6).float()

    def forward(self, p, d=None, a=None):
        return self.density(p), torch.full_like(p, 0.5)


def test_bbox_limits_the_mesh():
    """The mesh of a known ball: the whole of it in the cube, only its part in a box."""
    ball = _Ball()
    full = _field_mesh(ball, mesh_box((), 1.0, False), 48).verts_packed()
    box = (-1.0, -1.0, -1.0, 1.0, 0.0, 0.8)
    part = _field_mesh(ball, mesh_box(box, 1.0, False), 48).verts_packed()
    r = (full - torch.tensor([0.0, 0.1, 0.0])).norm(dim=-1)
    assert (r - 0.6).abs().max() < 0.05  # cells of 2 / 47
    assert full[:, 1].max() > 0.65 and full[:, 2].max() > 0.55
    # inside the box: y <= 0 and z <= 0.8, the ball's surface plus the box's cut faces
    assert part[:, 1].max() <= 1e-5 and part[:, 1].min() < -0.45
    assert part[:, 2].max() <= 0.8 + 1e-5
    on_ball = (part - torch.tensor([0.0, 0.1, 0.0])).norm(dim=-1)
    assert ((on_ball - 0.6).abs() < 0.05).float().mean() > 0.5


@pytest.mark.parametrize(
    "argv",
    [["--bbox=-1,-0.5,-1,1,0.5,1"], ["--bbox", "-1", "-0.5", "-1", "1", "0.5", "1"]],
)
def test_bbox_flag(argv):
    parser = argparse.ArgumentParser()
    add_dataclass_flags(parser, NerfConfig)
    cfg = config_from_flags(parser.parse_args(argv), NerfConfig)
    assert cfg.bbox == (-1.0, -0.5, -1.0, 1.0, 0.5, 1.0)
    assert config_from_flags(parser.parse_args([]), NerfConfig).bbox == ()


def test_bad_number_flag():
    parser = argparse.ArgumentParser()
    add_dataclass_flags(parser, NerfConfig)
    with pytest.raises(SystemExit):
        parser.parse_args(["--bbox=1,x,2"])
