"""ops.points_to_volumes: grid_sizes, masks, align_corners and modes against hand-computed
votes; PyTorch3D's error phrases."""

from __future__ import annotations

import pytest
import torch

from inverse3d.ops import add_points_features_to_volume_densities_features as from_ops
from inverse3d.ops.points_to_volumes import add_points_features_to_volume_densities_features


def _splat(pts, feats, D=4, H=4, W=4, **kw):
    N = pts.shape[0]
    dens = torch.zeros(N, 1, D, H, W, dtype=pts.dtype)
    return add_points_features_to_volume_densities_features(pts, feats, dens, None, **kw)


class TestPointsToVolumes:
    def test_exported(self):
        assert from_ops is add_points_features_to_volume_densities_features

    def test_voxel_centre_nearest_and_trilinear(self):
        # align_corners=True: local -1 / 1 are the centres of the corner voxels, so the
        # point (x, y, z) = (-1/3, 1/3, 1) of a 4^3 grid is the centre of voxel (z3, y2, x1)
        pts = torch.tensor([[[-1 / 3, 1 / 3, 1.0]]], dtype=torch.float64)
        feats = torch.tensor([[[2.0, 5.0]]], dtype=torch.float64)
        for mode in ("trilinear", "nearest"):
            f, d = _splat(pts, feats, mode=mode)
            assert float(d[0, 0, 3, 2, 1]) == pytest.approx(1.0)
            assert float(d.sum()) == pytest.approx(1.0)
            assert f[0, :, 3, 2, 1].tolist() == pytest.approx([2.0, 5.0])

    def test_align_corners_false(self):
        # align_corners=False: -1 / 1 are the outer faces; voxel i's centre is -1 + (2i+1)/W
        pts = torch.tensor([[[-1 + 3 / 4, -1 + 1 / 4, -1 + 5 / 4]]], dtype=torch.float64)
        f, d = _splat(pts, torch.ones(1, 1, 1, dtype=torch.float64), align_corners=False)
        assert float(d[0, 0, 2, 0, 1]) == pytest.approx(1.0)
        # halfway between two voxel centres along x: half a vote each
        pts = torch.tensor([[[-0.5, -0.75, -0.75]]], dtype=torch.float64)
        f, d = _splat(pts, torch.ones(1, 1, 1, dtype=torch.float64), align_corners=False)
        assert float(d[0, 0, 0, 0, 0]) == pytest.approx(0.5)
        assert float(d[0, 0, 0, 0, 1]) == pytest.approx(0.5)

    def test_grid_sizes(self):
        # volume 1 is a 2^3 grid in the corner of the padded 4^3 tensor: local (1, 1, 1) is
        # its last voxel (1, 1, 1), not the padded tensor's (3, 3, 3)
        pts = torch.ones(2, 1, 3, dtype=torch.float64)
        grid = torch.tensor([[4, 4, 4], [2, 2, 2]])
        f, d = _splat(pts, torch.ones(2, 1, 1, dtype=torch.float64), grid_sizes=grid)
        assert float(d[0, 0, 3, 3, 3]) == 1.0
        assert float(d[1, 0, 1, 1, 1]) == 1.0 and float(d[1].sum()) == 1.0

    def test_mask(self):
        pts = torch.zeros(1, 3, 3)
        feats = torch.tensor([[[1.0], [3.0], [100.0]]])
        mask = torch.tensor([[1.0, 1.0, 0.0]])
        f, d = _splat(pts, feats, D=3, H=3, W=3, mask=mask, mode="nearest")
        assert float(d[0, 0, 1, 1, 1]) == 2.0
        assert float(f[0, 0, 1, 1, 1]) == 2.0  # mean of the two unmasked features

    def test_outside_dropped(self):
        pts = torch.tensor([[[2.0, 0.0, 0.0], [0.0, -2.0, 0.0]]])  # both 8 corners outside
        f, d = _splat(pts, torch.ones(1, 2, 1))
        assert float(d.abs().sum()) == 0.0

    def test_exceptions(self):
        pts, feats = torch.zeros(1, 2, 3), torch.zeros(1, 2, 1)
        with pytest.raises(ValueError, match="No such interpolation mode"):
            _splat(pts, feats, mode="cubic")
        with pytest.raises(ValueError, match="Only one-dimensional densities are allowed"):
            add_points_features_to_volume_densities_features(
                pts, feats, torch.zeros(1, 2, 3, 3, 3), None
            )
        with pytest.raises(ValueError, match="grid_sizes"):
            _splat(pts, feats, grid_sizes=torch.tensor([[5, 4, 4]]))
