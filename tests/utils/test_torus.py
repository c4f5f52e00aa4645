"""torus: counts, radii, face layout (brute-force loop), watertight and outward."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from inverse3d.utils.torus import torus


class TestTorus:
    @pytest.mark.parametrize("sides,rings", [(3, 3), (4, 7), (12, 20)])
    def test_shapes(self, sides, rings):
        m = torus(0.5, 2.0, sides, rings)
        assert m.verts_packed().shape == (sides * rings, 3)
        assert m.faces_packed().shape == (2 * sides * rings, 3)

    def test_matches_reference(self):
        r, R, sides, rings = 0.5, 2.0, 5, 8
        m = torus(r, R, sides, rings)
        v, f = m.verts_packed().double(), m.faces_packed()
        # radii: distance to the ring circle is r; the tube centre is at distance R
        rho = v[:, :2].norm(dim=1)
        torch.testing.assert_close(
            ((rho - R) ** 2 + v[:, 2] ** 2).sqrt(), torch.full((len(v),), r, dtype=torch.float64)
        )
        assert abs(float(rho.max()) - (R + r)) < 1e-6
        # vertex layout and face order, by an explicit loop
        verts, faces = [], []
        for i in range(rings):
            for j in range(sides):
                phi, theta = 2 * math.pi * i / rings, 2 * math.pi * j / sides
                rad = R + r * math.cos(theta)
                verts.append([rad * math.cos(phi), rad * math.sin(phi), r * math.sin(theta)])
        for i in range(rings):
            for j in range(sides):
                i0, j0 = (i - 1) % rings, (j - 1) % sides
                a00, a01 = i0 * sides + j0, i0 * sides + j
                a10, a11 = i * sides + j0, i * sides + j
                faces += [[a00, a10, a11], [a11, a01, a00]]
        torch.testing.assert_close(v, torch.tensor(verts, dtype=torch.float64), atol=1e-6, rtol=0)
        assert f.tolist() == faces

    def test_watertight_and_outward(self):
        r, R = 0.5, 2.0
        m = torus(r, R, 6, 9)
        v, f = m.verts_packed().double(), m.faces_packed()
        directed = Counter()
        for a, b, c in f.tolist():
            for e in ((a, b), (b, c), (c, a)):
                directed[e] += 1
        assert set(directed.values()) == {1}
        assert all(directed[(b, a)] == 1 for (a, b) in directed)
        assert len(v) - len(directed) // 2 + len(f) == 0  # Euler characteristic of a torus
        n = torch.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]], dim=1)
        c = v[f].mean(1)
        centre = torch.cat([c[:, :2] / c[:, :2].norm(dim=1, keepdim=True) * R, c[:, 2:] * 0], 1)
        assert torch.all((n * (c - centre)).sum(1) > 0)

    def test_device(self, device):
        assert torus(1.0, 3.0, 4, 4, device=device).verts_packed().device.type == device.type

    def test_exceptions(self):
        with pytest.raises(ValueError, match="sides must be >= 1"):
            torus(1.0, 2.0, 0, 4)
        with pytest.raises(ValueError, match="rings must be >= 1"):
            torus(1.0, 2.0, 4, -1)
