"""checkerboard: grid layout, alternating face colours, +z normals, TexturesAtlas."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.mesh.textures import TexturesAtlas
from inverse3d.utils.checkerboard import checkerboard


class TestCheckerboard:
    @pytest.mark.parametrize("radius", [1, 2, 4])
    def test_shapes(self, radius):
        m = checkerboard(radius)
        assert m.verts_packed().shape == ((2 * radius + 1) ** 2, 3)
        assert m.faces_packed().shape == (2 * (2 * radius) ** 2, 3)
        assert isinstance(m.textures, TexturesAtlas)
        assert m.textures.atlas_padded().shape == (1, 2 * (2 * radius) ** 2, 1, 1, 3)

    def test_matches_reference(self):
        radius = 3
        c1, c2 = (0.1, 0.2, 0.3), (0.9, 0.8, 0.7)
        m = checkerboard(radius, c1, c2)
        v, f = m.verts_packed(), m.faces_packed()
        assert v[:, 2].abs().max() == 0
        assert v[:, :2].min() == -radius and v[:, :2].max() == radius
        n = 2 * radius + 1
        torch.testing.assert_close(v[n + 2], torch.tensor([2.0 - radius, 1.0 - radius, 0.0]))
        normals = torch.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]], dim=1)
        torch.testing.assert_close(
            normals / normals.norm(dim=1, keepdim=True),
            torch.tensor([0.0, 0.0, 1.0]).expand_as(normals),
        )
        # each face covers half a unit square; both halves of a square share its colour
        area = 0.5 * normals.norm(dim=1)
        torch.testing.assert_close(area, torch.full_like(area, 0.5))
        atlas = m.textures.atlas_padded()[0, :, 0, 0]
        centroid = v[f].mean(1)
        for k in range(len(f)):
            x0, y0 = math.floor(centroid[k, 0]), math.floor(centroid[k, 1])
            expected = c2 if (x0 + y0) % 2 else c1
            torch.testing.assert_close(atlas[k], torch.tensor(expected))

    def test_four_channels(self):
        m = checkerboard(1, (0.0, 0.0, 0.0, 1.0), (1.0, 1.0, 1.0, 0.5))
        assert m.textures.atlas_padded().shape[-1] == 4

    def test_exceptions(self):
        with pytest.raises(ValueError, match="radius must be >= 1"):
            checkerboard(0)
        with pytest.raises(ValueError, match="same number of channels"):
            checkerboard(2, (0.0, 0.0), (1.0, 1.0, 1.0))
