"""ico_sphere: counts per level, unit radius, watertight, outward orientation."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from inverse3d.utils.ico_sphere import ico_sphere


def _edge_counts(faces):
    directed = Counter()
    undirected = Counter()
    for a, b, c in faces.tolist():
        for u, v in ((a, b), (b, c), (c, a)):
            directed[(u, v)] += 1
            undirected[(min(u, v), max(u, v))] += 1
    return directed, undirected


class TestIcoSphere:
    @pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
    def test_shapes(self, level):
        m = ico_sphere(level)
        assert len(m) == 1
        assert m.verts_packed().shape == (10 * 4**level + 2, 3)
        assert m.faces_packed().shape == (20 * 4**level, 3)
        assert m.verts_packed().dtype == torch.float32
        assert m.faces_packed().dtype == torch.int64

    @pytest.mark.parametrize("level", [0, 1, 2, 3])
    def test_matches_reference(self, level):
        m = ico_sphere(level)
        v, f = m.verts_packed().double(), m.faces_packed()
        torch.testing.assert_close(v.norm(dim=1), torch.ones(len(v), dtype=torch.float64))
        directed, undirected = _edge_counts(f)
        # watertight: every edge in exactly 2 faces; consistently oriented: each directed edge once
        assert set(undirected.values()) == {2}
        assert set(directed.values()) == {1}
        assert len(v) - len(undirected) + len(f) == 2  # Euler characteristic of a sphere
        # outward: face normal points away from the origin
        n = torch.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]], dim=1)
        assert torch.all((n * v[f].mean(1)).sum(1) > 0)
        # no degenerate faces, every vertex used
        assert torch.all(n.norm(dim=1) > 0)
        assert torch.unique(f).numel() == len(v)

    def test_level0_matches_pytorch3d_table(self):
        v = ico_sphere(0).verts_packed()
        a, b = 0.5257, 0.8507  # PyTorch3D's rounded level-0 coordinates
        torch.testing.assert_close(v[0], torch.tensor([-a, b, 0.0]), atol=1e-4, rtol=0)
        torch.testing.assert_close(v[9], torch.tensor([b, 0.0, a]), atol=1e-4, rtol=0)

    def test_subdivision_midpoints(self):
        # Level 1 keeps the 12 corners; each new vertex is the normalised midpoint of an edge.
        m0, m1 = ico_sphere(0), ico_sphere(1)
        v0, v1 = m0.verts_packed(), m1.verts_packed()
        torch.testing.assert_close(v1[:12], v0)
        _, undirected = _edge_counts(m0.faces_packed())
        edges = sorted(undirected)
        for k, (a, b) in enumerate(edges):
            mid = (v0[a] + v0[b]) / 2
            torch.testing.assert_close(v1[12 + k], mid / mid.norm())

    def test_device(self, device):
        m = ico_sphere(1, device=device)
        assert m.verts_packed().device.type == device.type

    def test_exceptions(self):
        with pytest.raises(ValueError, match="level must be >= 0"):
            ico_sphere(-1)
        with pytest.raises(TypeError, match="level must be an int"):
            ico_sphere(1.5)
